"""Export a padded residual agent on a per-segment base as a ``segment_residual`` pacer
(writer side; the runtime is ``runtime.segment_residual``).

``export_segment_residual_model_dir(model_dir, out_dir)`` reads a model directory written
by pacegym-train (``agents.policy.save_model``) of a residual PPO (or another Gaussian-MLP
algorithm: A2C) trained with ``agent.max_segments`` on a ``dual_price`` or
``smart_pacing`` base: the actor's dense layers (``sb3_policy.module_layers``) into
``weights.npz``, the base rule's policy (``segment_export.segment_manifest``), the padded
inputs (``agent.json``'s ``obs_names``) and normalisation into ``manifest.json``; loads it
once and publishes the folder.

``ResidualLockstep``: the pacer with the trained policy (``SB3Controller``) beside it on
the very same observations; its throttles drive the env and ``max_error`` is the largest
|pacer correction - the policy's| over every row of every tick (the export contract: 1e-5).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.agents.export.publish import publish_npz_artifact
from pacegym.agents.export.runtime.normalize import Normalization
from pacegym.agents.export.runtime.segment_pacer import SEGMENT_COLUMNS
from pacegym.agents.export.runtime.segment_residual import (
    RESIDUAL_WEIGHTS,
    SEGMENT_RESIDUAL_SCHEMA,
    SEGMENT_RESIDUAL_VERSION,
    load_segment_residual_pacer,
)
from pacegym.agents.export.sb3_policy import ExportError, _actor_modules, _squashes, module_layers
from pacegym.envs.spaces import OBS_NAMES

BASE_KINDS = ("dual_price", "smart_pacing")
"""Base rules a ``segment_residual`` pacer carries (``lp_split`` needs a per-campaign split)."""


def segment_residual_manifest(
    model: Any, meta: Mapping[str, Any], name: str, source: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest (without ``files``) and arrays of ``model`` with ``agent.json`` ``meta``."""
    from pacegym.agents.export.segment_export import segment_manifest

    m_seg, res = int(meta.get("max_segments") or 0), meta.get("residual") or {}
    kind = (res.get("base") or {}).get("kind")
    if not m_seg or not res or kind not in BASE_KINDS or meta.get("recurrent"):
        raise ExportError(
            f"agent.json: max_segments = {m_seg}, residual base kind = {kind!r}, recurrent = "
            f"{bool(meta.get('recurrent'))}: a segment_residual pacer takes a padded "
            f"(agent.max_segments > 0) non-recurrent residual agent on one of {list(BASE_KINDS)}"
        )
    policy = getattr(model, "policy", model)
    if _squashes(policy):
        raise ExportError("squashed actor (SAC/TD3/use_sde): allowed a Gaussian MLP actor (PPO)")
    layers = module_layers(_actor_modules(policy))
    arrays: dict[str, np.ndarray] = {}
    for j, (w, b, _) in enumerate(layers):
        arrays[f"dense_w_{j}"], arrays[f"dense_b_{j}"] = w, b
    inputs = list(meta["obs_names"])
    norm = meta.get("obs_norm")
    if norm is not None:
        Normalization.from_spec(norm, len(inputs), where="obs_norm")
        norm = {**{k: norm[k] for k in ("mean", "var", "epsilon", "clip")}}
        norm["rule"] = Normalization.RULE
    space = policy.action_space
    m = {
        "schema": SEGMENT_RESIDUAL_SCHEMA,
        "schema_version": SEGMENT_RESIDUAL_VERSION,
        "name": name,
        "observation": {
            "base_features": list(OBS_NAMES),
            "segment_features": list(SEGMENT_COLUMNS),
            "max_segments": m_seg,
        },
        "policy": {
            "kind": "segment_residual",
            "base": segment_manifest(res["base"], ["0"])["policy"],
            "inputs": inputs,
            "normalization": norm,
            "dense": [act for _, _, act in layers],
            "scale_decades": float(res["scale_decades"]),
            "floor": float(res["floor"]),
        },
        "action": {
            "width": int(np.prod(space.shape)),
            "low": float(np.min(space.low)),
            "high": float(np.max(space.high)),
        },
        "source": {"kind": "sb3-segment-residual", "algo": type(model).__name__, **source},
    }
    return m, arrays


def export_segment_residual_model_dir(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    name: str | None = None,
    source: Mapping[str, Any] | None = None,
) -> Path:
    """Write the ``segment_residual`` artifact of ``model_dir`` to ``out_dir`` (new or
    empty; with ``overwrite`` a previous artifact), loaded once before it is published."""
    from pacegym.agents.model_dir import MODEL_FILE, read_agent_meta
    from pacegym.agents.model_io import load_model

    d = Path(model_dir)
    meta = read_agent_meta(d)
    model = load_model(d / MODEL_FILE, str(meta.get("algo")), policy=meta.get("policy"))
    src = {"model_dir": str(d), "scenario": meta.get("scenario"), **dict(source or {})}
    m, arrays = segment_residual_manifest(model, meta, str(name or meta.get("name")), src)
    return publish_npz_artifact(
        out_dir, overwrite, load_segment_residual_pacer, m, RESIDUAL_WEIGHTS, arrays
    )


class ResidualLockstep:
    """A ``Controller`` serving the pacer with the trained policy beside it (module
    docstring); ``rows`` counts the rows compared."""

    def __init__(self, pacer: Any, reference: Any) -> None:
        self.pacer, self.reference, self.name = pacer, reference, pacer.name
        self.max_error, self.rows = 0.0, 0

    def reset(self, n: int) -> None:
        self.pacer.reset(n)
        self.reference.reset(n)

    def act(self, obs: np.ndarray) -> np.ndarray:
        b, a, ok = self.pacer._step(obs)
        want = self.reference.actions(obs)
        err = float(np.abs(a[ok] - want[ok]).max(initial=0.0))
        self.max_error = max(self.max_error, err if err == err else float("inf"))
        self.rows += len(obs)
        return self.pacer.compose(b, a, ok)
