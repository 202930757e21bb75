"""The hindsight LP of one episode held in HiGHS, re-solved on each re-plan from its last basis.

``baselines.hindsight.solve`` builds and solves a new LP for every plan (scipy's HiGHS,
cold). The clairvoyant re-plans the same episode ten times; between two plans only the
spend already fixed, the ticks already played and the threshold of each penalty move.
``WarmLP`` builds the episode's LP once (``highspy``), and a re-plan from tick ``t0``
changes only those numbers in place and re-solves from the previous optimal basis:

- throttle blocks lie on the episode's grid (block ``k`` = ticks ``[k block, (k + 1)
  block)``); a re-plan fixes the blocks already played at 0 and gives the block holding
  ``t0`` the coefficients of its ticks from ``t0`` on (``block = 1``: exactly
  ``solve``'s LP; longer blocks: the re-plan's first block is the rest of a grid block,
  where ``solve``'s blocks start at ``t0``);
- the penalties read aggregate spends (one column for the flight's total, one per scoring
  window: equalities ``T = sum S``, ``W_w = sum_{j in w} S_j``), so a moved threshold
  changes one coefficient per cut, not one per slot; the cut ``y >= 0`` is the variable's
  own bound and has no row;
- a penalty whose spend the schedule can no longer change (a slot or window before
  ``t0``'s slot) keeps its coefficients: its spend equals the fixed spend, so only the
  right-hand side carries the new cut.

The LP is the same as ``solve``'s (same variables' values and optimum, up to HiGHS's
tolerances, with ``block = 1`` or ``t0`` on the grid); HiGHS skips presolve on a warm
start. Two solver choices that leave the LP as it is make it 2-4x faster (``previous=True``
drops them, for ``benchmarks/bench_oracle.py``):

- HiGHS's "max value" scaling (``simplex_scale_strategy = 4``) instead of its default
  equilibration, which leaves primal infeasibilities after unscaling on this LP (spend
  coefficients from 1e-9 to 1 of the budget) that HiGHS then cleans up with another pass;
- the first plan starts from a dual-feasible basis instead of the slack basis: the spends
  ``S``, ``T``, ``W`` basic in their equalities, each cut's slack basic, each throttle at the
  bound its reduced cost ``w_waste post - sum_j A_jk`` asks for (full throttle where a unit
  of throttle delivers more than it wastes), each penalty at 0. The free spend columns
  otherwise send the dual simplex through a phase 1 of ~2,000 iterations.
"""

from __future__ import annotations

import math
import time

import highspy
import numpy as np
from scipy import sparse

from pacegym.baselines.hindsight_model import (
    HindsightEpisode,
    HindsightSolution,
    excess_cuts,
    slot_coefficients,
)

INF = highspy.kHighsInf


def _finite(x: np.ndarray) -> np.ndarray:
    return np.where(np.isposinf(x), INF, np.where(np.isneginf(x), -INF, x))


def _tick_spread(ep: HindsightEpisode, t0: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """``slot_coefficients`` of the ticks ``[t0, end)`` as one throttle (a few ticks: one
    dense ``(ticks, slots)`` array instead of a pass per slot): ``(spend per slot, [post])``."""
    T, tps, D, ns = ep.flight_ticks, ep.ticks_per_slot, ep.q.shape[0], ep.n_slots
    ticks = np.arange(t0, min(int(end), T), dtype=np.int64)
    rendered = ep.fill * ep.render * ep.requests[ticks].astype(float)
    fq = np.concatenate(([0.0], np.cumsum(ep.q)))
    fq[-1] = 1.0
    left = T - ticks
    post = np.where(left < D, 1.0 - fq[np.minimum(left, D)], 0.0) * rendered * ep.media
    out = np.zeros(ns)
    if ticks.size == 0:
        return out, np.array([0.0])
    j0 = int(ticks[0]) // tps
    j1 = min((int(ticks[-1]) + D - 1) // tps, ns - 1)
    j = np.arange(j0, j1 + 1)
    lo = np.clip(j[None, :] * tps - ticks[:, None], 0, D)
    hi = np.clip((j[None, :] + 1) * tps - ticks[:, None], 0, D)
    out[j0 : j1 + 1] = ((fq[hi] - fq[lo]) * rendered[:, None]).sum(axis=0) * ep.price
    return out, np.array([post.sum()])


def _block_coefficients(ep: HindsightEpisode, block: int) -> tuple[sparse.csc_matrix, np.ndarray]:
    """``slot_coefficients(ep, block)`` from tick 0, as one small matrix product per phase.

    Tick ``i`` of block ``k`` lies ``phase_k + i`` ticks after the start of slot ``base_k``
    (``k block = base_k tps + phase_k``), so the share of its spend counted in slot
    ``base_k + m`` depends on ``(phase_k, i, m)`` only: a ``(block, M)`` kernel per phase,
    multiplied by the blocks' rendered spends. The same sums in another order (equal to
    ``slot_coefficients`` to 1e-13), without a ``(ticks x slots)`` coordinate list.
    """
    T, tps, D, ns = ep.flight_ticks, ep.ticks_per_slot, ep.q.shape[0], ep.n_slots
    nb = -(-T // block)
    rendered = np.zeros(nb * block)
    rendered[:T] = ep.fill * ep.render * ep.requests[:T].astype(float)
    R = rendered.reshape(nb, block)
    fq = np.concatenate(([0.0], np.cumsum(ep.q)))
    fq[-1] = 1.0
    start = np.arange(nb, dtype=np.int64) * block
    base, phase = start // tps, start % tps
    n_off = (tps - 1 + block - 1 + D - 1) // tps + 1  # slot offsets a block can reach
    m, i = np.arange(n_off), np.arange(block)[:, None]
    C = np.zeros((nb, n_off))
    for ph in np.unique(phase):
        lo = np.clip(m * tps - ph - i, 0, D)
        hi = np.clip((m + 1) * tps - ph - i, 0, D)
        rows = phase == ph
        C[rows] = R[rows] @ (fq[hi] - fq[lo])
    C *= ep.price
    slot = base[:, None] + m[None, :]
    keep = (slot < ns) & (C > 0.0)
    cols = np.broadcast_to(np.arange(nb)[:, None], C.shape)
    A = sparse.csc_matrix((C[keep], (slot[keep], cols[keep])), shape=(ns, nb))
    left = T - np.arange(T)
    post = np.where(left < D, 1.0 - fq[np.minimum(left, D)], 0.0) * rendered[:T] * ep.media
    return A, np.bincount(np.arange(T) // block, weights=post, minlength=nb)


class WarmLP:
    """``ep``'s hindsight LP (from tick 0, ``block`` ticks per throttle) in one HiGHS model.

    ``solve(t0, fixed, post)`` is ``hindsight.solve(ep.at(t0, fixed, post), block)`` on the
    grid blocks described in the module docstring; calls must come with ``t0`` not
    decreasing (each re-plan starts from the last one's basis). Not thread-safe: one
    episode, one thread at a time. ``previous``: HiGHS's default scaling and slack
    starting basis (the same LP, solved as before; kept to time against).
    """

    def __init__(self, ep: HindsightEpisode, block: int, previous: bool = False) -> None:
        if ep.t0 != 0:
            raise ValueError(f"WarmLP needs the episode from tick 0, got t0 = {ep.t0}")
        self.ep, self.block, self.previous = ep, int(block), bool(previous)
        B, ns = ep.budget, ep.n_slots
        if self.previous or self.block == 1:  # one tick per block: as fast either way
            A, post = slot_coefficients(ep, self.block)
        else:
            A, post = _block_coefficients(ep, self.block)
        self.A, self.post = (A / B).tocsc(), post / B
        nb = self.A.shape[1]
        self.nb, self.ns = nb, ns
        win = np.arange(ns) // ep.window_slots
        n_win = int(win.max()) + 1 if ns else 0
        self.win, self.n_win = win, n_win
        planned = np.diff(ep.plan_cum[: ns + 1])
        # the aggregate spends the penalties read, and what each counts
        self.plan = (
            np.array([1.0]),
            (1.0 + ep.tolerance) * np.bincount(win, weights=planned, minlength=n_win),
            (1.0 + ep.burst_tolerance) * planned,
        )
        self.weights = (1.0 + ep.w_waste * ep.media / ep.price, ep.w_misplaced, ep.w_burst)
        self.scale = ep.spend_variance / B
        # columns: p (nb) | S (ns) | T (1) | W (n_win) | y over (1) | y win (n_win) | y burst (ns)
        c_S, c_T, c_W = nb, nb + ns, nb + ns + 1
        c_y = c_W + n_win
        self.agg_col = (np.array([c_T]), c_W + np.arange(n_win), c_S + np.arange(ns))
        sizes = (1, n_win, ns)
        self.y_col = tuple(
            c_y + s + np.arange(n) for s, n in zip((0, 1, 1 + n_win), sizes, strict=True)
        )
        n_col = c_y + 1 + n_win + ns
        self._build(n_col, sizes)
        self._played = 0  # blocks fixed at 0 so far
        self._partial: tuple[int, np.ndarray] = (-1, np.zeros(0))  # (block, its column now)
        self._t0 = 0

    def _build(self, n_col: int, sizes: tuple[int, ...]) -> None:
        ep, nb, ns, n_win = self.ep, self.nb, self.ns, self.n_win
        fixed = np.zeros(ns)
        a_b = [excess_cuts(th, self.scale) for th in self.plan]
        self.k = a_b[0][0].shape[1] - 1  # cuts per penalty row (the first, y >= 0, is a bound)
        # equalities: S - A p = 0, T - sum S = 0, W - window sums = 0
        eye_s = sparse.identity(ns, format="csc")
        W = sparse.csc_matrix((np.ones(ns), (self.win, np.arange(ns))), shape=(n_win, ns))
        n_y = sum(sizes)
        eq = sparse.bmat(
            [
                [-self.A, eye_s, None, None, sparse.csc_matrix((ns, n_y))],
                [None, -sparse.csc_matrix(np.ones((1, ns))), sparse.identity(1), None, None],
                [None, -W, None, sparse.identity(n_win), None],
            ],
            format="csc",
        )
        # cuts: b_ik v_i - y_i <= b_ik fixed_i - a_ik, one row per (penalty row, cut)
        rows, cols, vals = [], [], []
        n_eq = eq.shape[0]
        self.cut_row, self.b_model, r = [], [], n_eq
        for g, size in enumerate(sizes):
            b = a_b[g][1]
            rid = r + np.arange(size * self.k).reshape(size, self.k)
            self.cut_row.append(rid)
            self.b_model.append(b[:, 1:].copy())
            rows += [rid.ravel(), rid.ravel()]
            cols += [np.repeat(self.agg_col[g], self.k), np.repeat(self.y_col[g], self.k)]
            vals += [b[:, 1:].ravel(), -np.ones(size * self.k)]
            r += size * self.k
        cuts = sparse.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows) - n_eq, np.concatenate(cols))),
            shape=(r - n_eq, n_col),
        )
        a_mat = sparse.vstack([eq, cuts], format="csc")
        cost = np.zeros(n_col)
        cost[:nb] = ep.w_waste * self.post
        cost[nb : nb + ns] = -1.0
        for g in range(3):
            cost[self.y_col[g]] = self.weights[g]
        lower = np.zeros(n_col)
        lower[nb : self.y_col[0][0]] = -INF
        upper = np.full(n_col, INF)
        upper[:nb] = 1.0
        self._th = [np.asarray(th, dtype=float).copy() for th in self.plan]
        self._a = [ab[0][:, 1:].copy() for ab in a_b]
        rhs = self._cut_rhs(fixed, self._a)
        self._bounds = np.concatenate([np.zeros(n_eq), rhs])  # row bounds (equalities: both)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n_col, a_mat.shape[0]
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
        lp.row_lower_ = np.concatenate([np.zeros(n_eq), np.full(len(rhs), -INF)])
        lp.row_upper_ = np.concatenate([np.zeros(n_eq), rhs])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a_mat.indptr
        lp.a_matrix_.index_ = a_mat.indices
        lp.a_matrix_.value_ = a_mat.data
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("threads", 1)
        self.h.passModel(lp)
        self.n_eq = n_eq
        if not self.previous:
            self.h.setOptionValue("simplex_scale_strategy", 4)  # max value (module docstring)
            self._crash_basis(cost[:nb])

    def _crash_basis(self, cost_p: np.ndarray) -> None:
        """The dual-feasible starting basis of the module docstring (``cost_p`` the
        throttles' own costs): the spend columns basic in their equalities, the cuts'
        slacks basic; a throttle sits at 1 where its reduced cost is negative, else at 0."""
        st = highspy.HighsBasisStatus
        nb, n_spend = self.nb, self.y_col[0][0] - self.nb
        reduced = cost_p - np.asarray(self.A.sum(axis=0)).ravel()  # duals of S = A p: -1
        at = np.array([st.kLower, st.kUpper], dtype=object)
        n_col, n_row = self.h.getNumCol(), self.h.getNumRow()
        basis = highspy.HighsBasis()
        basis.col_status = (
            list(at[(reduced < 0).astype(int)])
            + [st.kBasic] * n_spend
            + [st.kLower] * (n_col - nb - n_spend)
        )
        basis.row_status = [st.kLower] * self.n_eq + [st.kBasic] * (n_row - self.n_eq)
        basis.valid = True
        self.h.setBasis(basis)

    def _aggregates(self, fixed: np.ndarray) -> tuple[np.ndarray, ...]:
        """The fixed spend each penalty row counts: the total, per window, per slot."""
        return (
            np.array([fixed.sum()]),
            np.bincount(self.win, weights=fixed, minlength=self.n_win),
            fixed,
        )

    def _cut_rhs(self, fixed: np.ndarray, a: list[np.ndarray]) -> np.ndarray:
        agg = self._aggregates(fixed)
        return np.concatenate(
            [(self.b_model[g] * agg[g][:, None] - a[g]).ravel() for g in range(3)]
        )

    def _update(self, t0: int, fixed: np.ndarray) -> None:
        """Move the model from the last plan to ``t0`` with ``fixed`` [budget shares]."""
        h, block = self.h, self.block
        played = t0 // block
        if played > self._played:
            idx = np.arange(self._played, played, dtype=np.int32)
            h.changeColsBounds(len(idx), idx, np.zeros(len(idx)), np.zeros(len(idx)))
            self._played = played
        if t0 % block and played < self.nb:
            self._partial_block(t0, played)
        ns = self.ns
        agg = self._aggregates(fixed)
        open_slot = t0 // self.ep.ticks_per_slot  # spend of earlier slots is all fixed
        still_open = (
            np.ones(1, dtype=bool),
            np.arange(self.n_win) >= self.win[min(open_slot, ns - 1)],
            np.arange(ns) >= open_slot,
        )
        for g in range(3):
            # the cuts of a threshold that did not move are the ones computed last time
            th = self.plan[g] - agg[g]
            ch = th != self._th[g]
            self._th[g][ch] = th[ch]
            a, b = excess_cuts(th[ch], self.scale)
            self._a[g][ch] = a[:, 1:]
            b_all = self.b_model[g].copy()
            b_all[ch] = b[:, 1:]
            moved = (b_all != self.b_model[g]) & still_open[g][:, None]
            for i, k in zip(*np.nonzero(moved), strict=True):
                h.changeCoeff(
                    int(self.cut_row[g][i, k]), int(self.agg_col[g][i]), float(b_all[i, k])
                )
            self.b_model[g][moved] = b_all[moved]
        aggregate_eqs = np.zeros(self.n_eq - ns)
        bounds = np.concatenate([fixed, aggregate_eqs, self._cut_rhs(fixed, self._a)])
        rid = np.flatnonzero(bounds != self._bounds).astype(np.int32)  # rows that moved
        self._bounds = bounds
        eq = rid < self.n_eq
        h.changeRowsBounds(int(eq.sum()), rid[eq], bounds[rid[eq]], bounds[rid[eq]])
        cut = rid[~eq]
        h.changeRowsBounds(len(cut), cut, np.full(len(cut), -INF), bounds[cut])

    def _partial_block(self, t0: int, k: int) -> None:
        """Block ``k`` holds ``t0``: its column becomes the coefficients of its ticks from ``t0``."""
        end = (k + 1) * self.block
        if self.previous:
            ep = self.ep.at(t0, np.zeros(self.ns), 0.0)
            A, post = slot_coefficients(ep, end - t0, stop=end)
            new = np.zeros(self.ns)
            new[A.indices] = A.data / self.ep.budget
        else:
            new, post = _tick_spread(self.ep, t0, end)
            new /= self.ep.budget
        if self._partial[0] == k:  # re-planned within this block before
            old = self._partial[1]
        else:
            old = np.zeros(self.ns)
            lo, hi = self.A.indptr[k], self.A.indptr[k + 1]
            old[self.A.indices[lo:hi]] = self.A.data[lo:hi]
        for j in np.flatnonzero(new != old):
            self.h.changeCoeff(int(j), k, float(-new[j]))
        self._partial = (k, new)
        self.h.changeColCost(k, float(self.ep.w_waste * post[0] / self.ep.budget))

    def solve(
        self, t0: int = 0, fixed: np.ndarray | None = None, post: float = 0.0, time_limit_s=60.0
    ) -> HindsightSolution:
        """The schedule from ``t0`` with spend ``fixed`` [currency per slot] already counted or
        in flight and media ``post`` [currency] certain after the flight (``hindsight.solve``)."""
        t_start = time.perf_counter()
        ep, B = self.ep, self.ep.budget
        if t0 < self._t0:
            raise ValueError(f"WarmLP re-plans forward only: t0 = {t0} < {self._t0}")
        f = np.zeros(self.ns) if fixed is None else np.asarray(fixed, dtype=float)[: self.ns] / B
        if t0 > 0 or fixed is not None:
            self._update(int(t0), f)
            # from a basis, devex pricing beats the default dual steepest edge, whose weights
            # HiGHS recomputes for every row on a warm start (1.1x on days, 1.7x on 3 days)
            self.h.setOptionValue("simplex_dual_edge_weight_strategy", 1)
        self._t0 = int(t0)
        h = self.h
        h.setOptionValue("time_limit", max(float(time_limit_s), 1e-6))
        h.run()
        status = h.getModelStatus()
        message = h.modelStatusToString(status)
        seconds = time.perf_counter() - t_start
        if status != highspy.HighsModelStatus.kOptimal:
            return HindsightSolution(
                np.zeros(ep.flight_ticks), math.nan, 1, message, seconds, "highspy-warm"
            )
        x = np.asarray(h.getSolution().col_value[: self.nb])
        throttle = np.zeros(ep.flight_ticks)
        ticks = np.arange(t0, ep.flight_ticks)
        throttle[t0:] = np.clip(x, 0.0, 1.0)[ticks // self.block]
        value = -h.getInfo().objective_function_value - ep.w_waste * post / B
        return HindsightSolution(throttle, value, 0, message, seconds, "highspy-warm")
