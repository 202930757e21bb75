"""Each baseline on hand-made observations, and the factory's contract."""

import dataclasses
import pickle

import numpy as np
import pytest

from pacegym.baselines import build_controller
from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.factory import (
    CONTROLLERS,
    SERVER_SIDE,
    YARDSTICKS,
    from_spec,
    load_controller_yaml,
    spec,
)
from pacegym.baselines.protocol import Controller
from pacegym.envs.params import PlanParams
from pacegym.envs.plans import cumulative_share
from pacegym.envs.spaces import N_OBS, OBS_INDEX

IX = OBS_INDEX
STATE = ("integral", "prev_error", "prev_time")  # the PID rule's per-campaign state


def make_obs(n=1, **features):
    obs = np.zeros((n, N_OBS), dtype=np.float32)
    obs[:, IX["capacity_log10"]] = 0.5
    for k, v in features.items():
        obs[:, IX[k]] = v
    return obs


@pytest.mark.parametrize("kind", sorted(CONTROLLERS))
def test_every_kind_builds_round_trips_and_acts_in_range(kind):
    c = build_controller(kind)
    assert isinstance(c, Controller) and c.kind == kind
    again = from_spec(spec(c))
    assert again.config == c.config and dataclasses.asdict(again.config) == spec(c)["params"]
    c.reset(5)
    obs = make_obs(5, time_elapsed=[0, 0.1, 0.5, 0.9, 0.99], reported_spend=[0, 0.2, 0.4, 0.95, 1])
    p = c.act(obs)
    assert p.shape == (5,) and np.all((p >= 0) & (p <= 1)) and np.all(np.isfinite(p))


def test_on_off_drops_to_zero_above_plan_and_is_full_below():
    c = build_controller("on_off")
    obs = make_obs(3, time_elapsed=0.5, reported_spend=[0.3, 0.5001, 0.8])
    assert c.act(obs).tolist() == [1.0, 0.0, 0.0]


def test_on_off_counts_in_flight_when_asked():
    obs = make_obs(1, time_elapsed=0.5, reported_spend=0.4, in_flight=0.2)
    assert build_controller("on_off").act(obs)[0] == 1.0
    assert build_controller("on_off", in_flight_weight=1.0).act(obs)[0] == 0.0


def test_observed_plan_follows_the_observations_plan_whatever_its_shape():
    """plan = observed targets the env's reference plan (the ``plan`` feature), so the same
    parameters track an exp-decay broadcast plan and a forecast-shaped daily plan."""
    c = build_controller("on_off", plan="observed")
    obs = make_obs(
        4, time_elapsed=0.5, reported_spend=[0.2, 0.2, 0.7, 0.7], plan=[0.3, 0.1, 0.8, 0.6]
    )
    assert c.act(obs).tolist() == [1.0, 0.0, 1.0, 0.0]
    pid = build_controller("pid", plan="observed")
    pid.reset(2)
    below = make_obs(2, time_elapsed=0.5, reported_spend=0.4, plan=[0.5, 0.3])
    p = pid.act(below)
    assert p[0] > p[1]  # behind the observed plan: a higher throttle


def test_proportional_is_linkedins_multiplicative_rule_with_floor_and_slow_start():
    c = build_controller("proportional", rate=0.1, pace_limit=0.0, start="fixed", p_start=0.02)
    under = make_obs(1, time_elapsed=0.5, reported_spend=0.4, last_throttle=0.5)
    over = make_obs(1, time_elapsed=0.5, reported_spend=0.6, last_throttle=0.5)
    assert c.act(under)[0] == pytest.approx(0.55)
    assert c.act(over)[0] == pytest.approx(0.45)
    assert c.act(make_obs(1, time_elapsed=0.5, reported_spend=0.4, last_throttle=1.0))[0] == 1.0
    floor = make_obs(1, time_elapsed=0.5, reported_spend=0.9, last_throttle=0.001)
    assert c.act(floor)[0] == pytest.approx(0.001)
    assert c.act(make_obs(1, time_elapsed=0.0, last_throttle=0.0))[0] == pytest.approx(0.02)
    assert c.act(make_obs(1, time_elapsed=0.5, exhausted=1.0, last_throttle=0.5))[0] == 0.0


def test_proportional_converges_on_constant_traffic():
    """Spend = p x capacity per step: the throttle settles near 1 / capacity, spend on plan.

    (The rule integrates the sign of the cumulative error, so it cycles around the
    plan; the cycle stays within a few percent of the budget.)
    """
    c = build_controller("proportional", rate=0.02, pace_limit=0.0, start="fixed", p_start=0.1)
    steps, capacity = 400, 4.0  # full throttle spends 4x the uniform pace
    spent, p = 0.0, 0.0
    ps, err = [], []
    for t in range(steps):
        obs = make_obs(1, time_elapsed=t / steps, reported_spend=spent, last_throttle=p)
        p = float(c.act(obs)[0])
        spent += p * capacity / steps
        ps.append(p)
        err.append(spent - (t + 1) / steps)
    assert abs(spent - 1.0) < 0.05
    assert np.mean(ps[-200:]) == pytest.approx(1 / capacity, rel=0.1)
    assert np.abs(err[-200:]).max() < 0.05


def test_surge_guard_cuts_the_throttle_by_the_pace_ratio():
    c = build_controller("proportional", pace_limit=2.0)
    obs = make_obs(1, time_elapsed=0.5, reported_spend=0.4, last_throttle=0.5, serving_rate=20.0)
    assert c.act(obs)[0] == pytest.approx(0.5 * 2.0 / 20.0)


def test_pid_does_not_wind_up_when_the_budget_is_exhausted():
    c = build_controller("pid", kp=10.0, ki=100.0, feedforward="none", p_base=0.1)
    c.reset(1)
    for t in range(200):  # far under plan but the budget is reported spent: no integration
        obs = make_obs(1, time_elapsed=t / 400, reported_spend=1.0, exhausted=1.0)
        assert c.act(obs)[0] == 0.0
    assert c.rule.integral[0] == 0.0
    # saturated at p_max while far under plan: the integral stays bounded (conditional)
    c.reset(1)
    for t in range(200):
        c.act(make_obs(1, time_elapsed=t / 400, reported_spend=0.0))
    assert abs(c.config.ki * c.rule.integral[0]) <= c.config.i_limit + 1e-12
    p_over = c.act(make_obs(1, time_elapsed=0.5, reported_spend=0.6))[0]
    assert p_over < 0.1  # reacts at once to an overshoot: no stored windup to unwind


def test_pid_resets_its_state_at_flight_start():
    c = build_controller("pid")
    c.reset(2)
    c.act(make_obs(2, time_elapsed=0.3, reported_spend=0.29))  # small error: not saturated
    c.act(make_obs(2, time_elapsed=0.31, reported_spend=0.3))
    assert np.all(c.rule.integral != 0)
    c.act(make_obs(2, time_elapsed=[0.0, 0.32], reported_spend=[0.0, 0.31]))
    assert c.rule.integral[0] == 0.0 and c.rule.integral[1] != 0.0


def test_pid_resets_single_rows_and_pickles_with_its_state():
    c = build_controller("pid")
    c.reset(3)
    c.act(make_obs(3, time_elapsed=0.3, reported_spend=0.29))
    c.act(make_obs(3, time_elapsed=0.31, reported_spend=0.3))
    again = pickle.loads(pickle.dumps(c))
    assert again.config == c.config and np.array_equal(again.rule.integral, c.rule.integral)
    c.reset_rows(np.array([1]))
    for state in (c.rule.integral, c.rule.prev_error, c.rule.prev_time):
        assert state[1] == 0.0 and state[0] != 0.0 and state[2] != 0.0


@pytest.mark.parametrize(
    "plan",
    [
        PlanParams(kind="uniform"),
        PlanParams(kind="forecast"),
        PlanParams(kind="exp_decay", decay_rate=2.0),
        PlanParams(kind="exp_decay", half_life=0.2),
        PlanParams(kind="uniform", early_close=0.1),
        PlanParams(kind="exp_decay", early_close=0.25),
    ],
)
def test_every_plan_integrates_to_the_budget_and_early_close_ends_on_time(plan):
    t = np.linspace(0, 1, 1001)
    fc = t**1.5  # a non-uniform forecast axis
    share = cumulative_share(plan, t, fc)
    assert share[0] == 0.0 and share[-1] == pytest.approx(1.0)
    assert np.all(np.diff(share) >= -1e-12)
    if plan.early_close:
        basis = fc if plan.kind == "forecast" else t
        done = basis >= 1.0 - plan.early_close
        assert np.allclose(share[done], 1.0) and np.all(share[~done] < 1.0)


@pytest.mark.parametrize(
    ("kind", "params", "key"),
    [
        ("proportional", {"rate": 0.0}, "rate"),
        ("proportional", {"rate": 1.5}, "rate"),
        ("proportional", {"p_min": 0.0}, "p_min"),
        ("pid", {"kp": -1.0}, "kp"),
        ("pid", {"feedforward": "magic"}, "feedforward"),
        ("on_off", {"in_flight_weight": 2.0}, "in_flight_weight"),
        ("exp_decay", {"plan": "uniform"}, "plan"),
        ("on_off", {"plan": "hourly"}, "plan"),
        ("on_off", {"gain": 1.0}, "gain"),
        ("proportional", {"plan": "observed"}, "pace_limit"),  # no pace to limit against
    ],
)
def test_bad_parameters_name_key_value_and_range(kind, params, key):
    with pytest.raises(ControllerConfigError, match=rf"controller\.params\.{key}"):
        build_controller(kind, **params)


def test_unknown_kind_lists_the_allowed_ones():
    with pytest.raises(ControllerConfigError, match=r"allowed.*on_off"):
        build_controller("bang_bang")


def test_controller_yaml_files_build(tmp_path):
    from pathlib import Path

    conf = Path(__file__).resolve().parents[2] / "conf" / "controller"
    files = sorted(conf.glob("*.yaml"))
    assert {f.stem for f in files} >= set(CONTROLLERS)
    for f in files:
        c = load_controller_yaml(f)
        assert c.kind in CONTROLLERS or c.kind in YARDSTICKS or c.kind in SERVER_SIDE
