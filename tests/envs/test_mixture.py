"""``envs.mixture``: several scenarios in one batch, each block exactly its own core."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.envs.core import PacingCore
from pacegym.envs.mixture import MAX_JITTER_DECADES, CoreMixture, jittered, split_rows
from pacegym.envs.params import ScenarioError, bounds
from pacegym.envs.scenarios import resolve

SCENARIOS = ["live_commerce", "suite/small_budget", "daily_budget"]


def test_split_rows_is_contiguous_and_balanced():
    blocks = split_rows(10, 3)
    assert [(b.start, b.stop) for b in blocks] == [(0, 4), (4, 7), (7, 10)]
    with pytest.raises(ValueError):
        split_rows(2, 3)


def test_each_block_steps_exactly_as_its_own_core():
    """Same seeds, same throttles: the mixture's rows equal standalone cores', bit for bit."""
    n = 7
    mix = CoreMixture(SCENARIOS, n)
    seeds = np.arange(100, 100 + n, dtype=np.uint64)
    mix.reset(np.arange(n), seeds)
    alone = []
    for sc, b in zip(SCENARIOS, mix.blocks, strict=True):
        core = PacingCore(sc, b.stop - b.start)
        core.reset(np.arange(b.stop - b.start), seeds[b])
        alone.append(core)
    rng = np.random.default_rng(0)
    for _ in range(300):
        th = rng.uniform(0, 0.2, n)
        res = mix.step(th)
        for core, b in zip(alone, mix.blocks, strict=True):
            r = core.step(th[b])
            np.testing.assert_array_equal(res.obs[b], r.obs)
            np.testing.assert_array_equal(res.reward[b], r.reward)
            np.testing.assert_array_equal(res.finished[b], r.finished)
    rows = np.array([6, 0, 4])
    m = mix.metrics(rows)
    for j, row in enumerate(rows):
        i = int(np.searchsorted([b.stop for b in mix.blocks], row, side="right"))
        local = row - mix.blocks[i].start
        want = alone[i].metrics(np.array([local]))
        for k, v in want.items():
            assert m[k][j] == pytest.approx(v[0], nan_ok=True)
    assert mix.scenario_of(rows) == ["daily_budget", "live_commerce", "small_budget"]


def test_reset_of_some_rows_leaves_the_others():
    mix = CoreMixture(SCENARIOS, 6)
    mix.reset(np.arange(6), np.arange(6, dtype=np.uint64))
    for _ in range(5):
        mix.step(np.full(6, 0.05))
    before = mix.obs.copy()
    mix.reset(np.array([1, 5]), np.array([40, 41], dtype=np.uint64))
    keep = [0, 2, 3, 4]
    np.testing.assert_array_equal(mix.obs[keep], before[keep])
    assert not np.array_equal(mix.obs[[1, 5]], before[[1, 5]])


def test_jitter_widens_scale_keys_by_a_factor():
    sc = resolve("daily_budget")
    j = jittered(sc, {"traffic.base_rate": 0.3, "delay.quantile_s": 0.5})
    lo, hi = bounds(j.traffic.base_rate)
    v = bounds(sc.traffic.base_rate)
    assert lo == pytest.approx(v[0] / 10**0.3) and hi == pytest.approx(v[1] * 10**0.3)
    q = bounds(j.delay.quantile_s)
    assert q[1] / q[0] == pytest.approx(10.0)


@pytest.mark.parametrize(
    "jitter, key",
    [
        ({"serving.fill_rate": 0.1}, "serving.fill_rate"),  # a probability: not jitterable
        ({"traffic.base_rate": -0.1}, "traffic.base_rate"),
        ({"traffic.base_rate": MAX_JITTER_DECADES + 1}, "traffic.base_rate"),
        ({"traffic.base_rate": float("nan")}, "traffic.base_rate"),
        ({"traffic.base_rate": "0.3"}, "traffic.base_rate"),
    ],
)
def test_bad_jitter_is_refused_by_key(jitter, key):
    with pytest.raises(ScenarioError, match=f"train.jitter.{key}"):
        jittered(resolve("live_commerce"), jitter)


def test_every_jitterable_key_is_randomisable():
    """A jitter turns a value into a per-episode range, which only randomisable keys take."""
    from pacegym.envs.layout import RANDOMIZABLE
    from pacegym.envs.mixture import JITTERABLE

    assert set(JITTERABLE) <= set(RANDOMIZABLE)


def test_a_zero_is_left_at_zero_and_named():
    """A trace has no simulated surges: a jitter of the surge rate leaves it at 0 there,
    and the run names that pair instead of widening it in name only."""
    from pacegym.envs.mixture import unwidened, unwidened_note

    jitter = {"traffic.surge_rate_per_h": 0.3, "traffic.base_rate": 0.3}
    trace = resolve("traces/train/taxi_daily")
    j = jittered(trace, jitter)
    assert bounds(j.traffic.surge_rate_per_h) == (0.0, 0.0)
    assert unwidened(trace, jitter) == ["traffic.surge_rate_per_h"]
    assert unwidened(j, jitter) == ["traffic.surge_rate_per_h"]  # still 0 once jittered
    assert unwidened(resolve("daily_budget"), jitter) == []
    scs = [resolve("daily_budget"), trace, resolve("suite/bursty_trace")]
    assert unwidened_note(scs, jitter) == [
        "train.jitter.traffic.surge_rate_per_h: 0 on taxi_daily, bursty_trace: "
        "nothing to widen, left at 0"
    ]
    assert unwidened_note(scs, {"traffic.base_rate": 0.3}) == []


def test_every_generalist_jitter_key_reaches_a_trace():
    """The generalist's jitter on a recorded trace's training days: the traffic level, the
    forecast's bias and the delay are widened like a synthetic scenario's (the level scales
    the trace and its walk-forward forecast alike); only the surge rate stays 0."""
    jitter = {
        "traffic.base_rate": 0.3,
        "traffic.surge_rate_per_h": 0.3,
        "forecast.bias": 0.1,
        "delay.quantile_s": 0.3,
    }
    for name in ("traces/train/amzn_live", "traces/train/i94_multi_day"):
        sc = resolve(name)
        j = jittered(sc, jitter)
        for key, section, field in [
            ("traffic.base_rate", j.traffic, "base_rate"),
            ("forecast.bias", j.forecast, "bias"),
            ("delay.quantile_s", j.delay, "quantile_s"),
        ]:
            lo, hi = bounds(getattr(section, field))
            assert hi / lo == pytest.approx(10 ** (2 * jitter[key])), (name, key)
        assert bounds(j.traffic.surge_rate_per_h) == (0.0, 0.0)
        CoreMixture([j], 2).reset(np.arange(2), np.arange(2, dtype=np.uint64))
