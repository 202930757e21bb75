"""Residual agents (rule + learned correction) export and reproduce the composed policy."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.agents.export.runtime import CHUNK_ROWS, load_pacer
from pacegym.agents.export.verify import metric_means, record_observations
from pacegym.agents.policy import SB3Controller

from .conftest import SCENARIO

pytestmark = pytest.mark.slow  # trains a residual PPO per module (~20 s)

BASE = {"kind": "pid", "params": {"kp": 10.0}}
SCALE = 1.0


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from pacegym.agents.export.artifact import normalization_from_vecnormalize
    from pacegym.agents.export.exporter import export_residual
    from pacegym.agents.residual import ResidualVecEnv
    from pacegym.agents.vec_env import PacingVecEnv

    env = VecNormalize(ResidualVecEnv(PacingVecEnv(SCENARIO, n_envs=16, seed=1), BASE, SCALE))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=128, n_epochs=1, seed=0, device="cpu")
    model.learn(512)
    norm = normalization_from_vecnormalize(env, n=15)
    art = export_residual(
        model, BASE, SCALE, tmp_path_factory.mktemp("res") / "r", normalization=norm
    )
    ref = SB3Controller(model, norm, {"enabled": True, "base": BASE, "scale_decades": SCALE})
    return ref, art


def test_residual_corrections_match(residual):
    ref, art = residual
    pacer = load_pacer(art)
    obs = record_observations(ref, SCENARIO, 2, 0, max_rows=2000)
    # stateful base (PID): both sides see the same rows once, from a fresh reset
    ref.reset(len(obs))
    pacer.reset(len(obs))
    assert np.abs(pacer.actions(obs) - ref.actions(obs)).max() <= 1e-5
    ref.reset(len(obs))
    pacer.reset(len(obs))
    np.testing.assert_allclose(pacer(obs), ref.act(obs), rtol=1e-5, atol=1e-9)


def test_residual_env_metrics_match(residual):
    ref, art = residual
    assert metric_means(load_pacer(art), SCENARIO, 8, 0) == pytest.approx(
        metric_means(ref, SCENARIO, 8, 0), abs=1e-9
    )


def test_residual_threads_match_serial(residual):
    """The MLP blocks of a large batch run on worker threads; the PID base keeps its rows."""
    ref, art = residual
    obs = record_observations(ref, SCENARIO, 2, 0, max_rows=2000)
    big = np.resize(obs, (3 * CHUNK_ROWS + 123, obs.shape[1]))  # blocks on the workers
    serial, threaded = load_pacer(art, threads=1), load_pacer(art, threads=2)
    serial.reset(len(big))
    threaded.reset(len(big))
    np.testing.assert_allclose(threaded(big), serial(big), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(threaded(big), serial(big), rtol=1e-6, atol=1e-9)  # 2nd step
    assert threaded.workers.pool is not None
