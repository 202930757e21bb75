"""Policy kind ``segment_residual``: a padded residual agent on a per-segment base rule.

A residual PPO trained with ``agent.max_segments = M`` on value scenarios
(``agents/residual.py``, ``agents/features.py``) serves any campaign batch of ``S <= M``
segments, per campaign (the composition ``agents.policy.SB3Controller`` runs)::

    b = base.act(obs)                                            # (n, S), runtime.segment_pacer
    x = concat(obs[:, inputs], obs's segment block, log10(clip(b, floor, 1)))
    z = normalise(segment_pad.spread(x, S))                      # M slots + M mask columns
    a = clip(dense(z), low, high)[:, :S]                         # padded slots' actions dropped
    p = clip(max(b, floor) * 10 ** (scale_decades * a), 0, 1)    # (n, S) throttles

A row with a non-finite observation gets throttle 0 on every segment. The base keeps its
rule's state inside (``reset(n)`` / ``act(obs)``: the pacegym ``Controller`` protocol, one
state per segment count met); float32 arithmetic as torch's.

The artifact: ``manifest.json`` (schema ``pacegym.segment_residual_pacer`` version 1:
``name``, ``observation`` (``base_features``, ``segment_features``, ``max_segments``),
``policy`` (``kind``, ``base``: a segment pacer's policy, ``inputs``, ``normalization``,
``dense``, ``scale_decades``, ``floor``), ``action`` (``width`` = ``max_segments``, ``low``,
``high``), ``files`` (``weights.npz``'s sha256), ``source``) and ``weights.npz``
(``dense_w_<j>`` ``(in, out)``, ``dense_b_<j>``, float32; read without pickle). Every field
is checked on load, one line naming it; nothing in the artifact is imported or executed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .manifest import MANIFEST_FILE, MAX_MANIFEST_BYTES, PacerError, npz_arrays, read_file
from .mlp import ACTIVATIONS, _activation
from .normalize import Normalization
from .segment_pacer import SEGMENT_COLUMNS, SEGMENT_SCHEMA, SEGMENT_SCHEMA_VERSION, SegmentPacer
from .segment_pad import BASE_LOG10_FILL, SEGMENT_FILL, SegmentPad

SEGMENT_RESIDUAL_SCHEMA = "pacegym.segment_residual_pacer"
SEGMENT_RESIDUAL_VERSION = 1
RESIDUAL_WEIGHTS = "weights.npz"
_TOP = ("schema", "schema_version", "name", "observation", "policy", "action", "files", "source")
_POLICY = ("kind", "base", "inputs", "normalization", "dense", "scale_decades", "floor")


def _fail(field: str, value: Any, allowed: str) -> PacerError:
    return PacerError(f"manifest field {field} = {value!r}: allowed {allowed}")


def _keys(d: Any, where: str, need: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(d, dict) or sorted(d) != sorted(need):
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise _fail(where, got, f"an object with keys {list(need)}")
    return d


def _number(d: Mapping[str, Any], key: str, where: str, lo: float, hi: float) -> float:
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise _fail(f"{where}.{key}", v, f"a number in [{lo:g}, {hi:g}]")
    return float(v)


class SegmentResidualPacer:
    """A loaded ``segment_residual`` artifact (module docstring)."""

    def __init__(self, m: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        _keys(m, "manifest", _TOP)
        if (m["schema"], m["schema_version"]) != (SEGMENT_RESIDUAL_SCHEMA, 1):
            raise _fail("schema", m["schema"], f"{SEGMENT_RESIDUAL_SCHEMA!r} version 1")
        self.manifest, self.name, self.kind = m, str(m["name"]), "segment_residual"
        obs = _keys(
            m["observation"], "observation", ("base_features", "segment_features", "max_segments")
        )
        if list(obs["segment_features"]) != list(SEGMENT_COLUMNS):
            raise _fail(
                "observation.segment_features", obs["segment_features"], str(SEGMENT_COLUMNS)
            )
        m_seg = obs["max_segments"]
        if isinstance(m_seg, bool) or not isinstance(m_seg, int) or not 1 <= m_seg <= 4096:
            raise _fail("observation.max_segments", m_seg, "an integer in [1, 4096]")
        self.max_segments, self.features = m_seg, list(obs["base_features"])
        pol = _keys(m["policy"], "policy", _POLICY)
        if pol["kind"] != "segment_residual":
            raise _fail("policy.kind", pol["kind"], "'segment_residual'")
        self.scale = _number(pol, "scale_decades", "policy", 1e-9, 10.0)
        self.floor = _number(pol, "floor", "policy", 1e-12, 1.0)
        inputs = list(pol["inputs"]) if isinstance(pol["inputs"], list) else []
        k = len(inputs) - (len(SEGMENT_COLUMNS) + 2) * m_seg
        groups = (SEGMENT_FILL, (BASE_LOG10_FILL,))
        self.pad = SegmentPad(max(k, 0), m_seg, groups)
        want = self.pad.names(inputs[: max(k, 0)], (SEGMENT_COLUMNS, ("base_log10",)))
        if k < 0 or inputs != want or not set(inputs[:k]) <= set(self.features):
            raise _fail("policy.inputs", f"{len(inputs)} names", "base features, then the "
                        "slots of the segment block, base_log10 and mask of max_segments")  # fmt: skip
        self.index = np.array([self.features.index(f) for f in inputs[:k]], dtype=np.int64)
        norm = pol["normalization"]
        self.norm = Normalization.from_spec(norm, self.pad.width) if norm is not None else None
        self.dense = self._dense(arrays, pol["dense"])
        act = _keys(m["action"], "action", ("width", "low", "high"))
        if act["width"] != m_seg or self.dense[-1][0].shape[1] != m_seg:
            raise _fail("action.width", act["width"], f"observation.max_segments ({m_seg})")
        self.low = _number(act, "low", "action", -1.0, 1.0)
        self.high = _number(act, "high", "action", self.low, 1.0)
        self.base_policy = pol["base"]
        self._bases: dict[int, SegmentPacer] = {}
        self.n = 0
        self._base(m_seg)  # the base rule checked at load
        self.reset(0)

    def _dense(self, arrays: Mapping[str, np.ndarray], spec: Any) -> list[tuple]:
        if not isinstance(spec, list) or not spec or any(a not in ACTIVATIONS for a in spec):
            raise _fail("policy.dense", spec, f"a non-empty list of {list(ACTIVATIONS)}")
        layers, n_in = [], self.pad.width
        for j, act in enumerate(spec):
            w, b = arrays.get(f"dense_w_{j}"), arrays.get(f"dense_b_{j}")
            if w is None or b is None or w.dtype != np.float32 or b.dtype != np.float32:
                raise PacerError(
                    f"{RESIDUAL_WEIGHTS}: dense_w_{j}/dense_b_{j} missing or not float32"
                )
            if w.ndim != 2 or w.shape[0] != n_in or b.shape != (w.shape[1],):
                raise PacerError(f"{RESIDUAL_WEIGHTS}: dense_w_{j} {w.shape}: expected ({n_in}, m)")
            layers.append((w, b, act))
            n_in = w.shape[1]
        if len(arrays) != 2 * len(spec):
            raise PacerError(
                f"{RESIDUAL_WEIGHTS}: {sorted(arrays)}: arrays the manifest does not name"
            )
        return layers

    def _base(self, s: int) -> SegmentPacer:
        """The base rule's pacer for ``s`` segments (built once per count)."""
        if s not in self._bases:
            width = len(self.features) + len(SEGMENT_COLUMNS) * s
            base = {
                "schema": SEGMENT_SCHEMA,
                "schema_version": SEGMENT_SCHEMA_VERSION,
                "name": self.name,
                "policy": self.base_policy,
                "observation": {
                    "base_features": self.features,
                    "segment_features": list(SEGMENT_COLUMNS),
                    "segments": [str(j) for j in range(s)],
                    "n_segments": s,
                    "width": width,
                },
                "action": {"per": "segment", "low": 0.0, "high": 1.0},
                "source": {},
            }
            self._bases[s] = SegmentPacer(base, threads=1)
            self._bases[s].reset(self.n)
        return self._bases[s]

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns (every segment count's base rule from its initial state)."""
        self.n = int(n)
        for base in self._bases.values():
            base.reset(self.n)

    def segments_of(self, obs: np.ndarray) -> int:
        """``S`` of observations ``(n, base + 3 S)``, ``1 <= S <= max_segments``."""
        s, rest = divmod(obs.shape[1] - len(self.features), len(SEGMENT_COLUMNS))
        if obs.ndim != 2 or rest or not 1 <= s <= self.max_segments:
            raise PacerError(
                f"obs has shape {obs.shape}: expected (n, {len(self.features)} + 3 S) with S"
                f" segments in [1, {self.max_segments}] (observation.max_segments)"
            )
        return s

    def _step(self, obs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(base throttles b, corrections a, valid rows)``, both ``(n, S)``."""
        x = np.asarray(obs, dtype=np.float32)
        s = self.segments_of(x)
        if x.shape[0] != self.n:
            self.reset(x.shape[0])
        ok = np.isfinite(x).all(axis=1)
        x = np.where(ok[:, None], x, 0.0).astype(np.float32)
        b = self._base(s).act(x)
        feat = np.log10(np.clip(b, self.floor, 1.0)).astype(np.float32)
        own = np.concatenate([x[:, self.index], x[:, len(self.features) :], feat], axis=1)
        z = self.pad.spread(own, s)
        h = self.norm(z) if self.norm is not None else z.astype(np.float32)
        for w, bias, act in self.dense:
            h = _activation(act, h @ w + bias)
        a = np.clip(h.astype(np.float64), self.low, self.high)[:, :s]
        return b, a, ok

    def actions(self, obs: Any) -> np.ndarray:
        """The corrections ``a`` ``(n, S)`` (the base rule advances, as in ``act``)."""
        return self._step(obs)[1]

    def compose(self, b: np.ndarray, a: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Throttles ``(n, S)`` of base ``b`` and corrections ``a``; 0 where not ``ok``."""
        p = np.clip(np.maximum(b, self.floor) * 10.0 ** (self.scale * a), 0.0, 1.0)
        p[~ok] = 0.0
        return p

    def act(self, obs: Any) -> np.ndarray:
        """Throttles ``(n, S)`` in [0, 1]; 0 on every segment of a non-finite row."""
        return self.compose(*self._step(obs))

    __call__ = act


def load_segment_residual_pacer(path: str | os.PathLike[str]) -> SegmentResidualPacer:
    """Load and check the artifact directory ``path`` (module docstring)."""
    root = os.fspath(path)
    raw, _ = read_file(root, MANIFEST_FILE, "manifest", MAX_MANIFEST_BYTES)
    try:
        m = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PacerError(f"{MANIFEST_FILE}: not JSON ({e})") from None
    files = m.get("files") if isinstance(m, dict) else None
    want = files.get(RESIDUAL_WEIGHTS) if isinstance(files, dict) else None
    raw_w, digest = read_file(root, RESIDUAL_WEIGHTS, f"files.{RESIDUAL_WEIGHTS}")
    if digest != want:
        raise PacerError(
            f"files.{RESIDUAL_WEIGHTS}: sha256 differs from the manifest's; the file is"
            " corrupted or was changed after export: refusing to load"
        )
    return SegmentResidualPacer(m, npz_arrays(raw_w, RESIDUAL_WEIGHTS))
