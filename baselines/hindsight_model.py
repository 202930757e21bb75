"""The hindsight problem's data and model (``baselines.hindsight`` solves it): one episode as
the clairvoyant sees it, a solved schedule, the expected spend per plan slot as a linear map
of the schedule (``slot_coefficients``), the expected score of a schedule, and the expected
excess of a noisy spend over a threshold with its piecewise-linear cuts. The derivation is
``baselines.hindsight``'s docstring and docs/oracle.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.special import erf


@dataclass(frozen=True)
class HindsightEpisode:
    """One episode as the clairvoyant sees it. Money in currency, time in ticks.

    ``requests[t]`` realised eligible requests of tick ``t`` (``t < flight_ticks``);
    ``q[k]`` the probability that a rendered impression is counted ``k`` ticks after it was
    served (``k < len(q)``); ``plan_cum`` the plan's cumulative budget share per slot
    boundary (``n_slots + 1`` values). ``spend_variance`` [currency] is the variance of
    counted spend per unit of expected spend (``price``: impressions counted as a Poisson
    number; ``0``: the fluid model, every spend exactly its expectation).
    ``fixed_slot_spend[j]`` is spend already counted, or
    certain to be counted, in slot ``j`` whatever the schedule from ``t0`` on,
    ``fixed_post_cost`` media cost certain to be counted after the flight; both zero at the
    start of an episode.
    """

    requests: np.ndarray
    fill: float
    render: float
    q: np.ndarray
    budget: float
    price: float
    media: float
    plan_cum: np.ndarray
    ticks_per_slot: int
    window_slots: int
    tolerance: float
    burst_tolerance: float
    w_waste: float
    w_misplaced: float
    w_burst: float
    spend_variance: float = 0.0
    t0: int = 0
    fixed_slot_spend: np.ndarray | None = None
    fixed_post_cost: float = 0.0

    @property
    def flight_ticks(self) -> int:
        return int(self.requests.shape[0])

    @property
    def n_slots(self) -> int:
        return self.flight_ticks // self.ticks_per_slot

    def at(self, t0: int, fixed_slot_spend: np.ndarray, fixed_post_cost: float) -> HindsightEpisode:
        """The remaining problem from tick ``t0``, given the spend fixed so far."""
        return replace(
            self,
            t0=int(t0),
            fixed_slot_spend=np.asarray(fixed_slot_spend, dtype=float),
            fixed_post_cost=float(fixed_post_cost),
        )


@dataclass(frozen=True)
class HindsightSolution:
    """A solved schedule: ``throttle[t]`` for ``t0 <= t < flight_ticks`` (zeros before),
    the LP's expected score, HiGHS's status and message, the solve time [s] (all methods
    tried together) and the method that solved it."""

    throttle: np.ndarray
    value: float
    status: int
    message: str
    seconds: float
    method: str = "highs"  # the scipy HiGHS method that solved it (or failed last)

    @property
    def ok(self) -> bool:
        return self.status == 0


def block_columns(ep: HindsightEpisode, block: int) -> np.ndarray:
    """The throttle column of each tick from ``t0``: blocks of ``block`` ticks from ``t0``."""
    return np.arange(ep.flight_ticks - ep.t0, dtype=np.int64) // block


def slot_coefficients(
    ep: HindsightEpisode, block: int = 1, stop: int | None = None
) -> tuple[sparse.csc_matrix, np.ndarray]:
    """``(A, post)``: expected counted spend per slot and expected post-end media cost per
    unit throttle of each decision block (``block`` ticks from ``t0`` sharing one throttle),
    counting the ticks from ``t0`` up to ``stop`` (the flight's end when None).

    ``A`` is ``(n_slots, n_blocks)`` [currency per unit throttle], ``post`` ``(n_blocks,)``.
    """
    T, tps, D = ep.flight_ticks, ep.ticks_per_slot, ep.q.shape[0]
    end = T if stop is None else min(int(stop), T)
    ticks = np.arange(ep.t0, end, dtype=np.int64)
    col = block_columns(ep, block)[: end - ep.t0]
    n_blocks = int(col[-1]) + 1 if col.size else 0
    rendered = ep.fill * ep.render * ep.requests[ep.t0 : end].astype(float)  # per unit throttle
    # cumulative q: Fq[k] = P(delay < k ticks), k = 0..D
    fq = np.concatenate(([0.0], np.cumsum(ep.q)))
    fq[-1] = 1.0
    surv = 1.0 - fq  # P(delay >= k)
    left = T - ticks
    post = np.where(left < D, surv[np.minimum(left, D)], 0.0) * rendered * ep.media
    # slots touched by a tick: from its own slot to the slot of its latest count in flight
    first = ticks // tps
    last = np.minimum((ticks + D - 1) // tps, ep.n_slots - 1)
    span = int((last - first).max()) + 1 if ticks.size else 0
    rows, cols, vals = [], [], []
    for m in range(span):
        j = first + m
        ok = j <= last
        lo = np.clip(j * tps - ticks, 0, D)
        hi = np.clip((j + 1) * tps - ticks, 0, D)
        v = (fq[hi] - fq[lo]) * rendered * ep.price
        keep = ok & (v > 0.0)
        rows.append(j[keep])
        cols.append(col[keep])
        vals.append(v[keep])
    A = sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(ep.n_slots, n_blocks),
    ).tocsc()  # duplicates (ticks of one block) are summed
    post_b = np.bincount(col, weights=post, minlength=n_blocks)
    return A, post_b


def expected_score(ep: HindsightEpisode, throttle: np.ndarray) -> float:
    """The expected ``pacing_score_v2`` of a per-tick schedule from ``t0`` under the LP's
    model (``spend_variance`` Poisson noise on the spend the schedule decides, normal
    approximation; exact fluid excesses when it is 0), computed directly without the LP.

    ``solve``'s value equals it at the solved schedule in the fluid model and approaches
    it from above with noise (the cuts bound each expected excess from below); a test
    checks both, and a brute-force search maximises it.
    """
    p = np.clip(np.asarray(throttle, dtype=float)[ep.t0 : ep.flight_ticks], 0.0, 1.0)
    A, post = slot_coefficients(ep, block=1)
    new = A @ p
    ns = ep.n_slots
    fixed = np.zeros(ns) if ep.fixed_slot_spend is None else ep.fixed_slot_spend[:ns]
    B, var = ep.budget, ep.spend_variance
    planned = np.diff(ep.plan_cum[: ns + 1]) * B
    w = np.arange(ns) // ep.window_slots
    n_win = int(w.max()) + 1
    w_new = np.bincount(w, weights=new, minlength=n_win)
    w_fixed = np.bincount(w, weights=fixed, minlength=n_win)
    w_plan = np.bincount(w, weights=planned, minlength=n_win)
    over = float(expected_excess(new.sum(), B - fixed.sum(), var))
    misplaced = expected_excess(w_new, (1.0 + ep.tolerance) * w_plan - w_fixed, var).sum()
    burst = expected_excess(new, (1.0 + ep.burst_tolerance) * planned - fixed, var).sum()
    total = new.sum() + fixed.sum()
    wasted = ep.media / ep.price * over + float(post @ p) + ep.fixed_post_cost
    value = total - over - ep.w_waste * wasted - ep.w_misplaced * misplaced - ep.w_burst * burst
    return float(value / B)


def expected_excess(mean: np.ndarray, threshold: np.ndarray, scale: float) -> np.ndarray:
    """``E[max(X - threshold, 0)]`` for ``X`` normal with ``mean`` and variance ``scale *
    mean`` (a Poisson count of impressions times the price: ``scale = price``, in the units
    of ``mean``); ``scale = 0`` gives the fluid ``max(mean - threshold, 0)``."""
    mean = np.asarray(mean, dtype=float)
    d = mean - threshold
    if scale <= 0:
        return np.maximum(d, 0.0)
    sd = np.sqrt(scale * np.maximum(mean, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, d / np.where(sd > 0, sd, 1.0), 0.0)
    phi = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    big_phi = 0.5 * (1.0 + erf(z / math.sqrt(2.0)))
    return np.where(sd > 0, d * big_phi + sd * phi, np.maximum(d, 0.0))


_CUT_Z = np.array([-1.0, 0.0, 1.0])
"""Tangent points of the expected-excess cuts, in standard deviations around the threshold."""


def excess_cuts(threshold: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Cuts ``y >= a + b * s`` whose maximum approximates ``expected_excess(s, threshold)``
    from below, per threshold: ``(a, b)`` of shape ``(len(threshold), n_cuts)``.

    Always the two exact pieces of the fluid excess (``0`` and ``s - threshold``; both are
    lower bounds of the expected excess), plus, when ``scale > 0``, tangents at
    ``threshold + z sd`` for ``z`` in ``_CUT_Z`` (central differences).
    """
    th = np.asarray(threshold, dtype=float)
    a = [np.zeros_like(th), -th]
    b = [np.zeros_like(th), np.ones_like(th)]
    if scale > 0:
        sd = np.sqrt(scale * np.maximum(th, scale))
        for z in _CUT_Z:
            s0 = np.maximum(th + z * sd, 1e-12)
            h = 1e-4 * np.maximum(sd, 1e-9)
            lo = np.maximum(s0 - h, 0.0)
            g0 = expected_excess(s0, th, scale)
            slope = (expected_excess(s0 + h, th, scale) - expected_excess(lo, th, scale)) / (
                s0 + h - lo
            )
            slope = np.clip(slope, 0.0, 1.0)
            a.append(g0 - slope * s0)
            b.append(slope)
    return np.stack(a, axis=1), np.stack(b, axis=1)
