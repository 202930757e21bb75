"""The simulator reproduces the field's delay facts and configured surges."""

import numpy as np
import pytest

from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore


def test_default_delay_table_is_75_percent_within_15_minutes_and_nothing_after_2_hours():
    core = PacingCore("live_commerce", 1)
    d = core.scenario.delay
    q = core.delay_probabilities(d.quantile_s, d.quantile, d.sigma)
    assert len(q) * core.tick_s == pytest.approx(7200.0)
    within = q[: int(900 / core.tick_s)].sum()
    assert within == pytest.approx(0.75, abs=0.02)
    assert q.sum() == pytest.approx(1.0)


@pytest.mark.slow
def test_simulated_delays_match_the_field():
    """Serve a burst, then watch when the impressions are counted."""
    scenario = {
        "base": "live_commerce",
        "time": {"flight_min": 300.0},
        "traffic": {"base_rate": 50.0},
    }
    n = 64
    core = PacingCore(scenario, n)
    core.reset(np.arange(n), np.arange(n, dtype=np.uint64))
    core.step(np.ones(n))  # one tick of serving
    rendered = core.ist[:, K.I_SERVED] - core.ist[:, K.I_NEVER]
    assert rendered.sum() > 10_000
    counted_by_tick = [core.ist[:, K.I_COUNTED].sum()]
    for _ in range(core.n_delay):
        core.step(np.zeros(n))
        counted_by_tick.append(core.ist[:, K.I_COUNTED].sum())
    share = np.array(counted_by_tick) / rendered.sum()
    # counted within 15 min of serving: the serving tick plus 59 more
    assert share[int(900 / core.tick_s) - 1] == pytest.approx(0.75, abs=0.02)
    assert share[core.n_delay - 1] == 1.0
    render = core.par[0, K.P_RENDER]
    assert rendered.sum() / core.ist[:, K.I_SERVED].sum() == pytest.approx(render, abs=0.01)


@pytest.mark.parametrize("factor", [10.0, 100.0])
def test_configured_surge_multiplies_traffic_by_its_factor(factor):
    common = {"base": "live_commerce", "time": {"flight_min": 60.0}}
    calm = {**common, "traffic": {"noise_sd": 0.0, "surge_rate_per_h": 0.0}}
    surging = {
        **common,
        "traffic": {
            "noise_sd": 0.0,
            "surge_rate_per_h": 3600.0,  # a surge starts in the first tick (p = 1 - e^-15)
            "surge_mean_s": 1e7,  # the longest allowed: lasts the whole flight
            "surge_factors": [factor],
            "surge_probs": [1.0],
        },
    }
    n = 16
    totals = []
    for scenario in (calm, surging):
        core = PacingCore(scenario, n)
        core.reset(np.arange(n), np.arange(n, dtype=np.uint64))
        while not core.done.all():
            core.step(np.zeros(n))
        totals.append(core.ist[:, K.I_REQUESTS].sum())
    assert totals[1] / totals[0] == pytest.approx(factor, rel=0.02)
