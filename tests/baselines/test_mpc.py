"""The model-predictive baseline plans on what is known, never on the realised traffic."""

import numpy as np
import pytest

from pacegym.baselines import mpc as M
from pacegym.baselines import oracle as O
from pacegym.baselines.factory import ControllerConfigError, build_controller, load_controller_yaml
from pacegym.baselines.harness import run_episodes
from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore
from pacegym.resources import find_config

SCENARIO = {
    "base": "daily_budget",
    "time": {"flight_min": 240.0, "start_minute": 600.0},
    "money": {"budget": 50_000.0},
}


def test_it_never_reads_the_realised_traffic(monkeypatch):
    def clairvoyance(core):
        raise AssertionError("the MPC read the realised traffic")

    monkeypatch.setattr(O, "realised_requests", clairvoyance)
    ctrl = build_controller("mpc", replans=3, threads=1)
    roll = run_episodes(ctrl, SCENARIO, 4, seed=5)
    assert np.all(np.isfinite(roll.metrics["pacing_score_v2"]))
    assert ctrl.solves == 4 * 4 and ctrl.failures == 0
    ref = run_episodes(build_controller("reference"), SCENARIO, 4, seed=5)
    assert roll.metrics["delivery"].mean() > 0.95  # it spends the budget, and on plan:
    assert roll.metrics["pacing_score_v2"].mean() > ref.metrics["pacing_score_v2"].mean()


def test_the_forecast_per_tick_sums_to_the_forecast_total():
    core = PacingCore(SCENARIO, 3)
    core.reset(np.arange(3), np.arange(3, dtype=np.uint64))
    req = M.forecast_requests(core)
    np.testing.assert_allclose(req.sum(axis=1), core.par[:, K.P_FC_TOTAL], rtol=1e-9)


def test_in_flight_spend_is_placed_by_the_residual_delay_law():
    core = PacingCore(SCENARIO, 1)
    core.reset(np.zeros(1, np.int64), np.zeros(1, np.uint64))
    for _ in range(40):
        core.step(np.ones(1))
    ctrl = build_controller("mpc", replans=0, threads=1)
    ctrl.attach(core)
    t0, fixed, post = M.causal_state(core, 0, ctrl._episodes[0])
    counted = core.slot_spend[0, : fixed.size].sum()
    served = core.ist[0, K.I_SERVED] * core.price * core.par[0, K.P_RENDER]
    assert t0 == 40 and post == 0.0
    assert fixed.sum() == pytest.approx(served, rel=1e-9)  # counted + expected in flight
    assert fixed.sum() > counted


def test_the_shipped_config_loads_and_bad_settings_name_their_key():
    assert load_controller_yaml(find_config("controller", "mpc")).kind == "mpc"
    with pytest.raises(ControllerConfigError, match=r"controller\.params\.replans = -1"):
        build_controller("mpc", replans=-1)
