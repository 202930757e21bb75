"""The row paths of the stateful kinds (rule, residual) serve what their block paths serve."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.agents.export.runtime import load_pacer

from .conftest import SCENARIO

BASE = {"kind": "pid", "params": {"kp": 10.0}}


@pytest.fixture(scope="module")
def residual_artifact(tmp_path_factory):
    """An untrained residual PPO on a PID, exported with its normalisation."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from pacegym.agents.export.artifact import normalization_from_vecnormalize
    from pacegym.agents.export.exporter import export_residual
    from pacegym.agents.residual import ResidualVecEnv
    from pacegym.agents.vec_env import PacingVecEnv

    env = VecNormalize(ResidualVecEnv(PacingVecEnv(SCENARIO, n_envs=4, seed=1), BASE, 1.0))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=128, n_epochs=1, seed=0, device="cpu")
    model.learn(128)
    norm = normalization_from_vecnormalize(env, n=15)
    return export_residual(
        model, BASE, 1.0, tmp_path_factory.mktemp("res") / "r", normalization=norm
    )


@pytest.fixture(scope="module")
def pid_artifact(tmp_path_factory):
    from pacegym.agents.export.exporter import export_controller

    return export_controller(BASE, tmp_path_factory.mktemp("pid") / "pid")


def _both(path):
    row, block = load_pacer(path, threads=1), load_pacer(path, threads=1)
    assert row.policy.row_path is not None
    block._row = None  # every call through the block path
    return row, block


@pytest.mark.parametrize("which", ["pid_artifact", "residual_artifact"])
def test_row_path_serves_the_block_paths_throttles_call_after_call(which, request, recorded_obs):
    row, block = _both(request.getfixturevalue(which))
    exact = which == "pid_artifact"  # a rule's row path is its arithmetic in floats
    for n in (1, 3):
        row.reset(n)
        block.reset(n)
        for s in range(0, 600, 20):  # one campaign's rows in time order, n at a time
            x = recorded_obs[s : s + n].copy()
            x[1:2, 0] = np.nan  # an invalid row keeps its state on both paths
            got, want = row(x), block(x)
            if exact:
                np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
            np.testing.assert_array_equal(row.last_invalid, block.last_invalid)
