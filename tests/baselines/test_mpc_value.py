"""The model-predictive controller on value scenarios plans on expectations, never on the
realised requests; its model-knowing variant reads the episode's parameters, not its draws."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.baselines import mpc_value as MV
from pacegym.baselines import oracle as O
from pacegym.baselines import oracle_value as OV
from pacegym.baselines.drift_bound import ROLE
from pacegym.baselines.factory import build_controller, load_controller_yaml
from pacegym.baselines.harness import episode_seeds, run_episodes
from pacegym.baselines.mpc import ModelMPC, MPCConfig
from pacegym.envs import kernel as K
from pacegym.envs import rng
from pacegym.envs.core import PacingCore
from pacegym.envs.metrics import SCORE_KEY
from pacegym.resources import find_config

SHORT = {  # four hours of the value world, a budget that buys ~12% of the traffic
    "base": "value_channels",
    "time": {"flight_min": 240.0, "start_minute": 600.0},
    "money": {"budget": 10000.0},
}
DRIFT = {**SHORT, "value": {"drift_sd": 0.4}}


def _core(sc=SHORT, n=2, seed=11) -> PacingCore:
    core = PacingCore(sc, n)
    core.reset(np.arange(n), episode_seeds(seed, n))
    return core


@pytest.mark.parametrize("make", [lambda: build_controller("mpc", replans=3, threads=1),
                                  lambda: ModelMPC(config=MPCConfig(replans=3, threads=1))])  # fmt: skip
def test_it_never_reads_the_realised_requests_nor_their_split(monkeypatch, make):
    def clairvoyance(*_args):
        raise AssertionError("the MPC read the realised requests")

    for mod, fn in ((O, "realised_requests"), (O, "segment_episodes"), (O, "segment_state"),
                    (OV, "segment_requests")):  # fmt: skip
        monkeypatch.setattr(mod, fn, clairvoyance)
    ctrl = make()
    roll = run_episodes(ctrl, SHORT, 4, seed=5)
    assert np.all(np.isfinite(roll.metrics[SCORE_KEY]))
    assert ctrl.solves == 4 * 4 and ctrl.failures == 0 and ctrl.replan_fallbacks == 0
    ref = run_episodes(build_controller("reference"), SHORT, 4, seed=5)
    assert roll.metrics["delivery"].mean() > 0.9  # it spends, and buys value:
    assert roll.metrics[SCORE_KEY].mean() > ref.metrics[SCORE_KEY].mean() + 0.2


@pytest.mark.parametrize("kind", ["mpc", "model", "oracle"])
def test_its_plan_is_the_same_whatever_requests_the_streams_will_draw(kind):
    """Redrawing the traffic and segment streams after the reset changes every realised
    request and split but no parameter: the causal plans are the same, the clairvoyant's
    are not (the test can fail); the causal actions are the plan times the surge guard."""
    make = {
        "mpc": lambda: build_controller("mpc", replans=2, threads=1),
        "model": lambda: ModelMPC(config=MPCConfig(replans=2, threads=1)),
        "oracle": lambda: build_controller("oracle", replans=2, threads=1),
    }[kind]
    a, b = _core(), _core()
    for s in (rng.STREAM_TRAFFIC, rng.STREAM_SEGMENT):
        b.streams[:, s] = _core(seed=99).streams[:, s]
    plans = []
    for core in (a, b):
        ctrl = make()
        ctrl.reset(core.n)
        ctrl.attach(core)
        plans.append(ctrl._schedule.copy())
    assert plans[0].shape[2] == len(a.segments) and plans[0].max() > 0.5
    assert not np.array_equal(O.realised_requests(a), O.realised_requests(b))
    if kind == "oracle":
        assert not np.array_equal(plans[0], plans[1])
        return
    np.testing.assert_array_equal(plans[0], plans[1])
    rows = np.arange(b.n)
    for _ in range(40):  # ticks before the first re-plan: the plan x the guard
        before = b.ist[:, K.I_REQUESTS].copy()
        t = b.ist[:, K.I_T].copy()
        th = ctrl.act(b.obs)
        last = before - getattr(ctrl, "_prev", before)
        guard = MV.surge_guard(last, ctrl._day_ahead[rows, np.maximum(t - 1, 0)])
        np.testing.assert_allclose(th, plans[1][rows, t] * guard[:, None])
        ctrl._prev = before
        b.step(th)


def test_the_surge_guard_holds_the_planned_rate_through_a_surge():
    expected = np.array([15.0, 15.0, 0.5, 15.0])
    last = np.array([14.0, 30.0, 4.0, 1500.0])  # noise, noise, night noise, a 100x surge
    np.testing.assert_allclose(MV.surge_guard(last, expected), [1.0, 1.0, 1.0, 0.01])
    surge = {**SHORT, "traffic": {"surge_rate_per_h": 6.0, "surge_factors": [100.0],
                                  "surge_probs": [1.0]}}  # fmt: skip
    scores = {}
    for guard in (True, False):
        ctrl = build_controller("mpc", replans=1, threads=1)
        if not guard:  # the plan's throttles as they are
            ctrl.act = lambda obs, c=ctrl: O.OracleController.act(c, obs)
        scores[guard] = run_episodes(ctrl, surge, 3, seed=2).metrics
    assert scores[False]["wasted_over_budget"].mean() > 0.05  # surges overspend the plan
    assert scores[True][SCORE_KEY].mean() > scores[False][SCORE_KEY].mean() + 0.1


def test_the_model_variant_reads_the_drift_and_the_true_level_the_causal_one_does_not():
    core = _core(DRIFT, n=3)
    mpc = build_controller("mpc", replans=0, threads=1)
    model = ModelMPC(config=MPCConfig(replans=0, threads=1))
    for c in (mpc, model):
        c.reset(3)
        c.attach(core)
    tab = core.tables
    for b in range(3):
        e_c, e_m = mpc._episodes[b], model._episodes[b]
        pred = tab.pred[e_c.hours]
        np.testing.assert_allclose(e_c.value, pred)
        np.testing.assert_allclose(e_m.value, pred * core.drift[b, tab.channel][None, :])
        assert e_c.vbar == core.vbar[b, 1] and e_m.vbar == core.vbar[b, 0]
        assert not np.allclose(e_m.value, e_c.value)  # drift_sd 0.4: the channels moved
        # expected requests per segment: the tick's requests x the hour's shares
        np.testing.assert_allclose(e_c.seg_requests.sum(axis=1), e_c.base.requests)
        np.testing.assert_allclose(e_m.seg_requests / e_m.seg_requests.sum(axis=1, keepdims=True),
                                   tab.share[e_m.hours])  # fmt: skip
    fc = core.par[:, K.P_FC_TOTAL]
    np.testing.assert_allclose(mpc._day_ahead.sum(axis=1), fc, rtol=1e-9)
    assert model.role == ROLE and not hasattr(mpc, "role")
    # the model's mean is the forecast without its error: within the error's spread
    ratio = model._day_ahead.sum(axis=1) / fc
    assert np.all(np.abs(ratio - 1.0) < 0.2) and not np.allclose(ratio, 1.0)


def test_the_model_mean_is_the_mean_of_the_realised_requests_without_surges():
    calm = {**SHORT, "traffic": {"surge_rate_per_h": 0.0}}
    core = _core(calm, n=64, seed=3)
    mean = MV.model_requests(core).sum(axis=1)
    real = O.realised_requests(core).sum(axis=1)
    z = (real.mean() - mean.mean()) / (real.std() / np.sqrt(real.size))
    assert abs(z) < 4.0
    core.dep_on = True  # lasting departures: draws the model's mean does not cover
    with pytest.raises(ValueError, match="departures is on"):
        MV.model_requests(core)


def test_the_spend_in_flight_is_placed_by_the_residual_delay_law():
    core = _core(n=1)
    for _ in range(60):
        core.step(np.ones((1, len(core.segments))))
    ctrl = build_controller("mpc", replans=0, threads=1)
    ctrl.reset(1)
    ctrl.attach(_core(n=1))  # an episode to shape the problem (same flight)
    ep = MV.value_causal_state(core, 0, ctrl._episodes[0])
    counted = core.slot_spend[0, : ep.base.n_slots].sum()
    served = core.fst[0, K.F_SERVED_UNITS] * core.price * core.par[0, K.P_RENDER]
    in_flight = ep.base.fixed_slot_spend.sum() - counted
    post = ep.base.fixed_post_cost / core.media * core.price
    assert ep.t0 == 60 and in_flight > 0.0
    assert in_flight + post == pytest.approx(served - core.fst[0, K.F_COUNTED_SPEND])
    assert ep.fixed_value_excess == 0.0  # a constant of the objective: not read


def test_the_shipped_config_loads():
    ctrl = load_controller_yaml(find_config("controller", "mpc_value"))
    assert ctrl.kind == "mpc" and ctrl.name == "mpc_value" and ctrl.config.replans >= 1
