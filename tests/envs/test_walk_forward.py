"""Trace calendars: start days over the whole trace, a time-ordered split, and a forecast
fitted only on the days before the flight (walk-forward, no look-ahead)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import pacegym.conf
from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore
from pacegym.envs.params import ScenarioError
from pacegym.envs.scenarios import resolve
from pacegym.envs.walk_forward import (
    DAY_MIN,
    expected_per_minute,
    flight_span_min,
    forecast_history_rows,
    start_days,
    walk_forward_forecast,
)

from .traces import replayed

_TRACES = Path(pacegym.conf.__file__).parent / "scenario" / "traces"
TRACE_SCENARIOS = sorted(
    f"traces/{p.relative_to(_TRACES).with_suffix('').as_posix()}" for p in _TRACES.rglob("*.yaml")
)
DAYS = 30


@pytest.fixture
def trace_csv(tmp_path):
    """30 days: a daily shape x a level that changes every day (so days differ)."""
    rng = np.random.default_rng(0)
    m = np.arange(DAYS * DAY_MIN)
    shape = 1.0 + 0.8 * np.sin(2 * np.pi * (m % DAY_MIN) / DAY_MIN)
    level = np.repeat(rng.uniform(0.5, 2.0, DAYS), DAY_MIN)
    path = tmp_path / "trace.csv"
    path.write_text("requests\n" + "\n".join(f"{v:.6f}" for v in shape * level) + "\n")
    return str(path)


def _scenario(trace: str, **traffic):
    return resolve(
        {
            "base": "daily_budget",
            "time": {"start_minute": [0.0, 1439.0]},
            "traffic": replayed(trace, **traffic),
            "forecast": {"kind": "holt_winters", "fit_on": "trace", "noise_sd": 0.0},
        }
    )


def test_shipped_trace_scenarios_exist():
    names = {n.removeprefix("traces/") for n in TRACE_SCENARIOS}
    for trace in ("taxi", "amzn", "fb", "i94", "bike"):
        assert f"{trace}_daily" in names and f"train/{trace}_daily" in names


@pytest.mark.parametrize("name", TRACE_SCENARIOS)
def test_no_forecast_history_contains_a_flight_day(name):
    """Every start day's forecast history ends at its midnight: the flight is never in it."""
    sc = resolve(name)
    assert sc.traffic.profile == "trace" and sc.forecast.fit_on == "trace"
    core = PacingCore(sc, 1)
    lo, hi = core.day_lo, core.day_hi
    for day in range(lo, hi + 1):
        rows = forecast_history_rows(sc, day)
        assert rows.start >= 0
        assert rows.stop <= day * DAY_MIN  # the flight starts at day * 1440 or later
    assert core.fc_mode == 2 and core.fc_horizon * DAY_MIN >= 0


@pytest.mark.parametrize("name", TRACE_SCENARIOS)
def test_train_days_end_before_the_split_and_test_days_start_on_it(name):
    sc = resolve(name)
    n = PacingCore(sc, 1).prof.shape[0]
    lo, hi = start_days(sc, n)
    split = sc.traffic.split_day * DAY_MIN
    if sc.traffic.days == "train":
        assert lo >= sc.forecast.history_days
        assert hi * DAY_MIN + flight_span_min(sc) <= split
    else:
        assert sc.traffic.days == "test"
        assert lo * DAY_MIN >= split
        assert hi * DAY_MIN + flight_span_min(sc) <= n


def test_the_forecast_of_a_day_does_not_change_when_that_day_and_later_change(trace_csv):
    """Walk-forward: overwrite the trace from day d on, and day d's forecast is the same."""
    sc = _scenario(trace_csv, split_day=20, days="test")
    core = PacingCore(sc, 1)
    lo, hi = core.day_lo, core.day_hi
    expected = expected_per_minute(core.prof, core.dow)
    table = walk_forward_forecast(sc, expected.tobytes(), (lo, hi))
    np.testing.assert_array_equal(table.reshape(-1), core.fc_prof)  # what the core reads
    for day in (lo, (lo + hi) // 2, hi):
        changed = expected.copy()
        changed[day * DAY_MIN :] *= np.random.default_rng(day).uniform(
            0.1, 10.0, changed.size - day * DAY_MIN
        )
        again = walk_forward_forecast(sc, changed.tobytes(), (lo, hi))
        np.testing.assert_array_equal(again[day - lo], table[day - lo])
        # and it does depend on the days before: change the day before, the forecast moves
        earlier = expected.copy()
        earlier[(day - 1) * DAY_MIN : day * DAY_MIN] *= 3.0
        moved = walk_forward_forecast(sc, earlier.tobytes(), (lo, hi))
        assert not np.array_equal(moved[day - lo], table[day - lo])


def test_episodes_draw_every_test_day_and_the_forecast_follows_the_day(trace_csv):
    sc = _scenario(trace_csv, split_day=20, days="test")
    n = 256
    core = PacingCore(sc, n)
    core.reset(np.arange(n), np.arange(n, dtype=np.uint64) + 7)
    start = core.par[:, K.P_START_MIN]
    days = (start // DAY_MIN).astype(int)
    assert set(days) == set(range(core.day_lo, core.day_hi + 1))
    assert core.day_lo == 20
    # the same seed, the same day and forecast, whatever the batch
    one = PacingCore(sc, 1)
    one.reset(np.zeros(1, np.int64), np.array([7 + 5], np.uint64))
    assert one.par[0, K.P_START_MIN] == start[5]
    np.testing.assert_array_equal(one.fc_cum[0], core.fc_cum[5])
    # a learned, day-specific forecast: campaigns starting at the same minute of different days
    # (different levels) get different plans
    assert len({round(float(core.par[b, K.P_FC_TOTAL]), 6) for b in range(n)}) > 10


def test_a_single_start_day_keeps_its_fixed_path(trace_csv):
    sc = _scenario(trace_csv)
    simulated = dataclasses.replace(sc.forecast, kind="perturbed", fit_on="simulated")
    sc = dataclasses.replace(
        sc, time=dataclasses.replace(sc.time, start_day=15), forecast=simulated
    )
    core = PacingCore(sc, 1)
    assert not core.fold_day and core.start_day == 15
    core.reset(np.zeros(1, np.int64), np.zeros(1, np.uint64))
    assert core.par[0, K.P_START_MIN] < DAY_MIN  # the kernels add the day


def test_a_single_start_day_reads_its_own_walk_forward_forecast(trace_csv):
    sc = _scenario(trace_csv)
    sc = dataclasses.replace(sc, time=dataclasses.replace(sc.time, start_day=20, start_minute=0.0))
    core = PacingCore(sc, 1)
    assert core.fold_day and core.start_day == 0 and core.day_lo == core.day_hi == 20
    core.reset(np.zeros(1, np.int64), np.zeros(1, np.uint64))
    assert core.par[0, K.P_START_MIN] == 20 * DAY_MIN
    per_slot = np.diff(core.fc_cum[0]) * core.par[0, K.P_FC_TOTAL]  # [requests] a minute each
    expected = core.fc_prof[:DAY_MIN] * 60.0 * sc.traffic.base_rate
    np.testing.assert_allclose(per_slot, expected, rtol=1e-9)


@pytest.mark.parametrize(
    ("traffic", "forecast", "time", "key"),
    [
        ({"days": "test"}, {}, {}, "traffic.days"),
        ({"split_day": 40}, {}, {}, "traffic.split_day"),
        ({"days": "later", "split_day": 20}, {}, {}, "traffic.days"),
        ({"split_day": 0}, {}, {}, "traffic.split_day"),
        ({"split_day": 20, "days": "test"}, {}, {"start_day": 21}, "time.start_day"),
        ({}, {"fit_on": "trace", "kind": "perturbed"}, {}, "forecast.fit_on"),
        ({}, {"fit_on": "somewhere"}, {}, "forecast.fit_on"),
        ({}, {}, {"start_day": [3, 2]}, "time.start_day"),
        ({}, {}, {"start_day": 2.5}, "time.start_day"),
    ],
)
def test_bad_calendar_settings_name_their_key(trace_csv, traffic, forecast, time, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        sc = resolve(
            {
                "base": "daily_budget",
                "time": time,
                "traffic": {"profile": "trace", "trace_csv": trace_csv, **traffic},
                "forecast": {"kind": "holt_winters", **forecast},
            }
        )
        PacingCore(sc, 1)


def test_split_days_the_trace_cannot_hold_are_refused(trace_csv):
    # no test day / beyond the end / no train day after the 14 history days
    # and test days with too little history before them for the forecast
    for split, days in (
        (29, "test"),
        (31, "test"),
        (31, "train"),
        (2, "train"),
        (15, "train"),
        (10, "test"),
    ):
        with pytest.raises(ScenarioError, match=r"traffic\.split_day"):
            PacingCore(_scenario(trace_csv, split_day=split, days=days), 1)
    PacingCore(_scenario(trace_csv, split_day=16, days="train"), 1)  # day 14 fits


def test_a_forecast_on_the_trace_needs_its_history_days_before_the_first_start_day(trace_csv):
    sc = _scenario(trace_csv)  # days: all, start_day 0 < history_days 14
    with pytest.raises(ScenarioError, match=r"time\.start_day = 0"):
        PacingCore(sc, 1)


def test_fit_on_trace_needs_a_trace():
    with pytest.raises(ScenarioError, match=r"forecast\.fit_on"):
        resolve({"base": "daily_budget", "forecast": {"kind": "holt_winters", "fit_on": "trace"}})


def test_simulated_logs_are_stamped_on_the_drawn_day(trace_csv):
    """Logs of a scenario that draws its start day carry that day in their timestamps."""
    from pacegym.envs.calibration.simulate import ORIGIN_NS, run_core

    sc = _scenario(trace_csv, split_day=20, days="test")
    counts = run_core(sc, 8, seed=3)
    core = PacingCore(sc, 8)
    core.reset(np.arange(8), 3 + np.arange(8, dtype=np.uint64))
    day_ns = 86_400 * 10**9
    stamped = (np.asarray(counts.start_ns) - ORIGIN_NS) // day_ns
    np.testing.assert_array_equal(stamped, core.par[:, K.P_START_MIN] // DAY_MIN)
    assert stamped.min() >= 20
