"""Conservation and money invariants over random scenarios and action sequences."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore

scenarios = st.fixed_dictionaries(
    {
        "base": st.just("live_commerce"),
        "time": st.fixed_dictionaries({"flight_min": st.sampled_from([5.0, 20.0, 45.0])}),
        "traffic": st.fixed_dictionaries(
            {
                "base_rate": st.floats(0.0, 60.0),
                "surge_rate_per_h": st.floats(0.0, 30.0),
                "noise_sd": st.floats(0.0, 1.0),
            }
        ),
        "serving": st.fixed_dictionaries({"fill_rate": st.floats(0.0, 1.0)}),
        "delay": st.fixed_dictionaries(
            {
                "render_prob": st.floats(0.0, 1.0),
                "quantile_s": st.floats(30.0, 1800.0),
                "max_delay_s": st.sampled_from([1900.0, 3600.0, 7200.0]),
                # a single latency is whole ticks (15 s); a range is drawn, then rounded
                "report_latency_s": st.one_of(
                    st.integers(0, 8).map(lambda k: 15.0 * k),
                    st.tuples(st.floats(0.0, 60.0), st.floats(60.0, 120.0)).map(list),
                ),
                "sampler": st.sampled_from(["impression", "binned"]),
            }
        ),
        "money": st.fixed_dictionaries({"budget": st.floats(10.0, 1e5)}),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios, seed=st.integers(0, 2**32), action_seed=st.integers(0, 2**32))
def test_conservation_and_money(scenario, seed, action_seed):
    n = 3
    core = PacingCore(scenario, n)
    core.reset(np.arange(n), np.arange(n, dtype=np.uint64) + seed)
    rng = np.random.default_rng(action_seed)
    budget = core.par[:, K.P_BUDGET]
    prev_counted_spend = np.zeros(n)
    while not core.done.all():
        throttle = rng.choice([0.0, 1e-3, 0.1, 1.0], size=n) * rng.uniform(0, 1, size=n)
        res = core.step(throttle)
        ist, fst = core.ist, core.fst
        # served = counted + still in flight + never rendered (+ counted after the end)
        np.testing.assert_array_equal(
            ist[:, K.I_SERVED],
            ist[:, K.I_COUNTED]
            + ist[:, K.I_IN_FLIGHT]
            + ist[:, K.I_NEVER]
            + ist[:, K.I_COUNTED_POST],
        )
        running = ~core.done
        np.testing.assert_array_equal(
            ist[running, K.I_IN_FLIGHT], core.pending[running].sum(axis=1)
        )
        assert np.all(fst[:, K.F_COUNTED_SPEND] >= prev_counted_spend)
        prev_counted_spend = fst[:, K.F_COUNTED_SPEND].copy()
        assert np.all(fst[:, K.F_BILLABLE] >= 0) and np.all(fst[:, K.F_MEDIA] >= 0)
        assert np.all(fst[:, K.F_BILLABLE] <= budget * (1 + 1e-12))
        assert np.all(np.isfinite(res.obs)) and np.all(np.isfinite(res.reward))
    m = core.metrics()
    assert np.all(m["delivery"] <= 1 + 1e-12)
    assert np.all(m["wasted_post_end"] >= 0) and np.all(m["wasted_over_budget"] >= 0)


@settings(max_examples=25, deadline=None)
@given(
    max_delay_s=st.sampled_from([600.0, 1900.0, 7200.0]),
    burst_ticks=st.integers(1, 20),
    seed=st.integers(0, 2**32),
    sampler=st.sampled_from(["impression", "binned"]),
)
def test_nothing_is_counted_later_than_the_maximum_delay(max_delay_s, burst_ticks, seed, sampler):
    scenario = {  # the binned sampler's chain runs at 20x the traffic (envs.delay_bins)
        "base": "live_commerce",
        "time": {"flight_min": 300.0},
        "delay": {"max_delay_s": max_delay_s, "quantile_s": 300.0, "sampler": sampler},
        "traffic": {"base_rate": 20.0 if sampler == "impression" else 400.0},
    }
    core = PacingCore(scenario, 2)
    core.reset(np.arange(2), np.array([seed, seed + 1], dtype=np.uint64))
    for _ in range(burst_ticks):
        core.step(np.ones(2))
    assert core.ist[:, K.I_SERVED].sum() > 0
    # after the last serve, max_delay_ticks - 1 more ticks count everything that was rendered
    for _ in range(core.n_delay - 1):
        core.step(np.zeros(2))
    assert np.all(core.ist[:, K.I_IN_FLIGHT] == 0)
    np.testing.assert_array_equal(
        core.ist[:, K.I_SERVED], core.ist[:, K.I_COUNTED] + core.ist[:, K.I_NEVER]
    )


@settings(max_examples=20, deadline=None)
@given(scenario=scenarios, seed=st.integers(0, 2**32))
def test_throttle_zero_serves_nothing(scenario, seed):
    core = PacingCore(scenario, 2)
    core.reset(np.arange(2), np.array([seed, seed + 7], dtype=np.uint64))
    while not core.done.all():
        core.step(np.zeros(2))
    assert np.all(core.ist[:, K.I_SERVED] == 0)
    assert np.all(core.fst[:, K.F_MEDIA] == 0.0)
    assert np.all(core.ist[:, K.I_REQUESTS] >= 0)
