"""The seam between the ``Pacer`` and a policy kind, and the action mapping they share.

A kind (``mlp``, ``rule``, ``residual``, or the onnx backend) turns valid, checked rows
into throttles; the ``Pacer`` owns everything around it: input mapping, range checks, the
fallback for invalid rows, the refusal of NaN or out-of-range throttles, the budget guard,
and the worker threads. Adding a kind means one class that satisfies ``PolicyKind`` and
one entry in ``loader.KINDS``; the ``Pacer`` does not change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .workers import Runner


@runtime_checkable
class RowPath(Protocol):
    """The latency path of a kind that has one: a single valid row, few numpy calls."""

    box: tuple[list[float], list[float]]
    """Per-feature ``(low, high)`` of raw values that need no normalisation clip."""

    def begin(self, n: int) -> None:
        """A call of ``n`` rows starts (a stateful kind sizes its state as its block path)."""
        ...

    def one_throttle(self, row: list[float], in_box: bool, r: int = 0) -> float:
        """The throttle in [0, 1] of one valid row, row ``r`` of the call (``in_box``: every
        value lies in ``box``), or NaN when it must not be served (the pacer serves the
        fallback). Invalid rows never reach it, so they leave a stateful kind's state alone."""
        ...


@runtime_checkable
class PolicyKind(Protocol):
    """What the ``Pacer`` asks of a policy kind.

    ``block_rows``: rows are independent, so a call is cut into blocks of this many rows that
    may run on worker threads; 0: the whole call is one block (the kind keeps per-row
    state, or threads itself). ``parallel``: the kind benefits from the pacer's worker
    threads at all. ``row_path``: the single-row latency path, or None.
    """

    block_rows: int
    parallel: bool
    row_path: RowPath | None

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns (clears per-row state; stateless kinds do nothing)."""
        ...

    def throttle(self, x: np.ndarray, ok: np.ndarray, run: Runner) -> np.ndarray:
        """Throttles ``(n,)`` float64 for the float32 rows ``x`` ``(n, n_features)``.

        Rows where ``ok`` is False are invalid: the kind must not let them disturb its
        state, and their value is ignored. The pacer replaces any NaN or value outside
        [0, 1] by the fallback. ``run`` spreads stateless work over the worker threads.
        """
        ...

    def actions(self, x: np.ndarray, run: Runner) -> np.ndarray:
        """The deterministic actions ``(n,)`` before the throttle mapping (``PacerError``
        for kinds that have none)."""
        ...


class ActionMap:
    """``manifest.action``: a raw action to a throttle (``envs.spaces.action_to_throttle``).

    ``a = clip(action, low, high)``; ``log10_decades``: ``throttle = 10 ** (decades (a - 1) / 2)``
    and ``a <= -1`` stops serving (throttle 0); ``identity``: ``throttle = clip(a, 0, 1)``.
    A non-finite throttle becomes ``fallback``.
    """

    def __init__(self, action: Mapping[str, Any], fallback: float) -> None:
        self.mapping = action["mapping"]
        self.decades = float(action.get("decades", 4.0))
        self._half_decades = self.decades / 2.0
        self.low, self.high = float(action["low"]), float(action["high"])
        self.fallback = fallback
        self.one = self._one_row()

    @classmethod
    def from_manifest(cls, m: Mapping[str, Any]) -> ActionMap:
        """``manifest.action`` with ``safety.fallback_throttle`` (a checked manifest)."""
        return cls(m["action"], float(m["safety"]["fallback_throttle"]))

    def throttle(self, action: np.ndarray) -> np.ndarray:
        """Throttles ``(n,)`` float64 in [0, 1] for raw actions ``(n,)``."""
        a = np.array(action, dtype=np.float64)  # a copy: written in place below
        np.clip(a, self.low, self.high, out=a)
        if self.mapping == "identity":
            p = np.clip(a, 0.0, 1.0, out=a)
        else:  # p = 10 ** (decades (a - 1) / 2); a <= -1 stops serving
            p = np.subtract(a, 1.0)
            p *= self.decades / 2.0
            np.power(10.0, p, out=p)
            if self.low <= -1.0:  # else no clipped action reaches -1
                p[a <= -1.0] = 0.0
        if not np.isfinite(p).all():
            p[~np.isfinite(p)] = self.fallback
        return p

    def _one_row(self) -> Callable[[float], float]:
        """``one``: ``throttle`` for one action as Python floats (latency path; NaN stays
        NaN), this map's constants bound into it (no attribute look-ups a row)."""
        low, high, half = self.low, self.high, self._half_decades
        if self.mapping == "identity":
            return lambda a: min(max(min(max(a, low), high), 0.0), 1.0)

        def one(a: float) -> float:
            a = min(max(a, low), high)
            return 0.0 if a <= -1.0 else 10.0 ** (half * (a - 1.0))

        return one

    def served(
        self, actions: Callable[[np.ndarray], np.ndarray], x: np.ndarray, ok: np.ndarray
    ) -> np.ndarray:
        """Throttles of ``actions(rows)`` for the rows where ``ok`` (the fallback elsewhere;
        invalid rows never reach ``actions``)."""
        if ok.all():
            return self.throttle(actions(x))
        p = np.full(len(x), self.fallback)
        p[ok] = self.throttle(actions(x[ok]))
        return p

    def clipped(
        self, actions: Callable[[np.ndarray], np.ndarray], x: np.ndarray, run: Runner, step: int
    ) -> np.ndarray:
        """``actions(rows)`` in blocks of ``step`` rows through ``run``, clipped to [low, high]."""
        a = np.empty(len(x), dtype=np.float64)

        def block(s: int, e: int) -> None:
            a[s:e] = actions(x[s:e])

        run(block, len(x), step)
        return np.clip(a, self.low, self.high)
