"""The observation columns a policy reads (``agent.features``), in training and serving.

``feature_index(names)`` is the column index of each named feature in the env's
observation (``envs.spaces.OBS_NAMES``), all of them for ``[]``. The training env hands the
policy ``obs[:, index]`` (``SelectFeatures``; a residual agent selects before appending
``base_log10``), ``agents.policy.SB3Controller`` does the same, and an exported pacer
reads ``manifest.policy.inputs`` (the selected names). The base controller of a residual
agent always reads the whole observation.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn, VecEnvWrapper

from pacegym.envs.spaces import OBS_HIGH, OBS_INDEX, OBS_LOW, OBS_NAMES


def feature_names(features: Sequence[str]) -> list[str]:
    """The selected names in order (all of ``OBS_NAMES`` for ``[]``)."""
    return list(features) if features else list(OBS_NAMES)


def feature_index(features: Sequence[str]) -> np.ndarray:
    """Column index of each selected feature in the env's observation."""
    return np.array([OBS_INDEX[n] for n in feature_names(features)], dtype=np.int64)


def selected_space(features: Sequence[str], extra: int = 0) -> gym.spaces.Box:
    """The Box of the selected columns, plus ``extra`` columns in [-4, 0] (``base_log10``)."""
    idx = feature_index(features)
    low = np.append(OBS_LOW[idx], np.full(extra, -4.0)).astype(np.float32)
    high = np.append(OBS_HIGH[idx], np.zeros(extra)).astype(np.float32)
    return gym.spaces.Box(low, high, dtype=np.float32)


class SelectFeatures(VecEnvWrapper):
    """A vector env whose observations (terminal ones included) are ``obs[:, index]``."""

    def __init__(self, venv: VecEnv, features: Sequence[str]) -> None:
        super().__init__(venv, observation_space=selected_space(features))
        self.index = feature_index(features)

    def reset(self) -> np.ndarray:
        return np.asarray(self.venv.reset())[:, self.index]

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            term = infos[i].get("terminal_observation")
            if term is not None:
                infos[i]["terminal_observation"] = np.asarray(term)[self.index]
        return np.asarray(obs)[:, self.index], reward, dones, infos
