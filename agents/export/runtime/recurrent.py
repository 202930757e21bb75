"""Policy kind ``lstm``: a recurrent (RecurrentPPO) pacer whose memory the caller carries.

The pacer holds no per-campaign state: ``RecurrentPacer.step(obs, state)`` takes each
campaign's state and returns the next one with the throttles, so a service keeps one state
row per campaign wherever it keeps the campaign (``state in, state out``).

State layout: ``(n, 2 L H)`` float64 (holding float32 values: the arithmetic is float32, as
torch's) for ``L`` LSTM layers of ``H`` units (``state_size``);
row ``r`` is ``[h_0, ..., h_{L-1}, c_0, ..., c_{L-1}]``, the hidden then the cell vector of
each layer, ``H`` values each (the ``(h, c)`` pair that sb3_contrib's ``predict`` returns as
``(L, n, H)`` arrays, campaign by campaign). Reset rule: a new campaign (a new flight, or a
campaign whose history is lost) starts from ``initial_state`` (zeros), which is what
``predict(..., episode_start=True)`` does; never carry a state from one flight to the next.

One step, per campaign (the composition sb3_contrib's ``RecurrentActorCriticPolicy`` runs):

    x = obs[:, inputs]; z = normalise(x)                       (VecNormalize's formula)
    for each layer k: i, f, g, o = split(W_ih z_k + b_ih + W_hh h_k + b_hh)   (torch order)
        c_k' = sigmoid(f) c_k + sigmoid(i) tanh(g);  h_k' = sigmoid(o) tanh(c_k');  z_{k+1} = h_k'
    a = clip(dense(h_{L-1}'), low, high)                        (the actor's MLP, then action_net)
    throttle = 10 ** (decades (a - 1) / 2), 0 for a <= -1      (envs.spaces.action_to_throttle)

Throttles are ``(n, A)`` (``A`` = ``action.width``: 1, or one per segment of a value
scenario). A row with a non-finite value gets ``fallback`` throttles and keeps its state.

The artifact: ``manifest.json`` (schema, name, observation, policy, action, state, files,
source) and ``weights.npz`` (read without pickle, its sha256 in ``files``). Every field is
checked on load (``PacerError``: one line naming the field, the value and what is allowed);
nothing in the artifact is imported or executed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .manifest import MANIFEST_FILE, PacerError, npz_arrays, read_file
from .mlp import ACTIVATIONS, _activation
from .normalize import Normalization

RECURRENT_SCHEMA = "pacegym.recurrent_pacer"
RECURRENT_SCHEMA_VERSION = 1
WEIGHTS_FILE = "weights.npz"
LSTM_BLOCK_ROWS = 8192  # [rows] per numpy block: bounds the gates' scratch memory
STATE_LAYOUT = "h_0..h_{L-1}, c_0..c_{L-1}; H float64 values each; zeros for a new campaign"
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


def _lstm_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.float32(0.5) * (np.float32(1.0) + np.tanh(np.float32(0.5) * x))


class RecurrentPacer:
    """A loaded ``lstm`` artifact (module docstring); ``step`` is the whole contract."""

    def __init__(self, m: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        obs, pol, act = m["observation"], m["policy"], m["action"]
        self.name = str(m["name"])
        self.features = list(obs["features"])
        col = {n: i for i, n in enumerate(self.features)}
        missing = [n for n in pol["inputs"] if n not in col]
        if missing:
            raise _lstm_fail("policy.inputs", missing, "names of observation.features")
        self.index = np.array([col[n] for n in pol["inputs"]], dtype=np.int64)
        n_in = len(self.index)
        norm = pol["normalization"]
        self.norm = Normalization.from_spec(norm, n_in) if norm is not None else None
        self.layers, self.hidden = (
            _lstm_int(pol, "layers", "policy", 1, 16),
            _lstm_int(pol, "hidden", "policy", 1, 4096),
        )
        self.lstm = [self._lstm_layer(arrays, k, n_in) for k in range(self.layers)]
        self.dense = self._dense(arrays, pol["dense"])
        self.width = _lstm_int(act, "width", "action", 1, 4096)
        if self.dense[-1][0].shape[1] != self.width:
            raise _lstm_fail(
                "action.width", self.width, f"the last layer's {self.dense[-1][0].shape[1]}"
            )
        self.low, self.high = float(act["low"]), float(act["high"])
        self.decades = float(act["decades"])
        self.fallback = float(act["fallback"])
        if not (-1.0 <= self.low < self.high <= 1.0 and 0 < self.decades <= 16):
            raise _lstm_fail("action", act, "-1 <= low < high <= 1, 0 < decades <= 16")
        if not 0.0 <= self.fallback <= 1.0:
            raise _lstm_fail("action.fallback", self.fallback, "a throttle in [0, 1]")
        self.state_size = 2 * self.layers * self.hidden

    def _lstm_layer(self, arrays: Mapping[str, np.ndarray], k: int, n_in: int) -> tuple:
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
        return w_ih.T.copy(), w_hh.T.copy(), (b_ih.astype(np.float64) + b_hh).astype(np.float32)

    def _dense(self, arrays: Mapping[str, np.ndarray], spec: Any) -> list[tuple]:
        if not isinstance(spec, list) or not spec:
            raise _lstm_fail("policy.dense", spec, "a non-empty list of activations")
        layers, n_in = [], self.hidden
        for j, act in enumerate(spec):
            if act not in ACTIVATIONS:
                raise _lstm_fail(f"policy.dense[{j}]", act, f"one of {list(ACTIVATIONS)}")
            w, b = arrays.get(f"dense_w_{j}"), arrays.get(f"dense_b_{j}")
            ok = w is not None and b is not None and w.ndim == 2 and w.shape[0] == n_in
            if (
                not ok
                or b.shape != (w.shape[1],)
                or np.float32 not in (w.dtype, b.dtype)
                or w.dtype != b.dtype
            ):
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

    def _check(self, obs: Any, state: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(obs, dtype=np.float64)
        x = x.reshape(1, -1) if x.ndim == 1 else x
        s = np.asarray(state, dtype=np.float64)
        s = s.reshape(1, -1) if s.ndim == 1 else s
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise PacerError(f"obs has shape {x.shape}: expected (n, {len(self.features)})")
        if s.shape != (x.shape[0], self.state_size):
            raise PacerError(
                f"state has shape {s.shape}: expected ({x.shape[0]}, {self.state_size})"
            )
        return x, s

    def actions(self, obs: Any, state: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(actions (n, A) clipped to [low, high], next state)``; rows with a non-finite
        observation or state get NaN actions and keep their state. Rows run in blocks of
        ``LSTM_BLOCK_ROWS`` (bounded scratch memory; rows are independent)."""
        x, s = self._check(obs, state)
        a = np.empty((len(x), self.width))
        nxt = s.copy()
        for start in range(0, len(x), LSTM_BLOCK_ROWS):
            rows = slice(start, start + LSTM_BLOCK_ROWS)
            a[rows] = self._block(x[rows], s[rows], nxt[rows])
        return a, nxt

    def _block(self, x: np.ndarray, s: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """The actions of rows ``x`` with states ``s``; their next states written to ``nxt``."""
        ok = np.isfinite(x).all(axis=1) & np.isfinite(s).all(axis=1)
        z = x[:, self.index]
        z = self.norm(z) if self.norm is not None else z.astype(np.float32)
        inp = np.where(ok[:, None], z, np.float32(0.0))
        s = np.where(ok[:, None], s, 0.0).astype(np.float32)
        lh = self.layers * self.hidden
        for k, (w_ih, w_hh, b) in enumerate(self.lstm):
            h0, c0 = k * self.hidden, lh + k * self.hidden
            h, c = s[:, h0 : h0 + self.hidden], s[:, c0 : c0 + self.hidden]
            i, f, g, o = np.split(inp @ w_ih + h @ w_hh + b, 4, axis=1)
            c = _lstm_sigmoid(f) * c + _lstm_sigmoid(i) * np.tanh(g)
            inp = _lstm_sigmoid(o) * np.tanh(c)
            nxt[ok, h0 : h0 + self.hidden], nxt[ok, c0 : c0 + self.hidden] = inp[ok], c[ok]
        for w, b, act in self.dense:
            inp = _activation(act, inp @ w + b)
        a = np.clip(inp.astype(np.float64), self.low, self.high)
        a[~ok] = np.nan
        return a

    def step(self, obs: Any, state: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(throttles (n, A) in [0, 1], next state (n, state_size))`` for observations
        ``(n, width)`` in ``observation.features`` order and each campaign's state."""
        a, nxt = self.actions(obs, state)
        p = np.power(10.0, (self.decades / 2.0) * (a - 1.0))
        p[a <= -1.0] = 0.0
        p[~np.isfinite(p)] = self.fallback
        return p, nxt


def check_recurrent_manifest(m: Any) -> dict[str, Any]:
    """The manifest's fields, every one checked (names and types; shapes at ``__init__``)."""
    m = _lstm_keys(m, "manifest", _LSTM_TOP, _LSTM_OPTIONAL)
    if m["schema"] != RECURRENT_SCHEMA:
        raise _lstm_fail("schema", m["schema"], repr(RECURRENT_SCHEMA))
    if m["schema_version"] != RECURRENT_SCHEMA_VERSION:
        raise _lstm_fail("schema_version", m["schema_version"], str(RECURRENT_SCHEMA_VERSION))
    if not isinstance(m["name"], str) or not m["name"]:
        raise _lstm_fail("name", m["name"], "a non-empty string")
    obs = _lstm_keys(m["observation"], "observation", ("features", "segments", "width"))
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
    act = _lstm_keys(
        m["action"], "action", ("width", "low", "high", "mapping", "decades", "fallback")
    )
    if act["mapping"] != "log10_decades":
        raise _lstm_fail("action.mapping", act["mapping"], "'log10_decades'")
    for key in ("low", "high", "decades", "fallback"):
        v = act[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise _lstm_fail(f"action.{key}", v, "a finite number")
    st = _lstm_keys(m["state"], "state", ("layout", "size", "reset"))
    if st["layout"] != STATE_LAYOUT:
        raise _lstm_fail("state.layout", st["layout"], repr(STATE_LAYOUT))
    if st["size"] != 2 * pol.get("layers", 0) * pol.get("hidden", 0):
        raise _lstm_fail("state.size", st["size"], "2 x policy.layers x policy.hidden")
    files = _lstm_keys(m.get("files"), "files", (WEIGHTS_FILE,))
    if not isinstance(files[WEIGHTS_FILE], str) or len(files[WEIGHTS_FILE]) != 64:
        raise _lstm_fail(f"files.{WEIGHTS_FILE}", files[WEIGHTS_FILE], "a sha256 hex digest")
    return m


def load_recurrent_pacer(path: str | os.PathLike[str]) -> RecurrentPacer:
    """Load and check the ``lstm`` artifact directory ``path`` (module docstring)."""
    root = os.fspath(path)
    text, _ = read_file(root, MANIFEST_FILE, "manifest")
    try:
        m = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PacerError(f"{MANIFEST_FILE}: not JSON ({e})") from None
    m = check_recurrent_manifest(m)
    raw, digest = read_file(root, WEIGHTS_FILE, f"files.{WEIGHTS_FILE}")
    if digest != m["files"][WEIGHTS_FILE]:
        raise PacerError(
            f"files.{WEIGHTS_FILE}: sha256 differs from the manifest's; the file is corrupted"
            " or was changed after export: refusing to load"
        )
    return RecurrentPacer(m, npz_arrays(raw, WEIGHTS_FILE))
