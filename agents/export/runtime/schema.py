"""The manifest's schema: every field's type and range, checked on load; the manifest digest.

``check_manifest(m)`` walks ``MANIFEST`` (below) and refuses, with one line naming the
field, the value and what is allowed: a missing field, an unknown field, a wrong type, a
number outside its range (NaN and infinities included), an unknown choice. The only
free-form fields are ``chosen_on`` and ``source``: JSON objects describing where the
policy came from, never read when serving. ``read_manifest(root, expected_digest)``
reads ``manifest.json`` once, checks its sha256 against ``expected_digest`` when given,
then parses it (duplicate keys, NaN and Infinity refused) and checks it.

What the digests prove: the manifest lists the sha256 of every other file, checked on
load, so a file changed after export is refused (integrity). Whoever can edit the
folder can update those digests too, so they say nothing about who wrote it
(authenticity); pinning the sha256 of ``manifest.json`` itself (``expected_digest=``,
e.g. the ``pacer.manifest_sha256`` tag of the registered model) pins the whole artifact.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from .manifest import (
    ACTION_MAPPINGS,
    MANIFEST_FILE,
    MAX_JSON_DEPTH,
    MAX_MANIFEST_BYTES,
    SCHEMA,
    SCHEMA_VERSION,
    PacerError,
    check_depth,
    read_file,
)
from .mlp import ACTIVATIONS
from .rule_params import check_params

Check = Callable[[Any, str], None]
"""``check(value, where)``: raises ``PacerError`` naming ``where`` unless ``value`` fits."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_TEXT = 10_000  # [characters] any text field


def _refuse(where: str, v: Any, allowed: str) -> None:
    shown = repr(v) if len(repr(v)) <= 80 else repr(v)[:77] + "..."
    raise PacerError(f"manifest field {where} = {shown}: allowed {allowed}")


def num(lo: float, hi: float, *, integer: bool = False, lo_open: bool = False) -> Check:
    """A finite number (an integer with ``integer``) in ``[lo, hi]`` (``(lo, hi]``)."""
    kind = "an integer" if integer else "a number"
    allowed = f"{kind} in {'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def check(v: Any, where: str) -> None:
        ok = not isinstance(v, bool) and isinstance(v, int if integer else int | float)
        if not (ok and math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi):
            _refuse(where, v, allowed)

    return check


def const(value: Any) -> Check:
    def check(v: Any, where: str) -> None:
        if type(v) is not type(value) or v != value:
            _refuse(where, v, repr(value))

    return check


def choice(options: tuple[str, ...]) -> Check:
    def check(v: Any, where: str) -> None:
        if not isinstance(v, str) or v not in options:
            _refuse(where, v, f"one of {list(options)}")

    return check


def text(v: Any, where: str) -> None:
    if not isinstance(v, str) or len(v) > MAX_TEXT:
        _refuse(where, v, f"a string of at most {MAX_TEXT} characters")


def boolean(v: Any, where: str) -> None:
    if not isinstance(v, bool):
        _refuse(where, v, "true or false")


def hex64(v: Any, where: str) -> None:
    if not isinstance(v, str) or not _HEX64.fullmatch(v):
        _refuse(where, v, "a sha256: 64 lowercase hex digits")


def file_name(v: Any, where: str) -> None:
    if not isinstance(v, str) or os.path.basename(v) != v or v in ("", ".", ".."):
        _refuse(where, v, "a plain file name inside the artifact")


def json_object(v: Any, where: str) -> None:
    """Free-form metadata: any JSON object (informational, never read when serving)."""
    if not isinstance(v, dict):
        _refuse(where, v, "a JSON object")


def nullable(inner: Check) -> Check:
    def check(v: Any, where: str) -> None:
        if v is not None:
            inner(v, where)

    return check


def array(item: Check, lo: int, hi: int) -> Check:
    """A list of ``lo`` to ``hi`` items, each checked as ``<where>[i]``."""

    def check(v: Any, where: str) -> None:
        if not isinstance(v, list) or not lo <= len(v) <= hi:
            _refuse(where, v, f"a list of {lo} to {hi} items")
        for i, x in enumerate(v):
            item(x, f"{where}[{i}]")

    return check


def mapping(key: Check, value: Check, hi: int = 256) -> Check:
    """An object of at most ``hi`` entries: keys checked by ``key``, values by ``value``."""

    def check(v: Any, where: str) -> None:
        if not isinstance(v, dict) or len(v) > hi:
            _refuse(where, v, f"an object of at most {hi} entries")
        for k, x in v.items():
            key(k, f"{where} key")
            value(x, f"{where}.{k}")

    return check


def obj(fields: Mapping[str, Check], optional: tuple[str, ...] = ()) -> Check:
    """An object with exactly ``fields`` (those in ``optional`` may be absent)."""

    def check(v: Any, where: str) -> None:
        if not isinstance(v, dict):
            _refuse(where, v, "a JSON object")
        prefix = f"{where}." if where else ""
        for k in v:
            if k not in fields:
                raise PacerError(
                    f"manifest field {prefix}{k} is not part of schema {SCHEMA!r}"
                    f" version {SCHEMA_VERSION}: allowed {sorted(fields)}"
                )
        for k, c in fields.items():
            if k not in v:
                if k in optional:
                    continue
                raise PacerError(f"manifest field {prefix}{k} is missing")
            c(v[k], f"{prefix}{k}")

    return check


BOUND = 1e12  # [feature units] |low|, |high| of a feature; |mean| of a normalisation

FEATURE = obj(
    {
        "index": num(0, 255, integer=True),
        "name": text,
        "unit": text,
        "low": num(-BOUND, BOUND),
        "high": num(-BOUND, BOUND),
    }
)
NORMALIZATION = obj(
    {
        "rule": text,
        "mean": array(num(-BOUND, BOUND), 1, 257),
        "var": array(num(0.0, BOUND), 1, 257),
        "epsilon": num(0.0, 1.0),
        "clip": num(0.0, 1e6, lo_open=True),
    }
)
LAYER = obj({"weight": text, "bias": text, "activation": choice(ACTIVATIONS)})
MLP_FIELDS: dict[str, Check] = {
    "kind": const("mlp"),
    "rule": text,
    "layers": array(LAYER, 1, 16),
    "normalization": nullable(NORMALIZATION),
    # the observation features the network reads, in order (absent: all of them)
    "inputs": array(text, 1, 256),
}


def controller(v: Any, where: str) -> None:
    """``{"kind", "name", "params"}`` of a baseline rule (``rule_params.check_params``)."""
    obj({"kind": text, "name": text, "params": json_object})(v, where)
    check_params(v["kind"], v["params"], where)


RULE = obj({"kind": const("rule"), "controller": controller})
POLICIES: dict[str, Check] = {
    "mlp": obj(MLP_FIELDS, optional=("inputs",)),
    "rule": RULE,
    "residual": obj(
        {
            **MLP_FIELDS,
            "kind": const("residual"),
            "base": RULE,
            "scale_decades": num(0.0, 10.0),
            "floor": num(1e-12, 1.0),
        },
        optional=("inputs",),
    ),
}


def policy(v: Any, where: str) -> None:
    """One of ``POLICIES``, chosen by ``kind``."""
    kind = v.get("kind") if isinstance(v, dict) else None
    if kind not in POLICIES:
        _refuse(f"{where}.kind", kind, f"one of {sorted(POLICIES)}")
    POLICIES[kind](v, where)


MANIFEST = obj(
    {
        "schema": const(SCHEMA),
        "schema_version": const(SCHEMA_VERSION),
        "name": text,
        "created_utc": text,
        "observation": obj({"dtype": const("float32"), "features": array(FEATURE, 1, 256)}),
        "policy": policy,
        "action": obj(
            {
                "mapping": choice(ACTION_MAPPINGS),
                "decades": num(1.0, 8.0),
                "low": num(-1.0, 1.0),
                "high": num(-1.0, 1.0),
                "rule": text,
            }
        ),
        "safety": obj(
            {
                "fallback_throttle": num(0.0, 1.0),
                "invalid_input": text,
                "budget_guard": boolean,
                "budget_guard_rule": text,
            }
        ),
        "chosen_on": json_object,
        "source": json_object,
        "weights": nullable(
            obj(
                {
                    "file": file_name,
                    "format": text,
                    "sha256": hex64,
                    "arrays": mapping(
                        text,
                        obj(
                            {
                                "shape": array(num(1, 1 << 20, integer=True), 1, 2),
                                "dtype": const("float32"),
                            }
                        ),
                    ),
                }
            )
        ),
        "onnx": obj({"file": file_name, "sha256": hex64, "input": text, "output": text}),
        "files": mapping(file_name, hex64, 8),
    },
    optional=("onnx",),
)
"""The schema of ``manifest.json`` (docs/export.md has it as a table)."""


def check_manifest(m: Any) -> None:
    """Raise ``PacerError`` unless ``m`` is a manifest this runtime can serve."""
    if not isinstance(m, dict):
        raise PacerError(f"{MANIFEST_FILE} must hold a JSON object, got {type(m).__name__}")
    if m.get("schema") != SCHEMA:
        _refuse("schema", m.get("schema"), repr(SCHEMA))
    if m.get("schema_version") != SCHEMA_VERSION:
        raise PacerError(
            f"manifest field schema_version = {m.get('schema_version')!r}: this runtime serves"
            f" version {SCHEMA_VERSION}; use the pacer.py shipped with the artifact or re-export it"
        )
    MANIFEST(m, "")
    feats = m["observation"]["features"]
    for i, f in enumerate(feats):
        if f["index"] != i:
            _refuse(f"observation.features[{i}].index", f["index"], str(i))
        if f["low"] > f["high"]:
            _refuse(f"observation.features[{i}].high", f["high"], f"a number >= low = {f['low']}")
    names = [f["name"] for f in feats]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PacerError(f"manifest field observation.features: duplicated names {dup}")
    act = m["action"]
    if act["low"] >= act["high"]:
        _refuse("action.high", act["high"], f"a number in (low = {act['low']}, 1]")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise PacerError(f"{MANIFEST_FILE}: key {k!r} appears twice in one object")
        d[k] = v
    return d


def _no_constant(name: str) -> Any:
    raise PacerError(f"{MANIFEST_FILE}: {name} is not a number JSON allows")


def check_digest(expected: Any) -> str:
    """``expected`` as a lowercase sha256 hex string, or ``PacerError``."""
    if not isinstance(expected, str) or not _HEX64.fullmatch(expected.lower()):
        raise PacerError(f"expected_digest = {expected!r}: allowed a sha256, 64 hex digits")
    return expected.lower()


def manifest_digest(root: str | os.PathLike[str]) -> str:
    """The sha256 of the artifact's ``manifest.json`` (what ``expected_digest`` pins)."""
    return read_file(os.fspath(root), MANIFEST_FILE, "manifest", MAX_MANIFEST_BYTES)[1]


def read_manifest(root: str, expected_digest: str | None = None) -> dict[str, Any]:
    """The checked ``manifest.json`` of the artifact directory ``root``.

    ``expected_digest``: the sha256 the file must have (checked on the very bytes parsed).
    """
    return read_manifest_digest(root, expected_digest)[0]


def read_manifest_digest(
    root: str, expected_digest: str | None = None
) -> tuple[dict[str, Any], str]:
    """``(read_manifest(root, expected_digest), sha256 of the bytes parsed)``."""
    want = None if expected_digest is None else check_digest(expected_digest)
    mpath = os.path.join(root, MANIFEST_FILE)
    if not os.path.isfile(mpath):
        raise PacerError(f"{mpath} not found: pass the artifact directory written by export")
    raw, digest = read_file(root, MANIFEST_FILE, "manifest", MAX_MANIFEST_BYTES)
    if want is not None and digest != want:
        raise PacerError(
            f"{mpath}: sha256 {digest} differs from expected_digest {want}: this is not the"
            " artifact that was pinned (changed or replaced): refusing to load"
        )
    try:
        m = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PacerError(f"{mpath} is not valid JSON: {e}") from None
    except RecursionError:
        raise PacerError(
            f"{MANIFEST_FILE}: nested too deeply: allowed {MAX_JSON_DEPTH} levels"
        ) from None
    check_depth(m, MAX_JSON_DEPTH, MANIFEST_FILE)
    check_manifest(m)
    return m, digest
