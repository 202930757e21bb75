"""traffic.departures: off by default, validated, drawn the same everywhere, and a generator
fitted to a trace holds that trace's departure statistics (docs/real_traffic.md)."""

import dataclasses

import numpy as np
import pytest
import yaml

from pacegym.envs.calibration.departure_fit import fit_departures, native_bin_min
from pacegym.envs.calibration.trace_twin import (
    fit_twin,
    simulate,
    trace_pair,
    twin_distance,
    twin_rates,
)
from pacegym.envs.core import PacingCore
from pacegym.envs.departures import departure_stats
from pacegym.envs.params import ScenarioError
from pacegym.envs.params_departures import DepartureParams
from pacegym.envs.scenarios import from_dict, resolve, to_dict
from pacegym.envs.state import departure_bins, state_bytes

# The tolerances a fitted generator (its rate over 8 draws of the trace's 13 test days,
# pooled: trace_twin.twin_rates) is held to against its trace's test days, every trace:
ACF_ABS = 0.15  # autocorrelation of log(actual / forecast) at 15 min, 1 h, 4 h: absolute
OFF_ABS = 0.10  # share of hours more than 30% off forecast: absolute
BURST_FACTOR = 2.0  # burst size and duration quantiles (q50, q90): within this factor
TRACES = ("taxi", "amzn", "fb", "i94", "bike")
BURST_FROM = {"taxi": 2.0, "amzn": 2.0, "fb": 2.0, "i94": 1.5, "bike": 2.0}  # docs table


def test_off_by_default_and_round_trips():
    assert not resolve("daily_budget").traffic.departures.on
    assert PacingCore("daily_budget", 2).dep_log.shape == (2, 1)
    sc = resolve("suite/realistic_daily")
    assert sc.traffic.departures.on
    data = to_dict(sc)
    assert from_dict(yaml.safe_load(yaml.safe_dump(data))) == sc
    assert hash(sc) == hash(from_dict(data))


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"slow_sd": -0.1}, "slow_sd"),
        ({"slow_order": 3}, "slow_order"),
        ({"sd": 1}, "sd"),
        ({"native_min": 7}, "native_min"),
        ({"rebound_x": 0.0}, "rebound_x"),
    ],
)
def test_bad_values_name_the_key(values, key):
    with pytest.raises(ScenarioError, match=f"traffic.departures.{key}"):
        resolve({"base": "daily_budget", "traffic": {"departures": values}})


def test_memory_is_checked_with_the_rest():
    on, off = resolve("suite/realistic_daily"), resolve("daily_budget")
    bins = departure_bins(on)
    assert bins == 1440 // 5 + 1 and departure_bins(off) == 1
    assert state_bytes(on, 10) - state_bytes(off, 10) == 10 * (bins - 1) * 8


def test_read_only():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DepartureParams().slow_sd = 1.0  # type: ignore[misc]


def test_same_seed_same_departures_and_other_draws_unchanged():
    sc = resolve("suite/realistic_daily")
    a, b = PacingCore(sc, 3), PacingCore(sc, 1)
    a.reset(np.arange(3), np.array([7, 8, 9], np.uint64))
    b.reset(np.zeros(1, np.int64), np.array([8], np.uint64))
    np.testing.assert_array_equal(a.dep_log[1], b.dep_log[0])
    assert not np.array_equal(a.dep_log[0], a.dep_log[1])
    off = PacingCore("daily_budget", 1)  # the traffic stream is not advanced by the draw
    off.reset(np.zeros(1, np.int64), np.array([8], np.uint64))
    np.testing.assert_array_equal(off.streams, b.streams)
    np.testing.assert_array_equal(off.fst, b.fst)


def test_native_bin_smooths_all_but_bursts_and_a_collapse_rebounds():
    dep = {"slow_sd": 0.3, "quarter_sd": 0.3, "native_min": 60.0}
    core = PacingCore(resolve({"base": "daily_budget", "traffic": {"departures": dep}}), 1)
    core.reset(np.zeros(1, np.int64), np.array([3], np.uint64))
    x = core.dep_log[0, :-1]  # a flight from a whole hour: blocks of 12 bins, middles at 5.5
    kinks = np.flatnonzero(np.abs(np.diff(x, 2)) > 1e-9) + 1  # linear between middles
    assert set(kinks % 12) <= {5, 6} and kinks.size > 0
    dep = {"collapse_per_day": 1.0, "collapse_x": 0.1, "collapse_h": 1.0, "rebound_x": 1.5}
    sc = resolve({"base": "multi_day_flight", "traffic": {"departures": dep}})
    core = PacingCore(sc, 1)
    core.reset(np.zeros(1, np.int64), np.array([3], np.uint64))
    assert np.isclose(core.dep_log[0], np.log(1.5)).sum() >= 1440 // 5 - 2 * 12


def test_fit_recovers_a_known_generator():
    truth = {"slow_sd": 0.3, "slow_tau_h": 3.0, "hour_sd": 0.1, "quarter_sd": 0.15}
    sc = resolve(
        {
            "base": "daily_budget",
            "traffic": {"noise_sd": 0.0, "surge_rate_per_h": 0.0, "departures": truth},
        }
    )
    twin = from_dict({"traffic": {"base_rate": 50.0}}, sc)
    req, exp = simulate(twin, 0, 28)
    fit = fit_departures(req, exp).params
    assert fit.slow_sd == pytest.approx(0.3, abs=0.08)
    assert fit.quarter_sd == pytest.approx(0.15, abs=0.05)
    assert 1.0 <= fit.slow_tau_h <= 9.0


def test_native_bin_is_read_off_the_trace():
    got = {n: native_bin_min(trace_pair(f"traces/{n}_daily")[0]) for n in TRACES}
    assert got == {"taxi": 30, "amzn": 5, "fb": 5, "i94": 60, "bike": 60}  # docs table


@pytest.mark.slow  # a statistical claim, ~5 s a trace: a fit and 8 simulated test periods
@pytest.mark.parametrize("name", TRACES)
def test_fitted_generator_holds_its_traces_statistics(name, tmp_path):
    scenario = f"traces/{name}_daily"
    trace, forecast, first = trace_pair(scenario)
    want = departure_stats(trace, forecast)
    twin, first = fit_twin(scenario, tmp_path / "twin.csv")
    got = departure_stats(*twin_rates(twin, first, trace.size // 1440))
    missed = []
    for key in ("acf_15min", "acf_1h", "acf_4h"):
        if abs(got[key] - want[key]) > ACF_ABS:
            missed.append(key)
    if abs(got["off_forecast_hours"] - want["off_forecast_hours"]) > OFF_ABS:
        missed.append("off_forecast_hours")
    for key in ("burst_size_q50", "burst_size_q90", "burst_min_q50", "burst_min_q90"):
        if not want[key] / BURST_FACTOR <= got[key] <= want[key] * BURST_FACTOR:
            missed.append(key)
    assert not missed, got
    assert twin.traffic.departures.burst_min_x == BURST_FROM[name]  # chosen by the fit


def test_twin_distance_is_the_largest_miss_in_tolerances():
    want = {"acf_15min": 0.5, "acf_1h": 0.3, "acf_4h": 0.1, "off_forecast_hours": 0.2}
    want |= {"burst_size_q50": 2.5, "burst_size_q90": 4.0, "burst_min_q50": 15.0}
    want |= {"burst_min_q90": 30.0}
    assert twin_distance(want, want) == 0.0
    assert twin_distance(want | {"acf_1h": 0.6}, want) == pytest.approx(2.0)
    assert twin_distance(want | {"burst_min_q90": 60.0}, want) == pytest.approx(1.0)
    none = {"burst_size_q50": np.nan, "burst_size_q90": np.nan}
    none |= {"burst_min_q50": 0.0, "burst_min_q90": 0.0}
    assert twin_distance(want | none, want | none) == 0.0
    assert twin_distance(want | none, want) == np.inf
    with pytest.raises(ValueError, match="burst_ratio"):
        fit_departures(np.ones(60), np.ones(60), burst_ratio=1.0)
