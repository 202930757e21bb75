"""How a segment kind turns one level (a share of the requests) into throttles per segment.

``rank`` orders segments best predicted value per price (``rel``) first;
``fill_top_down`` enters them in that order (the hard fill of ``dual_price`` and
``smart_pacing``), ``fill_power`` in proportion to ``rel ** k`` (``dual_price``'s soft
fill), and ``edge_price`` reads the dual price (the lowest ``rel`` entered) off a fill.
Numpy only; part of the exported runtime (``agents/export/bundle.py``).
"""

from __future__ import annotations

import numpy as np


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
