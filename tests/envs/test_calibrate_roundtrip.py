"""Round trip: logs simulated by the core from a known scenario are fitted back.

Tolerances (stated in docs/calibration.md):
- delay quantiles (25-95%) within 5% of the scenario's continuous delay (joined logs);
  per-minute aggregates: within 5% at 50-95%, and within 5% at 25-95% of the core's
  effective delay, which counts a delay d at tick floor(d / tick_s) (half a tick,
  7.5 s, shorter on average);
- render probability and fill rate within 0.01;
- intraday profile: RMS relative error <= 4% and max <= 12% over the 1440 minutes;
- base rate within 3%, day-of-week factors within 4%, noise sd within 20%, noise
  correlation time within 35%;
- surges: factors within 20%, rate and mean duration within 35% (about 100 surges).
"""

import numpy as np
import pytest

from pacegym.envs.calibration import (
    calibrate,
    event_table,
    load_yaml,
    minute_table,
    parse_events,
    parse_minutes,
    run_core,
    write_scenario,
)
from pacegym.envs.core import PacingCore
from pacegym.envs.delays import continuous_cdf
from pacegym.envs.scenarios import from_dict, resolve, to_dict
from pacegym.envs.traffic import intraday_profile

LEVELS = (0.25, 0.5, 0.75, 0.9, 0.95)


def true_quantile(q: float, shift_s: float = 0.0) -> float:
    d = resolve("daily_budget").delay
    grid = np.arange(0.0, d.max_delay_s + 0.5, 0.5)
    cdf = continuous_cdf(d.family, d.quantile_s, d.quantile, d.sigma, d.max_delay_s)(grid)
    return float(np.interp(q, cdf, grid)) - shift_s


@pytest.fixture(scope="module")
def aggregate():
    tc = run_core("daily_budget", campaigns=3, seed=11, days=8)
    return calibrate(parse_minutes(minute_table(tc)), name="rt_minutes")


@pytest.fixture(scope="module")
def joined():
    tc = run_core("daily_budget", campaigns=2, seed=5, days=3)
    return tc, calibrate(parse_events(event_table(tc, seed=6)), name="rt_events")


def test_joined_delay_quantiles_within_5_percent(joined):
    _, cal = joined
    assert cal.delay.method == "joined"
    for q in LEVELS:
        assert cal.delay.quantile(q) == pytest.approx(true_quantile(q), rel=0.05), q
    assert cal.delay.render_prob == pytest.approx(0.97, abs=0.01)
    assert cal.delay.max_delay_s == 7200.0
    assert cal.scenario.serving.fill_rate == pytest.approx(0.5, abs=0.01)


def test_joined_by_serve_timestamp_gives_the_same_delays(joined):
    tc, cal = joined
    other = calibrate(parse_events(event_table(tc, seed=6, join="serve_timestamp")))
    for q in LEVELS:
        assert other.delay.quantile(q) == pytest.approx(cal.delay.quantile(q), rel=1e-6)


def test_aggregate_delay_by_deconvolution(aggregate):
    d = aggregate.delay
    assert d.method == "deconvolved"
    for q in LEVELS:
        assert d.quantile(q) == pytest.approx(true_quantile(q, shift_s=7.5), rel=0.05), q
        if q >= 0.5:
            assert d.quantile(q) == pytest.approx(true_quantile(q), rel=0.05), q
    assert d.render_prob == pytest.approx(0.97, abs=0.01)


def test_aggregate_traffic_model(aggregate):
    tf = aggregate.traffic
    truth = intraday_profile()
    rel = tf.profile / truth - 1.0
    assert np.sqrt(np.mean(rel**2)) <= 0.04
    assert np.abs(rel).max() <= 0.12
    assert np.mean(tf.base_rate) == pytest.approx(1.0, rel=0.03)
    assert tf.dow_fitted
    np.testing.assert_allclose(tf.dow_factors, [1, 1, 1, 1, 1.05, 1.15, 1.1], rtol=0.04)
    assert tf.noise_sd == pytest.approx(0.15, rel=0.2)
    assert tf.noise_tau_s == pytest.approx(600.0, rel=0.35)
    assert tf.fill_rate == pytest.approx(0.5, abs=0.01)


def test_aggregate_surges(aggregate):
    tf = aggregate.traffic
    assert len(tf.surge_factors) == 2
    assert tf.surge_factors[0] == pytest.approx(10.0, rel=0.2)
    assert tf.surge_factors[1] == pytest.approx(100.0, rel=0.2)
    assert tf.surge_rate_per_h == pytest.approx(0.2, rel=0.35)
    assert tf.surge_mean_s == pytest.approx(120.0, rel=0.35)
    assert sum(tf.surge_probs) == pytest.approx(1.0)


def test_written_scenario_loads_and_runs(aggregate, tmp_path):
    cal = aggregate
    sc = from_dict({"traffic": {"trace_csv": str(tmp_path / "t.csv")}}, base=cal.scenario)
    cal2 = type(cal)(sc, cal.traffic, cal.delay, cal.counts, cal.trace)
    write_scenario(cal2, tmp_path / "calibrated_x.yaml", header="test")
    loaded = load_yaml(tmp_path / "calibrated_x.yaml")
    assert loaded == sc
    assert from_dict(to_dict(loaded)) == loaded
    assert loaded.delay.family == "empirical"
    core = PacingCore(loaded, 2)
    core.reset(np.arange(2), np.arange(2, dtype=np.uint64))
    for _ in range(200):
        core.step(np.full(2, 0.5))
    assert core.ist[:, 2].sum() > 0  # served
