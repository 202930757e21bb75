"""The hindsight problem: the throttle schedule that maximises one episode's expected score.

An episode of ``envs.core.PacingCore`` is, seen from the throttle, a linear system: the
eligible requests ``r_t`` of tick ``t`` do not depend on any action (the traffic stream is
consumed identically whatever the throttle), a request admitted with probability
``p_t`` is served with probability ``fill`` and rendered with probability ``render``, and a
rendered impression is counted ``k`` ticks later with probability ``q[k]``. So the expected
spend counted in plan slot ``j`` during the flight is linear in the schedule,

    S_j = price * sum_t fill * render * r_t * p_t * Q_j(t),   Q_j(t) = sum_{tau in slot j} q[tau - t],

and so is the expected post-end media cost, ``media * sum_t fill * render * r_t * p_t *
surv[T - t]`` (``surv[k]`` = P(delay >= k ticks)). Every term of ``pacing_score_v2``
(``envs.metrics``) is a concave piecewise-linear function of the ``S_j`` and of that cost:
delivery ``min(sum S, B)``, over-budget waste ``(media / price) max(sum S - B, 0)``, misplaced
spend ``sum_w max(sum_{j in w} S_j - (1 + tol) P_w, 0)`` and burst ``sum_j max(S_j - (1 +
btol) P_j, 0)``. Maximising a concave piecewise-linear function of a linear map of a box is
a linear program (one epigraph variable per ``max``); ``solve`` hands it to scipy's HiGHS.
docs/oracle.md derives it in full.

The LP scores the *expected* spend per slot (the fluid model): by Jensen's inequality the
expected score of a fixed schedule is at most the LP value at that schedule, so the value is
an optimistic figure for that schedule; the simulator then measures what it really gets.

``HindsightEpisode.at(t0, ...)`` is the same problem from tick ``t0`` on, with the spend
already counted and the impressions already in flight fixed (re-planning on the realised
state).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
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


def slot_coefficients(ep: HindsightEpisode, block: int = 1) -> tuple[sparse.csc_matrix, np.ndarray]:
    """``(A, post)``: expected counted spend per slot and expected post-end media cost per
    unit throttle of each decision block (``block`` ticks from ``t0`` sharing one throttle).

    ``A`` is ``(n_slots, n_blocks)`` [currency per unit throttle], ``post`` ``(n_blocks,)``.
    """
    T, tps, D = ep.flight_ticks, ep.ticks_per_slot, ep.q.shape[0]
    ticks = np.arange(ep.t0, T, dtype=np.int64)
    col = block_columns(ep, block)
    n_blocks = int(col[-1]) + 1 if col.size else 0
    rendered = ep.fill * ep.render * ep.requests[ep.t0 :].astype(float)  # per unit throttle
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


@dataclass(frozen=True)
class HindsightLP:
    """The LP of ``solve``, scaled by 1/budget so that ``-c @ x + offset`` is the score:
    minimise ``c @ x`` subject to ``a_eq x = b_eq``, ``a_ub x <= b_ub`` and ``lower <= x <=
    upper``. Columns: one throttle per block (``n_blocks``), one spend per slot
    (``n_slots``), then the epigraph variables of the penalties; rows: the slot-spend
    equalities, then the cuts of each penalty (``excess_cuts``) in the order of
    ``penalty_groups``."""

    c: np.ndarray
    a_eq: sparse.csc_matrix
    b_eq: np.ndarray
    a_ub: sparse.csc_matrix
    b_ub: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_blocks: int
    n_slots: int
    offset: float  # [-] the constant term: post-end media cost already certain

    @property
    def n_var(self) -> int:
        return int(self.c.shape[0])


@dataclass(frozen=True)
class PenaltyGroup:
    """One penalty of ``pacing_score_v2`` as rows over the slot spends: an epigraph
    variable per row of ``rows`` bounded below by the (expected) excess of ``rows @ S`` over
    ``threshold`` (the spend the schedule still decides, in budget shares), weighted by
    ``weight`` in the objective."""

    rows: sparse.csc_matrix
    threshold: np.ndarray
    fixed: np.ndarray  # ``rows @ fixed spend``: subtracted from ``rows @ S``
    weight: float

    @property
    def size(self) -> int:
        return int(self.rows.shape[0])


def penalty_groups(ep: HindsightEpisode, fixed: np.ndarray) -> list[PenaltyGroup]:
    """Over budget (``sum S``), misplaced per window, burst per slot; ``fixed`` [budget
    shares] per slot is the spend the schedule from ``t0`` no longer decides."""
    ns = ep.n_slots
    planned = np.diff(ep.plan_cum[: ns + 1])
    win = np.arange(ns) // ep.window_slots
    n_win = int(win.max()) + 1 if ns else 0
    W = sparse.csc_matrix((np.ones(ns), (win, np.arange(ns))), shape=(n_win, ns))
    total = sparse.csc_matrix(np.ones((1, ns)))
    ident = sparse.identity(ns, format="csc")
    over_weight = 1.0 + ep.w_waste * ep.media / ep.price  # lost delivery + wasted media
    return [
        PenaltyGroup(total, np.array([1.0 - fixed.sum()]), total @ fixed, over_weight),
        PenaltyGroup(
            W, (1.0 + ep.tolerance) * (W @ planned) - W @ fixed, W @ fixed, ep.w_misplaced
        ),
        PenaltyGroup(ident, (1.0 + ep.burst_tolerance) * planned - fixed, fixed, ep.w_burst),
    ]


def _cut_rows(
    group: PenaltyGroup, scale: float, n_before: int, n_after: int, n_p: int
) -> tuple[sparse.csc_matrix, np.ndarray]:
    """The rows ``b_ik (M S - M fixed)_i - y_i <= -a_ik`` of one group, one per (row, cut):
    ``n_p`` throttle columns, the slot spends, ``n_before`` epigraph columns of earlier
    groups, this group's, ``n_after`` of later ones."""
    a, b = excess_cuts(group.threshold, scale)  # (size, k)
    size, k = a.shape
    Mk = sparse.csc_matrix(sparse.kron(group.rows, np.ones((k, 1))).multiply(b.reshape(-1, 1)))
    Y = sparse.kron(sparse.identity(size, format="csc"), np.ones((k, 1)), format="csc")
    rows = sparse.hstack(
        [
            sparse.csc_matrix((size * k, n_p)),
            Mk,
            sparse.csc_matrix((size * k, n_before)),
            -Y,
            sparse.csc_matrix((size * k, n_after)),
        ],
        format="csc",
    )
    return rows, (b * group.fixed[:, None] - a).reshape(-1)


def build_lp(ep: HindsightEpisode, block: int = 1) -> HindsightLP:
    """The hindsight LP of ``ep`` from ``t0`` with ``block`` ticks per throttle (``solve``)."""
    ns, B = ep.n_slots, ep.budget
    A, post = slot_coefficients(ep, block)
    A, post = A / B, post / B
    nb_ = A.shape[1]
    fixed = np.zeros(ns) if ep.fixed_slot_spend is None else ep.fixed_slot_spend[:ns] / B
    groups = penalty_groups(ep, fixed)
    n_y = sum(g.size for g in groups)
    c = np.concatenate(
        [ep.w_waste * post, -np.ones(ns), *[np.full(g.size, g.weight) for g in groups]]
    )
    rows_ub, b_ub, before = [], [], 0
    for g in groups:
        rows, rhs = _cut_rows(g, ep.spend_variance / B, before, n_y - before - g.size, nb_)
        rows_ub.append(rows)
        b_ub.append(rhs)
        before += g.size
    a_eq = sparse.hstack(
        [-A, sparse.identity(ns, format="csc"), sparse.csc_matrix((ns, n_y))], format="csc"
    )
    lower = np.concatenate([np.zeros(nb_), np.full(ns, -np.inf), np.zeros(n_y)])
    upper = np.concatenate([np.ones(nb_), np.full(ns + n_y, np.inf)])
    return HindsightLP(
        c=c,
        a_eq=a_eq,
        b_eq=fixed,
        a_ub=sparse.vstack(rows_ub, format="csc"),
        b_ub=np.concatenate(b_ub),
        lower=lower,
        upper=upper,
        n_blocks=nb_,
        n_slots=ns,
        offset=-ep.w_waste * ep.fixed_post_cost / B,
    )


def schedule(ep: HindsightEpisode, p_blocks: np.ndarray, block: int) -> np.ndarray:
    """The per-tick schedule (zeros before ``t0``) of one throttle per block from ``t0``."""
    throttle = np.zeros(ep.flight_ticks)
    throttle[ep.t0 :] = np.clip(p_blocks, 0.0, 1.0)[block_columns(ep, block)]
    return throttle


def solve(
    ep: HindsightEpisode,
    block: int = 1,
    time_limit_s: float = 60.0,
    methods: tuple[str, ...] = ("highs", "highs-ipm"),
) -> HindsightSolution:
    """Maximise the episode's expected ``pacing_score_v2`` over schedules from ``t0`` (HiGHS).

    ``methods`` are scipy's HiGHS methods tried in turn until one solves: ``highs`` (HiGHS
    chooses; its dual simplex here) and then ``highs-ipm`` (its interior point method),
    which solves the LPs on which the simplex stops with "model status unknown" (numerical
    trouble: it happened on a few 24-h flights). ``HindsightSolution.method`` says which.

    Variables, all scaled by 1/budget so that the objective is a score (``build_lp``): one
    throttle per block in [0, 1]; slot spend ``S_j`` (equalities ``S = A p + fixed``); and
    one epigraph variable per penalty, bounded below by ``excess_cuts`` of its spend: ``o``
    over the budget (``sum S``), ``e_w`` over ``(1 + tol)`` x the window's plan, ``u_j``
    over ``(1 + btol)`` x the slot's plan. ``delivery = sum S - o`` (billable spend is
    ``min(X, B) = X - max(X - B, 0)``), so the objective is ``sum S - (1 + w_waste media /
    price) o - w_waste post - w_misplaced sum e - w_burst sum u``. With
    ``ep.spend_variance = 0`` the cuts are the exact fluid excesses; otherwise they
    approximate each excess's expectation under Poisson counting noise (``expected_excess``)
    from below, around the threshold. The noise counts only the part of a spend the
    schedule from ``t0`` still decides; spend already counted or in flight is exact.

    A solver failure or a time-out comes back as a non-zero ``status`` with HiGHS's message
    and a zero schedule: the caller decides (``OracleController`` counts and reports them).
    """
    t_start = time.perf_counter()
    lp = build_lp(ep, block)
    bounds = np.stack([lp.lower, lp.upper], axis=1)
    for method in methods:
        left = time_limit_s - (time.perf_counter() - t_start)
        res = linprog(
            lp.c,
            A_ub=lp.a_ub,
            b_ub=lp.b_ub,
            A_eq=lp.a_eq,
            b_eq=lp.b_eq,
            bounds=bounds,
            method=method,
            options={"time_limit": max(left, 1e-6), "presolve": True},
        )
        if res.status == 0 and res.x is not None:
            throttle = schedule(ep, res.x[: lp.n_blocks], block)
            value = -float(res.fun) + lp.offset
            seconds = time.perf_counter() - t_start
            return HindsightSolution(throttle, value, 0, str(res.message), seconds, method)
    seconds = time.perf_counter() - t_start
    return HindsightSolution(
        np.zeros(ep.flight_ticks), math.nan, int(res.status), str(res.message), seconds, method
    )
