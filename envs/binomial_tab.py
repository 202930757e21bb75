"""Binomial draws of the segment path with their set-up work done once: the same draws,
bit for bit, as ``envs.rng.binomial``, cheaper where the probability repeats.

``rng.binomial(st, n, p)`` with ``n p' < 10`` (``p' = min(p, 1 - p)``) draws by inversion:
it first computes ``q = 1 - p'``, ``log q``, ``r = p' / q`` and ``q^n = exp(n log q)``, then
walks the probabilities up from 0 with one uniform. In a value scenario most draws are
such: a tick's few requests split over the segments, a segment's few served. The split's
conditional probabilities depend on the hour and the segment only (``envs.kernel_value``),
so their set-up is a table, ``q^n`` included for ``n <= N_TAB``; a segment's serving
probability repeats from tick to tick and across segments (one throttle for a channel's
layers), so its set-up is remembered while it does not change (``Memo``). The walk, and
every other case (BTRS, the normal approximation), is ``envs.rng``'s own code: the draws,
and the uniforms they take from the stream, are exactly the reference's.

A row of set-up (``W`` columns): ``p``, ``p'``, 1 when ``p > 1/2`` (the draw is flipped),
``log q``, ``r``, then ``q^n`` for ``n = 0 .. N_TAB``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from pacegym.envs import rng

N_TAB = 64
"""Largest ``n`` whose ``q^n`` a row holds (a larger one computes it: the same value)."""
C_P, C_PP, C_FLIP, C_LOGQ, C_R, C_QN = 0, 1, 2, 3, 4, 5
W = C_QN + N_TAB + 1
"""Columns of a row of set-up."""
INVERSION_BELOW = 10.0
"""``rng.binomial`` inverts below this mean ``n p'`` (its own constant, kept equal by a test)."""


@nb.njit(cache=True, inline="always")
def setup(p: float) -> tuple[float, bool, float, float]:
    """``p'``, flip, ``log q`` and ``r`` of a probability ``p`` in (0, 1) (``fill_row``'s)."""
    flip = p > 0.5
    pp = 1.0 - p if flip else p
    q = 1.0 - pp
    return pp, flip, math.log(q), pp / q


@nb.njit(cache=True)
def fill_row(row: np.ndarray, p: float) -> None:
    """The set-up of ``rng.binomial``'s inversion for probability ``p`` in (0, 1), written
    into ``row`` (module docstring; the same operations as ``rng``'s)."""
    pp, flip, logq, r = setup(p)
    row[C_P] = p
    row[C_PP] = pp
    row[C_FLIP] = 1.0 if flip else 0.0
    row[C_LOGQ] = logq
    row[C_R] = r
    for n in range(N_TAB + 1):
        row[C_QN + n] = math.exp(n * logq)


@nb.njit(cache=True, inline="always")
def _walk(st: np.ndarray, n: int, qn: float, r: float) -> int:
    """``rng._binomial_inversion``'s walk from its set-up (``q^n``, ``r``)."""
    g = r * (n + 1)
    while True:
        ix = 0
        f = qn
        u = rng.uniform(st)
        while True:
            if u < f:
                return ix
            if ix > 110:
                break
            u -= f
            ix += 1
            f *= g / ix - r


@nb.njit(cache=True, inline="always")
def inverted(st: np.ndarray, n: int, p: float, pp: float, flip: bool, qn: float, r: float) -> int:
    """``rng.binomial(st, n, p)``, bit for bit, for ``n >= 1`` and ``p`` in (0, 1) from its
    set-up (``pp`` = ``p'``, ``flip``, ``qn`` = ``q^n``, ``r``: ``fill_row``'s)."""
    if not n * pp < INVERSION_BELOW:
        return rng.binomial(st, n, p)
    k = _walk(st, n, qn, r)
    return n - k if flip else k


@nb.njit(cache=True, inline="always")
def binomial_row(st: np.ndarray, n: int, row: np.ndarray) -> int:
    """``rng.binomial(st, n, row[C_P])``, bit for bit, from the row's set-up (a row of a
    probability in (0, 1); 0 or 1 has no row: call ``rng.binomial``)."""
    if n <= 0:
        return 0
    qn = row[C_QN + n] if n <= N_TAB else math.exp(n * row[C_LOGQ])
    return inverted(st, n, row[C_P], row[C_PP], row[C_FLIP] > 0.0, qn, row[C_R])


def split_table(share: np.ndarray) -> np.ndarray:
    """(hours, S, W): the set-up of the split's conditional probabilities
    (``envs.kernel_value.split_next``: segment ``s`` takes ``min(share / mass, 1)`` of the
    requests left, ``mass`` the share of the segments from ``s`` on, in the chain's float
    arithmetic); a row with ``p`` 0 or 1 is not filled (``C_P`` says which: no draw)."""
    n_h, n_s = share.shape
    tab = np.zeros((n_h, n_s, W))
    for h in range(n_h):
        mass = 1.0
        for s in range(n_s):
            q = float(share[h, s])
            p = min(q / mass, 1.0) if mass > 0.0 else 0.0
            tab[h, s, C_P] = p
            if 0.0 < p < 1.0:
                fill_row(tab[h, s], p)
            mass -= q
    return tab
