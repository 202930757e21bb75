"""Binomial draws of the segment path with their set-up work done once: the same draws,
bit for bit, as ``envs.rng.binomial``, cheaper where the probability repeats.

``rng.binomial(st, n, p)`` with ``n p' < 10`` (``p' = min(p, 1 - p)``) draws by inversion:
it first computes ``q = 1 - p'``, ``log q``, ``r = p' / q`` and ``q^n = exp(n log q)``, then
walks the probabilities up from 0 with one uniform. In a value scenario most draws are
such: a tick's few requests split over the segments, a segment's few served, the clicks
of its few rendered. The split's conditional probabilities and the click-through rates
depend on the hour and the segment only (``envs.kernel_value``), so their set-up is a
table (``table``), ``q^n`` included for ``n <= N_TAB``; a campaign's serving probability
repeats from tick to tick and across segments (one throttle for a channel's layers), so
its set-up is remembered while it does not change (``binomial_memo``). The walk, and
every other case (BTRS, the normal approximation, ``p`` 0 or 1), is ``envs.rng``'s own
code: the draws, and the uniforms they take from the stream, are exactly the reference's
(``tests/envs/test_binomial_tab.py``).

A row of set-up: ``p``, ``p'``, 1 when ``p > 1/2`` (the draw is flipped), ``log q``, ``r``,
then ``q^n`` for ``n = 0 .. N_TAB`` (a table's row, ``W`` columns) or ``0 .. MEMO_N``
computed when first needed (a memo, ``MEMO_W`` columns; NaN: not yet).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from pacegym.envs import rng

N_TAB = 64
"""Largest ``n`` whose ``q^n`` a table's row holds (a larger one computes it: the same value)."""
MEMO_N = 8
"""Largest ``n`` whose ``q^n`` a memo keeps."""
C_P, C_PP, C_FLIP, C_LOGQ, C_R, C_QN = 0, 1, 2, 3, 4, 5
W = C_QN + N_TAB + 1
"""Columns of a table's row."""
MEMO_W = C_QN + MEMO_N + 1
"""Columns of a memo."""
INVERSION_BELOW = 10.0
"""``rng.binomial`` inverts below this mean ``n p'`` (a literal there; the draws are
compared in the tests)."""


@nb.njit(cache=True, inline="always")
def _setup(row: np.ndarray, p: float) -> float:
    """Write ``p``, ``p'``, flip, ``log q`` and ``r`` of ``p`` in (0, 1) into ``row`` (the same
    operations as ``rng.binomial``'s); returns ``log q``."""
    flip = p > 0.5
    pp = 1.0 - p if flip else p
    q = 1.0 - pp
    logq = math.log(q)
    row[C_P] = p
    row[C_PP] = pp
    row[C_FLIP] = 1.0 if flip else 0.0
    row[C_LOGQ] = logq
    row[C_R] = pp / q
    return logq


@nb.njit(cache=True)
def fill_row(row: np.ndarray, p: float) -> None:
    """A table's row (``W`` columns) for ``p`` in (0, 1): the set-up and ``q^n``, n <= N_TAB."""
    logq = _setup(row, p)
    for n in range(N_TAB + 1):
        row[C_QN + n] = math.exp(n * logq)


@nb.njit(cache=True, inline="always")
def _draw(st: np.ndarray, n: int, row: np.ndarray, qn: float) -> int:
    """``rng.binomial(st, n, row[C_P])`` for ``n >= 1``, ``p`` in (0, 1), ``qn`` = ``q^n``."""
    pp = row[C_PP]
    if not n * pp < INVERSION_BELOW:
        return rng.binomial(st, n, row[C_P])
    k = rng.inversion_walk(st, n, qn, row[C_R])
    return n - k if row[C_FLIP] > 0.0 else k


@nb.njit(cache=True, inline="always")
def binomial_at(st: np.ndarray, n: int, row: np.ndarray) -> int:
    """``rng.binomial(st, n, row[C_P])``, bit for bit, from a table's row."""
    p = row[C_P]
    if n <= 0 or not (p > 0.0 and p < 1.0):
        return rng.binomial(st, n, p)
    return _draw(st, n, row, row[C_QN + n] if n <= N_TAB else math.exp(n * row[C_LOGQ]))


@nb.njit(cache=True, inline="always")
def binomial_memo(st: np.ndarray, n: int, p: float, memo: np.ndarray) -> int:
    """``rng.binomial(st, n, p)``, bit for bit; ``memo`` (``MEMO_W`` columns) keeps the
    set-up of the last probability in (0, 1) it saw, set anew when ``p`` differs."""
    if n <= 0 or not (p > 0.0 and p < 1.0):
        return rng.binomial(st, n, p)
    if p != memo[C_P]:
        _setup(memo, p)
        for j in range(C_QN, MEMO_W):
            memo[j] = np.nan
    if n > MEMO_N:
        return _draw(st, n, memo, math.exp(n * memo[C_LOGQ]))
    qn = memo[C_QN + n]
    if qn != qn:  # NaN: not computed for this p yet
        qn = math.exp(n * memo[C_LOGQ])
        memo[C_QN + n] = qn
    return _draw(st, n, memo, qn)


def table(p: np.ndarray) -> np.ndarray:
    """(hours, S, W): a row of set-up per probability of ``p`` (hours, S); one of 0 or 1
    (or not finite) keeps only ``C_P`` (``binomial_at`` passes it to ``rng.binomial``)."""
    tab = np.zeros((*p.shape, W))
    for h, s in np.ndindex(p.shape):
        x = float(p[h, s])
        tab[h, s, C_P] = x
        if 0.0 < x < 1.0:
            fill_row(tab[h, s], x)
    return tab


def split_probabilities(share: np.ndarray) -> np.ndarray:
    """(hours, S): the split's conditional probabilities (``envs.kernel_value.split_next``:
    segment ``s`` takes ``min(share / mass, 1)`` of the requests left, ``mass`` the share of
    the segments from ``s`` on, 0 once it is not positive), in the chain's float arithmetic."""
    p = np.zeros(share.shape)
    for h in range(share.shape[0]):
        mass = 1.0
        for s in range(share.shape[1]):
            q = float(share[h, s])
            p[h, s] = min(q / mass, 1.0) if mass > 0.0 else 0.0
            mass -= q
    return p
