"""Native Gymnasium vector view: ``num_envs`` campaigns stepped in one core call."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from pacegym.envs.core import PacingCore
from pacegym.envs.layout import REWARD_TERMS
from pacegym.envs.metrics import METRIC_KEYS
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
    Infos are batched dicts: ``reward_terms``, ``throttle``, ``invalid_actions`` every
    step, ``metrics`` (masked by ``_metrics``) when episodes end.

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
        **_: Any,
    ) -> None:
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self._renderer = (
            None
            if render_mode is None
            else Renderer(render_mode, min(int(render_campaigns), self.num_envs))
        )
        self.core = PacingCore(scenario, self.num_envs)
        self.scenario = self.core.scenario
        self.single_observation_space = observation_space()
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._seeder = EpisodeSeeder(self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=np.bool_)
        self._all = np.arange(self.num_envs)

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=None)
        self._seeder.seed(campaign_seeds(seed, self.num_envs))
        self.core.reset(self._all, self._seeder.draw(self._all))
        self._autoreset[:] = False
        if self._renderer is not None:
            self._renderer.reset(self.core)
        return self.core.obs.copy(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        throttle, invalid = action_to_throttle(np.asarray(actions).reshape(self.num_envs, -1)[:, 0])
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
            info["metrics"] = {k: np.where(terminated, m[k], 0.0) for k in METRIC_KEYS}
            info["_metrics"] = terminated
        if self._renderer is not None:
            self._renderer.record(self.core, throttle)
        rows = np.flatnonzero(self._autoreset)
        if rows.size:
            self.core.reset(rows, self._seeder.draw(rows))
            reward[rows] = 0.0
            if self._renderer is not None:
                self._renderer.reset(self.core, rows)
        self._autoreset = terminated
        if self.render_mode == "human":
            self.render()
        return self.core.obs.copy(), reward, terminated, np.zeros_like(terminated), info

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
