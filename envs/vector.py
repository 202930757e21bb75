"""Native Gymnasium vector view: ``num_envs`` campaigns stepped in one core call."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from pacegym.envs.core import PacingCore
from pacegym.envs.layout import REWARD_TERMS
from pacegym.envs.pacing_env import SEED_HIGH, action_space, observation_space
from pacegym.envs.params import ScenarioParams
from pacegym.envs.render import RENDER_FPS, RENDER_MODES, Renderer
from pacegym.envs.spaces import action_to_throttle


def campaign_seeds(seed: int | list[int | None] | None, n: int) -> list[int | None]:
    """Gymnasium's convention: an int seeds sub-env ``i`` with ``seed + i``."""
    if seed is None or isinstance(seed, int | np.integer):
        return [None if seed is None else int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"got {len(seeds)} seeds for {n} campaigns")
    return seeds


def batch_throttle(actions: Any, n: int, width: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Throttles and the non-finite mask of a batch of ``n`` actions, one per campaign.

    ``actions`` must have shape ``(n, width)`` (the batched action space: ``width`` is 1, or
    the segments of a value scenario) or, with one action each, ``(n,)``; any other shape
    raises ``ValueError`` naming it (never reshaped into another campaign's action).
    Returns throttles ``(n,)`` with one action each, else ``(n, width)``, and the mask
    ``(n,)`` (any of a campaign's actions non-finite).
    """
    a = np.asarray(actions)
    allowed = ((n, 1), (n,)) if width == 1 else ((n, width),)
    if a.shape not in allowed:
        raise ValueError(
            f"actions have shape {a.shape}; expected ({n}, {width}), one row per campaign"
        )
    p, invalid = action_to_throttle(a)
    if width == 1:
        return p, invalid
    return p.reshape(n, width), invalid.reshape(n, width).any(axis=1)


NOT_RESET = "The vector env was never reset: call reset before step."
"""What stepping a vector view before its first ``reset`` raises (``RuntimeError``)."""


class EpisodeSeeder:
    """One ``np.random.Generator`` per campaign, drawing its episode seeds like ``PacingEnv``."""

    def __init__(self, n: int) -> None:
        self.rngs = [seeding.np_random(None)[0] for _ in range(n)]

    def seed(self, seeds: list[int | None]) -> None:
        for i, s in enumerate(seeds):
            if s is not None or self.rngs[i] is None:
                self.rngs[i] = seeding.np_random(s)[0]

    def draw(self, rows: np.ndarray) -> np.ndarray:
        return np.array(
            [self.rngs[r].integers(0, SEED_HIGH, dtype=np.uint64) for r in rows], dtype=np.uint64
        )


class PacingVectorEnv(VectorEnv):
    """``num_envs`` campaigns of one scenario; next-step autoreset (Gymnasium's default).

    Same observation, action, reward and metrics as ``PacingEnv``; sub-env ``i`` reset
    with seed ``s + i`` follows exactly the trajectory of ``PacingEnv`` reset with ``s + i``.
    ``step`` before the first ``reset`` raises ``RuntimeError``; actions of another shape
    than ``(num_envs, 1)`` (or ``(num_envs,)``) raise ``ValueError``, as ``PacingEnv`` does.
    Infos are batched dicts: ``reward_terms``, ``throttle``, ``invalid_actions`` every
    step, ``metrics`` (masked by ``_metrics``) when episodes end, and with
    ``episode_stats=True`` ``episode`` (masked by ``_episode``: ``r`` return, ``l`` length
    [steps], ``t`` wall time [s], 0 where no episode ended; the layout of
    ``gymnasium.wrappers.vector.RecordEpisodeStatistics``, which otherwise gives them and
    refuses an info that already has the key).

    ``render_mode`` as ``PacingEnv``'s: ``render()`` draws campaign 0, or with
    ``render_campaigns=k`` a grid of the first ``k`` campaigns (one frame; ``ansi``: one
    line each).
    """

    metadata = {
        "render_modes": list(RENDER_MODES),
        "render_fps": RENDER_FPS,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        scenario: str | ScenarioParams | dict = "live_commerce",
        render_mode: str | None = None,
        render_campaigns: int = 1,
        episode_stats: bool = False,
        **_: Any,
    ) -> None:
        self.num_envs = int(num_envs)
        self.episode_stats = bool(episode_stats)
        self.render_mode = render_mode
        self._renderer = (
            None
            if render_mode is None
            else Renderer(render_mode, min(int(render_campaigns), self.num_envs))
        )
        self.core = PacingCore(scenario, self.num_envs)
        self.scenario = self.core.scenario
        self.single_observation_space = observation_space(self.core.n_segments)
        self.single_action_space = action_space(self.core.n_segments)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._seeder = EpisodeSeeder(self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=np.bool_)
        self._all = np.arange(self.num_envs)
        self._needs_reset = True
        self._ep_return = np.zeros(self.num_envs)
        self._ep_len = np.zeros(self.num_envs, dtype=np.int64)
        self._ep_t0 = np.zeros(self.num_envs)  # [s] perf_counter at each episode's reset

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=None)
        self._seeder.seed(campaign_seeds(seed, self.num_envs))
        self.core.reset(self._all, self._seeder.draw(self._all))
        self._autoreset[:] = False
        self._needs_reset = False
        self._ep_return[:] = 0.0
        self._ep_len[:] = 0
        self._ep_t0[:] = time.perf_counter()
        if self._renderer is not None:
            self._renderer.reset(self.core)
        return self.core.obs.copy(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError(NOT_RESET)
        throttle, invalid = batch_throttle(
            actions, self.num_envs, self.single_action_space.shape[0]
        )
        res = self.core.step(throttle)
        reward = res.reward.copy()
        terminated = res.finished.copy()
        info: dict[str, Any] = {
            "throttle": throttle,
            "_throttle": np.ones(self.num_envs, dtype=np.bool_),
            "invalid_actions": invalid.astype(np.int64),
            "_invalid_actions": np.ones(self.num_envs, dtype=np.bool_),
            "reward_terms": {name: res.terms[:, i].copy() for i, name in enumerate(REWARD_TERMS)},
            "_reward_terms": np.ones(self.num_envs, dtype=np.bool_),
        }
        if terminated.any():
            m = self.core.metrics()
            info["metrics"] = {k: np.where(terminated, v, 0.0) for k, v in m.items()}
            info["_metrics"] = terminated
        if self._renderer is not None:
            self._renderer.record(self.core, throttle if throttle.ndim == 1 else throttle.mean(1))
        rows = np.flatnonzero(self._autoreset)
        if rows.size:
            self.core.reset(rows, self._seeder.draw(rows))
            reward[rows] = 0.0
            if self._renderer is not None:
                self._renderer.reset(self.core, rows)
        self._count_episodes(reward, rows, terminated, info)
        self._autoreset = terminated
        if self.render_mode == "human":
            self.render()
        return self.core.obs.copy(), reward, terminated, np.zeros_like(terminated), info

    def _count_episodes(
        self, reward: np.ndarray, reset_rows: np.ndarray, ended: np.ndarray, info: dict[str, Any]
    ) -> None:
        """Add this step to the running episodes (a reset step starts one at 0) and, where
        episodes ``ended``, put their statistics in ``info["episode"]``."""
        self._ep_return += reward
        self._ep_len += 1
        if reset_rows.size:
            self._ep_return[reset_rows] = 0.0
            self._ep_len[reset_rows] = 0
            self._ep_t0[reset_rows] = time.perf_counter()
        if self.episode_stats and ended.any():
            t = np.round(time.perf_counter() - self._ep_t0, 6)
            info["episode"] = {
                "r": np.where(ended, self._ep_return, 0.0),
                "l": np.where(ended, self._ep_len, 0),
                "t": np.where(ended, t, 0.0),
            }
            info["_episode"] = ended.copy()

    def render(self) -> np.ndarray | str | None:
        """Campaign 0 (or the first ``render_campaigns``) so far, as ``render_mode`` asks."""
        if self._renderer is None:
            return None
        if not self._renderer.traces[0].minutes:
            raise RuntimeError("Nothing to render yet: call reset before render.")
        return self._renderer.render()

    def close_extras(self, **kwargs: Any) -> None:
        if self._renderer is not None:
            self._renderer.close()
