"""The value-aware baselines (issue 22): shapes, bounds, refusals, determinism, and that
they buy more value per spend than the value-blind PID on the same episodes."""

import dataclasses

import numpy as np
import pytest

from pacegym.baselines import build_controller, run_episodes
from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.factory import VALUE_AWARE, from_spec, load_controller_yaml, spec
from pacegym.baselines.protocol import Controller
from pacegym.baselines.segments import edge_price, fill_top_down, n_segments, segment_block
from pacegym.baselines.tune import VALUE_SPACES, Choice, full_params
from pacegym.envs.core import PacingCore
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import N_OBS, OBS_INDEX

# a quarter of the value_channels day, from 10:00, with a quarter of the budget: quick
SHORT = {
    "base": "value_channels",
    "time": {"flight_min": 360.0, "start_minute": 600.0},
    "money": {"budget": 15000.0},
}
PID = "daily_budget/pid_tuned"  # the value-blind PID of the base scenario


def value_obs(n=4, seed=0):
    """A first observation batch of ``SHORT`` (12 segments), and its core."""
    core = PacingCore(resolve(SHORT), n)
    core.reset(np.arange(n), np.arange(1, n + 1, dtype=np.uint64) + np.uint64(seed))
    return core.obs.copy(), core


@pytest.mark.parametrize("kind", sorted(VALUE_AWARE))
def test_each_kind_round_trips_and_returns_one_throttle_per_segment(kind):
    c = build_controller(kind)
    assert isinstance(c, Controller) and c.kind == kind
    again = from_spec(spec(c))
    assert again.config == c.config
    obs, core = value_obs()
    c.reset(4)
    if hasattr(c, "attach"):
        c.attach(core)
    for _ in range(3):
        th = c.act(obs)
        assert th.shape == (4, 12) and np.all(np.isfinite(th)) and th.min() >= 0 and th.max() <= 1
        core.step(th)
        obs = core.obs.copy()


@pytest.mark.parametrize("kind", sorted(VALUE_AWARE))
def test_a_bad_parameter_is_refused_in_one_line_naming_it(kind):
    own = next(iter(VALUE_AWARE[kind][1].own))
    with pytest.raises(ControllerConfigError, match=rf"controller\.params\.{own} = -5"):
        build_controller(kind, **{own: -5.0})
    with pytest.raises(ControllerConfigError, match=r"controller\.params\.plan = 'zigzag'"):
        build_controller(kind, plan="zigzag")


def test_dual_price_is_its_pid_in_the_volume_world():
    params = full_params("pid", {"kp": 30.0, "ki": 5.0})
    dual = build_controller("dual_price", **params)
    pid = build_controller("pid", **params)
    a = run_episodes(dual, "daily_budget", 2, seed=3)
    b = run_episodes(pid, "daily_budget", 2, seed=3)
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])


@pytest.mark.parametrize("kind", ["smart_pacing", "lp_split"])
def test_the_others_refuse_a_volume_scenario_in_one_line(kind):
    with pytest.raises(ValueError, match=r"needs a value scenario") as err:
        run_episodes(build_controller(kind), "daily_budget", 1)
    assert "\n" not in str(err.value)


def test_fill_top_down_enters_the_best_first_with_a_fractional_edge():
    rel = np.array([[0.5, 2.0, 1.0, 1.5]])
    share = np.array([[0.25, 0.25, 0.25, 0.25]])
    th = fill_top_down(rel, share, np.array([0.6]))
    np.testing.assert_allclose(th, [[0.0, 1.0, 0.4, 1.0]])
    assert (th * share).sum() == pytest.approx(0.6)
    assert edge_price(rel, th)[0] == 1.0
    assert fill_top_down(rel, share, np.array([0.0])).sum() == 0.0
    assert edge_price(rel, np.zeros_like(rel))[0] == 2.0


def test_dual_price_lowers_lambda_behind_plan_and_raises_it_ahead():
    obs, _ = value_obs(2)
    obs[:, OBS_INDEX["time_elapsed"]] = 0.5
    obs[:, OBS_INDEX["forecast_elapsed"]] = 0.5
    obs[:, OBS_INDEX["reported_spend"]] = [0.3, 0.7]  # behind, ahead of a forecast plan
    c = build_controller("dual_price")
    c.reset(2)
    th = c.act(obs)
    assert c.lam[0] < c.lam[1]
    _, rel, _ = segment_block(obs)
    assert (th[0] > 0).sum() > (th[1] > 0).sum()
    assert np.all(rel[0][th[0] >= 1.0] >= c.lam[0])  # nothing below the price is full


def test_smart_pacing_raises_top_down_and_gives_the_next_layer_a_trial_rate():
    obs, _ = value_obs(1)
    c = build_controller("smart_pacing", rate=0.5, trial=0.05)
    c.reset(1)
    c.act(obs)
    obs[:, OBS_INDEX["time_elapsed"]] = 0.5
    obs[:, OBS_INDEX["forecast_elapsed"]] = 0.5
    obs[:, OBS_INDEX["reported_spend"]] = 0.0  # far behind: raise
    before = c.rates.copy()
    for _ in range(40):
        th = c.act(obs)
    _, rel, _ = segment_block(obs)
    order = np.argsort(-rel[0])
    ranked = th[0, order]
    assert np.all(np.diff(ranked) <= 0)  # layers filled best first
    assert ranked.sum() > before.sum()
    obs[:, OBS_INDEX["reported_spend"]] = 0.9  # far ahead: lower from the bottom
    low = c.act(obs)[0, order]
    assert low.sum() < ranked.sum() and np.all(low[: np.argmin(low > 0)] >= 0)


def test_lp_split_buys_the_best_value_per_price_first():
    from pacegym.baselines.controllers_lp import solve_split

    _, core = value_obs(1)
    tab = core.tables
    x = solve_split(tab, np.full(24, 1 / 24), 0.3, slack=10.0)  # the budget binds alone
    cost = (tab.share * tab.fill_x * tab.price_x).sum(axis=0)
    ratio = (tab.share * tab.fill_x * tab.pred).sum(axis=0) / cost
    assert (x * cost).sum() == pytest.approx(0.3 * cost.sum(), rel=1e-6)
    assert np.all(x >= -1e-9) and np.all(x <= 1 + 1e-9)
    assert ratio[x > 0.99].min() >= ratio[x < 0.01].max()


@pytest.mark.parametrize("kind", sorted(VALUE_AWARE))
def test_runs_are_deterministic_per_seed_and_beat_the_pids_value_per_spend(kind):
    a = run_episodes(build_controller(kind), SHORT, 4, seed=0)
    b = run_episodes(build_controller(kind), SHORT, 4, seed=0)
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
    pid = run_episodes(load_controller_yaml(PID), SHORT, 4, seed=0)
    assert np.all(a.metrics["value_per_spend"] > 1.2 * pid.metrics["value_per_spend"])
    assert np.all(a.metrics["delivery"] > 0.9)


def test_the_harness_records_segment_throttles_of_blind_and_aware_controllers():
    for ctrl in (load_controller_yaml(PID), build_controller("dual_price")):
        r = run_episodes(ctrl, SHORT, 2, seed=0, record=True)
        seg, th = r.traces["segment_throttle"], r.traces["throttle"]
        assert seg.shape == (*th.shape, 12)
        live = ~np.isnan(th)
        assert np.all((seg[live] >= 0) & (seg[live] <= 1)) and np.all(th[live] <= 1 + 1e-6)
    assert "segment_throttle" not in run_episodes(ctrl, "daily_budget", 1, record=True).traces


def test_n_segments_reads_the_width_and_refuses_a_ragged_one():
    assert n_segments(np.zeros((1, N_OBS))) == 0
    assert n_segments(np.zeros((1, N_OBS + 36))) == 12
    with pytest.raises(ValueError, match="columns"):
        n_segments(np.zeros((1, N_OBS + 2)))


@pytest.mark.parametrize("kind", sorted(VALUE_SPACES))
def test_each_search_space_names_parameters_of_its_kind(kind):
    fields = {f.name: f.default for f in dataclasses.fields(VALUE_AWARE[kind][1])}
    assert set(VALUE_SPACES[kind]) <= set(fields)
    for name, dim in VALUE_SPACES[kind].items():
        if isinstance(dim, Choice):
            for v in dim.values:
                build_controller(kind, **{name: v})
        else:
            build_controller(kind, **{name: dim.lo})
            build_controller(kind, **{name: dim.hi})


def test_episodes_do_not_depend_on_the_batch_they_run_in():
    for kind in sorted(VALUE_AWARE):
        one = run_episodes(build_controller(kind), SHORT, 3, seed=5, batch_size=1)
        three = run_episodes(build_controller(kind), SHORT, 3, seed=5, batch_size=3)
        for k in one.metrics:
            np.testing.assert_array_equal(one.metrics[k], three.metrics[k], err_msg=f"{kind} {k}")


def test_lp_split_without_attach_says_how_to_run_it():
    obs, _ = value_obs(1)
    c = build_controller("lp_split")
    c.reset(1)
    with pytest.raises(ValueError, match="attach"):
        c.act(obs)
