"""Residual composition, the residual training view and the SB3 controller adapter."""

import numpy as np
import pytest

from pacegym.agents.algos import build_model, make_env
from pacegym.agents.policy import SB3Controller, load_controller, save_model
from pacegym.agents.residual import FLOOR, ResidualVecEnv, base_feature, build_base, compose
from pacegym.agents.settings import AgentSettings, ResidualSettings
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.baselines.harness import run_episodes
from pacegym.baselines.protocol import Controller
from pacegym.envs.spaces import N_OBS

PID = {"kind": "pid", "name": "pid", "params": {}}


def test_compose_formula_and_zero_action_is_the_base():
    b = np.array([0.0, 1e-5, 0.01, 0.5, 1.0])
    assert np.allclose(compose(b, np.zeros(5), 1.0), np.maximum(b, FLOOR))
    assert np.allclose(compose(b, np.ones(5), 1.0), np.minimum(np.maximum(b, FLOOR) * 10, 1))
    assert np.allclose(compose(b, -np.ones(5), 0.5), np.maximum(b, FLOOR) * 10**-0.5)
    out = compose(b, np.array([np.nan, 5.0, -5.0, 0.0, 0.0]), 1.0)
    assert np.all((out >= 0) & (out <= 1)) and np.isfinite(out).all()
    assert np.allclose(base_feature(np.array([0.0, 1.0, 0.01])), [-4.0, 0.0, -2.0])


def test_residual_env_with_zero_action_matches_the_base_controller():
    n, seed = 6, 5
    env = ResidualVecEnv(PacingVecEnv("live_commerce", n, seed=seed), PID, 1.0)
    assert env.observation_space.shape == (N_OBS + 1,)
    obs = env.reset()
    ref = PacingVecEnv("live_commerce", n, seed=seed)
    ref_obs = ref.reset()
    ctrl = build_base(PID)
    ctrl.reset(n)
    for _ in range(50):
        p = ctrl.act(ref_obs)
        ref_obs, r_ref, _, _ = ref.step_throttle(np.maximum(p, FLOOR))
        obs, r, _, _ = env.step(np.zeros((n, 1), dtype=np.float32))
        assert np.array_equal(obs[:, :N_OBS], ref_obs)
        assert np.allclose(r, r_ref)


def test_sb3_controller_is_a_controller_and_roundtrips(tmp_path):
    agent = AgentSettings(
        name="tiny",
        net_arch=[8],
        hyperparams={"n_steps": 8, "batch_size": 32},
        residual=ResidualSettings(enabled=True, base=PID, scale_decades=1.0),
    )
    env, _ = make_env("live_commerce", agent, 4, 0)
    model = build_model(agent, env, 0)
    save_model(tmp_path / "m", model, agent, env, "live_commerce")
    ctrl = load_controller(tmp_path / "m")
    assert isinstance(ctrl, Controller) and isinstance(ctrl, SB3Controller)
    a = run_episodes(ctrl, "live_commerce", 4, seed=3)
    b = run_episodes(load_controller(tmp_path / "m"), "live_commerce", 4, seed=3)
    for k in a.metrics:
        assert np.array_equal(a.metrics[k], b.metrics[k])


def test_residual_scale_must_be_positive():
    with pytest.raises(ValueError, match="scale_decades"):
        ResidualVecEnv(PacingVecEnv("live_commerce", 2, seed=0), PID, 0.0)
