"""Single-campaign Gymnasium view of the batched core."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pacegym.envs.core import PacingCore
from pacegym.envs.layout import REWARD_TERMS
from pacegym.envs.params import ScenarioParams
from pacegym.envs.render import RENDER_FPS, RENDER_MODES, Renderer
from pacegym.envs.spaces import N_OBS, action_to_throttle, obs_bounds, observation_table

SEED_HIGH = 2**63
"""Episode seeds are drawn from ``np_random`` in [0, SEED_HIGH)."""


def observation_space(n_segments: int = 0) -> spaces.Box:
    """The observation Box: ``OBS_FEATURES``, then ``n_segments`` segments' block."""
    low, high = obs_bounds(n_segments)
    return spaces.Box(low, high, dtype=np.float32)


def action_space(n_segments: int = 0) -> spaces.Box:
    """The action Box: one action, or one per segment in a value scenario."""
    return spaces.Box(-1.0, 1.0, shape=(max(1, int(n_segments)),), dtype=np.float32)


class PacingEnv(gym.Env[np.ndarray, np.ndarray]):
    """Budget pacing of one ad campaign, one throttle decision every tick (15 s by default).

    ## Description
    An ad campaign must spend its budget on plan during a flight (a live-commerce
    broadcast, a day, several days). Every tick the controller sets the throttle, the
    share of eligible ad requests the campaign takes part in. Requests arrive as a
    Poisson process on an intraday or broadcast profile, with slow noise and 10x-100x
    surges; served ads are counted (billed) only after a random delay (75% within 15
    minutes, none after 2 hours by default) and reported spend lags further. The
    server stops serving once reported spend reaches the budget, and at the flight
    end; impressions still in flight are counted after the end and are wasted media
    cost. The physics is ``envs.core.PacingCore``; this class is its one-campaign view.

    ## Observation Space
    ``Box(N_OBS,)`` float32, one column per feature, each clipped to its range (the
    table is ``envs.spaces.OBS_FEATURES``; reported spend lags and excludes impressions
    still in flight):

    OBSERVATION_TABLE

    ## Action Space
    ``Box(-1, 1, (1,))``: ``p = 10 ** (2 (a - 1))``, four decades of throttle from
    1e-4 to 1, and ``a = -1`` stops serving. NaN or infinite actions stop serving
    (throttle 0) and are counted in ``info["invalid_actions"]``.

    ## Rewards
    The score, paid step by step: summed over an episode the rewards equal that
    episode's ``pacing_score_v2`` (``info["metrics"]``; docs/objective.md). The signed
    terms, all in shares of the budget, are in ``info["reward_terms"]``, weighted by
    ``scenario.score``: ``delivery`` (+ billable spend counted), ``waste`` (- media cost
    over budget when counted, - expected post-end media cost of the impressions served,
    the realised remainder settled at the last step), ``misplaced`` and ``burst`` (- the
    growth of the current window's and plan slot's spend above the plan's allowance).

    ## Starting State
    Nothing spent; the scenario's ranges (domain randomisation) are drawn per episode
    from the episode seed, which is drawn from ``np_random``.

    ## Episode End
    Terminated at the flight end (``time.flight_min``, rounded to whole plan slots).
    The drain (impressions arriving after the end, up to the maximum delay) is
    accounted in that last step, and ``info["metrics"]`` carries the episode metrics
    of ``envs.metrics``. Episode statistics: wrap the env in Gymnasium's
    ``RecordEpisodeStatistics`` as usual, or make it with ``episode_stats=True`` to have
    ``info["episode"]`` on the last step without a wrapper (that layout: ``r`` return, ``l``
    length [steps], ``t`` wall time [s]; off by default because the wrapper refuses an info
    that already has the key). No truncation.

    ## Rendering
    ``render_mode="rgb_array"``: ``render()`` returns an ``(400, 640, 3)`` uint8 frame of the
    campaign so far (cumulative counted spend against the reference plan, served spend,
    spend in flight, the throttle, surges shaded, the flight end; ``envs.render``), the
    frames ``gymnasium.wrappers.RecordVideo`` writes; ``"human"``: the same figure in a
    window, redrawn every step; ``"ansi"``: a one-line status.

    ## Arguments
    ``gymnasium.make("pacegym/LiveCommerce-v0")`` (also ``DailyBudget-v0``,
    ``MultiDayFlight-v0``); ``scenario`` takes a preset name, a ``ScenarioParams`` or
    a nested dict of overrides with an optional ``base`` preset; ``render_mode`` one of
    ``metadata["render_modes"]`` or None.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": RENDER_FPS}

    def __init__(
        self,
        scenario: str | ScenarioParams | dict = "live_commerce",
        render_mode: str | None = None,
        episode_stats: bool = False,
    ) -> None:
        self.core = PacingCore(scenario, 1)
        self.episode_stats = bool(episode_stats)
        self.scenario = self.core.scenario
        self.observation_space = observation_space(self.core.n_segments)
        self.action_space = action_space(self.core.n_segments)
        self.render_mode = render_mode
        self._renderer = None if render_mode is None else Renderer(render_mode)
        self._ep_return = 0.0
        self._ep_len = 0
        self._ep_t0 = 0.0  # [s] perf_counter at the episode's reset

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        episode_seed = self.np_random.integers(0, SEED_HIGH, dtype=np.uint64)
        self.core.reset(np.zeros(1, dtype=np.int64), np.array([episode_seed], dtype=np.uint64))
        self._ep_return, self._ep_len, self._ep_t0 = 0.0, 0, time.perf_counter()
        if self._renderer is not None:
            self._renderer.reset(self.core)
            if self.render_mode == "human":
                self.render()
        return self.core.obs[0].copy(), {"episode_seed": int(episode_seed)}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.core.done[0]:
            raise RuntimeError("The episode is over (or never started): call reset before step.")
        throttle, invalid = action_to_throttle(action)
        width = self.action_space.shape[0]
        if throttle.shape[0] != width:
            raise ValueError(f"action has {throttle.shape[0]} values; expected shape ({width},)")
        res = self.core.step(throttle.reshape(1, width))
        mean = np.array([throttle.mean()])  # the campaign's throttle (segments': their mean)
        if self._renderer is not None:
            self._renderer.record(self.core, mean)
            if self.render_mode == "human":
                self.render()
        terminated = bool(res.finished[0])
        reward = float(res.reward[0])
        self._ep_return += reward
        self._ep_len += 1
        info: dict[str, Any] = {
            "throttle": float(mean[0]),
            "invalid_actions": int(invalid.any()),
            "reward_terms": {name: float(res.terms[0, i]) for i, name in enumerate(REWARD_TERMS)},
        }
        if width > 1:
            info["throttles"] = throttle.copy()
        if terminated:
            m = self.core.metrics(np.zeros(1, dtype=np.int64))
            info["metrics"] = {k: float(v[0]) for k, v in m.items()}
        if terminated and self.episode_stats:
            info["episode"] = {
                "r": self._ep_return,
                "l": self._ep_len,
                "t": round(time.perf_counter() - self._ep_t0, 6),
            }
        return res.obs[0].copy(), reward, terminated, False, info

    def render(self) -> np.ndarray | str | None:
        """The campaign so far, as the ``render_mode`` asks (see "Rendering" above)."""
        if self._renderer is None:
            gym.logger.warn(
                "render() without a render_mode: pass render_mode= one of "
                f"{list(RENDER_MODES)} to gym.make"
            )
            return None
        if not self._renderer.traces[0].minutes:
            raise RuntimeError("Nothing to render yet: call reset before render.")
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
        super().close()


def _document_observation(doc: str | None) -> str | None:
    """The class docstring with the observation table rendered from ``OBS_FEATURES``."""
    if doc is None:  # python -OO
        return None
    table = observation_table().replace("\n", "\n    ")  # the docstring's indentation
    return doc.replace("N_OBS", str(N_OBS)).replace("OBSERVATION_TABLE", table)


PacingEnv.__doc__ = _document_observation(PacingEnv.__doc__)
