"""Policy kind ``dual_price``: the per-segment dual-price threshold of value scenarios, as data.

A value scenario's observation is ``N`` base columns (``observation.base_features``, the
simulator's ``OBS_FEATURES``) then ``segment_features`` (share of requests now, predicted
value per price / the flight's average ``rel``, last throttle) for each of ``S`` segments:
``(n, N + 3 S)`` float32. ``SegmentPacer.act`` returns ``(n, S)`` float64 throttles in [0, 1].

The arithmetic is written once, here: ``baselines.controllers_value.DualPriceController``
runs ``dual_price_act`` in process, so an exported pacer and the baseline cannot drift.
The base PID is the runtime's ``controllers.Rule`` (kind ``pid``): its output ``p_t`` is the
share of the requests to enter, best ``rel`` first (``fill_top_down``, the marginal segment
at the fraction that reaches ``p_t`` exactly), never a segment with ``rel < lambda_min``.

The artifact is one plain JSON file, ``manifest.json`` (``load_segment_pacer``): schema,
name, ``policy`` (kind, base rule, every parameter), ``observation`` (base features,
segment features, segment names, ``n_segments``, ``width``), ``action`` and a free-form
``source``; every field is checked on load (one line naming the field, the value and what
is allowed) and nothing in it is imported or executed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .controllers import FEATURES, Rule
from .manifest import (
    MANIFEST_FILE,
    MAX_JSON_DEPTH,
    MAX_MANIFEST_BYTES,
    PacerError,
    check_depth,
    read_file,
)
from .rule_params import RULE_PARAMS, RuleParam, check_params
from .workers import MAX_THREADS, Workers, usable_cpus

SEGMENT_SCHEMA = "pacegym.segment_pacer"
SEGMENT_SCHEMA_VERSION = 1
SEGMENT_COLUMNS = ("share", "value_per_price", "throttle")
"""The columns per segment, in order (the simulator's ``envs.spaces.SEGMENT_FEATURES``)."""
MAX_SEGMENTS = 4096
SEGMENT_BLOCK_ROWS = 16_384  # [rows] the least rows a worker thread takes
DUAL_PRICE_OWN: dict[str, RuleParam] = {
    "lambda_min": RuleParam(
        0.0, "x flight average", "never enter a segment with rel below this", high=100.0
    ),
    "softness": RuleParam(
        0.0,
        "1 / exponent",
        "0: the hard top-down fill; > 0: throttles min(1, c rel ** (1 / softness))",
        high=100.0,
    ),
}
"""The dual-price kind's own parameters, after those of its base rule ``pid``."""
SEGMENT_KINDS = {"dual_price": ("pid", DUAL_PRICE_OWN)}
"""Segment kind -> (base rule, own parameters)."""
_SEG_TOP = ("schema", "schema_version", "name", "policy", "observation", "action", "source")


def rank(rel: np.ndarray) -> np.ndarray:
    """``(n, S)`` segment indices, best predicted value per price first (ties: lower index)."""
    return np.argsort(-rel, axis=1, kind="stable")


def fill_top_down(rel: np.ndarray, weight: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Throttles ``(n, S)`` that enter segments best ``rel`` first until their ``weight``
    (share of requests) sums to ``level`` (n,) of the total: the segments above the edge at
    1, the marginal one at the fraction that reaches ``level`` exactly (the soft edge: the
    spend is continuous in ``level``), the rest at 0."""
    order = rank(rel)
    w = np.take_along_axis(weight, order, axis=1)
    total = w.sum(axis=1, keepdims=True)
    need = np.clip(level, 0.0, 1.0)[:, None] * total
    before = np.cumsum(w, axis=1) - w
    th_sorted = np.clip((need - before) / np.maximum(w, 1e-12), 0.0, 1.0)
    out = np.empty_like(th_sorted)
    np.put_along_axis(out, order, th_sorted, axis=1)
    return out


def edge_price(rel: np.ndarray, throttle: np.ndarray) -> np.ndarray:
    """``(n,)`` the dual price ``lambda``: the lowest ``rel`` of a segment entered (throttle
    > 0), the highest ``rel`` when none is (nothing is worth entering at that price)."""
    entered = np.where(throttle > 0.0, rel, np.inf)
    low = entered.min(axis=1)
    return np.where(np.isfinite(low), low, rel.max(axis=1, initial=0.0))


def segment_columns(obs: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """``(share, rel)`` ``(n, S)`` float64 of the segment block after ``base`` columns."""
    s = (obs.shape[1] - base) // len(SEGMENT_COLUMNS)
    block = obs[:, base:].astype(np.float64).reshape(obs.shape[0], s, len(SEGMENT_COLUMNS))
    return block[:, :, 0], block[:, :, 1]


def fill_power(rel: np.ndarray, weight: np.ndarray, level: np.ndarray, k: float) -> np.ndarray:
    """Throttles ``(n, S)`` ``min(1, c rel ** k)`` with ``c`` (per row) such that the
    ``weight``-weighted throttles sum to ``level`` (n,) of the total weight (water filling:
    the best segments capped at 1, the rest in proportion to ``rel ** k``). ``k`` = 0 is
    the uniform throttle ``level``; ``k`` -> inf tends to ``fill_top_down`` (used where
    ``rel ** k`` underflows). Segments with ``rel <= 0`` get 0 (for ``k`` > 0) until the
    others are full."""
    order = rank(rel)
    r = np.take_along_axis(rel, order, axis=1)
    w = np.take_along_axis(weight, order, axis=1)
    need = np.clip(level, 0.0, 1.0)[:, None] * w.sum(axis=1, keepdims=True)
    top = np.maximum(r[:, :1], 1e-300)  # rel / the row's best: no overflow for large k
    g = np.where(r > 0.0, np.maximum(r, 0.0) / top, 0.0) ** k
    before = np.cumsum(w, axis=1) - w  # weight of the segments above j (capped at 1)
    tail = np.cumsum((w * g)[:, ::-1], axis=1)[:, ::-1]  # sum of w g from j on
    with np.errstate(all="ignore"):
        c = np.where(tail > 0.0, (need - before) / tail, np.inf)
        ok = (c * g <= 1.0 + 1e-12) & (need >= before)  # j the first segment not capped
    j = np.argmax(ok, axis=1)
    cj = np.take_along_axis(c, j[:, None], axis=1)
    pos = np.arange(r.shape[1])[None, :]
    th = np.where(pos < j[:, None], 1.0, np.clip(np.nan_to_num(cj * g), 0.0, 1.0))
    out = np.empty_like(th)
    np.put_along_axis(out, order, th, axis=1)
    none = ~ok.any(axis=1)  # rel ** k underflows (large k): its limit, the top-down fill
    out[none] = fill_top_down(rel[none], weight[none], level[none])
    return out


def dual_price_act(
    pid: Rule, lambda_min: float, obs: np.ndarray, base: int, softness: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(throttles (n, S), lambda (n,))`` of the dual-price threshold for ``obs`` (``base``
    base columns, then the segment block); ``pid`` (kind ``pid``) advances its state."""
    return dual_price_segments(obs, base, pid.act(obs), lambda_min, softness)


def dual_price_segments(
    obs: np.ndarray, base: int, p: np.ndarray, lambda_min: float, softness: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(throttles (n, S), lambda (n,))`` of rows ``obs`` given the PID's output ``p``
    ``(n,)``: each row on its own, so row blocks may run on threads. ``softness`` 0: the
    hard top-down fill (``fill_top_down``); > 0: ``fill_power`` with exponent
    ``1 / softness`` (more segments entered in part: more, cheaper impressions)."""
    share, rel = segment_columns(obs, base)
    if softness > 0.0:
        th = fill_power(rel, share, p, 1.0 / softness) * (rel >= lambda_min)
    else:
        th = fill_top_down(rel, share, p) * (rel >= lambda_min)
    return th, edge_price(rel, th)


def _seg_need(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, Mapping) or key not in d:
        raise PacerError(f"manifest field {where}.{key} is missing")
    return d[key]


def _seg_keys(d: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(d, Mapping):
        raise PacerError(f"manifest field {where} must be an object")
    extra = sorted(set(d) - set(keys))
    if extra:
        raise PacerError(f"manifest field {where}.{extra[0]} is not allowed: allowed {list(keys)}")
    for k in keys:
        _seg_need(d, k, where)


def _seg_names(v: Any, where: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) and 0 < len(x) <= 200 for x in v):
        raise PacerError(f"manifest field {where} = {str(v)[:80]}: allowed a list of names")
    if len(set(v)) != len(v):
        raise PacerError(f"manifest field {where}: names repeated: allowed distinct names")
    return list(v)


def _seg_count(v: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise PacerError(f"manifest field {where} = {v!r}: allowed an integer in [{lo}, {hi}]")
    return v


def check_policy(policy: Any) -> tuple[str, dict[str, Any], dict[str, float]]:
    """``(kind, base params, own params)`` of ``manifest.policy``: every parameter present
    (no default is filled in: the artifact states each number) and allowed."""
    _seg_keys(policy, ("kind", "base", "params"), "policy")
    kind = policy["kind"]
    if kind not in SEGMENT_KINDS:
        raise PacerError(f"manifest field policy.kind = {kind!r}: allowed {list(SEGMENT_KINDS)}")
    base, own = SEGMENT_KINDS[kind]
    if policy["base"] != base:
        raise PacerError(f"manifest field policy.base = {policy['base']!r}: allowed {base!r}")
    params = policy["params"]
    _seg_keys(params, (*RULE_PARAMS[base], *own), "policy.params")
    base_params = check_params(base, {k: params[k] for k in RULE_PARAMS[base]}, "policy")
    own_params = {}
    for key, spec in own.items():
        if not spec.accepts(params[key]):
            raise PacerError(
                f"manifest field policy.params.{key} = {params[key]!r}: allowed {spec.allowed()}"
            )
        own_params[key] = float(params[key])
    return str(kind), base_params, own_params


def check_observation(obs: Any) -> tuple[list[str], list[str]]:
    """``(base features, segment names)`` of ``manifest.observation``, checked: the rules'
    features among the base ones, the segment columns ``SEGMENT_COLUMNS``, ``n_segments``
    and ``width`` consistent."""
    keys = ("base_features", "segment_features", "segments", "n_segments", "width")
    _seg_keys(obs, keys, "observation")
    base = _seg_names(obs["base_features"], "observation.base_features")
    missing = [f for f in FEATURES if f not in base]
    if missing:
        raise PacerError(
            f"manifest field observation.base_features lacks {missing}: the pacer reads them"
        )
    if obs["segment_features"] != list(SEGMENT_COLUMNS):
        raise PacerError(
            f"manifest field observation.segment_features = {obs['segment_features']!r}:"
            f" allowed {list(SEGMENT_COLUMNS)}"
        )
    segments = _seg_names(obs["segments"], "observation.segments")
    s = _seg_count(obs["n_segments"], "observation.n_segments", 1, MAX_SEGMENTS)
    if s != len(segments):
        raise PacerError(
            f"manifest field observation.n_segments = {s}: allowed {len(segments)} (the segments)"
        )
    width = len(base) + len(SEGMENT_COLUMNS) * s
    _seg_count(obs["width"], "observation.width", width, width)
    return base, segments


class SegmentPacer:
    """An exported per-segment pacer: ``reset(n)``, ``act(obs (n, width)) -> (n, S)``.

    ``threads``: worker threads sharing the rows of a call of more than
    ``SEGMENT_BLOCK_ROWS`` rows (default the usable CPUs, at most ``MAX_THREADS``; rows are
    independent after the PID, so the result is the same bit for bit).

    ``obs`` is float32 in the manifest's column order (``base_features``, then per segment
    ``segment_features``); a wrong width is refused (``PacerError``). State (the PID's) is
    per row; a row restarts when its ``time_elapsed`` is 0. ``lam``: each row's last price.
    """

    def __init__(self, m: Mapping[str, Any], threads: int | None = None) -> None:
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise PacerError(f"threads = {threads!r}: allowed an integer >= 1, or None (automatic)")
        check_segment_manifest(m)
        self.threads = threads or min(usable_cpus(), MAX_THREADS)
        self.workers = Workers(self.threads)
        self.manifest = m
        self.name = str(m["name"])
        kind, base_params, own = check_policy(m["policy"])
        self.kind, self.lambda_min, self.softness = kind, own["lambda_min"], own["softness"]
        base, self.segments = check_observation(m["observation"])
        self.n_base, self.n_segments = len(base), len(self.segments)
        self.width = int(m["observation"]["width"])
        self.pid = Rule("pid", base_params, {f: base.index(f) for f in FEATURES})
        self.lam = np.zeros(0)

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns (the PID's state cleared)."""
        self.pid.reset(n)
        self.lam = np.zeros(n)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """``(n, S)`` float64 throttles in [0, 1] for float32 rows ``(n, width)``."""
        obs = np.asarray(obs)
        if obs.ndim != 2 or obs.shape[1] != self.width:
            raise PacerError(
                f"observations of shape {obs.shape}: allowed (n, {self.width}) ="
                f" {self.n_base} base + 3 x {self.n_segments} segments"
            )
        n = obs.shape[0]
        p = self.pid.act(obs)
        th, lam = np.empty((n, self.n_segments)), np.empty(n)

        def block(s: int, e: int) -> None:
            th[s:e], lam[s:e] = dual_price_segments(
                obs[s:e], self.n_base, p[s:e], self.lambda_min, self.softness
            )

        step = max(SEGMENT_BLOCK_ROWS, -(-n // self.threads))
        self.workers.run(block, n, step)
        self.lam = lam
        return th

    __call__ = act


def check_segment_manifest(m: Any) -> None:
    """The top level of a segment pacer's manifest: exact keys, schema, name, action."""
    _seg_keys(m, _SEG_TOP, "manifest")
    if m["schema"] != SEGMENT_SCHEMA or m["schema_version"] != SEGMENT_SCHEMA_VERSION:
        raise PacerError(
            f"manifest field schema = {m['schema']!r} version {m['schema_version']!r}:"
            f" allowed {SEGMENT_SCHEMA!r} version {SEGMENT_SCHEMA_VERSION}"
        )
    if not isinstance(m["name"], str) or not 0 < len(m["name"]) <= 200:
        raise PacerError(f"manifest field name = {m['name']!r}: allowed a non-empty text")
    action = {"per": "segment", "low": 0.0, "high": 1.0}
    if m["action"] != action:
        raise PacerError(f"manifest field action = {m['action']!r}: allowed {action}")
    if not isinstance(m["source"], Mapping):
        raise PacerError("manifest field source must be an object")


def _seg_no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise PacerError(f"manifest field {dup!r} appears twice: allowed once")
    return dict(pairs)


def _seg_no_constant(name: str) -> None:
    raise PacerError(f"manifest: {name} is not a number: allowed finite numbers")


def load_segment_pacer(path: str | os.PathLike[str], threads: int | None = None) -> SegmentPacer:
    """The ``SegmentPacer`` of the artifact folder ``path`` (its ``manifest.json``: plain JSON,
    read once, duplicate keys and NaN/Infinity refused, every field checked)."""
    raw, _ = read_file(os.fspath(path), MANIFEST_FILE, "manifest", MAX_MANIFEST_BYTES)
    try:
        m = json.loads(raw, object_pairs_hook=_seg_no_duplicates, parse_constant=_seg_no_constant)
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, PacerError):
            raise
        raise PacerError(f"manifest: not valid JSON ({type(e).__name__})") from None
    check_depth(m, MAX_JSON_DEPTH, "manifest")
    return SegmentPacer(m, threads)
