"""The artifact on disk: schema, manifest field checks, checksummed files, no pickle.

Every file the runtime reads goes through here or ``schema`` (``read_manifest``: the
manifest's every field, its digest): ``load_arrays`` (``weights.npz``, sha256 and declared shapes),
and ``artifact_file`` (a plain file name inside the artifact, never a path out of it).

Bounded before anything is read in full: ``artifact_file`` resolves a name and confines it
to the artifact folder (a link may point only inside it) and checks its size with ``stat``
(``MAX_FILE_BYTES``; the manifest ``MAX_MANIFEST_BYTES``); ``read_file`` reads it once, so
the bytes hashed are the bytes parsed; ``npz_arrays`` reads every member's npy header
(shape, dtype) before its data (no object arrays, ``MAX_ARRAY_BYTES`` in all);
``check_depth`` bounds the manifest's nesting (``MAX_JSON_DEPTH``).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

SCHEMA = "pacegym.pacer"
SCHEMA_VERSION = 2  # 2: strict field schema; baseline rules as data (no rules.py)
MANIFEST_FILE = "manifest.json"
ACTION_MAPPINGS = ("log10_decades", "identity")
MAX_FILE_BYTES = 1 << 28  # [bytes] any file of an artifact, checked before it is read
MAX_MANIFEST_BYTES = 1 << 24  # [bytes] manifest.json
MAX_ARRAY_BYTES = 1 << 28  # [bytes] all arrays of weights.npz, uncompressed (npy headers)
MAX_JSON_DEPTH = 32  # nesting of manifest.json


class PacerError(ValueError):
    """An artifact or an input that the runtime refuses; the message names the field."""


def sha256_file(path: str) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_depth(value: Any, depth: int, where: str) -> None:
    """``PacerError`` when the parsed JSON ``value`` nests more than ``depth`` levels."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > depth:
            raise PacerError(f"{where}: JSON nested {d} levels or more: allowed {depth}")
        if isinstance(v, (dict, list)):
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))


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


def artifact_file(root: str, fname: Any, where: str, limit: int = MAX_FILE_BYTES) -> str:
    """The resolved path of ``fname``: a plain file name of a regular file in ``root`` (a
    link is followed only within ``root``), at most ``limit`` bytes; checked before any read."""
    if not isinstance(fname, str) or os.path.basename(fname) != fname or fname in ("", ".", ".."):
        raise PacerError(f"{where}.file = {fname!r}: must be a file name inside the artifact")
    base = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, fname))
    if os.path.dirname(real) != base:
        raise PacerError(f"{where}.file = {fname!r}: a link out of the artifact folder: refused")
    if not os.path.isfile(real):
        raise PacerError(f"{where}.file = {fname!r}: not found in {root}")
    size = os.stat(real).st_size
    if size > limit:
        raise PacerError(f"{where}.file = {fname!r}: {size} bytes: allowed at most {limit}")
    return real


def read_file(root: str, fname: Any, where: str, limit: int = MAX_FILE_BYTES) -> tuple[bytes, str]:
    """``(bytes, sha256)`` of ``artifact_file(root, fname, where, limit)``, read once."""
    with open(artifact_file(root, fname, where, limit), "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:  # grew after the check
        raise PacerError(f"{where}.file = {fname!r}: more than {limit} bytes: refused")
    return raw, hashlib.sha256(raw).hexdigest()


def _npy_header(m: Any, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header (the header only; bounded by numpy)."""
    version = np.lib.format.read_magic(m)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(m)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(m)
    else:
        raise PacerError(f"{where}: npy format version {version}: allowed (1, 0) or (2, 0)")
    return tuple(shape), dtype


def npz_arrays(
    source: str | bytes, where: str, limit: int = MAX_ARRAY_BYTES
) -> dict[str, np.ndarray]:
    """The arrays of an npz (a path or its bytes), read without pickle after every member's
    header: no object dtype, at most ``limit`` bytes in all (declared sizes), else ``PacerError``."""
    f = io.BytesIO(source) if isinstance(source, bytes) else source
    total = 0
    try:
        with zipfile.ZipFile(f) as z:
            for info in z.infolist():
                key = info.filename[:-4]
                if not info.filename.endswith(".npy") or info.file_size > limit:
                    raise PacerError(
                        f"{where}: member {info.filename!r} ({info.file_size}"
                        f" bytes): allowed .npy members of at most {limit} bytes"
                    )
                with z.open(info) as m:
                    shape, dtype = _npy_header(m, f"{where}: {key}")
                total += int(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 1)
                if dtype.hasobject:
                    raise PacerError(
                        f"{where}: {key} is an object array: it needs pickle, never"
                        " loaded; allowed plain numeric arrays"
                    )
                if total > limit:
                    raise PacerError(
                        f"{where}: {key} is {dtype} {shape}: allowed at most"
                        f" {limit} bytes of arrays in all"
                    )
        with np.load(
            io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False
        ) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        if isinstance(e, PacerError):
            raise
        raise PacerError(f"{where}: not a readable npz ({type(e).__name__})") from None


def load_arrays(root: str, m: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of ``manifest.weights`` (``{}`` when null), checked against the manifest."""
    spec = m.get("weights")
    if spec is None:
        return {}
    fname = _need(spec, "file", "weights")
    raw, digest = read_file(root, fname, "weights")
    if digest != _need(spec, "sha256", "weights"):
        raise PacerError(
            f"weights.sha256 mismatch for {fname}: manifest {spec['sha256']}, file {digest};"
            " the weights are corrupted or were changed after export: refusing to load"
        )
    declared = _need(spec, "arrays", "weights")
    arrays = npz_arrays(raw, f"weights.file {fname}")
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
