"""Stable-Baselines3 ``VecEnv`` view of the batched core: all campaigns in one call.

SB3 has its own vector API (same-step autoreset: a finished campaign's final
observation goes to ``infos[i]["terminal_observation"]`` and the returned
observation is already the next episode's first). Campaign ``i`` follows the
same trajectory as ``PacingEnv`` reset with seed ``seed + i``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from pacegym.envs.core import PacingCore
from pacegym.envs.kernel import REWARD_TERMS
from pacegym.envs.mixture import CoreMixture
from pacegym.envs.pacing_env import action_space, observation_space
from pacegym.envs.params import ScenarioParams
from pacegym.envs.vector import NOT_RESET, EpisodeSeeder, batch_throttle, campaign_seeds

REFERENCE_TICKS = 240
"""[ticks] flight length whose reward ``reward_scale="flight"`` leaves unchanged (1 hour)."""


class PacingVecEnv(VecEnv):
    """``n_envs`` campaigns of one scenario for SB3 algorithms.

    ``infos[i]`` carries ``reward_terms``; at an episode end also ``metrics``,
    ``terminal_observation`` and ``episode`` (``r``: return, ``l``: length [steps], ``t``:
    the episode's wall time [s], as in Gymnasium's ``RecordEpisodeStatistics``), the keys
    SB3's logger and ``Monitor`` use. A list of scenarios spreads the campaigns over them
    (``envs.mixture.CoreMixture``: domain-randomised training); ``scenario`` is then the
    first and ``scenarios`` all of them. Stepping before the first ``reset`` raises
    ``RuntimeError`` and actions of another shape than ``(n_envs, 1)`` (or ``(n_envs,)``)
    raise ``ValueError``, as ``PacingEnv`` does; in a value scenario (``S`` segments; a
    mixture's scenarios must share ``S`` unless ``max_segments`` pads them all to that
    many, ``CoreMixture``: padded columns never reach the core nor count as invalid) the
    action is ``(n_envs, S)``, one per segment, and the observation ``envs.spaces.obs_width(S)`` columns. The reward is the env's own: the per-step terms
    of the score (``pacing_score_v2``), so ``episode["r"]`` is the episode's score. With
    ``reward_scale="flight"`` (training only) each campaign's reward is multiplied by its
    flight's ticks / ``REFERENCE_TICKS``: a tick of a 3-day flight then carries as much
    reward as a tick of a 1-hour one (``episode["r"]`` is scaled alike; ``metrics`` not).
    ``scenario_weights`` (one finite number > 0 per scenario, training only) multiplies
    each campaign's reward by its scenario's weight on top (``baselines.weighting``).
    """

    render_mode: str | None = None

    def __init__(
        self,
        scenario: str | ScenarioParams | dict | list | tuple = "live_commerce",
        n_envs: int = 1,
        seed: int | None = None,
        reward_scale: str = "none",
        scenario_weights: Sequence[float] | None = None,
        max_segments: int | None = None,
    ) -> None:
        if reward_scale not in ("none", "flight"):
            raise ValueError(f"reward_scale = {reward_scale!r}: allowed ['none', 'flight']")
        self.reward_scale = reward_scale
        if isinstance(scenario, list | tuple) or max_segments is not None:
            scs = list(scenario) if isinstance(scenario, list | tuple) else [scenario]
            self.core: PacingCore | CoreMixture = CoreMixture(scs, n_envs, max_segments)
            self.scenarios: tuple[ScenarioParams, ...] = self.core.scenarios
        else:
            self.core = PacingCore(scenario, n_envs)
            self.scenarios = (self.core.scenario,)
        self.scenario = self.core.scenario
        self._weight: np.ndarray | None = None
        if scenario_weights is not None:
            w = np.asarray(scenario_weights, dtype=np.float64).reshape(-1)
            if w.shape[0] != len(self.scenarios) or not np.all(np.isfinite(w) & (w > 0)):
                raise ValueError(
                    f"scenario_weights = {list(w)}: allowed one finite number > 0 per "
                    f"scenario ({len(self.scenarios)})"
                )
            block = self.core.block_of if isinstance(self.core, CoreMixture) else 0
            self._weight = np.broadcast_to(w[block], (n_envs,)).copy()
        n_seg = self.core.n_segments
        first = self.core.cores[0] if isinstance(self.core, CoreMixture) else self.core
        self.segments: tuple[str, ...] = tuple(first.segments) if n_seg else ()
        """Segment names (``"<channel>/<layer>"``; the first scenario's), () without."""
        super().__init__(n_envs, observation_space(n_seg), action_space(n_seg))
        self.segment_counts: np.ndarray | None = None
        """With ``max_segments``: each campaign's own segment count ``(n_envs,)``."""
        self.present: np.ndarray | None = None
        """With ``max_segments``: ``(n_envs, max_segments)`` bool, a campaign's own segments."""
        if max_segments is not None:
            self.segment_counts = self.core.segment_counts.copy()
            self.present = np.arange(n_seg) < self.segment_counts[:, None]
        self._seeder = EpisodeSeeder(n_envs)
        self._all = np.arange(n_envs)
        self._actions = np.zeros((n_envs, max(1, n_seg)), dtype=np.float32)
        self._ep_return = np.zeros(n_envs)
        self._ep_len = np.zeros(n_envs, dtype=np.int64)
        self._ep_t0 = np.zeros(n_envs)  # [s] perf_counter at each episode's start (not state)
        self._needs_reset = True
        if seed is not None:
            self.seed(seed)

    def reset(self) -> np.ndarray:
        self._seeder.seed(campaign_seeds(self._seeds, self.num_envs))
        self._reset_seeds()
        self.core.reset(self._all, self._seeder.draw(self._all))
        self._ep_return[:] = 0.0
        self._ep_len[:] = 0
        self._ep_t0[:] = time.perf_counter()
        self._needs_reset = False
        return self.core.obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        throttle, invalid = batch_throttle(self._actions, self.num_envs, self.action_space.shape[0])
        if self.present is not None:  # a padded column's action is never invalid
            a = np.asarray(self._actions, dtype=np.float64)
            invalid = ~np.isfinite(np.where(self.present, a, 0.0)).all(axis=1)
        return self.step_throttle(throttle, invalid)

    def step_throttle(
        self, throttle: np.ndarray, invalid: np.ndarray | None = None
    ) -> VecEnvStepReturn:
        """Step every campaign with throttles in [0, 1] directly (residual policies use this).

        Same returns and autoreset as ``step``; ``invalid`` (bool per campaign) only feeds
        ``info["invalid_actions"]`` (the core itself maps non-finite throttles to 0).
        """
        if self._needs_reset:
            raise RuntimeError(NOT_RESET)
        throttle = np.asarray(throttle, dtype=np.float64)
        width = self.action_space.shape[0]
        if throttle.shape not in ((self.num_envs,), (self.num_envs, width)):
            raise ValueError(
                f"throttles have shape {throttle.shape}; expected ({self.num_envs},) or "
                f"({self.num_envs}, {width}), one row per campaign"
            )
        if invalid is None:
            pad = self.present is not None and throttle.ndim == 2
            real = np.where(self.present, throttle, 0.0) if pad else throttle
            invalid = ~np.isfinite(real).reshape(self.num_envs, -1).all(axis=1)
        res = self.core.step(throttle)
        raw = res.reward  # the env's reward: the score's terms (envs.metrics, SCORE_KEY)
        if self.reward_scale == "flight":
            raw = raw * (self.core.flight_ticks / REFERENCE_TICKS)
        if self._weight is not None:
            raw = raw * self._weight
        reward = raw.astype(np.float32)
        dones = res.finished.copy()
        self._ep_return += raw
        self._ep_len += 1
        infos: list[dict[str, Any]] = [
            {
                "reward_terms": {
                    name: float(res.terms[i, k]) for k, name in enumerate(REWARD_TERMS)
                },
                "invalid_actions": int(invalid[i]),
            }
            for i in range(self.num_envs)
        ]
        rows = np.flatnonzero(dones)
        if rows.size:
            m = self.core.metrics(rows)
            now = time.perf_counter()
            for j, i in enumerate(rows):
                infos[i]["metrics"] = {k: float(v[j]) for k, v in m.items()}
                infos[i]["terminal_observation"] = res.obs[i].copy()
                infos[i]["TimeLimit.truncated"] = False
                infos[i]["episode"] = {
                    "r": float(self._ep_return[i]),
                    "l": int(self._ep_len[i]),
                    "t": round(now - self._ep_t0[i], 6),
                }
            self._ep_return[rows] = 0.0
            self._ep_len[rows] = 0
            self._ep_t0[rows] = now
            self.core.reset(rows, self._seeder.draw(rows))
        return self.core.obs.copy(), reward, dones, infos

    def close(self) -> None:
        return None

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        return [
            getattr(self, method_name)(*method_args, **method_kwargs)
            for _ in self._get_indices(indices)
        ]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def _get_indices(self, indices: VecEnvIndices) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices) if isinstance(indices, Sequence) else indices
