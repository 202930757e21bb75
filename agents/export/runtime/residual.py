"""Policy kind ``residual``: a learned correction on top of a rule (``agents/residual.py``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .manifest import _float, _need
from .mlp import CHUNK_ROWS, Mlp, RowNet, input_index
from .rule import RulePolicy
from .rule_row import _f32
from .workers import Runner


class ResidualPolicy:
    """A rule's throttle ``b`` scaled by a network's correction ``a``::

    b = rule(obs);  x = concat(obs[inputs], log10(clip(b, floor, 1)))
    a = clip(mlp(normalise(x)), -1, 1);  p = clip(max(b, floor) * 10 ** (scale_decades a), 0, 1)

    The rule keeps per-row state, so a call is one block; the network's blocks are stateless
    and run on the worker threads (``run``). A few rows take the row path
    (``one_throttle``: the rule's row path, then ``mlp.RowNet``).
    """

    block_rows = 0
    parallel = True

    def __init__(
        self,
        spec: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray],
        root: str,
        obs: Sequence[Mapping[str, Any]],
    ) -> None:
        self.base = RulePolicy(_need(spec, "base", "policy"), obs, "policy.base")
        self.mlp = Mlp(spec, arrays, len(obs) + 1, input_index(spec, obs, extra=1))
        self.scale = _float(spec, "scale_decades", "policy", 0.0, 10.0)
        self.floor = _float(spec, "floor", "policy", 1e-12, 1.0)
        self.row_path = self
        self._net_row = RowNet(self.mlp)
        self._rows = self._net_row.per_thread  # ``RowNet.output``'s closures, bound once
        self._rule_step = self.base._step  # the rule's row path, bound once
        self.begin = self.base.begin  # type: ignore[method-assign]
        n_obs = len(obs)
        idx = self.mlp.index
        self._inputs = None if idx is None else [int(j) for j in idx[:-1]]
        # the network's clip box on the features it reads (the pacer tests it: ``in_box``),
        # and on ``base_log10``, which ``one_throttle`` tests itself
        net_lo, net_hi = self._net_row.box
        cols = range(n_obs) if self._inputs is None else self._inputs
        lo, hi = [-math.inf] * n_obs, [math.inf] * n_obs
        for k, j in enumerate(cols):
            lo[j], hi[j] = net_lo[k], net_hi[k]
        self.box = (lo, hi)
        self._feat_box = (net_lo[-1], net_hi[-1])

    def begin(self, n: int) -> None:
        self.base.begin(n)

    def one_throttle(self, row: list[float], in_box: bool, r: int = 0) -> float:
        """``throttle`` of one valid row, row ``r`` of the call (the base rule's state
        advances): the rule's row path, then the network's (``RowNet``); ``in_box``: the
        features the network reads lie in its clip box."""
        b = self._rule_step(row, r)
        floor, inputs = self.floor, self._inputs
        b0 = 0.0 if b != b else b  # nan_to_num
        # Python's log10 of a value in [floor, 1] (within 1 ulp of numpy's), rounded to
        # float32 as the block path rounds numpy's: the same float32 on 2M values tried
        feat = _f32(math.log10(min(max(b0, floor), 1.0)))
        z = [*row, feat] if inputs is None else [*(row[j] for j in inputs), feat]
        lo, hi = self._feat_box
        a = self._rows.run(z, in_box and lo <= feat <= hi)
        a = 0.0 if a != a else min(max(a, -1.0), 1.0)
        p = max(b, floor) * 10.0 ** (self.scale * a)  # within 1 ulp of numpy's power
        return min(max(p, 0.0), 1.0)

    @classmethod
    def from_artifact(
        cls, m: Mapping[str, Any], root: str, arrays: Mapping[str, np.ndarray]
    ) -> ResidualPolicy:
        """From a checked manifest, its weights."""
        return cls(m["policy"], arrays, root, m["observation"]["features"])

    def reset(self, n: int) -> None:
        self.base.reset(n)

    def raw_actions(
        self, x: np.ndarray, ok: np.ndarray, run: Runner
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(base throttles, corrections a in [-1, 1])`` for all rows of ``x``.

        The base rule sees all rows at once (it keeps per-row state); the network runs in
        blocks of ``CHUNK_ROWS`` through ``run``.
        """
        b = self.base.throttle(x, ok, run)
        feat = np.log10(np.clip(np.nan_to_num(b, nan=0.0), self.floor, 1.0)).astype(np.float32)
        xa = np.concatenate([x, feat[:, None]], axis=1)
        a = np.empty(len(x), dtype=np.float64)

        def block(s: int, e: int) -> None:
            a[s:e] = self.mlp.actions(xa[s:e])

        run(block, len(x), CHUNK_ROWS)
        return b, np.clip(np.nan_to_num(a), -1.0, 1.0)

    def throttle(self, x: np.ndarray, ok: np.ndarray, run: Runner) -> np.ndarray:
        b, a = self.raw_actions(x, ok, run)
        return np.clip(np.maximum(b, self.floor) * 10.0 ** (self.scale * a), 0.0, 1.0)

    def actions(self, x: np.ndarray, run: Runner) -> np.ndarray:
        """The corrections ``a`` (the base rule's state advances as in a call)."""
        return self.raw_actions(x, np.ones(len(x), dtype=bool), run)[1]
