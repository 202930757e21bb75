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

Padding (``agent.max_segments = M > 0``): one policy for every segment count ``S <= M``.
The policy's input is ``runtime.segment_pad.SegmentPad``'s layout (``segment_pad``): the
selected base columns, the segment block of ``M`` slots (and a residual agent's ``M``
``base_log10``), the absent segments' slots at fixed fills, then ``M`` mask columns (1
present, 0 padding); the action is ``M`` wide and only a campaign's first ``S`` columns
reach the env. ``SegmentMask`` is the training view (the env pads, ``envs.mixture``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn, VecEnvWrapper

from pacegym.agents.export.runtime.segment_pad import BASE_LOG10_FILL, SEGMENT_FILL, SegmentPad
from pacegym.agents.settings import AgentConfigError
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


def segment_pad(features: Sequence[str], max_segments: int, residual: bool) -> SegmentPad:
    """The padded input layout of an agent reading ``features`` (module docstring): the
    segment block, then ``base_log10`` for a ``residual`` agent, then the mask."""
    groups = (SEGMENT_FILL, (BASE_LOG10_FILL,)) if residual else (SEGMENT_FILL,)
    return SegmentPad(len(feature_names(features)), int(max_segments), groups)


def padded_names(features: Sequence[str], max_segments: int, residual: bool) -> list[str]:
    """The padded input's column names: ``share[<slot>]``, ..., ``mask[<slot>]``."""
    groups = (tuple(f.name for f in SEGMENT_FEATURES),)
    groups += (("base_log10",),) if residual else ()
    return segment_pad(features, max_segments, residual).names(feature_names(features), groups)


def check_max_segments(max_segments: int, scenarios: Sequence[Any]) -> None:
    """``agent.max_segments`` (when set) holds every scenario's segments (``ScenarioParams``),
    and every scenario is a value scenario; ``AgentConfigError`` in one line naming the key otherwise."""
    m = max_segments
    if not m:
        return
    counts = [sc.value.n_segments if sc.value.on else 0 for sc in scenarios]
    worst = counts.index(max(counts))
    if counts[worst] > m:
        raise AgentConfigError(
            f"agent.max_segments = {m}: scenario {scenarios[worst].name} has {counts[worst]} "
            f"segments; allowed an integer in [{counts[worst]}, 4096] (or 0: no padding)"
        )
    if min(counts) == 0:
        name = scenarios[counts.index(0)].name
        raise AgentConfigError(
            f"agent.max_segments = {m}: scenario {name} has no segments; allowed 0 outside "
            "value scenarios"
        )


class SegmentMask(VecEnvWrapper):
    """Training view of a padded agent: observations ``(n, width - M)`` laid out as
    ``pad`` without its mask (what a padded ``PacingVecEnv`` gives, selected and, for a
    residual agent, with ``base_log10``) become ``pad.refill(obs, counts)``: the absent
    segments' slots at their fills, the mask appended (terminal observations too).
    ``counts``: each campaign's own segment count (``PacingVecEnv.segment_counts``)."""

    def __init__(self, venv: VecEnv, pad: SegmentPad, counts: np.ndarray) -> None:
        m = pad.max_segments
        lo, hi = venv.observation_space.low, venv.observation_space.high
        space = gym.spaces.Box(
            np.append(lo, np.zeros(m)).astype(np.float32),
            np.append(hi, np.ones(m)).astype(np.float32),
            dtype=np.float32,
        )
        super().__init__(venv, observation_space=space)
        self.pad, self.counts = pad, np.asarray(counts, dtype=np.int64).copy()

    def _refill(self, obs: np.ndarray) -> np.ndarray:
        return self.pad.refill(obs, self.counts).astype(np.float32)

    def reset(self) -> np.ndarray:
        return self._refill(np.asarray(self.venv.reset()))

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            term = infos[i].get("terminal_observation")
            if term is not None:
                row = np.asarray(term, dtype=np.float64).reshape(1, -1)
                infos[i]["terminal_observation"] = self.pad.refill(row, self.counts[i : i + 1])[
                    0
                ].astype(np.float32)
        return self._refill(np.asarray(obs)), reward, dones, infos
