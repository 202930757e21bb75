"""Residual policies: a learned multiplicative correction on top of a classical controller.

The one place the composition is defined (the exported numpy pacer reproduces it):

    b      = base.act(obs)                                  # base throttle in [0, 1]
    x      = concat(obs[:, sel], log10(max(b, FLOOR)))      # the agent's observation
    a      = clip(policy(normalise(x)), -1, 1)              # deterministic action
    p      = clip(max(b, FLOOR) * 10 ** (scale_decades * a), 0, 1)

``FLOOR = 1e-4`` (the smallest positive throttle of ``envs.spaces``) and
``scale_decades`` (config ``agent.residual.scale_decades``) are saved in the model's
``agent.json`` with the base controller's config (``kind``, ``params``). ``a = 0``
reproduces the base controller exactly. ``sel`` is ``agent.features``
(``agents.features``; all columns by default); the base reads the whole observation.

Value scenarios (``S`` segments, ``agents.features``): ``b``, ``a`` and ``p`` are ``(n, S)``,
one correction per segment, and ``x`` appends ``S`` columns ``log10(max(b_s, FLOOR))``; a
base with one throttle per campaign (``(n,)``, e.g. a PID) counts for every segment. The
correction multiplies: a segment the base leaves out (``b_s = 0``) can reach at most
``FLOOR * 10 ** scale_decades``, so the residual refines the base's choice of segments
more than it overturns it.

``ResidualVecEnv`` is the SB3 training view: it steps the base controller on every
observation and feeds the composed throttle to ``PacingVecEnv.step_throttle``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn, VecEnvWrapper

from pacegym.agents.features import feature_index, selected_space
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.envs.spaces import MIN_POSITIVE_THROTTLE

FLOOR = MIN_POSITIVE_THROTTLE


def compose(base: np.ndarray, action: np.ndarray, scale_decades: float) -> np.ndarray:
    """Composed throttle ``clip(max(b, FLOOR) * 10 ** (scale * clip(a, -1, 1)), 0, 1)``.

    1-D inputs give ``(n,)``; an ``(n, S)`` base or action gives ``(n, S)`` (the other
    broadcast over the segments)."""
    a = np.clip(np.nan_to_num(np.asarray(action, dtype=np.float64)), -1.0, 1.0)
    b = np.maximum(np.asarray(base, dtype=np.float64), FLOOR)
    if a.ndim < 2 and b.ndim < 2:
        a, b = a.reshape(-1), b.reshape(-1)
    elif a.ndim < 2:
        a = a.reshape(-1, 1)
    elif b.ndim < 2:
        b = b.reshape(-1, 1)
    return np.clip(b * 10.0 ** (scale_decades * a), 0.0, 1.0)


def base_feature(base: np.ndarray, width: int = 0) -> np.ndarray:
    """The feature appended to the observation: ``log10(max(b, FLOOR))`` in [-4, 0];
    ``(n,)`` for ``width = 0``, else ``(n, width)`` (a ``(n,)`` base repeated)."""
    b = np.nan_to_num(np.asarray(base, dtype=np.float64), nan=0.0)
    f = np.log10(np.clip(b, FLOOR, 1.0)).astype(np.float32)
    if not width:
        return f.reshape(-1)
    return np.broadcast_to(f.reshape(f.shape[0], -1), (f.shape[0], width)).copy()


def augmented_space(features: Sequence[str] = (), n_segments: int = 0) -> gym.spaces.Box:
    """Observation space of a residual agent: the selected features plus ``base_log10``
    (one column, or one per segment)."""
    return selected_space(features, extra=max(1, n_segments), n_segments=n_segments)


def build_base(spec: Mapping[str, Any]) -> Any:
    """A base controller from a controller config (``kind``, optional ``name``, ``params``)."""
    if not spec or not spec.get("kind"):
        raise ValueError(
            f"agent.residual.base = {dict(spec or {})!r}: needs a controller config with "
            "'kind' (e.g. agent.residual.base=<a conf/controller/*.yaml's contents>)"
        )
    from pacegym.baselines.factory import from_spec

    return from_spec({k: v for k, v in spec.items() if k in ("kind", "name", "params")})


class RowResetter:
    """Reset some rows of a batched controller (``Controller.reset`` resets all of them).

    Uses the controller's ``reset_rows(rows)`` when it has one; otherwise copies the rows
    of every ``(n, ...)`` array attribute from a template controller just reset.
    """

    def __init__(self, controller: Any, template: Any, n: int) -> None:
        self.controller, self.template, self.n = controller, template, n
        template.reset(n)

    def __call__(self, rows: np.ndarray) -> None:
        if hasattr(self.controller, "reset_rows"):
            self.controller.reset_rows(rows)
            return
        for key, value in vars(self.controller).items():
            if isinstance(value, np.ndarray) and value.shape[:1] == (self.n,):
                value[rows] = getattr(self.template, key)[rows]


class ResidualVecEnv(VecEnvWrapper):
    """Residual training view: actions are corrections of a base controller's throttle."""

    def __init__(
        self,
        venv: PacingVecEnv,
        base_spec: Mapping[str, Any],
        scale_decades: float,
        features: Sequence[str] = (),
    ):
        if not scale_decades > 0:
            raise ValueError(
                f"agent.residual.scale_decades = {scale_decades}: must be > 0 (e.g. 0.5-2)"
            )
        s = venv.core.n_segments
        super().__init__(venv, observation_space=augmented_space(features, s))
        self.index = feature_index(features, s)
        self.width = max(1, s)
        self.pacing = venv
        self.base_spec = dict(base_spec)
        self.scale = float(scale_decades)
        self.base = build_base(self.base_spec)
        self._resetter = RowResetter(self.base, build_base(self.base_spec), venv.num_envs)
        self._b = np.ones((venv.num_envs, self.width))
        self._actions = np.zeros((venv.num_envs, self.width))

    def _augment(self, obs: np.ndarray) -> np.ndarray:
        b = np.asarray(self.base.act(obs), dtype=np.float64).reshape(self.num_envs, -1)
        self._b = np.broadcast_to(b, (self.num_envs, self.width)).copy()
        return np.concatenate([obs[:, self.index], base_feature(self._b, self.width)], axis=1)

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        self.base.reset(self.num_envs)
        return self._augment(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        a = self._actions.reshape(self.num_envs, self.width)
        present = self.pacing.present  # padded columns (agent.max_segments) never count
        invalid = ~np.isfinite(a if present is None else np.where(present, a, 0.0)).all(axis=1)
        p = compose(self._b, a, self.scale)
        obs, reward, dones, infos = self.pacing.step_throttle(
            p if self.width > 1 else p[:, 0], invalid
        )
        feat = base_feature(self._b, self.width)
        rows = np.flatnonzero(dones)
        for i in rows:
            term = infos[i]["terminal_observation"]
            infos[i]["terminal_observation"] = np.append(term[self.index], feat[i]).astype(
                np.float32
            )
        if rows.size:
            self._resetter(rows)
        return self._augment(obs), reward, dones, infos
