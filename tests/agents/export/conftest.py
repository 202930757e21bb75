"""Fixtures: a tiny PPO model trained on normalised observations, and its exported artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

SCENARIO = "live_commerce"


@pytest.fixture(scope="session")
def ppo_model() -> tuple[Any, dict[str, Any]]:
    """(PPO model, normalisation dict) after 1,024 steps on 16 campaigns (~2 s)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from pacegym.agents.export.artifact import normalization_from_vecnormalize
    from pacegym.agents.vec_env import PacingVecEnv

    env = VecNormalize(PacingVecEnv(SCENARIO, n_envs=16, seed=0))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=128, n_epochs=1, seed=0, device="cpu")
    model.learn(1024)
    return model, normalization_from_vecnormalize(env)


@pytest.fixture(scope="session")
def ppo_artifact(ppo_model, tmp_path_factory) -> Path:
    """The PPO model exported with ONNX (read-only: copy it before tampering)."""
    from pacegym.agents.export.exporter import export_sb3

    model, norm = ppo_model
    out = tmp_path_factory.mktemp("export") / "ppo"
    return export_sb3(
        model,
        out,
        normalization=norm,
        name="ppo-test",
        source={"run_id": "test-run"},
        chosen_on={"scenario": SCENARIO, "seed": 0, "episodes": 8},
    )


@pytest.fixture(scope="session")
def recorded_obs(ppo_model) -> np.ndarray:
    """Observations the PPO policy meets in 4 episodes (at most 4,000 rows)."""
    from pacegym.agents.export.verify import record_observations
    from pacegym.agents.policy import SB3Controller

    model, norm = ppo_model
    return record_observations(SB3Controller(model, norm), SCENARIO, 4, 0, max_rows=4000)
