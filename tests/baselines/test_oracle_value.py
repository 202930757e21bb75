"""The clairvoyant on value scenarios: the segment LP, its duals, the impression-level bound,
and the oracle against value-blind and value-aware pacers on the same seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from pacegym.baselines.factory import load_controller_yaml
from pacegym.baselines.harness import episode_seeds, run_episodes
from pacegym.baselines.hindsight_value import build_segment_lp, solve_segments
from pacegym.baselines.impression_bound import impression_bound, quantile_atoms
from pacegym.baselines.oracle import (
    OracleConfig,
    OracleController,
    hindsight_episodes,
    realised_requests,
)
from pacegym.baselines.oracle_value import block_ticks, segment_episodes
from pacegym.envs.core import PacingCore
from pacegym.envs.metrics import SCORE_KEY
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import N_OBS
from pacegym.envs.value import layer_factors

SHORT = {  # four hours of the value world, a budget that buys ~12% of the traffic
    "base": "value_channels",
    "time": {"flight_min": 240.0, "start_minute": 600.0},
    "money": {"budget": 10000.0},
}


def short_episode(seed: int = 3, **value):
    sc = {**SHORT, "value": {**_channels(), **value}} if value else SHORT
    core = PacingCore(sc, 1)
    core.reset(np.arange(1), episode_seeds(seed, 1))
    req = realised_requests(core)
    ep = segment_episodes(core, hindsight_episodes(core, req), req)[0]
    return core, ep, block_ticks(ep, 0.0, 1500, core.tick_s)


def _channels() -> dict:
    """The value section of value_channels (a section replaces the base's as a whole)."""
    v = resolve("value_channels").value
    return {"channels": [c.__dict__ for c in v.channels], "layers": v.layers}


def test_segment_requests_are_the_ones_the_core_serves():
    """At fill 1 and throttle 1 every request is served: the replayed segment chain must
    match what each segment serves, tick by tick."""
    sc = {**SHORT, "serving": {"fill_rate": 1.0}, "money": {"budget": 1e9}}
    core = PacingCore(sc, 2)
    core.reset(np.arange(2), episode_seeds(5, 2))
    req = realised_requests(core)
    eps = segment_episodes(core, hindsight_episodes(core, req), req)
    assert all(np.array_equal(ep.seg_requests.sum(axis=1), req[b]) for b, ep in enumerate(eps))
    last = core.seg_served.copy()
    ones = np.ones((2, len(core.segments)))
    for t in range(eps[0].flight_ticks):
        core.step(ones)
        for b in range(2):
            assert np.array_equal(core.seg_served[b] - last[b], eps[b].seg_requests[t])
        last = core.seg_served.copy()


def test_duals_are_non_negative_and_the_threshold_separates_segments():
    _, ep, block = short_episode()
    sol = solve_segments(ep, block)
    assert sol.ok, sol.message
    assert np.all(sol.shadow >= -1e-9) and np.all(sol.parts >= -1e-9)
    assert np.allclose(sol.parts.sum(axis=0), sol.shadow, atol=1e-9)
    assert sol.parts[0].min() > 0  # the budget binds: it buys ~12% of the traffic
    # complementary slackness, column by column: above its threshold a segment is served
    # in full, below it not at all
    x, rel, th = sol.blocks, sol.col_rel, sol.col_threshold
    ok = np.isfinite(th)
    assert np.all(x[ok & (rel > th + 1e-7)] > 1 - 1e-7)
    assert np.all(x[ok & (rel < th - 1e-7)] < 1e-7)
    # on a block mid-flight one threshold separates the served segments from the others
    k = x.shape[0] // 2
    tick_th = sol.threshold[k * block]
    served, idle = x[k] > 1 - 1e-7, x[k] < 1e-7
    assert served.any() and idle.any()
    assert rel[k, served].min() >= tick_th - 1e-3 > rel[k, idle].max() - 1e-3
    # the threshold's reduced costs are HiGHS's own
    lp, cols, _ = build_segment_lp(ep, block)
    res = linprog(**lp, method="highs")
    d = (res.lower.marginals + res.upper.marginals)[: x.size]
    mine = ep.base.w_waste * cols.post - ep.w_value * cols.excess
    mine = (mine + cols.A.T @ sol.shadow - cols.spend) / ep.base.budget
    assert np.allclose(d, mine, atol=1e-9)


def test_the_atoms_average_to_the_layer_factors():
    v = resolve("value_channels").value
    atoms = quantile_atoms(v.layers, v.value_sd, v.prediction_sd, 64)
    assert np.allclose(atoms.mean(axis=1), layer_factors(v), rtol=1e-9)
    assert atoms.mean() == pytest.approx(1.0, abs=1e-12)


def test_the_impression_bound_is_above_the_segment_lp_and_closes_without_spread():
    _, ep, block = short_episode()
    sol = solve_segments(ep, block)
    bound = impression_bound(ep, sol.throttle)
    assert np.all(bound.gap >= -1e-9 * bound.value.max())
    assert bound.score_gap > 0.01  # finer segmentation is worth something here
    # every request of a layer worth the same: nothing to gain below the layer
    _, flat, block = short_episode(value_sd=0.0)
    sol = solve_segments(flat, block)
    assert impression_bound(flat, sol.throttle).score_gap == pytest.approx(0.0, abs=1e-12)


class ValueGate:
    """A simple value-aware pacer: a PID's throttle on the segments whose predicted value
    per price is at least the flight's average (the observation's segment block), none on
    the others."""

    name = "pid + value gate"

    def __init__(self, base) -> None:
        self.base = base

    def reset(self, n: int) -> None:
        self.base.reset(n)

    def act(self, obs: np.ndarray) -> np.ndarray:
        p = np.asarray(self.base.act(obs), dtype=float)
        rel = obs[:, N_OBS + 1 :: 3]
        return p[:, None] * (rel >= 1.0)


def _compare(episodes: int, config: OracleConfig) -> None:
    oracle = OracleController(config)
    roll = run_episodes(oracle, "value_channels", episodes, seed=0)
    assert oracle.failures == 0, oracle.failure_messages
    assert np.isfinite(oracle.thresholds).any()
    score = roll.metrics[SCORE_KEY]
    for other in (
        load_controller_yaml("pid"),
        load_controller_yaml("daily_budget/pid_tuned"),
        ValueGate(load_controller_yaml("daily_budget/pid_tuned")),
    ):
        theirs = run_episodes(other, "value_channels", episodes, seed=0).metrics[SCORE_KEY]
        assert np.all(score >= theirs), (other.name, score, theirs)


def test_the_oracle_beats_blind_and_value_aware_pacers_on_value_channels():
    _compare(2, OracleConfig(replans=2))


@pytest.mark.slow
def test_the_oracle_beats_them_on_six_episodes_with_replans():
    _compare(6, OracleConfig())


@pytest.mark.parametrize("block_min", [0.3, 0.1])
def test_a_block_that_is_not_whole_ticks_is_refused_not_rounded(block_min):
    from pacegym.baselines.controllers import ControllerConfigError
    from pacegym.baselines.harness import run_episodes
    from pacegym.baselines.oracle import OracleConfig, OracleController

    oracle = OracleController(OracleConfig(block_min=block_min, replans=0))
    with pytest.raises(ControllerConfigError, match=r"block_min = .*whole number of ticks"):
        run_episodes(oracle, "live_commerce", 1, 0)
