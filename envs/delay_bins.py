"""The binned delay sampler (``delay.sampler: binned``): a tick's impressions spread over
the delay ledger's bins at once, at a cost bounded by the number of bins.

What it draws, and what is exact. The reference (``delay.sampler: impression``,
``envs.kernel._delay``) gives each of the ``served`` impressions of a tick its own uniform:
never rendered with probability ``1 - render``, else counted ``k`` ticks later with
probability ``q[k]`` (``envs.delays.tick_probabilities``: the continuous delay is already
floored to whole ticks there, so no within-tick timing exists to approximate). The
impressions are independent, so the tick's counts ``(never, c_0, .., c_{D-1})`` are
multinomial ``(served; 1 - render, render q_0, .., render q_{D-1})``. This sampler draws that
multinomial directly: ``rendered ~ Binomial(served, render)``, then the rendered ones over the
bins, either one alias draw each (few of them) or by the conditional-binomial chain
``c_k ~ Binomial(left, q_k / S_k)``, ``S_k = sum_{j >= k} q_j`` (``surv``), which stops once
none is left. Both give the same multinomial, so the per-tick counts, and everything the
step computes from them (billable spend = counted x ``money.price``, one price for every
impression; media cost; waste; the reward terms; the observation) have the same joint
distribution over a whole episode as with the reference. Only the use of the delay stream
differs: for a seed the two samplers give different trajectories, equal in distribution.
Exact up to float rounding of the tables (the alias table and ``surv`` are both built
from the same ``q``; ``q_k / S_k`` is ``1 - S_{k+1} / S_k``).

Cost per tick: ``min(rendered, CHAIN_ABOVE x bins)`` alias draws or at most one binomial
per bin, never growing with the impressions; memory: the core's existing tables
(``alias_prob``, ``alias_idx``, ``surv``), nothing per campaign added.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pacegym.envs import rng

CHAIN_ABOVE = 4.0
"""The chain runs when more than ``CHAIN_ABOVE`` x the ledger's bins were rendered in a
tick; fewer take one alias draw each (cheaper there: the chain visits every bin up to the
last one hit, and the delay's tail is long). Either way the counts are exact."""
TAIL_ITEMS = 16
"""The chain stops once this many or fewer are left to place: each is then drawn alone
from the delay law beyond the chain's bin (a bisection), cheaper than a binomial for
each of the long tail's bins."""


@nb.njit(cache=True, inline="always")
def _alias_bins(
    st: np.ndarray,
    m: int,
    head: int,
    row: np.ndarray,
    prob: np.ndarray,
    idx: np.ndarray,
) -> None:
    """``m`` rendered impressions, each counted at the bin an alias draw gives."""
    D = row.shape[0]
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]  # the stream in registers: the same draws
    for _ in range(m):
        bits, s0, s1, s2, s3 = rng.next_u64_regs(s0, s1, s2, s3)
        v = rng.to_unit(bits) * D
        j = int(v)
        if j >= D:
            j = D - 1
        alias = idx[j]  # the alias pick as arithmetic: a branch here is a coin flip
        k = head + alias + (j - alias) * int((v - j) < prob[j])
        row[k - D if k >= D else k] += 1
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3


@nb.njit(cache=True, inline="always")
def _tail_bins(
    st: np.ndarray, m: int, k: int, head: int, row: np.ndarray, surv: np.ndarray
) -> None:
    """``m`` rendered impressions known to be counted ``k`` or more ticks later, one draw
    each from ``q`` restricted to those bins: ``u`` uniform in ``[0, S_k)`` falls in bin
    ``j`` where ``S_{j+1} <= u < S_j`` (a bisection over ``surv``)."""
    D = row.shape[0]
    sk = surv[k]
    for _ in range(m):
        u = rng.uniform(st) * sk
        lo = k  # surv[lo] > u
        hi = D  # surv[hi] <= u (surv[D] = 0)
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if surv[mid] > u:
                lo = mid
            else:
                hi = mid
        j = head + lo
        row[j - D if j >= D else j] += 1


@nb.njit(cache=True, inline="always")
def _chain_bins(st: np.ndarray, m: int, head: int, row: np.ndarray, surv: np.ndarray) -> None:
    """``m`` rendered impressions over the bins by the conditional-binomial chain: bin ``k``
    takes ``Binomial(left, 1 - S_{k+1} / S_k)`` of those not placed before it, until
    ``TAIL_ITEMS`` or fewer are left, which ``_tail_bins`` places one by one."""
    D = row.shape[0]
    k = 0
    while m > TAIL_ITEMS and k < D - 1:
        s = surv[k]
        h = 1.0 - surv[k + 1] / s if s > 0.0 else 1.0
        x = m if h >= 1.0 else rng.binomial(st, m, h)
        if x > 0:
            j = head + k
            row[j - D if j >= D else j] += x
            m -= x
        k += 1
    if m > 0:
        _tail_bins(st, m, k, head, row, surv)


@nb.njit(cache=True, inline="always")
def place_binned(
    st: np.ndarray,
    served: int,
    render: float,
    head: int,
    row: np.ndarray,
    prob: np.ndarray,
    idx: np.ndarray,
    surv: np.ndarray,
) -> int:
    """Spread ``served`` impressions over ``row`` (the campaign's delay ledger, ``head`` =
    counted this tick) from the delay stream ``st`` and the delay tables' row (``prob``,
    ``idx``: alias table; ``surv``: ``P(delay >= k ticks)``). Returns the rendered count."""
    m = rng.binomial(st, served, render)
    if m > CHAIN_ABOVE * row.shape[0]:
        _chain_bins(st, m, head, row, surv)
    else:
        _alias_bins(st, m, head, row, prob, idx)
    return m
