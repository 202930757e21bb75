"""pacegym pacer runtime: serve an exported pacing policy with numpy alone.

This file is copied verbatim into every exported artifact as ``pacer.py``; it imports
only numpy and the standard library (never torch, stable-baselines3, gymnasium, hydra
or mlflow), and never unpickles anything.

    import pacer                                  # or: from agents.export.runtime import load_pacer
    p = pacer.load("artifacts/pacer")             # checks schema, features, sha256 of the weights
    throttles = p({"time_elapsed": [...], ...})   # or a 2-D array in manifest feature order

Contract of ``Pacer.__call__(observations)``:
- input: a mapping ``{feature name: 1-D array}`` with exactly the manifest's features, or a
  ``(n, n_features)`` array in the manifest's order (a 1-D array is one campaign);
- output: ``(n,)`` float64 throttles (pass-through rates) in [0, 1], never NaN;
- a row with any NaN, infinite or out-of-range feature (outside the manifest's
  ``[low, high]``) gets ``safety.fallback_throttle`` (default 0.0: stop serving) and is
  flagged in ``Pacer.last_invalid``; the policy never sees it;
- with ``safety.budget_guard`` on, a row with ``reported_spend + in_flight >= 1`` (reported
  plus in-flight spend has reached the budget) gets throttle 0 and is flagged in
  ``Pacer.last_guarded``;
- a call of more than ``CHUNK_ROWS`` rows to an MLP or residual policy is shared among
  worker threads (``load(..., threads=...)``); results agree with one thread to float32
  rounding (BLAS thread counts change the summation order; tested to 1e-7).

Refused at load time with ``PacerError`` (never a silent wrong answer): an unknown schema
or schema version, missing or duplicated manifest fields, features that do not match the
weights or the caller's ``features=`` list, a weights file whose sha256 differs from the
manifest's (corrupted or tampered), arrays whose shape or dtype differs from the manifest,
object arrays (no pickle), and unknown policy kinds, activations or action mappings.
The ``Pacer`` is also a pacegym ``Controller`` (``name``, ``reset(n)``, ``act(obs)``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import math
import operator
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

SCHEMA = "pacegym.pacer"
SCHEMA_VERSION = 1
SMALL_ROWS = 4  # up to this many rows, a per-row path with fewer numpy calls [rows]
MANIFEST_FILE = "manifest.json"
CHUNK_ROWS = 4096  # rows per numpy block: keeps the hidden activations in cache [rows]
FAST_MIN_ROWS = 64  # from this many rows, tanh layers run in the folded exp form [rows]
MAX_THREADS = 8  # default worker threads: the usable CPUs, at most this many [threads]
ACTIVATIONS = ("tanh", "relu", "elu", "leaky_relu", "silu", "identity")
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
    if not isinstance(d, Mapping) or key not in d:
        raise PacerError(f"manifest field {where}.{key} is missing")
    return d[key]


def _float(d: Mapping[str, Any], key: str, where: str, lo: float, hi: float) -> float:
    v = _need(d, key, where)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= float(v) <= hi:
        raise PacerError(f"manifest field {where}.{key} = {v!r}: allowed a number in [{lo}, {hi}]")
    return float(v)


def _activation(name: str, x: np.ndarray) -> np.ndarray:
    """Apply ``name`` in place (``x`` is a scratch buffer) and return it."""
    if name == "tanh":
        return np.tanh(x, out=x)
    if name == "relu":
        return np.maximum(x, 0.0, out=x)
    if name == "elu":
        neg = x < 0
        x[neg] = np.expm1(x[neg])
        return x
    if name == "leaky_relu":
        return np.where(x < 0, 0.01 * x, x).astype(x.dtype, copy=False)
    if name == "silu":
        return x / (1.0 + np.exp(-x))
    return x


def _fold_tanh(layers: list[tuple[np.ndarray, np.ndarray, str]]) -> list[tuple[Any, ...]]:
    """The layers rewritten so that a hidden tanh costs one ``exp`` and two cheap passes.

    ``tanh(u) = 1 - 2 r`` with ``r = 1 / (1 + exp(2 u))``. Scaling a layer's weight and bias
    by 2 is exact in floating point, so the layer yields ``2 u`` directly, and the next layer
    absorbs the affine part: ``(1 - 2 r) W + b = r (-2 W) + (b + sum_rows W)``. Only the
    summed bias is rounded (once, from float64). Kind ``"r"`` marks a folded layer; a tanh
    with no layer after it keeps ``np.tanh``. numpy's float32 ``tanh`` is 1.7x slower than
    its ``exp`` on the machines we measured, and ``tanh`` via ``exp`` needed four more passes.
    """
    folded: list[tuple[Any, ...]] = []
    prev_folded = False
    for i, (w, b, act) in enumerate(layers):
        w64, b64 = w.astype(np.float64), b.astype(np.float64)
        if prev_folded:
            b64 = b64 + w64.sum(axis=0)
            w64 = -2.0 * w64
        prev_folded = act == "tanh" and i + 1 < len(layers)
        if prev_folded:
            w64, b64 = 2.0 * w64, 2.0 * b64
        kind = "r" if prev_folded else act
        folded.append((w64.astype(np.float32), b64.astype(np.float32), kind))
    return folded


class MlpPolicy:
    """Dense layers ``x @ W + b`` with activations; inputs are normalised first.

    ``normalize``: ``z = clip((x - mean) / sqrt(var + epsilon), -clip, clip)`` computed in
    float64 and cast to float32, exactly as stable-baselines3's ``VecNormalize`` does.
    Blocks of at least ``FAST_MIN_ROWS`` rows run the tanh layers in the folded form of
    ``_fold_tanh`` (within 1e-5 of the plain form; the parity tests measure it); smaller
    blocks and single rows use ``np.tanh``.
    """

    chunk_rows = CHUNK_ROWS

    def __init__(self, spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray], n_in: int):
        layers = _need(spec, "layers", "policy")
        if not isinstance(layers, list) or not layers:
            raise PacerError("manifest field policy.layers must be a non-empty list")
        self.layers: list[tuple[np.ndarray, np.ndarray, str]] = []
        width = n_in
        for i, layer in enumerate(layers):
            where = f"policy.layers[{i}]"
            w = arrays[_need(layer, "weight", where)]
            b = arrays[_need(layer, "bias", where)]
            act = _need(layer, "activation", where)
            if act not in ACTIVATIONS:
                raise PacerError(f"{where}.activation = {act!r}: allowed {ACTIVATIONS}")
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise PacerError(
                    f"{where}: weight {w.shape} and bias {b.shape} do not fit an input of width"
                    f" {width} (features or previous layer)"
                )
            self.layers.append((np.ascontiguousarray(w), np.ascontiguousarray(b), act))
            width = w.shape[1]
        if width != 1:
            raise PacerError(f"policy.layers: output width {width}: allowed 1 (one action)")
        self.fast = _fold_tanh(self.layers)
        norm = spec.get("normalization")
        self.mean = self.std = None
        self.clip = math.inf
        if norm is not None:
            mean = np.asarray(_need(norm, "mean", "policy.normalization"), dtype=np.float64)
            var = np.asarray(_need(norm, "var", "policy.normalization"), dtype=np.float64)
            eps = _float(norm, "epsilon", "policy.normalization", 0.0, 1.0)
            self.clip = _float(norm, "clip", "policy.normalization", 0.0, math.inf)
            if mean.shape != (n_in,) or var.shape != (n_in,) or (var < 0).any():
                raise PacerError(
                    f"policy.normalization: mean {mean.shape} and var {var.shape} must be"
                    f" ({n_in},) with var >= 0 (one entry per feature)"
                )
            self.mean, self.std = mean, np.sqrt(var + eps)
        self._init_rows()

    def _init_rows(self) -> None:
        """Weights for the single-row path: layer 1 as float64 ``W^T @ [x, 1]``, the later
        layers as float32 ``W^T @ h + b`` (as in the block path).

        Where no input reaches the normalisation clip (raw values inside ``box``), the
        normalisation folds into the first layer exactly in float64:
        ``W1 (x - m) / s + b1 = (W1 / s) x + (b1 - (m / s) W1)``.
        """
        w1, b1, _ = self.layers[0]
        w, b = w1.astype(np.float64), b1.astype(np.float64)
        self._row_plain = np.ascontiguousarray(np.vstack([w, b[None]]).T)  # input [z, 1]
        if self.mean is None:
            self.box = ([-math.inf] * len(w), [math.inf] * len(w))
            self._row_folded = self._row_plain
        else:
            self.box = (
                (self.mean - self.clip * self.std).tolist(),
                (self.mean + self.clip * self.std).tolist(),
            )
            folded = np.vstack([w / self.std[:, None], (b - (self.mean / self.std) @ w)[None]])
            self._row_folded = np.ascontiguousarray(folded.T)  # input [x, 1]
        # after layer 1, float32 as in the block path (numpy's float32 tanh is 2x faster)
        self._row_rest = [(np.ascontiguousarray(w.T), b, act) for w, b, act in self.layers[1:-1]]
        w, b, act = self.layers[-1]  # (width, 1): a dot product and a Python float bias
        self._row_last = (np.ascontiguousarray(w[:, 0]), float(b[0]), act)
        self._act0 = self.layers[0][2]

    def one_action(self, row: list[float], in_box: bool) -> float:
        """The raw policy output for one valid row (latency path; layer 1 in float64).

        ``in_box``: every value lies inside ``box`` (the normalisation clip is a no-op), so
        the folded first layer applies; otherwise the row is normalised and clipped first.
        """
        if in_box:
            h = np.dot(self._row_folded, np.array([*row, 1.0]))
        else:
            z = self.normalize(np.array(row, dtype=np.float32))  # as SB3: float64, then float32
            h = np.dot(self._row_plain, np.append(z, 1.0))
        if len(self.layers) == 1:  # a linear (or single-layer) policy: h is the output
            return float(_activation(self._act0, h)[0])
        if self._act0 == "tanh":
            h = np.tanh(h, dtype=np.float32)
        else:
            h = _activation(self._act0, h).astype(np.float32)
        for wt, b, act in self._row_rest:
            h = np.dot(wt, h)
            h += b
            h = np.tanh(h, out=h) if act == "tanh" else _activation(act, h)
        w, b, act = self._row_last
        a = float(np.dot(w, h)) + b
        return a if act == "identity" else float(_activation(act, np.array([a]))[0])

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """The float32 policy input for float32 rows ``x`` (``(n, n_in)`` or one row)."""
        if self.mean is None:
            return x
        z = np.subtract(x, self.mean)
        z /= self.std
        np.minimum(np.maximum(z, -self.clip, out=z), self.clip, out=z)
        return z.astype(np.float32)

    def actions(self, x: np.ndarray) -> np.ndarray:
        """Raw policy outputs ``(n,)`` float32 for valid float32 rows ``x`` ``(n, n_in)``."""
        h = self.normalize(x)
        if len(h) < FAST_MIN_ROWS:
            for w, b, act in self.layers:
                h = h @ w
                h += b
                h = _activation(act, h)
            return h[:, 0]
        with np.errstate(over="ignore"):  # exp(2u) -> inf gives r = 0, tanh = 1: exact
            for w, b, kind in self.fast:
                h = h @ w
                h += b
                if kind == "r":
                    np.exp(h, out=h)
                    h += 1.0
                    np.reciprocal(h, out=h)
                else:
                    h = _activation(kind, h)
        return h[:, 0]


class OnnxPolicy:
    """The artifact's ``policy.onnx`` run by onnxruntime (optional: ``load(..., backend="onnx")``).

    The graph includes the normalisation and the action clip; onnxruntime is imported only
    here, so the numpy backend never needs it.
    """

    chunk_rows = 1 << 16

    def __init__(self, root: str, spec: Mapping[str, Any], threads: int | None) -> None:
        import onnxruntime as ort

        fpath = _artifact_file(root, _need(spec, "file", "onnx"), "onnx")
        if sha256_file(fpath) != _need(spec, "sha256", "onnx"):
            raise PacerError("onnx.sha256 mismatch: policy.onnx is corrupted or was changed")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(fpath, opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def actions(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(x)})[0][:, 0]


class RulePolicy:
    """A classical controller (on/off, proportional, PID, exp_decay) from the artifact's rules.

    ``rules.py`` is generated at export from the project's one implementation of each
    rule (``baselines/``, ``envs/plans.py``); its sha256 is checked before it is imported.
    Rows flagged invalid are fed a neutral in-range row and their controller state is
    restored afterwards, so a bad input never disturbs a stateful rule (PID).
    """

    def __init__(self, spec: Mapping[str, Any], root: str, obs: Sequence[Mapping[str, Any]]):
        features = [f["name"] for f in obs]
        lo = np.array([f["low"] for f in obs], dtype=np.float32)
        hi = np.array([f["high"] for f in obs], dtype=np.float32)
        self._neutral = np.clip(np.zeros_like(lo), lo, hi)
        ctrl = _need(spec, "controller", "policy")
        kind = _need(ctrl, "kind", "policy.controller")
        params = _need(ctrl, "params", "policy.controller")
        rules = _load_module(root, _need(spec, "rules", "policy"), "policy.rules")
        order = list(getattr(rules, "OBS_INDEX", {}))
        if order != list(features):
            raise PacerError(
                f"policy.rules reads features {order}; the manifest lists {list(features)}"
            )
        registry = rules.CONTROLLERS
        if kind not in registry:
            raise PacerError(f"policy.controller.kind = {kind!r}: allowed {sorted(registry)}")
        cls, cfg_cls = registry[kind]
        try:
            config = cfg_cls(**params)
            self.controller = cls(config, name=str(ctrl.get("name", kind)))
        except (TypeError, ValueError) as e:
            raise PacerError(f"policy.controller.params: {e}") from None

    def reset(self, n: int) -> None:
        self.controller.reset(n)

    def throttle(self, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Throttles for all rows of ``x``; rows where ``ok`` is False keep their state."""
        if ok.all():
            return np.asarray(self.controller.act(x), dtype=np.float64)
        n = x.shape[0]
        bad = ~ok
        xs = x.copy()
        xs[bad] = self._neutral
        state = {
            k: v[bad].copy()
            for k, v in vars(self.controller).items()
            if isinstance(v, np.ndarray) and v.shape[:1] == (n,)
        }
        p = np.asarray(self.controller.act(xs), dtype=np.float64)
        for k, v in state.items():
            getattr(self.controller, k)[bad] = v
        return p


class ResidualPolicy:
    """A learned multiplicative correction on top of a rule (``agents/residual.py``)::

    b = rule(obs);  x = concat(obs, log10(clip(b, floor, 1)))
    a = clip(mlp(normalise(x)), -1, 1);  p = clip(max(b, floor) * 10 ** (scale_decades a), 0, 1)
    """

    def __init__(self, spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray], root: str, obs):
        self.base = RulePolicy(_need(spec, "base", "policy"), root, obs)
        self.mlp = MlpPolicy(spec, arrays, len(obs) + 1)
        self.scale = _float(spec, "scale_decades", "policy", 0.0, 10.0)
        self.floor = _float(spec, "floor", "policy", 1e-12, 1.0)

    def reset(self, n: int) -> None:
        self.base.reset(n)

    def raw_actions(
        self, x: np.ndarray, ok: np.ndarray, run: Callable[..., None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(base throttles, corrections a in [-1, 1])`` for all rows of ``x``.

        The base rule sees all rows at once (it keeps per-row state); the MLP runs in
        blocks, through ``run(fn, n, step)`` (the pacer's worker threads) when given.
        """
        b = self.base.throttle(x, ok)
        feat = np.log10(np.clip(np.nan_to_num(b, nan=0.0), self.floor, 1.0)).astype(np.float32)
        xa = np.concatenate([x, feat[:, None]], axis=1)
        a = np.empty(len(x), dtype=np.float64)

        def block(s: int, e: int) -> None:
            a[s:e] = self.mlp.actions(xa[s:e])

        (run or _run_serial)(block, len(x), CHUNK_ROWS)
        return b, np.clip(np.nan_to_num(a), -1.0, 1.0)

    def throttle(
        self, x: np.ndarray, ok: np.ndarray, run: Callable[..., None] | None = None
    ) -> np.ndarray:
        b, a = self.raw_actions(x, ok, run)
        return np.clip(np.maximum(b, self.floor) * 10.0 ** (self.scale * a), 0.0, 1.0)


def _load_module(root: str, spec: Mapping[str, Any], where: str) -> Any:
    """Import a checksummed python file of the artifact (never a pickle)."""
    import importlib.util
    import sys

    fname = _need(spec, "file", where)
    fpath = _artifact_file(root, fname, where)
    digest = sha256_file(fpath)
    if digest != _need(spec, "sha256", where):
        raise PacerError(
            f"{where}.sha256 mismatch for {fname}: manifest {spec['sha256']}, file {digest};"
            " the file is corrupted or was changed after export: refusing to load"
        )
    name = f"_pacegym_rules_{digest[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    mspec = importlib.util.spec_from_file_location(name, fpath)
    if mspec is None or mspec.loader is None:
        raise PacerError(f"{where}.file = {fname!r}: cannot be imported")
    module = importlib.util.module_from_spec(mspec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        mspec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _artifact_file(root: str, fname: Any, where: str) -> str:
    if not isinstance(fname, str) or os.path.basename(fname) != fname or fname in ("", ".", ".."):
        raise PacerError(f"{where}.file = {fname!r}: must be a file name inside the artifact")
    fpath = os.path.join(root, fname)
    if not os.path.isfile(fpath):
        raise PacerError(f"{where}.file = {fname!r}: not found in {root}")
    return fpath


def _run_serial(fn: Callable[[int, int], None], n: int, step: int) -> None:
    """Call ``fn(start, end)`` on consecutive blocks of ``step`` rows covering ``[0, n)``."""
    for s in range(0, n, step):
        fn(s, min(s + step, n))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@functools.cache  # resolved once per process; a racing second lookup finds the same
def _openblas_thread_setter() -> Any:
    """OpenBLAS's ``openblas_set_num_threads_local`` (0.3.27+) if numpy's BLAS has it.

    Found among the shared libraries this process has mapped (``/proc/self/maps``; Linux);
    ``None`` elsewhere, with another BLAS, or with an older OpenBLAS.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("openblas_set_num_threads_local", "scipy_openblas_set_num_threads_local"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
                return fn
    return None


def _one_blas_thread() -> None:
    """Worker initialiser: one BLAS thread for this worker thread only.

    Each worker is already one of the pacer's threads; if every matrix product also fans
    out to all cores, workers and BLAS threads oversubscribe them (2 workers on 2 cores:
    0.87-0.92 s per million rows without this, 0.40-0.43 s with it). The setting is per thread, so the host's own numpy
    calls keep their BLAS threads. With a BLAS that lacks it this does nothing: set that
    BLAS's thread count to 1 yourself, or load the pacer with ``threads=1``.
    """
    setter = _openblas_thread_setter()
    if setter is not None:
        setter(1)


class Pacer:
    """A loaded pacing policy: ``throttles = pacer(observations)``. See the module docstring."""

    def __init__(
        self, manifest: dict[str, Any], policy: Any, path: str, guard: bool, threads: int = 1
    ) -> None:
        self.manifest = manifest
        self.path = path
        self.name = str(manifest.get("name", "pacer"))
        self.kind = str(manifest["policy"]["kind"])
        obs = manifest["observation"]["features"]
        self.features: tuple[str, ...] = tuple(f["name"] for f in obs)
        self._feature_set = frozenset(self.features)
        self.low = np.array([f["low"] for f in obs], dtype=np.float32)
        self.high = np.array([f["high"] for f in obs], dtype=np.float32)
        act = manifest["action"]
        self.mapping = act["mapping"]
        self.decades = float(act.get("decades", 4.0))
        self.a_low, self.a_high = float(act["low"]), float(act["high"])
        safety = manifest["safety"]
        self.fallback = float(safety["fallback_throttle"])
        self.budget_guard = guard
        idx = {n: i for i, n in enumerate(self.features)}
        self._guard_cols = (idx.get("reported_spend"), idx.get("in_flight"))
        if guard and None in self._guard_cols:
            raise PacerError(
                "safety.budget_guard needs features 'reported_spend' and 'in_flight';"
                f" the artifact has {self.features}"
            )
        self._bounds = (self.low.astype(float).tolist(), self.high.astype(float).tolist())
        self._box = self._bounds
        if isinstance(policy, MlpPolicy):  # valid rows the normalisation clip leaves alone
            self._box = (
                [max(a, b) for a, b in zip(self._bounds[0], policy.box[0], strict=True)],
                [min(a, b) for a, b in zip(self._bounds[1], policy.box[1], strict=True)],
            )
        self.policy = policy
        self._maps_actions = hasattr(policy, "actions")
        # worker threads for large batches of stateless numpy policies (see ``load``)
        self.threads = (
            max(1, int(threads)) if isinstance(policy, (MlpPolicy, ResidualPolicy)) else 1
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        self.last_invalid = np.zeros(0, dtype=bool)
        self.last_guarded = np.zeros(0, dtype=bool)

    def as_matrix(self, observations: Any) -> np.ndarray:
        """Observations as a float32 ``(n, n_features)`` array in manifest order."""
        if type(observations) is not np.ndarray and isinstance(observations, Mapping):
            if observations.keys() != self._feature_set:  # one set comparison when they match
                keys = set(observations)
                missing = [f for f in self.features if f not in keys]
                extra = sorted(str(k) for k in keys - self._feature_set)
                raise PacerError(
                    f"observation features: missing {missing}, unexpected {extra};"
                    f" expected exactly {list(self.features)}"
                )
            try:  # one (n_features, n) array: a single numpy call for the common case
                x = np.array([observations[f] for f in self.features], dtype=np.float32)
            except ValueError:
                lens = {f: np.size(observations[f]) for f in self.features}
                raise PacerError(f"observation features have different lengths: {lens}") from None
            if x.ndim == 1:  # scalars: one campaign
                return x[None, :]
            if x.ndim > 2:
                raise PacerError(
                    f"observation features must be 1-D arrays, got shape {x.shape[1:]}"
                )
            return x.T if x.shape[1] <= SMALL_ROWS else np.ascontiguousarray(x.T)
        x = np.asarray(observations, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise PacerError(
                f"observations have shape {x.shape}: allowed (n, {len(self.features)}), columns"
                f" in the order {list(self.features)}"
            )
        return x

    def __call__(self, observations: Any) -> np.ndarray:
        """Throttles ``(n,)`` float64 in [0, 1] for a batch of campaigns."""
        x = self.as_matrix(observations)
        n = x.shape[0]
        if n <= SMALL_ROWS and isinstance(self.policy, MlpPolicy):
            return self._small(x)
        out = np.empty(n, dtype=np.float64)
        invalid = np.empty(n, dtype=bool)
        guarded = np.zeros(n, dtype=bool)

        def block(s: int, e: int) -> None:
            self._block(x[s:e], out[s:e], invalid[s:e], guarded[s:e])

        if isinstance(self.policy, MlpPolicy):  # stateless: blocks may run on workers
            self._run(block, n, self.policy.chunk_rows)
        else:  # rules keep per-row state (one block, rows keep their index); onnx threads itself
            block(0, n)
        self.last_invalid, self.last_guarded = invalid, guarded
        return out

    def _run(self, fn: Callable[[int, int], None], n: int, step: int) -> None:
        """``fn(start, end)`` over blocks of ``step`` rows, on the worker threads if n > step."""
        if self.threads <= 1 or n <= step:
            _run_serial(fn, n, step)
            return
        pool = self._workers()
        for f in [pool.submit(fn, s, min(s + step, n)) for s in range(0, n, step)]:
            f.result()  # re-raises a worker's exception here

    def _workers(self) -> ThreadPoolExecutor:
        """The worker pool, started on first use (and again in a forked child: threads do
        not survive ``fork``, and a pool inherited without them would never run a task)."""
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(
                    self.threads, thread_name_prefix="pacer", initializer=_one_blas_thread
                )
                self._pool_pid = os.getpid()
                weakref.finalize(self, self._pool.shutdown, wait=False)
            return self._pool

    def close(self) -> None:
        """Stop the worker threads (a later large call starts them again)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _small(self, x: np.ndarray) -> np.ndarray:
        """Same contract as the block path, row by row (latency path, few numpy calls)."""
        n = x.shape[0]
        out = np.empty(n, dtype=np.float64)
        invalid = np.zeros(n, dtype=bool)
        guarded = np.zeros(n, dtype=bool)
        mlp = self.policy
        lows, highs = self._bounds
        box_lo, box_hi = self._box
        le = operator.le
        for i in range(n):
            row = x[i].tolist()
            # NaN fails every comparison, +-inf one of them: one test covers all bad values;
            # the box (valid and unclipped) holds nearly every row, so it is tried first
            in_box = all(map(le, box_lo, row)) and all(map(le, row, box_hi))
            ok = in_box or (all(map(le, lows, row)) and all(map(le, row, highs)))
            p = self.fallback
            if ok:
                a = mlp.one_action(row, in_box)
                if a != a:  # NaN from overflowing weights: never served
                    ok = False
                else:
                    a = min(max(a, self.a_low), self.a_high)
                    if self.mapping == "identity":
                        p = min(max(a, 0.0), 1.0)
                    else:
                        p = 0.0 if a <= -1.0 else 10.0 ** ((self.decades / 2.0) * (a - 1.0))
            if ok and self.budget_guard:
                r, f = self._guard_cols
                if row[r] + row[f] >= 1.0:
                    guarded[i], p = True, 0.0
            out[i] = p
            invalid[i] = not ok
        self.last_invalid, self.last_guarded = invalid, guarded
        return out

    def _block(self, x: np.ndarray, out: np.ndarray, invalid: np.ndarray, guarded: np.ndarray):
        # NaN fails both comparisons, +-inf fails one: one test covers all bad values.
        ok = ((x >= self.low) & (x <= self.high)).all(axis=1)
        np.logical_not(ok, out=invalid)
        if self._maps_actions:
            if ok.all():
                out[:] = self.action_to_throttle(self.policy.actions(x))
            else:
                out[:] = self.fallback
                out[ok] = self.action_to_throttle(self.policy.actions(x[ok]))
        else:
            if isinstance(self.policy, ResidualPolicy):
                out[:] = self.policy.throttle(x, ok, self._run)
            else:
                out[:] = self.policy.throttle(x, ok)
            out[invalid] = self.fallback
            bad = ~((out >= 0.0) & (out <= 1.0))
            if bad.any():  # a rule that misbehaves still never serves NaN
                out[bad] = self.fallback
                invalid |= bad
        if self.budget_guard:
            r, f = self._guard_cols
            np.logical_and(x[:, r].astype(np.float64) + x[:, f] >= 1.0, ok, out=guarded)
            out[guarded] = 0.0

    def actions(self, observations: Any) -> np.ndarray:
        """The deterministic actions before the throttle mapping (no input checks).

        ``mlp``: the clipped action; ``residual``: the correction ``a`` (state of the base
        rule advances as in a call); rules have none.
        """
        x = self.as_matrix(observations)
        if isinstance(self.policy, ResidualPolicy):
            return self.policy.raw_actions(x, np.ones(len(x), dtype=bool), self._run)[1]
        if not self._maps_actions:
            raise PacerError(f"policy.kind = {self.kind!r} has no actions")
        a = np.empty(len(x), dtype=np.float64)

        def block(s: int, e: int) -> None:
            a[s:e] = self.policy.actions(x[s:e])

        self._run(block, len(x), getattr(self.policy, "chunk_rows", 0) or max(len(x), 1))
        return np.clip(a, self.a_low, self.a_high)

    def action_to_throttle(self, action: np.ndarray) -> np.ndarray:
        """The manifest's action mapping: clip to [low, high], then to a throttle in [0, 1]."""
        a = np.clip(np.asarray(action, dtype=np.float64), self.a_low, self.a_high)
        if self.mapping == "identity":
            p = np.clip(a, 0.0, 1.0)
        else:  # p = 10 ** (decades (a - 1) / 2); a <= -1 stops serving
            p = np.power(10.0, (self.decades / 2.0) * (a - 1.0))
            p[a <= -1.0] = 0.0
        p[~np.isfinite(p)] = self.fallback
        return p

    def reset(self, n: int) -> None:
        """Controller protocol: start ``n`` campaigns (clears the state of stateful rules)."""
        if hasattr(self.policy, "reset"):
            self.policy.reset(n)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Controller protocol: throttles for a ``(n, n_features)`` batch."""
        return self(obs)

    def __repr__(self) -> str:
        return f"Pacer(name={self.name!r}, kind={self.kind!r}, path={self.path!r})"


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


def _load_arrays(root: str, m: dict[str, Any]) -> dict[str, np.ndarray]:
    spec = m.get("weights")
    if spec is None:
        return {}
    fname = _need(spec, "file", "weights")
    fpath = _artifact_file(root, fname, "weights")
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


def _build_policy(m: dict[str, Any], root: str, backend: str, threads: int | None) -> Any:
    spec = m["policy"]
    kind = spec["kind"]
    if backend not in ("numpy", "onnx"):
        raise PacerError(f"backend = {backend!r}: allowed 'numpy', 'onnx'")
    if backend == "onnx":
        if kind != "mlp" or not m.get("onnx"):
            raise PacerError(
                f"backend 'onnx': the artifact (policy.kind {kind!r}) has no onnx file"
            )
        return OnnxPolicy(root, m["onnx"], threads)
    arrays = _load_arrays(root, m)
    n_in = len(m["observation"]["features"])
    if kind == "mlp":
        return MlpPolicy(spec, arrays, n_in)
    if kind == "rule":
        return RulePolicy(spec, root, m["observation"]["features"])
    if kind == "residual":
        return ResidualPolicy(spec, arrays, root, m["observation"]["features"])
    raise PacerError(f"policy.kind = {kind!r}: allowed 'mlp', 'rule', 'residual'")


def load(
    path: str | os.PathLike[str],
    *,
    features: Sequence[str] | None = None,
    budget_guard: bool | None = None,
    backend: str = "numpy",
    threads: int | None = None,
) -> Pacer:
    """Load and check the artifact directory ``path``; return a ready ``Pacer``.

    ``features``: the feature names the caller will send; refused unless they are exactly
    the artifact's (order may differ for mapping inputs). ``budget_guard``: override the
    manifest's ``safety.budget_guard``. ``backend``: ``numpy`` (default) or ``onnx``
    (needs onnxruntime). ``threads``: numpy backend, the worker threads that share calls of
    more than ``CHUNK_ROWS`` rows (default: the usable CPUs, at most ``MAX_THREADS``; 1 runs
    everything in the caller's thread, for services that already run one call per core);
    onnx backend, onnxruntime's intra-op threads (default: its own choice).
    """
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise PacerError(f"threads = {threads!r}: allowed an integer >= 1, or None (automatic)")
    root = os.fspath(path)
    mpath = os.path.join(root, MANIFEST_FILE)
    if not os.path.isfile(mpath):
        raise PacerError(f"{mpath} not found: pass the artifact directory written by export")
    with open(mpath, encoding="utf-8") as f:
        try:
            m = json.load(f)
        except json.JSONDecodeError as e:
            raise PacerError(f"{mpath} is not valid JSON: {e}") from None
    check_manifest(m)
    names = [f["name"] for f in m["observation"]["features"]]
    if features is not None:
        missing = [n for n in names if n not in features]
        extra = [n for n in features if n not in names]
        if missing or extra:
            raise PacerError(
                f"features: the artifact needs {missing} that the caller lacks, and does not"
                f" take {extra}; expected exactly {names}"
            )
    policy = _build_policy(m, root, backend, threads)
    guard = bool(m["safety"].get("budget_guard", False)) if budget_guard is None else budget_guard
    workers = (threads or min(usable_cpus(), MAX_THREADS)) if backend == "numpy" else 1
    return Pacer(m, policy, root, guard, workers)


load_pacer = load
