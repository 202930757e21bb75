"""The observation columns a policy reads (``agent.features``), in training and serving.

``feature_index(names)`` is the column index of each named feature in the env's
observation (``envs.spaces.OBS_NAMES``), all of them for ``[]``. The training env hands the
policy ``obs[:, index]`` (``SelectFeatures``; a residual agent selects before appending
``base_log10``), ``agents.policy.SB3Controller`` does the same, and an exported pacer
reads ``manifest.policy.inputs`` (the selected names). The base controller of a residual
agent always reads the whole observation.

Value scenarios (``n_segments = S > 0``): the selected base columns are followed by the
whole segment block, ``3 S`` columns (``envs.spaces.SEGMENT_FEATURES``: share of requests
now, predicted value per price / the flight's average, last throttle), always all of them
and in the env's order. Those columns mean the same at every budget, traffic level and
channel count (shares, ratios to the flight's mean, rates), as the scale-free base
selection of the generalist does.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn, VecEnvWrapper

from pacegym.envs.spaces import N_OBS, OBS_INDEX, OBS_NAMES, SEGMENT_FEATURES, obs_bounds


def feature_names(features: Sequence[str]) -> list[str]:
    """The selected names in order (all of ``OBS_NAMES`` for ``[]``)."""
    return list(features) if features else list(OBS_NAMES)


def feature_index(features: Sequence[str], n_segments: int = 0) -> np.ndarray:
    """Column index of each selected feature in the env's observation, then the whole
    segment block of ``n_segments`` segments (module docstring)."""
    base = [OBS_INDEX[n] for n in feature_names(features)]
    block = range(N_OBS, N_OBS + len(SEGMENT_FEATURES) * int(n_segments))
    return np.array([*base, *block], dtype=np.int64)


def segments_of(width: int) -> int:
    """The number of segments of an observation ``width`` columns wide (``obs_width``'s
    inverse); ``ValueError`` for a width no segment count gives."""
    s, rest = divmod(int(width) - N_OBS, len(SEGMENT_FEATURES))
    if s < 0 or rest:
        raise ValueError(
            f"observation width = {width}: allowed {N_OBS} + {len(SEGMENT_FEATURES)} x segments"
        )
    return s


def selected_space(features: Sequence[str], extra: int = 0, n_segments: int = 0) -> gym.spaces.Box:
    """The Box of the selected columns (``feature_index``), plus ``extra`` columns in
    [-4, 0] (a residual agent's ``base_log10``, one per throttle)."""
    idx = feature_index(features, n_segments)
    lo, hi = obs_bounds(n_segments)
    low = np.append(lo[idx], np.full(extra, -4.0)).astype(np.float32)
    high = np.append(hi[idx], np.zeros(extra)).astype(np.float32)
    return gym.spaces.Box(low, high, dtype=np.float32)


class SelectFeatures(VecEnvWrapper):
    """A vector env whose observations (terminal ones included) are ``obs[:, index]``."""

    def __init__(self, venv: VecEnv, features: Sequence[str]) -> None:
        s = segments_of(venv.observation_space.shape[0])
        super().__init__(venv, observation_space=selected_space(features, n_segments=s))
        self.index = feature_index(features, s)

    def reset(self) -> np.ndarray:
        return np.asarray(self.venv.reset())[:, self.index]

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            term = infos[i].get("terminal_observation")
            if term is not None:
                infos[i]["terminal_observation"] = np.asarray(term)[self.index]
        return np.asarray(obs)[:, self.index], reward, dones, infos
