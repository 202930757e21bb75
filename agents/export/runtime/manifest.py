"""The artifact on disk: schema, manifest field checks, checksummed files, no pickle.

Every file the runtime reads goes through here: ``read_manifest`` (JSON, schema, version,
features, action, safety), ``load_arrays`` (``weights.npz``, sha256 and declared shapes),
and ``artifact_file`` (a plain file name inside the artifact, never a path out of it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

SCHEMA = "pacegym.pacer"
SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
ACTION_MAPPINGS = ("log10_decades", "identity")


class PacerError(ValueError):
    """An artifact or an input that the runtime refuses; the message names the field."""


def sha256_file(path: str) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _need(d: Mapping[str, Any], key: str, where: str) -> Any:
    """``d[key]``, or ``PacerError`` naming the manifest field ``where.key``."""
    if not isinstance(d, Mapping) or key not in d:
        raise PacerError(f"manifest field {where}.{key} is missing")
    return d[key]


def _float(d: Mapping[str, Any], key: str, where: str, lo: float, hi: float) -> float:
    """``d[key]`` as a float in ``[lo, hi]`` (booleans refused), or ``PacerError``."""
    v = _need(d, key, where)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= float(v) <= hi:
        raise PacerError(f"manifest field {where}.{key} = {v!r}: allowed a number in [{lo}, {hi}]")
    return float(v)


def check_manifest(m: Any) -> None:
    """Raise ``PacerError`` unless ``m`` is a manifest this runtime can serve."""
    if not isinstance(m, dict):
        raise PacerError(f"{MANIFEST_FILE} must hold a JSON object, got {type(m).__name__}")
    if _need(m, "schema", "manifest") != SCHEMA:
        raise PacerError(f"manifest.schema = {m['schema']!r}: allowed {SCHEMA!r}")
    v = _need(m, "schema_version", "manifest")
    if v != SCHEMA_VERSION:
        raise PacerError(
            f"manifest.schema_version = {v!r}: this runtime serves version {SCHEMA_VERSION};"
            " use the pacer.py shipped with the artifact or re-export it"
        )
    feats = _need(_need(m, "observation", "manifest"), "features", "observation")
    if not isinstance(feats, list) or not feats:
        raise PacerError("manifest field observation.features must be a non-empty list")
    names = []
    for i, f in enumerate(feats):
        names.append(_need(f, "name", f"observation.features[{i}]"))
        lo = _float(f, "low", f"observation.features[{i}]", -math.inf, math.inf)
        _float(f, "high", f"observation.features[{i}]", lo, math.inf)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PacerError(f"observation.features: duplicated names {dup}")
    act = _need(m, "action", "manifest")
    if _need(act, "mapping", "action") not in ACTION_MAPPINGS:
        raise PacerError(f"action.mapping = {act['mapping']!r}: allowed {ACTION_MAPPINGS}")
    lo = _float(act, "low", "action", -math.inf, math.inf)
    _float(act, "high", "action", lo, math.inf)
    _float(_need(m, "safety", "manifest"), "fallback_throttle", "safety", 0.0, 1.0)
    _need(_need(m, "policy", "manifest"), "kind", "policy")


def read_manifest(root: str) -> dict[str, Any]:
    """The checked ``manifest.json`` of the artifact directory ``root``."""
    mpath = os.path.join(root, MANIFEST_FILE)
    if not os.path.isfile(mpath):
        raise PacerError(f"{mpath} not found: pass the artifact directory written by export")
    with open(mpath, encoding="utf-8") as f:
        try:
            m = json.load(f)
        except json.JSONDecodeError as e:
            raise PacerError(f"{mpath} is not valid JSON: {e}") from None
    check_manifest(m)
    return m


def artifact_file(root: str, fname: Any, where: str) -> str:
    """The path of ``fname``, which must be a plain file name of an existing file in ``root``."""
    if not isinstance(fname, str) or os.path.basename(fname) != fname or fname in ("", ".", ".."):
        raise PacerError(f"{where}.file = {fname!r}: must be a file name inside the artifact")
    fpath = os.path.join(root, fname)
    if not os.path.isfile(fpath):
        raise PacerError(f"{where}.file = {fname!r}: not found in {root}")
    return fpath


def load_arrays(root: str, m: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of ``manifest.weights`` (``{}`` when null), checked against the manifest."""
    spec = m.get("weights")
    if spec is None:
        return {}
    fname = _need(spec, "file", "weights")
    fpath = artifact_file(root, fname, "weights")
    digest = sha256_file(fpath)
    if digest != _need(spec, "sha256", "weights"):
        raise PacerError(
            f"weights.sha256 mismatch for {fname}: manifest {spec['sha256']}, file {digest};"
            " the weights are corrupted or were changed after export: refusing to load"
        )
    declared = _need(spec, "arrays", "weights")
    try:
        with np.load(fpath, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:  # object arrays need pickle: never loaded
        raise PacerError(f"weights.file {fname}: {e}") from None
    if set(arrays) != set(declared):
        raise PacerError(f"weights arrays {sorted(arrays)} differ from manifest {sorted(declared)}")
    for k, d in declared.items():
        a = arrays[k]
        if list(a.shape) != list(d["shape"]) or str(a.dtype) != d["dtype"]:
            raise PacerError(
                f"weights.arrays.{k}: file has {a.shape} {a.dtype}, manifest {d['shape']} {d['dtype']}"
            )
        if not np.isfinite(a).all():
            raise PacerError(f"weights.arrays.{k}: contains NaN or infinite values")
    return arrays
