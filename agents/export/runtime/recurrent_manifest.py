"""The ``lstm`` artifact's manifest: schema, state layout, every field checked on load.

``check_recurrent_manifest(m)`` checks the names and types of every field of a parsed
``manifest.json`` (``runtime.recurrent`` checks the shapes against ``weights.npz``); any
missing, unknown or malformed field raises ``PacerError``, one line naming the field, the
value and what is allowed.

``observation.max_segments`` (optional, an integer in [1, 4096]): a padded policy
(``runtime.segment_pad``) that serves any segment count up to it. Its ``features`` are the
base columns then the segment block of ``max_segments`` slots (``share[<slot>]``, ...),
its ``policy.inputs`` the selected base columns then ``SegmentPad.names``'s slots and
masks (``padded_inputs``), and its ``action.width`` is ``max_segments``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .manifest import PacerError
from .segment_pacer import SEGMENT_COLUMNS
from .segment_pad import SEGMENT_FILL, SegmentPad

RECURRENT_SCHEMA = "pacegym.recurrent_pacer"
RECURRENT_SCHEMA_VERSION = 1
WEIGHTS_FILE = "weights.npz"
STATE_LAYOUT = "h_0..h_{L-1}, c_0..c_{L-1}; H float64 values each; zeros for a new campaign"
RESET_RULE = "zeros (initial_state) for a new campaign; never reuse across flights"
_LSTM_TOP = ("schema", "schema_version", "name", "observation", "policy", "action", "state")
_LSTM_OPTIONAL = ("files", "source")


def _lstm_fail(field: str, value: Any, allowed: str) -> PacerError:
    return PacerError(f"manifest field {field} = {value!r}: allowed {allowed}")


def _lstm_int(d: Mapping[str, Any], key: str, where: str, lo: int, hi: int) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _lstm_fail(f"{where}.{key}", v, f"an integer in [{lo}, {hi}]")
    return v


def _lstm_names(v: Any, where: str) -> list[str]:
    if not isinstance(v, list) or not v or not all(isinstance(s, str) and s for s in v):
        raise _lstm_fail(where, v, "a non-empty list of names")
    if len(set(v)) != len(v):
        raise _lstm_fail(where, v, "names without repeats")
    return list(v)


def _lstm_keys(d: Any, where: str, need: Sequence[str], optional: Sequence[str] = ()) -> dict:
    if not isinstance(d, dict):
        raise _lstm_fail(where, d, "an object")
    missing = [k for k in need if k not in d]
    extra = [k for k in d if k not in need and k not in optional]
    if missing or extra:
        raise PacerError(f"manifest field {where}: lacks {missing}, unknown {extra}")
    return d


def _lstm_action(act: Any) -> None:
    act = _lstm_keys(act, "action", ("width", "low", "high", "mapping", "decades", "fallback"))
    if act["mapping"] != "log10_decades":
        raise _lstm_fail("action.mapping", act["mapping"], "'log10_decades'")
    for key in ("low", "high", "decades", "fallback"):
        v = act[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise _lstm_fail(f"action.{key}", v, "a finite number")


def check_recurrent_manifest(m: Any) -> dict[str, Any]:
    """The manifest's fields, every one checked (names and types; shapes at load)."""
    m = _lstm_keys(m, "manifest", _LSTM_TOP, _LSTM_OPTIONAL)
    if m["schema"] != RECURRENT_SCHEMA:
        raise _lstm_fail("schema", m["schema"], repr(RECURRENT_SCHEMA))
    if m["schema_version"] != RECURRENT_SCHEMA_VERSION:
        raise _lstm_fail("schema_version", m["schema_version"], str(RECURRENT_SCHEMA_VERSION))
    if not isinstance(m["name"], str) or not m["name"]:
        raise _lstm_fail("name", m["name"], "a non-empty string")
    obs = _lstm_keys(
        m["observation"], "observation", ("features", "segments", "width"), ("max_segments",)
    )
    if "max_segments" in obs:
        _lstm_int(obs, "max_segments", "observation", 1, 4096)
    _lstm_names(obs["features"], "observation.features")
    if not isinstance(obs["segments"], list) or not all(
        isinstance(s, str) for s in obs["segments"]
    ):
        raise _lstm_fail("observation.segments", obs["segments"], "a list of segment names")
    if obs["width"] != len(obs["features"]):
        raise _lstm_fail(
            "observation.width", obs["width"], f"{len(obs['features'])} (the features)"
        )
    pol = _lstm_keys(
        m["policy"], "policy", ("kind", "inputs", "normalization", "layers", "hidden", "dense")
    )
    if pol["kind"] != "lstm":
        raise _lstm_fail("policy.kind", pol["kind"], "'lstm'")
    _lstm_names(pol["inputs"], "policy.inputs")
    if pol["normalization"] is not None:
        _lstm_keys(
            pol["normalization"], "policy.normalization", ("mean", "var", "epsilon", "clip", "rule")
        )
    _lstm_action(m["action"])
    st = _lstm_keys(m["state"], "state", ("layout", "size", "reset"))
    if st["layout"] != STATE_LAYOUT:
        raise _lstm_fail("state.layout", st["layout"], repr(STATE_LAYOUT))
    if st["size"] != 2 * pol.get("layers", 0) * pol.get("hidden", 0):
        raise _lstm_fail("state.size", st["size"], "2 x policy.layers x policy.hidden")
    files = _lstm_keys(m.get("files"), "files", (WEIGHTS_FILE,))
    if not isinstance(files[WEIGHTS_FILE], str) or len(files[WEIGHTS_FILE]) != 64:
        raise _lstm_fail(f"files.{WEIGHTS_FILE}", files[WEIGHTS_FILE], "a sha256 hex digest")
    if "source" in m and not isinstance(m["source"], dict):
        raise _lstm_fail("source", m["source"], "an object")
    return m


def padded_inputs(
    features: Sequence[str], inputs: Sequence[str], max_segments: int
) -> tuple[SegmentPad, np.ndarray, int]:
    """``(layout, index of the selected base columns in an observation, the observation's
    base width)`` of a padded manifest; ``PacerError`` naming the field if ``features`` or
    ``inputs`` are not the padded layout's names."""
    m = int(max_segments)
    n_obs = len(features) - len(SEGMENT_COLUMNS) * m
    slots = [f"{c}[{j}]" for j in range(m) for c in SEGMENT_COLUMNS]
    if n_obs < 1 or list(features[n_obs:]) != slots:
        raise _lstm_fail(
            "observation.features",
            f"{len(features)} names",
            f"the base columns then {slots[:3]}"
            f"... ({len(slots)} slot names for observation.max_segments = {m})",
        )
    k = len(inputs) - (len(SEGMENT_COLUMNS) + 1) * m
    col = {n: i for i, n in enumerate(features[:n_obs])}
    pad = SegmentPad(max(k, 0), m, (SEGMENT_FILL,))
    want = pad.names(list(inputs[: max(k, 0)]), (SEGMENT_COLUMNS,))
    if k < 0 or list(inputs) != want or any(n not in col for n in inputs[:k]):
        raise _lstm_fail(
            "policy.inputs",
            f"{len(inputs)} names",
            "base columns of observation.features, "
            f"then the segment slots and mask[<slot>] of observation.max_segments = {m}",
        )
    return pad, np.array([col[n] for n in inputs[:k]], dtype=np.int64), n_obs
