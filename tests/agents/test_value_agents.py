"""Agents on a value scenario: the segment block in the policy's input, one action per
segment, the residual form on dual_price, and real SB3 runs (PPO, SAC, RecurrentPPO) with
tiny budgets."""

import json

import numpy as np
import pytest

from pacegym.agents.algos import build_model, make_env
from pacegym.agents.features import feature_index, segments_of, selected_space
from pacegym.agents.policy import load_controller, save_model
from pacegym.agents.residual import FLOOR, ResidualVecEnv, base_feature, build_base, compose
from pacegym.agents.settings import AgentSettings
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.baselines.harness import run_episodes
from pacegym.envs.spaces import N_OBS, obs_width

SC = "value_channels"
SHORT = {"base": SC, "time": {"flight_min": 10.0}}  # 40 ticks: whole episodes in a test
S = 12
DUAL = {"kind": "dual_price", "name": "dual price", "params": {}}


def test_feature_index_carries_the_segment_block():
    assert segments_of(obs_width(S)) == S and segments_of(N_OBS) == 0
    with pytest.raises(ValueError, match="observation width = 15"):
        segments_of(N_OBS + 1)
    idx = feature_index(["plan", "time_elapsed"], S)
    assert list(idx[:2]) == [4, 0] and list(idx[2:]) == list(range(N_OBS, obs_width(S)))
    assert selected_space([], extra=S, n_segments=S).shape == (obs_width(S) + S,)


def test_compose_per_segment_broadcasts_a_campaign_base():
    b = np.array([0.0, 0.5])
    a = np.array([[0.0, 1.0, -1.0], [0.0, 0.0, 0.5]])
    p = compose(b, a, 1.0)
    assert p.shape == (2, 3)
    assert np.allclose(p[0], [FLOOR, FLOOR * 10, FLOOR / 10])
    assert np.allclose(p[1], [0.5, 0.5, min(1.0, 0.5 * 10**0.5)])
    assert base_feature(b, 3).shape == (2, 3) and np.allclose(base_feature(b, 3)[0], -4.0)


def test_residual_on_dual_price_with_zero_action_is_dual_price():
    n = 3
    env = ResidualVecEnv(PacingVecEnv(SHORT, n, seed=4), DUAL, 1.0)
    assert env.observation_space.shape == (obs_width(S) + S,)
    assert env.action_space.shape == (S,)
    obs = env.reset()
    ref = PacingVecEnv(SHORT, n, seed=4)
    ref_obs = ref.reset()
    base = build_base(DUAL)
    base.reset(n)
    for _ in range(20):
        p = base.act(ref_obs)
        assert p.shape == (n, S)
        ref_obs, r_ref, _, _ = ref.step_throttle(np.maximum(p, FLOOR))
        obs, r, _, _ = env.step(np.zeros((n, S), dtype=np.float32))
        assert np.array_equal(obs[:, : obs_width(S)], ref_obs)
        assert np.allclose(r, r_ref)


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "ppo", "hyperparams": {"n_steps": 8, "batch_size": 16, "n_epochs": 1}},
        {
            "name": "sac",
            "algo": "sac",
            "hyperparams": {"learning_starts": 8, "batch_size": 8, "buffer_size": 64},
        },
        {
            "name": "rppo",
            "algo": "recurrent_ppo",
            "policy": "MlpLstmPolicy",
            "hyperparams": {
                "n_steps": 8,
                "batch_size": 16,
                "n_epochs": 1,
                "policy_kwargs": {"lstm_hidden_size": 8},
            },
        },
        {
            "name": "residual",
            "hyperparams": {"n_steps": 8, "batch_size": 16, "n_epochs": 1},
            "residual": {"enabled": True, "base": DUAL, "scale_decades": 1.0},
        },
    ],
    ids=lambda s: s["name"],
)
def test_sb3_agents_train_save_and_pace_every_segment(spec, tmp_path):
    agent = AgentSettings.from_mapping({"net_arch": [8], **spec})
    env, pacing = make_env(SHORT, agent, 2, 0)
    assert env.action_space.shape == (S,)
    model = build_model(agent, env, 0)
    model.learn(32)
    vecnorm = env if hasattr(env, "obs_rms") else None
    save_model(tmp_path / "m", model, agent, vecnorm, SC, {"segments": list(pacing.segments)})
    meta = json.loads((tmp_path / "m" / "agent.json").read_text())
    assert meta["segments"] == list(pacing.segments)
    assert len(meta["obs_names"]) == env.observation_space.shape[0]
    ctrl = load_controller(tmp_path / "m")
    ctrl.reset(2)
    assert ctrl.act(pacing.reset()).shape == (2, S)
    roll = run_episodes(ctrl, SHORT, 2, seed=1)
    assert np.isfinite(roll.metrics["pacing_score_v2"]).all()
    assert "value_excess" in roll.metrics


def test_train_agent_on_a_value_scenario_logs_value_metrics(tmp_path):
    from pacegym.agents.settings import TrainSettings
    from pacegym.agents.training import train_agent

    logged: dict[str, float] = {}
    agent = AgentSettings.from_mapping(
        {"name": "ppo", "net_arch": [8], "hyperparams": {"n_steps": 40, "batch_size": 80}}
    )
    train = TrainSettings.from_mapping(
        {"total_timesteps": 160, "n_envs": 2, "eval_freq": 0, "eval_episodes": 2}
    )
    res = train_agent(SHORT, agent, train, tmp_path, lambda m, s: logged.update(m))
    assert "train/value_excess" in logged  # a finished episode's VALUE_KEYS reach the log
    meta = json.loads((res.model_dir / "agent.json").read_text())
    assert (
        len(meta["segments"]) == S and meta["obs_names"][-1] == f"throttle[{meta['segments'][-1]}]"
    )
