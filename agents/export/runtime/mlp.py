"""Dense networks (``Mlp``) and the ``mlp`` policy kind: network output -> action map.

The block path (``Mlp.actions``) serves batches in blocks of at most ``CHUNK_ROWS`` rows,
written into per-thread scratch arrays: the normalisation (``Normalization.into``), then
per layer one float32 product with the bias inside it (``block_layers``) and the
activation in place: SB3's sums in another order (within float32 rounding; the parity
tests measure it). The single-row path (``RowNet``, ``MlpPolicy.one_throttle``) serves
one campaign with one matrix-vector product per layer into preallocated vectors, layer 1
in float64.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .kinds import ActionMap
from .manifest import PacerError, _need
from .normalize import Normalization
from .workers import Runner

CHUNK_ROWS = 4096  # rows per numpy block: keeps the hidden activations in cache [rows]
ACTIVATIONS = ("tanh", "relu", "elu", "leaky_relu", "silu", "identity")
SATURATES = {"tanh": 20.0, "relu": 1.0, "elu": 1.0, "leaky_relu": 1.0, "identity": 1.0}
"""An input ``c`` each activation maps to exactly 1 (float32 tanh(20) rounds to 1)."""


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


def block_layers(
    layers: Sequence[tuple[np.ndarray, np.ndarray, str]], ones_in: bool
) -> list[tuple[np.ndarray, np.ndarray | None, str]]:
    """The layers as the block path runs them, the biases inside the products.

    A layer whose input carries a last column of ones (``ones_in`` for the first) takes its
    bias as the last row of its weight: ``[h, 1] @ [W; b]``, no pass adding it. A hidden
    layer whose activation maps some ``c`` to exactly 1 (``SATURATES``, checked on numpy's
    own kernel) gets one more output column, ``c`` before the activation and so 1 after
    (``1 c + sum 0 h`` is exact): the next layer's column of ones, unless the next layer is
    the last (its one output takes its bias in a pass over ``n`` values, cheaper than a
    65th column in the widest product: 64 columns fit the BLAS's kernels). Otherwise the
    bias stays (``None`` when it rides in the product). Same sums as ``h @ W + b``, in
    another order.
    """
    out: list[tuple[np.ndarray, np.ndarray | None, str]] = []
    for k, (w, b, act) in enumerate(layers):
        c = SATURATES.get(act) if k + 2 < len(layers) else None
        if c is not None and _activation(act, np.full((1, 1), c, np.float32))[0, 0] != 1.0:
            c = None
        if c is not None:
            w = np.hstack([w, np.zeros((len(w), 1), w.dtype)])
            b = np.append(b, b.dtype.type(c))
        if ones_in:
            out.append((np.ascontiguousarray(np.vstack([w, b[None]])), None, act))
        else:
            out.append((np.ascontiguousarray(w), b, act))
        ones_in = c is not None
    return out


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
        self._scratch = threading.local()  # per worker thread: ``_buffers``
        norm = spec.get("normalization")
        self.norm = None if norm is None else Normalization.from_spec(norm, n_in)
        self.block = block_layers(self.layers, ones_in=self.norm is not None)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """The float32 policy input for float32 rows ``x`` (``(n, n_in)`` or one row)."""
        return x if self.norm is None else self.norm(x)

    def actions(self, x: np.ndarray) -> np.ndarray:
        """Raw outputs ``(n,)`` float32 for valid float32 rows ``x`` (``(n, n_in)``, or the
        full rows that ``index`` selects from), in blocks of at most ``CHUNK_ROWS`` rows."""
        x = x if self.index is None else x[:, self.index]
        n = len(x)
        if n <= CHUNK_ROWS:
            return self._block(x)
        out = np.empty(n, dtype=np.float32)
        for s in range(0, n, CHUNK_ROWS):
            out[s : s + CHUNK_ROWS] = self._block(x[s : s + CHUNK_ROWS])
        return out

    def _block(self, x: np.ndarray) -> np.ndarray:
        """``actions`` of at most ``CHUNK_ROWS`` rows, through this thread's scratch arrays."""
        n = len(x)
        bufs = self._buffers()
        h = x
        if self.norm is not None:  # into all but the last column (ones: layer 1's bias)
            h = bufs[1][:n]
            self.norm.into(x, bufs[0][:n], h[:, :-1])
        for (w, b, act), out in zip(self.block, bufs[2:], strict=True):
            h = np.matmul(h, w, out=out[:n])
            if b is not None:
                h += b
            h = _activation(act, h)
        return h[:, 0].copy()  # the buffers serve this thread's next block

    def _buffers(self) -> list[np.ndarray]:
        """This thread's scratch arrays for ``CHUNK_ROWS`` rows (a block uses their first
        rows): the normalised input (float64; float32 and a column of ones), then each
        layer's output (``block``); allocated once per thread (fresh 1-MB arrays each
        block cost page faults, not arithmetic)."""
        bufs: list[np.ndarray] | None = getattr(self._scratch, "bufs", None)
        if bufs is None:
            n_in = self.layers[0][0].shape[0]
            bufs = [np.empty((CHUNK_ROWS, n_in)), np.ones((CHUNK_ROWS, n_in + 1), np.float32)]
            bufs += [np.empty((CHUNK_ROWS, w.shape[1]), np.float32) for w, _, _ in self.block]
            self._scratch.bufs = bufs
        return bufs


class _PerThread(threading.local):
    """``run``: a closure made by ``make()`` once in each thread that reads it."""

    def __init__(self, make: Callable[[], Callable[[list[float], bool], float]]) -> None:
        self.run = make()


class RowNet:
    """One row through an ``Mlp`` in few numpy calls (the latency path of ``mlp`` and
    ``residual``), each writing into this thread's preallocated vectors.

    Layer 1 runs in float64 as ``W^T @ [x, 1]``; where no input reaches the normalisation
    clip (raw values inside ``box``) the normalisation folds into that layer exactly:
    ``W1 (x - m) / s + b1 = (W1 / s) x + (b1 - (m / s) W1)``. Later layers run in float32
    as in the block path (numpy's float32 tanh is 2x faster), each hidden one as
    ``[W^T, b] @ [h, 1]``: the bias rides in the product, one numpy call per layer.
    """

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
        self._n_in = len(w)
        self._act0 = act0
        self._single = len(net.layers) == 1
        # hidden layers after the first: [W^T, b] (width_out, width_in + 1), float32
        self._row_rest = [
            (np.ascontiguousarray(np.hstack([w.T, b[:, None]])), act)
            for w, b, act in net.layers[1:-1]
        ]
        w, b, act = net.layers[-1]  # (width, 1): a dot product and a Python float bias
        w_last = np.zeros(w.shape[0] + 1, dtype=np.float32)  # the input's trailing 1 adds 0
        w_last[:-1] = w[:, 0]
        self._row_last = (w_last, float(b[0]), act)
        self.per_thread = _PerThread(self._evaluator)
        """``per_thread.run``: ``output`` as this thread's closure (made on first use)."""

    def output(self, row: list[float], in_box: bool) -> float:
        """The network's output for the raw inputs ``row`` (NaN if it overflows).

        ``in_box``: every value lies inside ``box`` (the normalisation clip is a no-op), so
        the folded first layer applies; otherwise the row is normalised and clipped first.
        """
        return self.per_thread.run(row, in_box)

    def _evaluator(self) -> Callable[[list[float], bool], float]:
        """``output`` for this thread: its vectors allocated once and bound, with the
        weights, into a closure (one numpy call per step, no attribute look-ups).

        ``[x, 1]`` (float64) and layer 1's output (float64), then per later layer its input
        ``[h, 1]`` (float32; the trailing 1 stays): each hidden layer writes its product
        into the next one's input and applies its activation there, in place."""
        x = np.ones(self._n_in + 1)
        xv, h = x[:-1], np.empty(self._row_plain.shape[0])
        ins = [np.ones(len(w) + 1, np.float32) for w, _ in self._row_rest]
        ins.append(np.ones(len(self._row_last[0]), np.float32))
        steps = [
            (w, act == "tanh", act, a_in, a_next[:-1])
            for (w, act), a_in, a_next in zip(self._row_rest, ins, ins[1:], strict=False)
        ]
        folded, plain, norm = self._row_folded, self._row_plain, self.net.norm
        z64, z32 = np.empty(self._n_in), np.empty(self._n_in, np.float32)  # outside the box
        act0, single, h1, last = self._act0, self._single, ins[0][:-1], ins[-1]
        w_last, b_last, act_last = self._row_last
        tanh = np.tanh

        def run(row: list[float], in_box: bool) -> float:
            if in_box:
                xv[:] = row
                folded.dot(x, out=h)
            else:  # outside the box (so there is a normalisation): as SB3, float64 -> float32
                xv[:] = row
                xv[:] = norm.into(xv, z64, z32)  # type: ignore[union-attr]
                plain.dot(x, out=h)
            if single:  # a linear (or single-layer) policy: h is the output
                return float(_activation(act0, h)[0])
            if act0 == "tanh":  # the float64 values cast to float32, then float32 tanh
                h1[...] = h
                tanh(h1, out=h1)
            else:
                h1[:] = _activation(act0, h)
            for wb, is_tanh, act, a_in, a_next in steps:
                wb.dot(a_in, out=a_next)
                if is_tanh:
                    tanh(a_next, out=a_next)
                else:
                    a_next[:] = _activation(act, a_next)
            a = float(w_last.dot(last)) + b_last
            return a if act_last == "identity" else float(_activation(act_last, np.array([a]))[0])

        return run


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
        self._rows, self._map_one = self._net_row.per_thread, amap.one  # bound once

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
        return self._map_one(self._rows.run(row, in_box))  # ``RowNet.output``, inline
