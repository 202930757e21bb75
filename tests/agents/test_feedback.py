"""Realised-value feedback (agents/feedback.py, agent.feedback): the prior at the start,
the conversions' expectation conserved through the delay ring, the columns in the training
env, its checkpoint arrays, the saved model's controller, and the value suite's mixture
stepping one throttle per segment."""

import json

import numpy as np
import pytest

from pacegym.agents.algos import build_model, make_env
from pacegym.agents.env_state import env_arrays
from pacegym.agents.feedback import RATIO_BOUNDS, ChannelFeedback, feedback_names
from pacegym.agents.policy import FeedbackController, load_controller, save_model
from pacegym.agents.settings import AgentSettings
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.baselines.harness import episode_seeds, run_episodes
from pacegym.envs.core import PacingCore
from pacegym.envs.layout import I_T, P_RENDER, P_START_MIN, VS_CONV_REALISED
from pacegym.envs.spaces import obs_width

S, C = 12, 3
# 2-hour flights whose conversions arrive within 10 minutes; drift on
QUICK = {
    "base": "value_channels",
    "time": {"flight_min": 120.0},
    "value": {"drift_sd": 0.4, "conversion_quantile_s": 60.0, "conversion_max_delay_s": 600.0},
}
SHORT = {"base": "value_channels", "time": {"flight_min": 10.0}}
DUAL = {"kind": "dual_price", "name": "dual price", "params": {}}


def _core(n: int = 8) -> PacingCore:
    core = PacingCore(QUICK, n)
    core.reset(np.arange(n), episode_seeds(3, n))
    return core


def test_feedback_starts_at_its_prior():
    fb = ChannelFeedback(_core())
    f = fb.features()
    assert f.shape == (8, 3 * C) and f.dtype == np.float32
    assert np.allclose(f[:, 0::3], 1.0) and np.allclose(f[:, 1::3], 0.0)
    assert np.allclose(f[:, 2::3], 1.0 / C)
    fb.update()  # nothing stepped: nothing changes
    assert np.array_equal(fb.features(), f)
    assert feedback_names(["a", "b"])[:4] == [
        "value_ratio[a]",
        "evidence[a]",
        "spend_share[a]",
        "value_ratio[b]",
    ]


def test_feedback_conserves_the_expected_conversions():
    core = _core()
    fb = ChannelFeedback(core)
    tab = core.tables
    onehot = np.eye(C)[tab.channel]
    drawn = np.zeros((core.n, C))
    prev = core.seg_served.astype(float)
    while not core.done.all():
        t = core.ist[:, I_T].copy()
        core.step(np.ones((core.n, S)))
        fb.update()
        new = core.seg_served - prev
        prev = core.seg_served.astype(float)
        minute = (core.par[:, P_START_MIN] + t * core.tick_s / 60.0) % 1440.0
        hour = np.minimum(minute // 60, 23).astype(int)
        rate = (tab.ctr * tab.cvr)[hour] * core.par[:, P_RENDER, None]
        drawn += (new * rate) @ onehot
    held = fb.expected + fb.pending + fb.ring.sum(axis=2)
    assert np.allclose(held, drawn, rtol=1e-9, atol=1e-9)
    assert fb.expected.sum() > 0.9 * drawn.sum()  # the 10-minute delays arrived in the flight
    assert np.allclose(
        fb.attributed.sum(axis=1), core.vst[:, VS_CONV_REALISED]
    )  # every arrival attributed
    f = fb.features()
    assert np.all((f[:, 0::3] >= RATIO_BOUNDS[0]) & (f[:, 0::3] <= RATIO_BOUNDS[1]))
    assert np.allclose(f[:, 2::3].sum(axis=1), 1.0, atol=1e-6)
    spend = (core.seg_served * float(core.price) * tab.price_x) @ onehot
    assert np.allclose(fb.spend, spend)


def test_mixture_of_value_scenarios_steps_one_throttle_per_segment():
    drift = {**SHORT, "value": {"drift_sd": 0.4}}
    mix = PacingVecEnv([SHORT, drift], 4, seed=1)
    mix.reset()
    th = np.linspace(0.0, 1.0, 4 * S).reshape(4, S)
    obs, _, _, _ = mix.step_throttle(th)
    alone = PacingVecEnv(SHORT, 2, seed=1)
    alone.reset()
    ref, _, _, _ = alone.step_throttle(th[:2])
    assert np.array_equal(obs[:2], ref)
    assert "value_excess" in mix.core.metrics(np.arange(4))


@pytest.mark.parametrize("residual", [True, False])
def test_feedback_agent_trains_saves_and_runs(tmp_path, residual):
    agent = AgentSettings.from_mapping(
        {
            "name": "fb",
            "feedback": True,
            "hyperparams": {"n_steps": 8, "batch_size": 16, "n_epochs": 1},
            "residual": {"enabled": residual, "base": DUAL},
        }
    )
    env, pacing = make_env([SHORT, QUICK], agent, 4, seed=0)
    width = obs_width(S) + (S if residual else 0) + 3 * C
    assert env.observation_space.shape == (width,)
    model = build_model(agent, env, seed=0)
    model.learn(64)
    names = {k for k in env_arrays(env) if k.startswith("feedback.")}
    assert {"feedback.0.ring", "feedback.1.expected", "feedback.last"} <= names
    out = save_model(tmp_path / "m", model, agent, env, "mix", {"segments": list(pacing.segments)})
    meta = json.loads((out / "agent.json").read_text())
    assert meta["feedback"]["channels"] == ["search", "display", "social"]
    assert len(meta["obs_names"]) == width and meta["obs_names"][-1] == "spend_share[social]"
    ctrl = load_controller(out)
    assert isinstance(ctrl, FeedbackController)
    m = run_episodes(ctrl, SHORT, 2, seed=5).metrics
    assert np.all(np.isfinite(m["pacing_score_v2"]))


def test_feedback_refuses_a_volume_scenario():
    core = PacingCore("daily_budget", 1)
    with pytest.raises(ValueError, match=r"agent\.feedback = true on scenario 'daily_budget'"):
        ChannelFeedback(core)


def test_the_drift_rows_are_dual_price_without_drift():
    from pacegym.agents.value_compare import compare, drift_bound, dual_price, markdown

    ref = run_episodes(dual_price(), SHORT, 3, seed=7).metrics
    same = run_episodes(drift_bound(), SHORT, 3, seed=7).metrics
    assert np.array_equal(ref["pacing_score_v2"], same["pacing_score_v2"])
    rows = compare({}, [SHORT], episodes=3, seed=7, drift_rows=True)
    assert [r["policy"] for r in rows] == [
        "dual_price (tuned)",
        "dual_price x realised ratio",
        "dual_price (tuned) x true drift",
    ]
    assert "norm" not in rows[1] and np.isfinite(rows[1]["diff"][0])  # raw only: no oracle here
    assert markdown(rows).count("\n") == 4


def test_value_compare_defaults_to_the_value_suite_of_the_benchmark():
    """Its default scenarios are the value suite's, read where the benchmark reads them."""
    from hydra import compose, initialize_config_dir

    from pacegym.agents.value_compare import value_suite
    from pacegym.experiments import benchmark  # noqa: F401  (registers the app's schemas)
    from pacegym.experiments.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="benchmark", overrides=["suite=value"])
    assert value_suite() == [str(e.scenario) for e in cfg.benchmark.suite]
