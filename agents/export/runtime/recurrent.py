"""Policy kind ``lstm``: a recurrent (RecurrentPPO) pacer whose memory the caller carries.

``RecurrentPacer.step(obs, state)`` takes each campaign's state and returns the next one
with the throttles, and keeps nothing, so a service keeps one state row per campaign
wherever it keeps the campaign (``state in, state out``). ``reset(n)`` / ``act(obs)`` is the
same with the state kept inside (the pacegym ``Controller`` protocol, what
``run_episodes`` drives).

State layout: ``(n, 2 L H)`` float64 (holding float32 values: the arithmetic is float32, as
torch's) for ``L`` LSTM layers of ``H`` units (``state_size``); row ``r`` is
``[h_0, ..., h_{L-1}, c_0, ..., c_{L-1}]``, the hidden then the cell vector of each layer,
``H`` values each (the ``(h, c)`` pair that sb3_contrib's ``predict`` returns as ``(L, n,
H)`` arrays, campaign by campaign); ``state_names`` names the columns ``h<k>.<j>``,
``c<k>.<j>``. Reset rule: a new campaign (a new flight, or a campaign whose history is
lost) starts from ``initial_state`` (zeros), which is what ``predict(...,
episode_start=True)`` does; never carry a state from one flight to the next.

One step, per campaign (the composition sb3_contrib's ``RecurrentActorCriticPolicy`` runs):

    x = obs[:, inputs]; z = normalise(x)                       (VecNormalize's formula)
    for each layer k: i, f, g, o = split(W_ih z_k + b_ih + W_hh h_k + b_hh)   (torch order)
        c_k' = sigmoid(f) c_k + sigmoid(i) tanh(g);  h_k' = sigmoid(o) tanh(c_k');  z_{k+1} = h_k'
    a = clip(dense(h_{L-1}'), low, high)                        (the actor's MLP, then action_net)
    throttle = 10 ** (decades (a - 1) / 2), 0 for a <= -1      (envs.spaces.action_to_throttle)

``sigmoid(u) = (1 + tanh(u / 2)) / 2`` with the halving folded into the weights (exact).
Throttles are ``(n, A)`` (``A`` = ``action.width``: 1, or one per segment of a value
scenario). A row with a non-finite value gets ``fallback`` throttles and keeps its state.
A padded policy (manifest ``observation.max_segments = M``, ``runtime.segment_pad``) takes
observations of any ``S <= M`` segments, ``(n, base + 3 S)``, pads them to its input and
returns ``(n, S)`` throttles (the padded slots' actions dropped).

Threads: campaigns are independent, so a call of more than ``LSTM_BLOCK_ROWS`` rows is cut
into blocks shared among ``threads`` worker threads (``workers.Workers``, one BLAS thread
each); with ``threads=1`` the blocks run in the caller's thread, its BLAS held to one
thread for the call. Every path gives the same bits.

The artifact: ``manifest.json`` (``recurrent_manifest``: every field checked) and
``weights.npz`` (read without pickle, its sha256 in ``files``); nothing in it is imported or
executed. ``load_recurrent_pacer(path, expected_digest=...)`` pins the manifest's sha256.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .manifest import (
    MANIFEST_FILE,
    MAX_JSON_DEPTH,
    MAX_MANIFEST_BYTES,
    PacerError,
    check_depth,
    npz_arrays,
    read_file,
)
from .mlp import ACTIVATIONS, _activation
from .normalize import Normalization
from .recurrent_manifest import (
    WEIGHTS_FILE,
    _lstm_fail,
    _lstm_int,
    check_recurrent_manifest,
    padded_inputs,
)
from .workers import MAX_THREADS, Workers, _openblas_thread_setter, run_serial, usable_cpus

LSTM_BLOCK_ROWS = 4096  # [rows] per block: a worker's unit, bounds the gates' scratch memory
LSTM_SMALL_ROWS = 256  # [rows] from this many, a serial call holds its BLAS to one thread


@contextlib.contextmanager
def one_blas_thread(on: bool = True) -> Iterator[None]:
    """This thread's OpenBLAS held to one thread inside the block (where the setter exists;
    restored after): a worker or BLAS thread more than the cores only spins."""
    setter = _openblas_thread_setter() if on else None
    before = setter(1) if setter is not None else None
    try:
        yield
    finally:
        if setter is not None and before is not None:
            setter(before)


class RecurrentPacer:
    """A loaded ``lstm`` artifact (module docstring): ``step`` is the whole contract."""

    def __init__(
        self, m: dict[str, Any], arrays: Mapping[str, np.ndarray], threads: int | None = None
    ) -> None:
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise PacerError(f"threads = {threads!r}: allowed an integer >= 1, or None (automatic)")
        self.threads = threads or min(usable_cpus(), MAX_THREADS)
        self.workers = Workers(self.threads)
        obs, pol, act = m["observation"], m["policy"], m["action"]
        self.manifest, self.manifest_sha256 = m, None  # the digest: set by the loader
        self.name, self.kind = str(m["name"]), "lstm"
        self.features, self.segments = list(obs["features"]), list(obs["segments"])
        self.max_segments = int(obs.get("max_segments") or 0)
        self.pad = None  # runtime.segment_pad's layout of a padded policy
        if self.max_segments:
            self.pad, self.base_index, self.n_obs = padded_inputs(
                self.features, pol["inputs"], self.max_segments
            )
            self.index = np.arange(self.pad.width)  # the padded input, built by ``_padded``
        else:
            col = {n: i for i, n in enumerate(self.features)}
            missing = [n for n in pol["inputs"] if n not in col]
            if missing:
                raise _lstm_fail("policy.inputs", missing, "names of observation.features")
            self.index = np.array([col[n] for n in pol["inputs"]], dtype=np.int64)
        n_in = len(self.index)
        norm = pol["normalization"]
        self.norm = Normalization.from_spec(norm, n_in) if norm is not None else None
        self.layers = _lstm_int(pol, "layers", "policy", 1, 16)
        self.hidden = _lstm_int(pol, "hidden", "policy", 1, 4096)
        self.lstm = [self._lstm_layer(arrays, k, n_in) for k in range(self.layers)]
        self.dense = self._dense(arrays, pol["dense"])
        self.width = _lstm_int(act, "width", "action", 1, 4096)
        if self.max_segments and self.width != self.max_segments:
            raise _lstm_fail("action.width", self.width, "observation.max_segments")
        if self.dense[-1][0].shape[1] != self.width:
            raise _lstm_fail(
                "action.width", self.width, f"the last layer's {self.dense[-1][0].shape[1]}"
            )
        self.low, self.high = float(act["low"]), float(act["high"])
        self.decades, self.fallback = float(act["decades"]), float(act["fallback"])
        if not (-1.0 <= self.low < self.high <= 1.0 and 0 < self.decades <= 16):
            raise _lstm_fail("action", act, "-1 <= low < high <= 1, 0 < decades <= 16")
        if not 0.0 <= self.fallback <= 1.0:
            raise _lstm_fail("action.fallback", self.fallback, "a throttle in [0, 1]")
        self.state_size = 2 * self.layers * self.hidden
        self.state_names = tuple(
            f"{hc}{k}.{j}" for hc in "hc" for k in range(self.layers) for j in range(self.hidden)
        )
        self.reset(0)

    def _lstm_layer(self, arrays: Mapping[str, np.ndarray], k: int, n_in: int) -> tuple:
        """``(W_ih^T, W_hh^T, b)`` float32, the sigmoid gates' columns (i, f, o) halved."""
        h = self.hidden
        shapes = {
            f"lstm_w_ih_{k}": (4 * h, n_in if k == 0 else h),
            f"lstm_w_hh_{k}": (4 * h, h),
            f"lstm_b_ih_{k}": (4 * h,),
            f"lstm_b_hh_{k}": (4 * h,),
        }
        out = []
        for key, shape in shapes.items():
            a = arrays.get(key)
            if a is None or a.shape != shape or a.dtype != np.float32:
                got = None if a is None else f"{a.dtype} {a.shape}"
                raise PacerError(f"{WEIGHTS_FILE}: {key} is {got}; expected float32 {shape}")
            out.append(a)
        w_ih, w_hh, b_ih, b_hh = out
        half = np.ones(4 * h, dtype=np.float32)
        half[: 2 * h], half[3 * h :] = 0.5, 0.5  # sigmoid(u) = (1 + tanh(u / 2)) / 2: exact
        b = (b_ih.astype(np.float64) + b_hh).astype(np.float32) * half
        w_ih, w_hh = (np.ascontiguousarray((w.T * half).astype(np.float32)) for w in (w_ih, w_hh))
        return w_ih, w_hh, b

    def _dense(self, arrays: Mapping[str, np.ndarray], spec: Any) -> list[tuple]:
        if not isinstance(spec, list) or not spec:
            raise _lstm_fail("policy.dense", spec, "a non-empty list of activations")
        layers, n_in = [], self.hidden
        for j, act in enumerate(spec):
            if act not in ACTIVATIONS:
                raise _lstm_fail(f"policy.dense[{j}]", act, f"one of {list(ACTIVATIONS)}")
            w, b = arrays.get(f"dense_w_{j}"), arrays.get(f"dense_b_{j}")
            ok = w is not None and b is not None and w.ndim == 2 and w.shape[0] == n_in
            if not ok or b.shape != (w.shape[1],) or w.dtype != np.float32 or w.dtype != b.dtype:
                raise PacerError(
                    f"{WEIGHTS_FILE}: dense_w_{j}/dense_b_{j} missing or not float32"
                    f" ({n_in}, m)/(m,)"
                )
            layers.append((w, b, act))
            n_in = w.shape[1]
        if len(arrays) != 4 * self.layers + 2 * len(spec):
            raise PacerError(f"{WEIGHTS_FILE}: {sorted(arrays)}: arrays the manifest does not name")
        return layers

    def initial_state(self, n: int) -> np.ndarray:
        """The state of ``n`` new campaigns: zeros ``(n, state_size)`` (the reset rule)."""
        return np.zeros((int(n), self.state_size))

    def reset(self, n: int, state: Any = None) -> None:
        """Start ``n`` campaigns kept inside (for ``act``): ``state`` (checked, copied), by
        default ``initial_state(n)``."""
        if state is None:
            self.state = self.initial_state(n)
        else:
            self.state = self._check(np.zeros((n, len(self.features))), state)[1].copy()

    def act(self, obs: Any) -> np.ndarray:
        """Throttles for ``obs``, the state kept inside advancing (a new ``n`` starts ``n``
        new campaigns): ``(n, A)``, or ``(n,)`` for a policy without segments."""
        x = np.asarray(obs)
        if x.ndim == 2 and self.state.shape[0] != x.shape[0]:
            self.reset(x.shape[0])
        th, self.state = self.step(x, self.state)
        return th[:, 0] if not self.segments and self.width == 1 else th

    __call__ = act

    def _check(self, obs: Any, state: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(obs)
        x = x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)
        x = x.reshape(1, -1) if x.ndim == 1 else x
        s = np.asarray(state, dtype=np.float64)
        s = s.reshape(1, -1) if s.ndim == 1 else s
        if self.pad is not None:
            self._segments_of(x)
        elif x.ndim != 2 or x.shape[1] != len(self.features):
            raise PacerError(f"obs has shape {x.shape}: expected (n, {len(self.features)})")
        if s.shape != (x.shape[0], self.state_size):
            raise PacerError(
                f"state has shape {s.shape}: expected ({x.shape[0]}, {self.state_size})"
            )
        return x, s

    def _segments_of(self, x: np.ndarray) -> int:
        """The segment count ``S`` of a padded pacer's observations ``(n, base + 3 S)``,
        ``1 <= S <= max_segments``; ``PacerError`` in one line otherwise."""
        s, rest = divmod(x.shape[1] - self.n_obs, 3) if x.ndim == 2 else (-1, 1)
        if rest or not 1 <= s <= self.max_segments:
            raise PacerError(
                f"obs has shape {x.shape}: expected (n, {self.n_obs} + 3 S) with S segments in"
                f" [1, {self.max_segments}] (observation.max_segments)"
            )
        return s

    def _padded(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """``(the padded input, S)`` of observations of ``S`` segments (``segment_pad``)."""
        s = self._segments_of(x)
        own = np.concatenate([x[:, self.base_index], x[:, self.n_obs :]], axis=1)
        return self.pad.spread(own, s), s  # type: ignore[union-attr]

    def actions(self, obs: Any, state: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(actions (n, A) clipped to [low, high], next state)``; rows with a non-finite
        observation or state get NaN actions and keep their state. Blocks of
        ``LSTM_BLOCK_ROWS`` rows, on the worker threads when there are several. A padded
        pacer (``max_segments``) takes ``S <= max_segments`` segments and returns ``A = S``
        actions: the padded slots' are dropped."""
        x, s = self._check(obs, state)
        if self.pad is not None:
            x, n_seg = self._padded(x)
            a, nxt = self._actions(x, s)
            return a[:, :n_seg].copy(), nxt
        return self._actions(x, s)

    def _actions(self, x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(x)
        a, nxt = np.empty((n, self.width)), np.empty_like(s)

        def block(lo: int, hi: int) -> None:
            a[lo:hi] = self._block(x[lo:hi], s[lo:hi], nxt[lo:hi])

        if self.threads > 1 and n > LSTM_BLOCK_ROWS:
            self.workers.run(block, n, LSTM_BLOCK_ROWS)
        else:
            with one_blas_thread(n >= LSTM_SMALL_ROWS):
                run_serial(block, n, LSTM_BLOCK_ROWS)
        return a, nxt

    def _block(self, x: np.ndarray, s: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """The actions of rows ``x`` with states ``s``; their next states written to ``nxt``."""
        ok = np.isfinite(x).all(axis=1) & np.isfinite(s).all(axis=1)
        every = bool(ok.all())
        z = x[:, self.index]
        inp = self.norm(z) if self.norm is not None else z.astype(np.float32)
        s32 = s.astype(np.float32)
        if not every:
            inp[~ok], s32[~ok] = 0.0, 0.0
        hid, lh = self.hidden, self.layers * self.hidden
        for k, (w_ih, w_hh, b) in enumerate(self.lstm):
            h0, c0 = k * hid, lh + k * hid
            gates = inp @ w_ih
            gates += s32[:, h0 : h0 + hid] @ w_hh
            gates += b
            t = np.tanh(gates, out=gates)  # g's tanh; i, f, o: tanh of the halved gate
            for sig in (t[:, : 2 * hid], t[:, 3 * hid :]):
                sig += 1.0
                sig *= 0.5
            c = t[:, hid : 2 * hid] * s32[:, c0 : c0 + hid]
            c += t[:, :hid] * t[:, 2 * hid : 3 * hid]
            inp = np.tanh(c) * t[:, 3 * hid :]
            nxt[:, h0 : h0 + hid], nxt[:, c0 : c0 + hid] = inp, c
        for w, b, act in self.dense:
            inp = inp @ w
            inp += b
            inp = _activation(act, inp)
        a = np.clip(inp.astype(np.float64), self.low, self.high)
        if not every:
            a[~ok], nxt[~ok] = np.nan, s[~ok]
        return a

    def step(self, obs: Any, state: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(throttles (n, A) in [0, 1], next state (n, state_size))`` for observations
        ``(n, width)`` in ``observation.features`` order and each campaign's state (the one
        given is not changed)."""
        a, nxt = self.actions(obs, state)
        return self.throttles(a), nxt

    def throttles(self, a: np.ndarray) -> np.ndarray:
        """The throttles of actions ``a`` (``actions``'): ``10 ** (decades (a - 1) / 2)``,
        0 for ``a <= -1``, ``fallback`` for a NaN action (a row refused)."""
        p = np.power(10.0, (self.decades / 2.0) * (a - 1.0))
        p[a <= -1.0] = 0.0
        p[~np.isfinite(p)] = self.fallback
        return p

    def frame_inputs(self) -> list[str]:
        """The named columns of a served call: the features, then ``state.<name>``."""
        return [*self.features, *(f"state.{n}" for n in self.state_names)]

    def frame_outputs(self) -> list[str]:
        """``throttle.<segment>`` each (``throttle`` without segments), then the new state."""
        th = [f"throttle.{s}" for s in self.segments] if self.segments else ["throttle"]
        th = th if len(th) == self.width else [f"throttle.{i}" for i in range(self.width)]
        return [*th, *(f"state.{n}" for n in self.state_names)]

    def serve_columns(self, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """``{output column: (n,) float64}`` for ``{input column: (n,) values}`` (every one of
        ``frame_inputs``; others ignored): features read as float32, state as float64."""
        names = self.frame_inputs()
        missing = [c for c in names if c not in columns]
        if missing:
            raise PacerError(
                f"input column {missing[0]!r} is missing ({len(missing)} of {len(names)}):"
                " allowed the columns of frame_inputs (the features, state.<name>)"
            )
        k = len(self.features)
        obs = np.stack([np.asarray(columns[c], dtype=np.float32) for c in names[:k]], axis=1)
        state = np.stack([np.asarray(columns[c], dtype=np.float64) for c in names[k:]], axis=1)
        th, new = self.step(obs, state)
        both = np.concatenate([th, new], axis=1)
        return {c: both[:, j] for j, c in enumerate(self.frame_outputs())}


def load_recurrent_pacer(
    path: str | os.PathLike[str], threads: int | None = None, expected_digest: str | None = None
) -> RecurrentPacer:
    """Load and check the ``lstm`` artifact directory ``path`` (module docstring); with
    ``expected_digest`` the sha256 of its ``manifest.json`` must be that one."""
    root = os.fspath(path)
    raw, digest = read_file(root, MANIFEST_FILE, "manifest", MAX_MANIFEST_BYTES)
    if expected_digest is not None and digest != str(expected_digest).lower():
        raise PacerError(
            f"manifest.json sha256 {digest} differs from expected_digest {expected_digest!r}:"
            " the artifact is not the one pinned; refusing to load"
        )
    try:
        m = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PacerError(f"{MANIFEST_FILE}: not JSON ({e})") from None
    check_depth(m, MAX_JSON_DEPTH, "manifest")
    m = check_recurrent_manifest(m)
    raw, digest_w = read_file(root, WEIGHTS_FILE, f"files.{WEIGHTS_FILE}")
    if digest_w != m["files"][WEIGHTS_FILE]:
        raise PacerError(
            f"files.{WEIGHTS_FILE}: sha256 differs from the manifest's; the file is corrupted"
            " or was changed after export: refusing to load"
        )
    pacer = RecurrentPacer(m, npz_arrays(raw, WEIGHTS_FILE), threads)
    pacer.manifest_sha256 = digest
    return pacer
