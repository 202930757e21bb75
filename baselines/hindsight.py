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
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from pacegym.baselines.hindsight_model import (
    HindsightEpisode,
    HindsightSolution,
    block_columns,
    excess_cuts,
    expected_excess,
    expected_score,
    slot_coefficients,
)

__all__ = [  # the model's names, importable from here as before
    "HindsightEpisode",
    "HindsightLP",
    "HindsightSolution",
    "PenaltyGroup",
    "block_columns",
    "build_lp",
    "excess_cuts",
    "expected_excess",
    "expected_score",
    "penalty_groups",
    "schedule",
    "slot_coefficients",
    "solve",
]


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


def lp_parts(
    c_x: np.ndarray, a_spend: np.ndarray, groups: list[PenaltyGroup], variance: float
) -> tuple[np.ndarray, list, list, sparse.csc_matrix, np.ndarray, np.ndarray]:
    """The parts every hindsight LP shares, over its variables (throttles ``x`` in [0, 1],
    slot spends ``s``, penalty epigraphs ``y >= 0``): the costs (``c_x`` for ``x``, -1 per
    slot's spend, each group's weight), each group's cut rows and right-hand sides
    (``_cut_rows``, spend ``variance``), ``s = a_spend x`` as ``[-a_spend, I, 0]`` and the
    bounds. The volume LP (``build_lp``) and the segment LP
    (``baselines.hindsight_value``) differ only in ``c_x`` and ``a_spend``."""
    ns, n_x = a_spend.shape
    n_y = sum(g.size for g in groups)
    c = np.concatenate([c_x, -np.ones(ns), *[np.full(g.size, g.weight) for g in groups]])
    rows_ub, b_ub, before = [], [], 0
    for g in groups:
        rows, rhs = _cut_rows(g, variance, before, n_y - before - g.size, n_x)
        rows_ub.append(rows)
        b_ub.append(rhs)
        before += g.size
    a_eq = sparse.hstack(
        [-a_spend, sparse.identity(ns, format="csc"), sparse.csc_matrix((ns, n_y))], format="csc"
    )
    lower = np.concatenate([np.zeros(n_x), np.full(ns, -np.inf), np.zeros(n_y)])
    upper = np.concatenate([np.ones(n_x), np.full(ns + n_y, np.inf)])
    return c, rows_ub, b_ub, a_eq, lower, upper


def build_lp(ep: HindsightEpisode, block: int = 1) -> HindsightLP:
    """The hindsight LP of ``ep`` from ``t0`` with ``block`` ticks per throttle (``solve``)."""
    ns, B = ep.n_slots, ep.budget
    A, post = slot_coefficients(ep, block)
    A, post = A / B, post / B
    nb_ = A.shape[1]
    fixed = np.zeros(ns) if ep.fixed_slot_spend is None else ep.fixed_slot_spend[:ns] / B
    groups = penalty_groups(ep, fixed)
    c, rows_ub, b_ub, a_eq, lower, upper = lp_parts(
        ep.w_waste * post, A, groups, ep.spend_variance / B
    )
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
