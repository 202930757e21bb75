"""The segment path's binomial set-up (``envs.binomial_tab``) draws exactly what
``envs.rng.binomial`` draws: the same values and the same uniforms taken from the stream."""

from __future__ import annotations

import numba as nb
import numpy as np
import pytest

from pacegym.envs import binomial_tab as BT
from pacegym.envs import rng
from pacegym.envs.kernel_value import split_next, split_row

PROBS = [0.0, 1e-9, 0.003, 0.0625, 0.125, 0.3, 0.5, 0.5000001, 0.77, 0.999, 1.0, 1.5, np.nan]
COUNTS = [0, 1, 2, 3, 7, 8, 9, 20, 64, 65, 80, 200, 5000]


def _streams(seed: int) -> np.ndarray:
    st = np.zeros((1, rng.N_STREAMS, 4), dtype=np.uint64)
    rng.seed_streams(st, np.zeros(1, dtype=np.int64), np.array([seed], dtype=np.uint64))
    return st[0, rng.STREAM_SERVING].copy()


@nb.njit
def _reference(st: np.ndarray, ns: np.ndarray, ps: np.ndarray) -> np.ndarray:
    out = np.empty(ns.size, dtype=np.int64)
    for i in range(ns.size):
        out[i] = rng.binomial(st, ns[i], ps[i])
    return out


@nb.njit
def _tabled(st: np.ndarray, ns: np.ndarray, rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.empty(ns.size, dtype=np.int64)
    for i in range(ns.size):
        out[i] = BT.binomial_at(st, ns[i], rows[idx[i]])
    return out


@nb.njit
def _memo(st: np.ndarray, ns: np.ndarray, ps: np.ndarray, memo: np.ndarray) -> np.ndarray:
    out = np.empty(ns.size, dtype=np.int64)
    for i in range(ns.size):
        out[i] = BT.binomial_memo(st, ns[i], ps[i], memo)
    return out


def _cases(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draws in a random order (probabilities repeat and change, as in the step)."""
    g = np.random.default_rng(seed)
    idx = g.integers(0, len(PROBS), 4000)
    ns = np.array(COUNTS)[g.integers(0, len(COUNTS), 4000)]
    return ns.astype(np.int64), np.array(PROBS)[idx], idx


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tabled_and_remembered_draws_are_the_reference_bit_for_bit(seed):
    ns, ps, idx = _cases(seed)
    rows = BT.table(np.array(PROBS).reshape(1, -1))[0]
    st_ref, st_tab, st_memo = _streams(seed), _streams(seed), _streams(seed)
    ref = _reference(st_ref, ns, ps)
    np.testing.assert_array_equal(_tabled(st_tab, ns, rows, idx), ref)
    np.testing.assert_array_equal(_memo(st_memo, ns, ps, np.zeros(BT.MEMO_W)), ref)
    np.testing.assert_array_equal(st_tab, st_ref)  # the same uniforms taken
    np.testing.assert_array_equal(st_memo, st_ref)


@nb.njit
def _chains(st_a: np.ndarray, st_b: np.ndarray, share: np.ndarray, tab: np.ndarray, n: int):
    n_seg = share.shape[1]
    for i in range(n):
        h = i % share.shape[0]
        left_a = left_b = i % 97
        mass = 1.0
        for s in range(n_seg):
            a = split_next(st_a, left_a, mass, share[h, s], s == n_seg - 1)
            b = split_row(st_b, left_b, tab[h, s], s == n_seg - 1)
            if a != b:
                return False
            left_a -= a
            left_b -= b
            mass -= share[h, s]
    return True


def test_the_split_table_replays_the_chain():
    g = np.random.default_rng(3)
    share = g.random((24, 12)) * (g.random((24, 12)) < 0.8)
    share /= share.sum(axis=1, keepdims=True)
    tab = BT.table(BT.split_probabilities(share))
    st_a, st_b = _streams(4), _streams(4)
    assert _chains(st_a, st_b, share, tab, 20000)
    np.testing.assert_array_equal(st_a, st_b)
