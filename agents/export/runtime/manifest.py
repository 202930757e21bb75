"""The artifact on disk: schema, manifest field checks, checksummed files, no pickle.

Every file the runtime reads goes through here or ``schema`` (``read_manifest``: the
manifest's every field, its digest): ``load_arrays`` (``weights.npz``, sha256 and declared shapes),
and ``artifact_file`` (a plain file name inside the artifact, never a path out of it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

SCHEMA = "pacegym.pacer"
SCHEMA_VERSION = 2  # 2: strict field schema; baseline rules as data (no rules.py)
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
