"""The hindsight problem of a value scenario: one throttle per time block and segment.

In a value scenario (``value.channels``, ``envs.params_value``) the tick's requests ``r_t``
are split over segments ``s`` (channel x predicted-value layer) on their own exogenous
stream, so the realised ``r_ts`` do not depend on any action, just as ``r_t`` does not
(``baselines.hindsight``). A segment admits a request with its throttle ``p_ks`` (block
``k``), serves it with probability ``fill_s = min(fill x fill_x[s], 1)``, renders it with
``render`` and counts it ``d`` ticks later (``q[d]``, the same delay for every segment); a
rendered impression of segment ``s`` costs ``price x price_x[s]`` (media cost alike) and is
worth ``value_ts = pred[h(t), s] x drift[channel(s)]`` (the episode's true drift). So the
expected spend counted in plan slot ``j`` is linear in the throttles,

    S_j = sum_{k,s} A^s_jk p_ks,    A^s = the volume model's map (``slot_coefficients``) of
                                    segment s's requests, fill and price,

and so are the post-end media cost and the value term of the spend billed in the flight:
each counted impression pays ``price x price_x x (rel - 1)``, ``rel = value / (price x
price_x) / vbar`` (``vbar`` = the flight's true value per spend, ``core.vbar[:, 0]``).
The objective is ``pacing_score_v2`` with ``score.value x value_excess``: the volume LP
(``baselines.hindsight``: delivery, over-budget, misplaced and burst epigraphs, the same
noise-aware cuts) plus a linear value term per throttle column. ``solve_segments`` solves it
on HiGHS and reads the duals (``SegmentSolution``): the shadow price of spend per slot
and the value-per-cost threshold per block that separates served from unserved segments.

Exact in the fluid model: shares, fills, prices, values, delays, the plan terms. Approximate:
the value term of spend counted over the budget is not paid by the simulator; the LP
charges the over-budget epigraph ``score.value x (max rel - 1)`` more per unit (it never
gains by overspending, and prices the value lost when counting noise overshoots as if the
best segment had been counted last); counting noise is priced at ``price x unit_x`` per
unit of spend (the flight's mean price multiplier). docs/oracle.md, "Value scenarios".
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from pacegym.baselines.hindsight import lp_parts, penalty_groups
from pacegym.baselines.hindsight_model import HindsightEpisode, block_columns, slot_coefficients


@dataclass(frozen=True)
class SegmentEpisode:
    """One value episode as the clairvoyant sees it; money in currency, time in ticks.

    ``base`` carries the volume model's data (total requests, delays, plan, penalties,
    ``t0`` and the fixed spend of a re-plan); ``seg_requests[t, s]`` the realised requests
    of segment ``s``; ``seg_fill[s]`` its serving probability per admitted request;
    ``price_x[s]`` its price (and media cost) multiplier; ``value[t, s]`` [currency] the
    true value of a rendered impression; ``vbar`` [value/currency] the flight's true value
    per spend; ``w_value`` the score's value weight; ``fixed_value_excess`` [currency] the
    value excess already counted or certain (in flight) at ``t0``. ``hours[t]``,
    ``channel[s]``, ``layer[s]``, ``value_sd`` and ``prediction_sd`` describe the requests
    inside a segment (``baselines.impression_bound``)."""

    base: HindsightEpisode
    seg_requests: np.ndarray
    seg_fill: np.ndarray
    price_x: np.ndarray
    value: np.ndarray
    vbar: float
    w_value: float
    hours: np.ndarray
    channel: np.ndarray
    layer: np.ndarray
    value_sd: float = 0.0
    prediction_sd: float = 0.0
    fixed_value_excess: float = 0.0

    @property
    def flight_ticks(self) -> int:
        return self.base.flight_ticks

    @property
    def t0(self) -> int:
        return self.base.t0

    @property
    def n_segments(self) -> int:
        return int(self.seg_requests.shape[1])

    @property
    def rel(self) -> np.ndarray:
        """``(T, S)`` value per spend of each segment and tick relative to ``vbar``."""
        return self.value / (self.base.price * self.price_x[None, :]) / self.vbar

    def segment(self, s: int) -> HindsightEpisode:
        """Segment ``s`` as a volume episode (its requests, fill, price and media cost)."""
        b = self.base
        px = float(self.price_x[s])
        return replace(
            b,
            requests=self.seg_requests[:, s],
            fill=float(self.seg_fill[s]),
            price=b.price * px,
            media=b.media * px,
        )

    def at(
        self, t0: int, fixed_slot_spend: np.ndarray, fixed_post_cost: float, fixed_value: float
    ) -> SegmentEpisode:
        """The remaining problem from tick ``t0``, given the spend and value fixed so far."""
        return replace(
            self,
            base=self.base.at(t0, fixed_slot_spend, fixed_post_cost),
            fixed_value_excess=float(fixed_value),
        )


@dataclass(frozen=True)
class SegmentSolution:
    """A solved value episode. ``throttle[t, s]`` per tick from ``t0`` (zeros before);
    ``value`` the LP's expected score; HiGHS's status, message, time [s] and method.

    Duals (NaN when unsolved): ``shadow[j]`` the score lost per unit (budget share) of
    spend counted in slot ``j`` through the budget and plan constraints (>= 0; ``parts``
    ``(3, n_slots)`` splits it into over-budget, misplaced and burst); ``threshold[t]``
    the value per spend, relative to ``vbar``, that a segment must exceed to be served in
    tick ``t``'s block; ``col_threshold`` and ``col_rel`` ``(n_blocks, S)`` the same per
    throttle column and the column's spend-weighted relative value; ``blocks`` ``(n_blocks,
    S)`` the throttles."""

    throttle: np.ndarray
    value: float
    status: int
    message: str
    seconds: float
    method: str
    shadow: np.ndarray
    parts: np.ndarray
    threshold: np.ndarray
    col_threshold: np.ndarray
    col_rel: np.ndarray
    blocks: np.ndarray

    @property
    def ok(self) -> bool:
        return self.status == 0


@dataclass(frozen=True)
class SegmentColumns:
    """The linear model per throttle column ``(s, k)`` (segment-major, ``n_blocks`` per
    segment), in currency: ``A`` counted spend per slot, ``post`` post-end media cost,
    ``spend`` spend counted in the flight, ``excess`` its value excess ``spend x (rel - 1)``."""

    A: sparse.csc_matrix
    post: np.ndarray
    spend: np.ndarray
    excess: np.ndarray
    n_blocks: int


def segment_columns(ep: SegmentEpisode, block: int) -> SegmentColumns:
    """The expected spend, post-end cost and value excess of every throttle column."""
    b = ep.base
    T, D = b.flight_ticks, b.q.shape[0]
    fq = np.concatenate(([0.0], np.cumsum(b.q)))
    fq[-1] = 1.0
    ticks = np.arange(b.t0, T)
    counted_in = fq[np.minimum(T - ticks, D)]  # P(counted within the flight)
    col = block_columns(b, block)
    mats, posts, spends, excess = [], [], [], []
    for s in range(ep.n_segments):
        A_s, post_s = slot_coefficients(ep.segment(s), block)
        rendered = ep.seg_fill[s] * b.render * ep.seg_requests[b.t0 :, s] * counted_in
        unit = b.price * ep.price_x[s]
        gain = rendered * (ep.value[b.t0 :, s] / ep.vbar - unit)
        nb_ = A_s.shape[1]
        mats.append(A_s)
        posts.append(post_s)
        spends.append(np.bincount(col, weights=rendered * unit, minlength=nb_))
        excess.append(np.bincount(col, weights=gain, minlength=nb_))
    return SegmentColumns(
        A=sparse.hstack(mats, format="csc"),
        post=np.concatenate(posts),
        spend=np.concatenate(spends),
        excess=np.concatenate(excess),
        n_blocks=int(mats[0].shape[1]),
    )


def over_budget_weight(ep: SegmentEpisode) -> float:
    """Score lost per unit of spend counted over the budget: no delivery, its media cost
    wasted, and (approximate, conservative) the value excess of the best segment left."""
    b = ep.base
    live = ep.seg_requests[b.t0 :] > 0
    rel = ep.rel[b.t0 :]
    best = float(rel[live].max()) if live.any() else 1.0
    return 1.0 + b.w_waste * b.media / b.price + ep.w_value * max(best - 1.0, 0.0)


def build_segment_lp(ep: SegmentEpisode, block: int) -> tuple[dict, SegmentColumns, list[int]]:
    """The LP (``linprog`` arguments, scaled by 1/budget: ``-fun`` + fixed terms is the
    score), its columns' model and the number of cut rows of each penalty group. Variables: the throttles
    (``segment_columns`` order), the slot spends, the penalty epigraphs."""
    b = ep.base
    ns, B = b.n_slots, b.budget
    cols = segment_columns(ep, block)
    fixed = np.zeros(ns) if b.fixed_slot_spend is None else b.fixed_slot_spend[:ns] / B
    groups = penalty_groups(b, fixed)
    groups[0] = replace(groups[0], weight=over_budget_weight(ep))
    c_x = (b.w_waste * cols.post - ep.w_value * cols.excess) / B
    c, rows_ub, b_ub, a_eq, lower, upper = lp_parts(c_x, cols.A / B, groups, b.spend_variance / B)
    lp = dict(
        c=c,
        A_ub=sparse.vstack(rows_ub, format="csc"),
        b_ub=np.concatenate(b_ub),
        A_eq=a_eq,
        b_eq=fixed,
        bounds=np.stack([lower, upper], axis=1),
    )
    return lp, cols, [r.shape[0] for r in rows_ub]


def _thresholds(
    ep: SegmentEpisode, cols: SegmentColumns, shadow: np.ndarray, block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column and per tick, the relative value per spend above which serving pays:
    a column's reduced cost is ``spend (sigma - 1 - w_value (rel - 1)) + w_waste post``
    with ``sigma`` its spend-weighted shadow price, so it is served (throttle 1) above
    ``1 + (sigma + w_waste post / spend - 1) / w_value`` and not below (NaN without a
    value weight or without spend)."""
    b, nb_, S = ep.base, cols.n_blocks, ep.n_segments
    with np.errstate(divide="ignore", invalid="ignore"):
        sig = (cols.A.T @ shadow) / cols.spend
        rel = 1.0 + cols.excess / cols.spend
        th = 1.0 + (sig + b.w_waste * cols.post / cols.spend - 1.0) / ep.w_value
        # the block's: the columns of all segments together
        spend_k = cols.spend.reshape(S, nb_).sum(axis=0)
        sig_k = (cols.A.T @ shadow).reshape(S, nb_).sum(axis=0) / spend_k
        post_k = cols.post.reshape(S, nb_).sum(axis=0) / spend_k
        th_k = 1.0 + (sig_k + b.w_waste * post_k - 1.0) / ep.w_value
    ok = (cols.spend > 0) & (ep.w_value > 0)
    th = np.where(ok, th, np.nan).reshape(S, nb_).T
    rel = np.where(cols.spend > 0, rel, np.nan).reshape(S, nb_).T
    tick = np.full(b.flight_ticks, np.nan)
    tick[b.t0 :] = np.where((spend_k > 0) & (ep.w_value > 0), th_k, np.nan)[block_columns(b, block)]
    return th, rel, tick


def solve_segments(
    ep: SegmentEpisode,
    block: int = 1,
    time_limit_s: float = 60.0,
    methods: tuple[str, ...] = ("highs", "highs-ipm"),
) -> SegmentSolution:
    """Maximise the value episode's expected ``pacing_score_v2`` over throttles per block
    and segment from ``t0`` (HiGHS; ``methods`` tried in turn as in
    ``baselines.hindsight.solve``), with the duals. A failure comes back as a non-zero
    status, HiGHS's message and zero throttles."""
    t_start = time.perf_counter()
    lp, cols, n_rows = build_segment_lp(ep, block)
    b, S, nb_, ns = ep.base, ep.n_segments, cols.n_blocks, ep.base.n_slots
    n_x = S * nb_
    for method in methods:
        left = time_limit_s - (time.perf_counter() - t_start)
        res = linprog(
            **lp, method=method, options={"time_limit": max(left, 1e-6), "presolve": True}
        )
        if res.status == 0 and res.x is not None:
            x = np.clip(res.x[:n_x], 0.0, 1.0).reshape(S, nb_).T
            throttle = np.zeros((b.flight_ticks, S))
            throttle[b.t0 :] = x[block_columns(b, block)]
            shadow = 1.0 + np.asarray(res.eqlin.marginals)
            parts = _dual_parts(lp["A_ub"], np.asarray(res.ineqlin.marginals), n_rows, n_x, ns)
            th, rel, tick = _thresholds(ep, cols, shadow, block)
            fixed = (-b.w_waste * b.fixed_post_cost + ep.w_value * ep.fixed_value_excess) / b.budget
            return SegmentSolution(
                throttle, -float(res.fun) + fixed, 0, str(res.message),
                time.perf_counter() - t_start, method, shadow, parts, tick, th, rel, x,
            )  # fmt: skip
    nan = np.full(ns, np.nan)
    return SegmentSolution(
        np.zeros((b.flight_ticks, S)), math.nan, int(res.status), str(res.message),
        time.perf_counter() - t_start, method, nan, np.full((3, ns), np.nan),
        np.full(b.flight_ticks, np.nan), np.full((nb_, S), np.nan),
        np.full((nb_, S), np.nan), np.zeros((nb_, S)),
    )  # fmt: skip


def _dual_parts(
    a_ub: sparse.csc_matrix, mu: np.ndarray, n_rows: list[int], n_x: int, ns: int
) -> np.ndarray:
    """``(groups, n_slots)``: each penalty group's share of the shadow price of slot spend
    (``-mu`` over its ``n_rows`` cut rows, times their slope on the slot's spend)."""
    on_s = a_ub[:, n_x : n_x + ns]
    edges = np.concatenate(([0], np.cumsum(n_rows)))
    return np.stack([-(on_s[lo:hi].T @ mu[lo:hi]) for lo, hi in itertools.pairwise(edges)])
