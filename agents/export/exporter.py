"""Export an SB3 model or a baseline controller as a pacer artifact (writer side).

``export_sb3(model, out_dir, normalization=...)`` reads the deterministic actor's dense
layers (``sb3_policy.actor_layers``) into ``weights.npz`` and, with ``onnx=True``, writes
``policy.onnx`` from the same torch modules (``TorchActor``; the dynamo exporter of torch
2.13 handles the actor alone, not SB3's whole policy). ``export_controller(spec, out_dir)``
writes a baseline as ``{"kind", "name", "params"}`` (data; the runtime holds the rules).
Both return the artifact directory, already loaded once by the numpy runtime.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.agents.export.artifact import (
    DEFAULT_SAFETY,
    Safety,
    action_spec,
    mlp_policy,
    residual_policy,
    rule_policy,
    write_artifact,
)
from pacegym.envs.spaces import N_OBS


def write_onnx(
    model: Any, normalization: dict[str, Any] | None, path: Path, inputs: list[str] | None = None
) -> None:
    """``policy.onnx``: raw float32 observations ``obs (n, N_OBS)`` -> clipped ``action (n, 1)``."""
    import torch

    from pacegym.agents.export.sb3_policy import TorchActor

    actor = TorchActor(model, normalization, inputs).eval()
    dummy = torch.zeros(4, N_OBS, dtype=torch.float32)
    batch = torch.export.Dim("batch", min=1)
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)  # torchvision-not-installed notices are noise here
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            actor,
            (dummy,),
            input_names=["obs"],
            output_names=["action"],
            dynamic_shapes={"obs": {0: batch}},
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        program.save(str(path))
    log.setLevel(level)


def _write_model(
    model: Any,
    kind: str,
    out_dir: str | Path,
    built: tuple[dict[str, Any], dict[str, np.ndarray]],
    source: Mapping[str, Any] | None,
    **keywords: Any,
) -> Path:
    """``write_artifact`` of the policy and arrays ``built`` from the SB3 ``model``, its
    source naming the export ``kind`` and the model's algorithm; ``keywords`` are
    ``write_artifact``'s others."""
    policy, arrays = built
    src = {"kind": kind, "algo": type(model).__name__, **dict(source or {})}
    return write_artifact(out_dir, policy=policy, arrays=arrays, source=src, **keywords)


def export_sb3(
    model: Any,
    out_dir: str | Path,
    *,
    normalization: dict[str, Any] | None = None,
    name: str = "pacer",
    chosen_on: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
    safety: Safety = DEFAULT_SAFETY,
    onnx: bool = True,
    overwrite: bool = False,
    inputs: list[str] | None = None,
) -> Path:
    """Write the artifact of an SB3 model's deterministic policy.

    ``normalization``: ``artifact.normalization_from_vecnormalize(vec_normalize)`` (or
    ``normalization_from_stats``) when the model was trained on normalised observations;
    None when it saw raw observations. ``inputs``: the features the model reads
    (``agent.features``), None for all.
    """
    from pacegym.agents.export.sb3_policy import action_bounds, actor_layers

    low, high = action_bounds(model)
    built = mlp_policy(actor_layers(model), normalization, inputs)
    meta = {"name": name, "chosen_on": chosen_on, "safety": safety, "overwrite": overwrite}
    writer = (lambda p: write_onnx(model, normalization, p, inputs)) if onnx else None
    action = action_spec(low, high)
    return _write_model(
        model, "sb3", out_dir, built, source, action=action, onnx_writer=writer, **meta
    )


def export_residual(
    model: Any,
    base: Mapping[str, Any],
    scale_decades: float,
    out_dir: str | Path,
    *,
    normalization: dict[str, Any] | None = None,
    name: str = "pacer",
    chosen_on: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
    safety: Safety = DEFAULT_SAFETY,
    overwrite: bool = False,
    inputs: list[str] | None = None,
) -> Path:
    """Write the artifact of a residual agent: ``base`` ``{"kind", "params"}`` + the model's MLP.

    No ONNX file: the onnx backend serves plain MLP policies only.
    """
    from pacegym.agents.export.sb3_policy import actor_layers
    from pacegym.agents.residual import FLOOR
    from pacegym.baselines.factory import from_spec, spec

    base_spec = spec(from_spec(dict(base)))
    built = residual_policy(
        actor_layers(model), normalization, base_spec, scale_decades, FLOOR, inputs
    )
    meta = {"name": name, "chosen_on": chosen_on, "safety": safety, "overwrite": overwrite}
    return _write_model(model, "sb3-residual", out_dir, built, source, **meta)


def export_controller(
    controller: Any,
    out_dir: str | Path,
    *,
    name: str | None = None,
    chosen_on: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
    safety: Safety = DEFAULT_SAFETY,
    overwrite: bool = False,
) -> Path:
    """Write the artifact of a baseline (a controller object or ``{"kind", "name", "params"}``).

    The spec is validated by ``baselines.factory.from_spec`` before anything is written.
    """
    from pacegym.baselines.factory import from_spec, spec

    ctrl = from_spec(controller) if isinstance(controller, Mapping) else controller
    cspec = spec(ctrl)
    return write_artifact(
        out_dir,
        name=name or cspec["name"],
        policy=rule_policy(cspec),
        chosen_on=chosen_on,
        source={"kind": "baseline", "controller_kind": cspec["kind"], **dict(source or {})},
        safety=safety,
        overwrite=overwrite,
    )


def export_recurrent(
    model: Any,
    out_dir: str | Path,
    features: list[str],
    inputs: list[str],
    segments: list[str] | tuple[str, ...] = (),
    **keywords: Any,
) -> Path:
    """Write the ``lstm`` artifact of a RecurrentPPO ``model`` (``runtime.recurrent``: the
    caller carries each campaign's state); ``recurrent_export.export_recurrent`` does it."""
    from pacegym.agents.export.recurrent_export import export_recurrent as write

    return write(model, out_dir, features, inputs, segments, **keywords)
