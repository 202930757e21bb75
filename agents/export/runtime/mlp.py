"""Dense networks (``Mlp``) and the ``mlp`` policy kind: network output -> action map.

The block path (``Mlp.actions``) serves batches: blocks of at least ``FAST_MIN_ROWS`` rows
run the tanh layers in the folded form of ``_fold_tanh`` (within 1e-5 of the plain form;
the parity tests measure it). The single-row path (``MlpPolicy.one_throttle``) serves one
campaign with one matrix-vector product per layer, layer 1 in float64.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .kinds import ActionMap
from .manifest import PacerError, _need
from .normalize import Normalization
from .workers import Runner

CHUNK_ROWS = 4096  # rows per numpy block: keeps the hidden activations in cache [rows]
FAST_MIN_ROWS = 64  # from this many rows, tanh layers run in the folded exp form [rows]
ACTIVATIONS = ("tanh", "relu", "elu", "leaky_relu", "silu", "identity")


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


def input_index(
    spec: Mapping[str, Any], features: Sequence[Mapping[str, Any]], extra: int = 0
) -> np.ndarray | None:
    """Columns of the pacer's rows the network reads: ``policy.inputs`` (feature names, in
    order) plus the ``extra`` columns appended after the features (a residual's
    ``base_log10``); None when ``inputs`` is absent (every column, in order). Unknown or
    repeated names are refused naming ``policy.inputs``."""
    inputs = spec.get("inputs")
    if inputs is None:
        return None
    names = [f["name"] for f in features]
    for i, name in enumerate(inputs):
        if name not in names or name in inputs[:i]:
            raise PacerError(
                f"manifest field policy.inputs[{i}] = {name!r}: allowed a feature of"
                f" observation.features, each once ({names})"
            )
    idx = [names.index(n) for n in inputs] + [len(names) + k for k in range(extra)]
    return np.array(idx, dtype=np.int64)


class Mlp:
    """Dense layers ``x @ W + b`` with activations, on normalised inputs (``Normalization``).

    ``spec``: ``manifest.policy`` (``layers``, ``normalization``); ``n_in``: input width.
    ``index``: the columns of the rows it is given that it reads (``input_index``), in
    which case ``n_in`` is ``len(index)``. One output (the action); float32 throughout the
    block path.
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray],
        n_in: int,
        index: np.ndarray | None = None,
    ):
        self.index = index
        n_in = n_in if index is None else len(index)
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
        self._scratch = threading.local()  # per worker thread: ``_buffers``
        norm = spec.get("normalization")
        self.norm = None if norm is None else Normalization.from_spec(norm, n_in)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """The float32 policy input for float32 rows ``x`` (``(n, n_in)`` or one row)."""
        return x if self.norm is None else self.norm(x)

    def actions(self, x: np.ndarray) -> np.ndarray:
        """Raw outputs ``(n,)`` float32 for valid float32 rows ``x`` (``(n, n_in)``, or the
        full rows that ``index`` selects from)."""
        x = x if self.index is None else x[:, self.index]
        if len(x) < FAST_MIN_ROWS:
            h = self.normalize(x)
            for w, b, act in self.layers:
                h = h @ w
                h += b
                h = _activation(act, h)
            return h[:, 0]
        bufs = self._buffers(len(x))
        h = x if self.norm is None else self.norm.into(x, bufs[0], bufs[1])
        with np.errstate(over="ignore"):  # exp(2u) -> inf gives r = 0, tanh = 1: exact
            for (w, b, kind), out in zip(self.fast, bufs[2:], strict=True):
                h = np.matmul(h, w, out=out)
                h += b
                if kind == "r":
                    np.exp(h, out=h)
                    h += 1.0
                    np.reciprocal(h, out=h)
                else:
                    h = _activation(kind, h)
        return h[:, 0].copy()  # the buffers serve this thread's next block

    def _buffers(self, n: int) -> list[np.ndarray]:
        """This thread's scratch arrays for a block of ``n`` rows: the normalised input
        (float64, float32), then each layer's output; allocated once per thread and size
        (fresh 1-MB arrays each block cost page faults, not arithmetic)."""
        cache = self._scratch.__dict__.setdefault("by_rows", {})
        bufs = cache.get(n)
        if bufs is None:
            n_in = self.layers[0][0].shape[0]
            bufs = [np.empty((n, n_in)), np.empty((n, n_in), dtype=np.float32)]
            bufs += [np.empty((n, w.shape[1]), dtype=np.float32) for w, _, _ in self.fast]
            if len(cache) >= 4:  # odd tails (the last block of a call) stay few
                cache.clear()
            cache[n] = bufs
        return bufs


class RowNet:
    """One row through an ``Mlp`` in few numpy calls (the latency path of ``mlp`` and
    ``residual``): layer 1 in float64 as ``W^T @ [x, 1]``; where no input reaches the
    normalisation clip (raw values inside ``box``) the normalisation folds into that layer
    exactly: ``W1 (x - m) / s + b1 = (W1 / s) x + (b1 - (m / s) W1)``. Later layers run in
    float32 as in the block path (numpy's float32 tanh is 2x faster)."""

    def __init__(self, net: Mlp) -> None:
        self.net = net
        w1, b1, act0 = net.layers[0]
        w, b = w1.astype(np.float64), b1.astype(np.float64)
        self._row_plain = np.ascontiguousarray(np.vstack([w, b[None]]).T)  # input [z, 1]
        norm = net.norm
        if norm is None:
            self.box = ([-math.inf] * len(w), [math.inf] * len(w))
            self._row_folded = self._row_plain
        else:
            self.box = norm.box
            folded = np.vstack([w / norm.std[:, None], (b - (norm.mean / norm.std) @ w)[None]])
            self._row_folded = np.ascontiguousarray(folded.T)  # input [x, 1]
        self._row_rest = [(np.ascontiguousarray(w.T), b, act) for w, b, act in net.layers[1:-1]]
        w, b, act = net.layers[-1]  # (width, 1): a dot product and a Python float bias
        self._row_last = (np.ascontiguousarray(w[:, 0]), float(b[0]), act)
        self._act0 = act0
        self._single = len(net.layers) == 1

    def output(self, row: list[float], in_box: bool) -> float:
        """The network's output for the raw inputs ``row`` (NaN if it overflows).

        ``in_box``: every value lies inside ``box`` (the normalisation clip is a no-op), so
        the folded first layer applies; otherwise the row is normalised and clipped first.
        """
        if in_box:
            h = np.dot(self._row_folded, np.array([*row, 1.0]))
        else:
            z = self.net.normalize(np.array(row, dtype=np.float32))  # as SB3: float64 -> float32
            h = np.dot(self._row_plain, np.append(z, 1.0))
        if self._single:  # a linear (or single-layer) policy: h is the output
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


class MlpPolicy:
    """Policy kind ``mlp``: the network's action through the manifest's action mapping.

    Stateless, so a call is cut into ``CHUNK_ROWS`` blocks for the worker threads. The
    single-row path (``one_throttle``) is ``RowNet``'s.
    """

    block_rows = CHUNK_ROWS
    parallel = True

    def __init__(self, net: Mlp, amap: ActionMap) -> None:
        self.net, self.amap = net, amap
        # the row path folds layer 1 over every feature; a network reading some of them
        # (policy.inputs) serves single rows through the block path
        self.row_path = self if net.index is None else None
        self._net_row = RowNet(net)
        self.box = self._net_row.box
        self._output = self._net_row.output
        self._map_one = amap.one

    @classmethod
    def from_artifact(
        cls, m: Mapping[str, Any], root: str, arrays: Mapping[str, np.ndarray]
    ) -> MlpPolicy:
        """From a checked manifest and its weights (``root`` unused: no other files)."""
        feats = m["observation"]["features"]
        net = Mlp(m["policy"], arrays, len(feats), input_index(m["policy"], feats))
        return cls(net, ActionMap.from_manifest(m))

    def reset(self, n: int) -> None:
        """Stateless."""

    def throttle(self, x: np.ndarray, ok: np.ndarray, run: Runner) -> np.ndarray:
        return self.amap.served(self.net.actions, x, ok)

    def actions(self, x: np.ndarray, run: Runner) -> np.ndarray:
        """The clipped actions, in ``CHUNK_ROWS`` blocks through ``run``."""
        return self.amap.clipped(self.net.actions, x, run, CHUNK_ROWS)

    def begin(self, n: int) -> None:
        """Stateless."""

    def one_throttle(self, row: list[float], in_box: bool, r: int = 0) -> float:
        """The throttle of one valid row (latency path; NaN if the network overflows);
        ``in_box``: see ``RowNet.output``."""
        return self._map_one(self._output(row, in_box))
