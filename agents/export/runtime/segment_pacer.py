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

Kinds ``smart_pacing`` and ``lp_split`` (``SEGMENT_KINDS``) are dispatched to their own
modules (``smart_pacing``, ``lp_split``: their arithmetic and state layouts, run in process
by the baselines too); every kind's campaign state is one float64 row (``segment_state``),
given and handed back by ``SegmentPacer.step`` or kept inside by ``reset``/``act``.

The artifact is one plain JSON file, ``manifest.json`` (``load_segment_pacer``): schema,
name, ``policy`` (kind, base rule, every parameter; ``lp_split``'s ``split``), ``observation`` (base features,
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
from .lp_split import LP_SPLIT_OWN, lp_split_names, lp_split_state, lp_split_step
from .manifest import (
    MANIFEST_FILE,
    MAX_JSON_DEPTH,
    MAX_MANIFEST_BYTES,
    PacerError,
    check_depth,
    read_file,
)
from .rule_params import RULE_PARAMS, RuleParam, check_params
from .segment_fill import edge_price, fill_power, fill_top_down, rank
from .segment_state import check_split, check_state
from .smart_pacing import SMART_PACING_OWN, smart_pacing_names, smart_pacing_step
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
SEGMENT_KINDS = {
    "dual_price": ("pid", DUAL_PRICE_OWN),
    "smart_pacing": ("on_off", SMART_PACING_OWN),
    "lp_split": ("on_off", LP_SPLIT_OWN),
}
"""Segment kind -> (base rule, own parameters)."""
SEGMENT_DATA = {"lp_split": ("split",)}
"""Segment kind -> its data fields of ``manifest.policy`` besides kind, base and params."""
_SEG_TOP = ("schema", "schema_version", "name", "policy", "observation", "action", "source")


def segment_columns(obs: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """``(share, rel)`` ``(n, S)`` float64 of the segment block after ``base`` columns."""
    s = (obs.shape[1] - base) // len(SEGMENT_COLUMNS)
    block = obs[:, base:].astype(np.float64).reshape(obs.shape[0], s, len(SEGMENT_COLUMNS))
    return block[:, :, 0], block[:, :, 1]


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
    if not isinstance(policy, Mapping):
        raise PacerError("manifest field policy must be an object")
    kind = _seg_need(policy, "kind", "policy")
    if not isinstance(kind, str) or kind not in SEGMENT_KINDS:
        raise PacerError(f"manifest field policy.kind = {kind!r}: allowed {list(SEGMENT_KINDS)}")
    _seg_keys(policy, ("kind", "base", "params", *SEGMENT_DATA.get(kind, ())), "policy")
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
    """An exported per-segment pacer: ``reset(n)``, ``act(obs (n, width)) -> (n, S)``, or
    the same without state kept inside: ``step(obs, state) -> (throttles, state)``.

    ``threads``: worker threads sharing the rows of a call of more than
    ``SEGMENT_BLOCK_ROWS`` rows (default the usable CPUs, at most ``MAX_THREADS``; rows are
    independent after the PID, so the result is the same bit for bit).

    ``obs`` is float32 in the manifest's column order (``base_features``, then per segment
    ``segment_features``); a wrong width is refused (``PacerError``). State is one float64
    row per campaign, columns ``state_names`` (``runtime.segment_state``): ``dual_price``
    the PID's ``integral``, ``prev_error``, ``prev_time``; ``smart_pacing`` and ``lp_split``
    their modules' layouts. ``initial_state(n)`` is new campaigns' rows; a row restarts its
    flight when its ``time_elapsed`` is 0. ``lam``: each row's last price (``dual_price``).
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
        self.manifest_sha256: str | None = None  # set by ``load_segment_pacer``
        self.name = str(m["name"])
        kind, base_params, own = check_policy(m["policy"])
        self.kind, self.lambda_min = kind, own.get("lambda_min", 0.0)
        self.softness = own.get("softness", 0.0)
        base, self.segments = check_observation(m["observation"])
        self.n_base, self.n_segments = len(base), len(self.segments)
        self.width = int(m["observation"]["width"])
        self.index = {f: base.index(f) for f in FEATURES}
        self.params = {**base_params, **own}
        self.split = (
            check_split(m["policy"]["split"], self.n_segments) if kind == "lp_split" else None
        )
        if kind == "dual_price":
            self.pid = Rule("pid", base_params, self.index)
            self.state_names: tuple[str, ...] = ("integral", "prev_error", "prev_time")
        else:
            names = smart_pacing_names if kind == "smart_pacing" else lp_split_names
            self.state_names = names(self.segments)
        self.reset(0)

    def initial_state(self, n: int) -> np.ndarray:
        """New campaigns' state rows ``(n, len(state_names))`` (the reset rule)."""
        if self.split is not None:
            return lp_split_state(np.tile(self.split, (n, 1)))
        return np.zeros((n, len(self.state_names)))

    def reset(self, n: int, state: Any = None) -> None:
        """Start ``n`` campaigns: their state rows ``state`` (checked, copied), by default
        ``initial_state(n)`` (for ``lp_split``: a campaign's own split goes in here)."""
        state = self.initial_state(n) if state is None else check_state(state, n, self.state_names)
        self.state = state.copy()
        self.lam = np.zeros(n)
        if self.kind == "dual_price":
            self.pid.integral, self.pid.prev_error, self.pid.prev_time = self.state.T.copy()

    def act(self, obs: np.ndarray) -> np.ndarray:
        """``(n, S)`` float64 throttles in [0, 1] for float32 rows ``(n, width)``; the state
        kept inside advances (a new ``n`` starts ``n`` new campaigns)."""
        obs = self._obs(obs)
        n = obs.shape[0]
        if self.kind == "dual_price":
            th, self.lam = self._dual_price(obs, self.pid)
            return th
        if self.state.shape[0] != n:
            self.reset(n)
        return self._advance(obs, self.state)

    __call__ = act

    def step(self, obs: np.ndarray, state: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(throttles (n, S), state (n, K))`` for rows ``obs`` whose campaigns are in
        ``state`` (float64 ``(n, K)``, columns ``state_names``): the state handed back is
        new, the one given is not changed, and nothing is kept in the pacer."""
        obs = self._obs(obs)
        new = check_state(state, obs.shape[0], self.state_names).copy()
        if self.kind != "dual_price":
            return self._advance(obs, new), new
        pid = Rule("pid", {k: self.params[k] for k in RULE_PARAMS["pid"]}, self.index)
        pid.integral, pid.prev_error, pid.prev_time = new.T.copy()
        th, _ = self._dual_price(obs, pid)
        return th, np.stack([pid.integral, pid.prev_error, pid.prev_time], axis=1)

    def _obs(self, obs: Any) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.ndim != 2 or obs.shape[1] != self.width:
            raise PacerError(
                f"observations of shape {obs.shape}: allowed (n, {self.width}) ="
                f" {self.n_base} base + 3 x {self.n_segments} segments"
            )
        return obs

    def _dual_price(self, obs: np.ndarray, pid: Rule) -> tuple[np.ndarray, np.ndarray]:
        n = obs.shape[0]
        p = pid.act(obs)
        th, lam = np.empty((n, self.n_segments)), np.empty(n)

        def block(s: int, e: int) -> None:
            th[s:e], lam[s:e] = dual_price_segments(
                obs[s:e], self.n_base, p[s:e], self.lambda_min, self.softness
            )

        self.workers.run(block, n, max(SEGMENT_BLOCK_ROWS, -(-n // self.threads)))
        return th, lam

    def _advance(self, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Throttles of a stateful kind, ``state`` advanced in place, rows on threads."""
        n = obs.shape[0]
        th = np.empty((n, self.n_segments))

        def block(s: int, e: int) -> None:
            if self.kind == "lp_split":
                th[s:e] = lp_split_step(self.params, self.index, obs[s:e], state[s:e])
                return
            share, rel = segment_columns(obs[s:e], self.n_base)
            segs = (share, rel, rank(rel))
            th[s:e] = smart_pacing_step(
                self.params, self.index, obs[s:e], segs, state[s:e], fill_top_down
            )

        self.workers.run(block, n, max(SEGMENT_BLOCK_ROWS, -(-n // self.threads)))
        return th


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


def load_segment_pacer(
    path: str | os.PathLike[str], threads: int | None = None, expected_digest: str | None = None
) -> SegmentPacer:
    """The ``SegmentPacer`` of the artifact folder ``path`` (its ``manifest.json``: plain JSON,
    read once, duplicate keys and NaN/Infinity refused, every field checked); with
    ``expected_digest`` its sha256 must be that one (the registered model's pin)."""
    raw, digest = read_file(os.fspath(path), MANIFEST_FILE, "manifest", MAX_MANIFEST_BYTES)
    if expected_digest is not None and digest != str(expected_digest).lower():
        raise PacerError(
            f"manifest.json sha256 {digest} differs from expected_digest {expected_digest!r}:"
            " the artifact is not the one pinned; refusing to load"
        )
    try:
        m = json.loads(raw, object_pairs_hook=_seg_no_duplicates, parse_constant=_seg_no_constant)
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, PacerError):
            raise
        raise PacerError(f"manifest: not valid JSON ({type(e).__name__})") from None
    check_depth(m, MAX_JSON_DEPTH, "manifest")
    pacer = SegmentPacer(m, threads)
    pacer.manifest_sha256 = digest
    return pacer
