"""Write a self-contained pacer artifact directory (writer side; see docs/export.md).

Layout (every file checked by ``pacer.load``):

- ``manifest.json``: schema and version, observation features (order, units, ranges),
  policy (MLP layers + normalisation, or a baseline's kind and params: data, the
  rule's code is the runtime's own), action mapping,
  safety settings, the scenario and metrics the policy was chosen on, its source (MLflow
  run id, model URI), sha256 of every other file;
- ``weights.npz`` (MLP policies): float32 arrays, no pickle;
- ``policy.onnx`` (optional, MLP policies): raw observation -> clipped action;
- ``pacer.py``: the runtime package ``agents/export/runtime/`` as one file (``bundle.py``).

The directory is written under a temporary name and renamed into place, so a reader never
sees a half-written artifact.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.agents.export import runtime
from pacegym.agents.export.bundle import build_runtime_source
from pacegym.agents.export.publish import check_target, staged
from pacegym.envs.spaces import OBS_FEATURES, THROTTLE_DECADES

WEIGHTS_FILE = "weights.npz"
ONNX_FILE = "policy.onnx"
RUNTIME_FILE = "pacer.py"


@dataclass(frozen=True)
class Safety:
    """Serving safety settings written into ``manifest.safety``."""

    fallback_throttle: float = 0.0  # [pass-through rate] for NaN, infinite, out-of-range rows
    budget_guard: bool = False  # throttle 0 once reported_spend + in_flight >= 1 [share]

    def validate(self) -> None:
        if not 0.0 <= self.fallback_throttle <= 1.0:
            raise ValueError(f"safety.fallback_throttle = {self.fallback_throttle}: allowed [0, 1]")

    def to_json(self) -> dict[str, Any]:
        return {
            "fallback_throttle": self.fallback_throttle,
            "invalid_input": "row gets fallback_throttle (any NaN, +-inf or out-of-range feature)",
            "budget_guard": self.budget_guard,
            "budget_guard_rule": "throttle 0 when reported_spend + in_flight >= 1",
        }


DEFAULT_SAFETY = Safety()


def observation_spec() -> dict[str, Any]:
    """``manifest.observation``: the env's features in order, with units and ranges."""
    return {
        "dtype": "float32",
        "features": [
            {"index": i, "name": f.name, "unit": f.unit, "low": float(f.low), "high": float(f.high)}
            for i, f in enumerate(OBS_FEATURES)
        ],
    }


def action_spec(low: float = -1.0, high: float = 1.0) -> dict[str, Any]:
    """``manifest.action``: ``envs.spaces.action_to_throttle`` written as data."""
    return {
        "mapping": "log10_decades",
        "decades": THROTTLE_DECADES,
        "low": low,
        "high": high,
        "rule": "a = clip(action, low, high); throttle = 10 ** (decades (a - 1) / 2);"
        " a <= -1 -> throttle 0 (stop serving)",
    }


def normalization_from_vecnormalize(
    vec_normalize: Any, n: int | None = None
) -> dict[str, Any] | None:
    """``policy.normalization`` from an SB3 ``VecNormalize`` (None when it does not norm obs)."""
    if vec_normalize is None or not getattr(vec_normalize, "norm_obs", False):
        return None
    rms = vec_normalize.obs_rms
    return normalization_from_stats(
        rms.mean, rms.var, vec_normalize.epsilon, vec_normalize.clip_obs, n
    )


def normalization_from_stats(
    mean: Any, var: Any, epsilon: float = 1e-8, clip: float = 10.0, n: int | None = None
) -> dict[str, Any]:
    """``policy.normalization`` from plain statistics, checked against the input width ``n``
    (default: the env's feature count; residual policies see one more, ``base_log10``)."""
    m = np.asarray(mean, dtype=np.float64).reshape(-1)
    v = np.asarray(var, dtype=np.float64).reshape(-1)
    n = len(OBS_FEATURES) if n is None else n
    if m.shape != (n,) or v.shape != (n,) or not np.isfinite(m).all() or (v < 0).any():
        raise ValueError(
            f"normalization: mean {m.shape} and var {v.shape} must be ({n},), finite, var >= 0"
        )
    return {
        "rule": runtime.Normalization.RULE,
        "mean": m.tolist(),
        "var": v.tolist(),
        "epsilon": float(epsilon),
        "clip": float(clip),
    }


def mlp_policy(
    layers: list[tuple[np.ndarray, np.ndarray, str]],
    normalization: dict[str, Any] | None,
    inputs: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``manifest.policy`` and the npz arrays of a dense network; ``inputs``: the feature
    names it reads (``agent.features``), None for all of them."""
    arrays: dict[str, np.ndarray] = {}
    spec_layers = []
    for i, (w, b, act) in enumerate(layers):
        arrays[f"layer{i}.weight"] = np.ascontiguousarray(w, dtype=np.float32)
        arrays[f"layer{i}.bias"] = np.ascontiguousarray(b, dtype=np.float32)
        spec_layers.append(
            {"weight": f"layer{i}.weight", "bias": f"layer{i}.bias", "activation": act}
        )
    spec = {
        "kind": "mlp",
        "rule": "h = act(h @ weight + bias) per layer, from the normalised observation",
        "layers": spec_layers,
        "normalization": normalization,
    }
    if inputs is not None:
        spec["inputs"] = list(inputs)
        spec["rule"] = "h = act(h @ weight + bias) per layer, from the normalised inputs"
    return spec, arrays


def residual_policy(
    layers: list[tuple[np.ndarray, np.ndarray, str]],
    normalization: dict[str, Any] | None,
    base_spec: Mapping[str, Any],
    scale_decades: float,
    floor: float,
    inputs: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``manifest.policy`` of a residual agent (``agents/residual.py``): rule + MLP correction."""
    spec, arrays = mlp_policy(layers, normalization, inputs)
    spec.update(
        kind="residual",
        rule="b = base(obs); x = concat(obs[inputs], log10(clip(b, floor, 1))); a = "
        "clip(mlp(norm(x)), -1, 1); throttle = clip(max(b, floor) * 10 ** (scale_decades a), 0, 1)",
        base=rule_policy(base_spec),
        scale_decades=float(scale_decades),
        floor=float(floor),
    )
    return spec, arrays


def rule_policy(controller_spec: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest.policy`` of a baseline: ``{"kind", "name", "params"}`` of its controller."""
    return {
        "kind": "rule",
        "controller": {
            "kind": str(controller_spec["kind"]),
            "name": str(controller_spec.get("name") or controller_spec["kind"]),
            "params": dict(controller_spec.get("params") or {}),
        },
    }


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return x


def write_artifact(
    out_dir: str | Path,
    *,
    name: str,
    policy: dict[str, Any],
    arrays: Mapping[str, np.ndarray] | None = None,
    chosen_on: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
    safety: Safety = DEFAULT_SAFETY,
    action: dict[str, Any] | None = None,
    onnx_writer: Callable[[Path], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the artifact directory ``out_dir`` and return it (checked by ``runtime.load``).

    ``onnx_writer(path)`` writes ``policy.onnx`` when given. The artifact is built in a
    sibling temporary folder, loaded once, then put in place by ``publish.publish``:
    ``out_dir`` must be new, empty, or (with ``overwrite``) a previous pacer artifact;
    anything else raises ``ArtifactTargetError`` before any work. On any failure the
    temporary folder is removed and ``out_dir`` is left as it was.
    """
    safety.validate()
    out = Path(out_dir)
    check_target(out, overwrite)
    with staged(out, overwrite, runtime.load) as tmp:
        files: dict[str, Any] = {}
        manifest: dict[str, Any] = {
            "schema": runtime.SCHEMA,
            "schema_version": runtime.SCHEMA_VERSION,
            "name": name,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "observation": observation_spec(),
            "policy": policy,
            "action": action or action_spec(),
            "safety": safety.to_json(),
            "chosen_on": _jsonable(dict(chosen_on or {})),
            "source": _jsonable(dict(source or {})),
            "weights": None,
        }
        if arrays:
            np.savez(tmp / WEIGHTS_FILE, **{k: np.asarray(v) for k, v in arrays.items()})
            manifest["weights"] = {
                "file": WEIGHTS_FILE,
                "format": "numpy npz, allow_pickle=False",
                "sha256": runtime.sha256_file(str(tmp / WEIGHTS_FILE)),
                "arrays": {
                    k: {"shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)}
                    for k, v in arrays.items()
                },
            }
        (tmp / RUNTIME_FILE).write_text(build_runtime_source(), encoding="utf-8")
        files[RUNTIME_FILE] = runtime.sha256_file(str(tmp / RUNTIME_FILE))
        if onnx_writer is not None:
            onnx_writer(tmp / ONNX_FILE)
            manifest["onnx"] = {
                "file": ONNX_FILE,
                "sha256": runtime.sha256_file(str(tmp / ONNX_FILE)),
                "input": "obs: float32 (n, n_features), raw features in manifest order",
                "output": "action: float32 (n, 1), clipped to [action.low, action.high]",
            }
        manifest["files"] = files
        (tmp / runtime.MANIFEST_FILE).write_text(
            json.dumps(manifest, indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
    return out


def copy_artifact(src_dir: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Copy the artifact ``src_dir`` (e.g. a registered pacer) to ``out_dir``: checked by
    ``runtime.load`` first, only the files its manifest names, published like
    ``write_artifact`` (never over anything but a previous artifact)."""
    src, out = Path(src_dir), Path(out_dir)
    check_target(out, overwrite)
    m = runtime.load(src).manifest
    names = [runtime.MANIFEST_FILE, *m["files"]]
    names += [spec["file"] for spec in (m.get("weights"), m.get("onnx")) if spec]
    with staged(out, overwrite, runtime.load) as tmp:
        for name in dict.fromkeys(names):
            shutil.copyfile(src / name, tmp / name)
    return out
