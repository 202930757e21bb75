"""SB3 policies as ``Controller``s, and the saved-model layout that rebuilds them.

Model directory (written by ``save_model``, read by ``load_controller``)::

    <dir>/model.zip          SB3 model (read without unpickling: ``agents.model_io.load_model``)
    <dir>/vecnormalize.npz   VecNormalize statistics, plain arrays (absent when not normalising)
    <dir>/agent.json         everything needed without pickle: algo, policy, obs names,
                             observation normalisation (mean, var, epsilon, clip),
                             residual formula, base controller config, steps, seed

The controller's action for an observation batch ``obs`` (float32, ``(n, N_OBS)``):
``x = obs[:, sel]`` (``sel``: ``agent.features``, all columns by default; residual:
``concat(obs[:, sel], log10(max(b, 1e-4)))`` with ``b = base.act(obs)``),
``z = normalise(x)`` (``agents.export.runtime.Normalization``, the formula the exported
pacer runs too), ``a = policy(z)`` deterministic, throttle ``= action_to_throttle(a)``
(residual: ``compose(b, a)``). In a value scenario (``S`` segments, ``agents.features``)
``x`` carries the segment block after the selected columns, ``a`` is ``(n, S)`` (one action
per segment) and so is the throttle; a residual agent appends ``S`` base columns, and an
agent trained with ``agent.feedback`` ``3 C`` feedback columns after them (``agents.feedback``,
``FeedbackController``: it reads the ad server's counters through the harness's ``attach``).
A padded agent (``agent.max_segments = M``, ``agents.features``) takes any ``S <= M``:
``x`` is spread to the padded layout (``runtime.segment_pad``) and only the first ``S`` of
its ``M`` actions are used.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from pacegym.agents.algos import is_recurrent
from pacegym.agents.export.runtime import Normalization
from pacegym.agents.features import (
    feature_index,
    feature_names,
    padded_names,
    segment_pad,
    segments_of,
)
from pacegym.agents.feedback import (
    PRIOR_CONVERSIONS,
    MixtureFeedback,
    channel_names,
    feedback_names,
)
from pacegym.agents.model_dir import AGENT_FILE, MODEL_FILE, read_agent_meta
from pacegym.agents.model_io import load_model
from pacegym.agents.residual import FLOOR, RowResetter, base_feature, build_base, compose
from pacegym.agents.settings import AgentSettings
from pacegym.agents.vecnorm_io import VECNORM_FILE, save_vecnormalize
from pacegym.envs.spaces import N_OBS, action_to_throttle, obs_names

FORMAT_VERSION = 1
RESIDUAL_FORMULA = (
    "b = base.act(obs); x = concat(obs[:, features], log10(max(b, floor))); "
    "a = clip(policy(normalise(x)), -1, 1); p = clip(max(b, floor) * 10 ** (scale_decades * a), 0, 1)"
)


def obs_norm_dict(vecnorm: VecNormalize | None) -> dict[str, Any] | None:
    """Plain-number observation statistics (None when observations are not normalised)."""
    if vecnorm is None or not vecnorm.norm_obs:
        return None
    rms = vecnorm.obs_rms
    return {
        "mean": [float(v) for v in np.asarray(rms.mean).reshape(-1)],
        "var": [float(v) for v in np.asarray(rms.var).reshape(-1)],
        "epsilon": float(vecnorm.epsilon),
        "clip": float(vecnorm.clip_obs),
    }


class SB3Controller:
    """A trained SB3 policy behind the ``Controller`` protocol (deterministic actions).

    The reference an exported pacer is checked against (``agents/export/verify.py``).
    ``obs_norm``: ``{mean, var, epsilon, clip}`` (``agent.json``'s ``obs_norm`` or a
    manifest's ``policy.normalization``), None when the model saw raw observations.
    ``residual``: ``{"enabled": True, "base": controller config, "scale_decades"}`` for a
    residual agent (``agents/residual.py``), else None. ``features``: the observation
    columns the policy reads (``agent.features``; ``()``: all). ``max_segments``: the padded
    layout's ``M`` (``agent.max_segments``; 0: none, the policy serves its own ``S``).
    """

    def __init__(
        self,
        model: BaseAlgorithm,
        obs_norm: Mapping[str, Any] | None = None,
        residual: Mapping[str, Any] | None = None,
        name: str = "agent",
        features: Sequence[str] = (),
        max_segments: int = 0,
    ) -> None:
        self.model = model
        self.features = list(features)
        self._index = feature_index(features)
        self._width = 0  # the observation width ``_index`` was built for
        self._segments = 0
        self.name = name
        self.kind = "agent"
        self._norm = Normalization.from_spec(obs_norm, where="obs_norm") if obs_norm else None
        self.residual = dict(residual) if residual and residual.get("enabled") else None
        self.base = build_base(self.residual["base"]) if self.residual else None
        self.max_segments = int(max_segments or 0)
        self.pad = (
            segment_pad(features, self.max_segments, self.base is not None)
            if self.max_segments
            else None
        )
        self._recurrent = is_recurrent(model)
        self._state: Any = None
        self._starts = np.ones(0, dtype=bool)
        self._n = 0

    def reset(self, n: int) -> None:
        self._n = n
        self._state = None
        self._starts = np.ones(n, dtype=bool)
        if self.base is not None:
            self.base.reset(n)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """The model's float32 input for rows ``x`` (the exported pacer's ``Normalization``)."""
        if self._norm is None:
            return x.astype(np.float32)
        return self._norm(x)

    def inputs(self, obs: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """``(base throttles (n, max(1, S)) or None, the policy's input before normalisation)``
        for one batch: the selected columns, ``base_log10``, any extra columns, the padded
        layout. The base rule's state advances: call it once a tick."""
        obs = np.asarray(obs)
        if obs.shape[1] != self._width:
            self._width, self._segments = obs.shape[1], segments_of(obs.shape[1])
            self._index = feature_index(self.features, self._segments)
        x = np.asarray(obs, dtype=np.float64)[:, self._index]
        b = None
        if self.base is not None:
            width = max(1, self._segments)
            b = np.asarray(self.base.act(obs), dtype=np.float64).reshape(len(obs), -1)
            b = np.broadcast_to(b, (len(obs), width)).copy()
            x = np.concatenate([x, base_feature(b, width)], axis=1)
        extra = self._extra()
        if extra is not None:
            x = np.concatenate([x, extra], axis=1)
        if self.pad is not None:
            self.pad.check(self._segments, "agent.max_segments")
            x = self.pad.spread(x, self._segments)
        return b, x

    def actions_of(self, x: np.ndarray) -> np.ndarray:
        """Deterministic actions for inputs ``x`` (``inputs``' second value): ``(n,)``, or
        ``(n, S)`` in a value scenario; a recurrent policy's state advances."""
        z = self.normalise(x)
        if self._recurrent:
            if self._starts.shape[0] != z.shape[0]:
                self.reset(z.shape[0])
            a, self._state = self.model.predict(
                z, state=self._state, episode_start=self._starts, deterministic=True
            )
            self._starts = np.zeros(z.shape[0], dtype=bool)
        else:
            a, _ = self.model.predict(z, deterministic=True)
        a = np.asarray(a, dtype=np.float64).reshape(len(z), -1)
        if self.pad is not None:
            a = self.pad.take(a, self._segments)  # the padded slots' actions are dropped
        return a if self._segments else a[:, 0]

    def throttles_of(self, b: np.ndarray | None, a: np.ndarray) -> np.ndarray:
        """Throttles from the base's (``inputs``) and the policy's (``actions_of``) values."""
        if b is not None:
            p = compose(b, a.reshape(b.shape), float(self.residual["scale_decades"]))  # type: ignore[index]
            return p if self._segments else p[:, 0]
        return action_to_throttle(a)[0].reshape(a.shape)

    def _step(self, obs: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """``(base throttles or None, deterministic actions)`` for one batch; the base
        rule's and a recurrent policy's state advance."""
        b, x = self.inputs(obs)
        return b, self.actions_of(x)

    def _extra(self) -> np.ndarray | None:
        """Columns appended after the others (``FeedbackController``); None here."""
        return None

    def actions(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic actions before the throttle mapping (residual: the correction
        ``a``; the base rule advances as in ``act``), as an exported pacer's ``actions``:
        ``(n,)``, or ``(n, S)`` in a value scenario."""
        return self._step(obs)[1]

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Throttles ``(n,)``, or ``(n, S)`` (one per segment) in a value scenario."""
        return self.throttles_of(*self._step(obs))


class FeedbackController(SB3Controller):
    """An agent trained with ``agent.feedback``: its input ends with the realised-value
    feedback columns (``agents.feedback``), computed from the ad server's counters. It reads
    them through ``baselines.harness``'s ``attach(core)`` (the counters of
    ``agents.feedback``'s docstring only, never the drift or a conversion not yet arrived),
    so it runs only through the harness; it is not exported (yet)."""

    def attach(self, core: Any) -> None:
        self.feedback = MixtureFeedback(core)

    def _extra(self) -> np.ndarray | None:
        self.feedback.update()
        return self.feedback.features()


def make_controller(
    model: BaseAlgorithm,
    obs_norm: Mapping[str, Any] | None,
    residual: Mapping[str, Any] | None,
    name: str,
    features: Sequence[str],
    feedback: bool,
    max_segments: int = 0,
) -> SB3Controller:
    """A ``FeedbackController`` for an agent trained with feedback, else an ``SB3Controller``."""
    cls = FeedbackController if feedback else SB3Controller
    return cls(model, obs_norm, residual, name, features, max_segments)


def agent_meta(
    model: BaseAlgorithm,
    agent: AgentSettings,
    vecnorm: VecNormalize | None,
    scenario_name: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``agent.json`` contents (JSON-ready). ``extra["segments"]`` (a value scenario's
    segment names, ``PacingVecEnv.segments``) names the segment block in ``obs_names``."""
    res = agent.residual
    residual = None
    segments = list((extra or {}).get("segments") or ())
    names = feature_names(agent.features) + list(obs_names(tuple(segments))[N_OBS:])
    if res.enabled:
        residual = {
            "enabled": True,
            "scale_decades": res.scale_decades,
            "floor": FLOOR,
            "base": dict(res.base),
            "formula": RESIDUAL_FORMULA,
        }
        names += [f"base_log10[{s}]" for s in segments] if segments else ["base_log10"]
    channels = channel_names(segments) if agent.feedback else []
    names += feedback_names(channels)
    if agent.max_segments:  # the padded layout replaces the scenario's own columns
        names = padded_names(agent.features, agent.max_segments, res.enabled)
    return {
        "format": FORMAT_VERSION,
        "name": agent.name,
        "algo": agent.algo,
        "policy": agent.policy,
        "recurrent": is_recurrent(model),
        "scenario": scenario_name,
        "obs_names": names,
        "features": feature_names(agent.features),
        "obs_norm": obs_norm_dict(vecnorm),
        "action": "throttle = 10 ** (2 * (a - 1)) for a in (-1, 1]; a <= -1 -> 0 "
        "(envs.spaces.action_to_throttle)",
        "residual": residual,
        "feedback": {"channels": channels, "prior": PRIOR_CONVERSIONS} if channels else None,
        **({"max_segments": int(agent.max_segments)} if agent.max_segments else {}),
        "num_timesteps": int(model.num_timesteps),
        "files": {"model": MODEL_FILE, "vecnormalize": VECNORM_FILE},
        **dict(extra or {}),
    }


def save_model(
    path: str | Path,
    model: BaseAlgorithm,
    agent: AgentSettings,
    vecnorm: VecNormalize | None,
    scenario_name: str,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the model directory (see the module docstring); returns it."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / MODEL_FILE)
    if vecnorm is not None:
        save_vecnormalize(vecnorm, out / VECNORM_FILE)
    meta = agent_meta(model, agent, vecnorm, scenario_name, extra)
    (out / AGENT_FILE).write_text(json.dumps(meta, indent=2))
    return out


def one_inference_thread() -> None:
    """Put torch on one intra-op thread for evaluating agents: they act on batches of at
    most a few hundred rows through 64-wide layers, where torch's extra threads only spin on
    a shared machine (a 32-episode compare of 6 policies: 41 s with torch's default 2
    threads under load, 9 s with 1). Every app that evaluates agents calls it (compare,
    evaluate, benchmark, export's checks); training keeps ``train.torch_threads``."""
    import torch

    torch.set_num_threads(1)


def load_controller(path: str | Path, name: str | None = None) -> SB3Controller:
    """Rebuild the ``SB3Controller`` of a model directory written by ``save_model``; nothing
    in it is unpickled (``agents.model_io.load_model``)."""
    d = Path(path)
    meta_path = d / AGENT_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{meta_path} not found: expected a model directory written by pacegym-train "
            f"({MODEL_FILE}, {AGENT_FILE}, {VECNORM_FILE})"
        )
    meta = read_agent_meta(d)
    model = load_model(d / MODEL_FILE, str(meta.get("algo")), policy=meta.get("policy"))
    return make_controller(
        model,
        meta.get("obs_norm"),
        meta.get("residual"),
        name or meta["name"],
        meta.get("features") or (),
        bool(meta.get("feedback")),
        int(meta.get("max_segments") or 0),
    )


def controller_from_model(
    model: BaseAlgorithm,
    vecnorm: VecNormalize | None,
    agent: AgentSettings,
    name: str = "agent",
) -> SB3Controller:
    """An ``SB3Controller`` of a model in training (copies the current normalisation)."""
    residual = dataclasses.asdict(agent.residual)
    return make_controller(
        model,
        obs_norm_dict(vecnorm),
        residual,
        name,
        agent.features,
        agent.feedback,
        agent.max_segments,
    )


__all__ = [
    "RESIDUAL_FORMULA",
    "FeedbackController",
    "RowResetter",
    "SB3Controller",
    "agent_meta",
    "controller_from_model",
    "load_controller",
    "obs_norm_dict",
    "save_model",
]
