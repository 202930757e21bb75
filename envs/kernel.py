"""The compiled step of the batched dynamics core (one loop over campaigns).

State lives in numpy arrays owned by ``envs.core.PacingCore`` (leading campaign
axis, allocated once); this module only reads and updates them in place. Column
indices are ``envs.layout``'s, re-exported here (``K.P_BUDGET``, ``K.REWARD_TERMS``);
the observation is written by ``envs.observe``, new episodes by ``envs.reset_kernel``.
The step is a chain of helpers inlined into it (``inline="always"``, so one compiled loop):
traffic, serving, delays here; billing, the reward terms and the drain in ``envs.ledger``.

The step takes its arrays as flat arguments, not as one NamedTuple: numba's ``prange``
drops writes made through NamedTuple fields. ``PacingCore`` binds them by name from
the signature below, so their order is written once.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from pacegym.envs import kernel_value as KV
from pacegym.envs import rng
from pacegym.envs.borrow import borrowed as _B
from pacegym.envs.borrow import prefetch, renamed
from pacegym.envs.delay_bins import place_binned
from pacegym.envs.departure_gen import factor_at
from pacegym.envs.layout import *  # noqa: F403 -- the layout is part of this module's interface
from pacegym.envs.layout import (
    F_EXP_POST,
    F_NC_EXPECTED,
    F_NC_SEEN,
    F_NOISE_X,
    F_SERVED_UNITS,
    F_SURGE,
    I_COUNTED,
    I_DONE,
    I_HEAD,
    I_IN_FLIGHT,
    I_NEVER,
    I_REQUESTS,
    I_SERVED,
    I_T,
    P_BASE_RATE,
    P_BUDGET,
    P_DELAY_ROW,
    P_FC_TOTAL,
    P_FILL,
    P_FLIGHT_TICKS,
    P_NOISE_PHI,
    P_NOISE_SD,
    P_RENDER,
    P_START_MIN,
    P_SURGE_END,
    P_SURGE_START,
)
from pacegym.envs.ledger import book, close_tick, drain, plan_excess
from pacegym.envs.nowcast import update_seen
from pacegym.envs.nowcast_linear import update_levels
from pacegym.envs.observe import reported_spend, write_obs_inline
from pacegym.envs.traffic import shape_at


@nb.njit(cache=True, inline="always")
def _begin(
    b: int,
    throttle: np.ndarray,
    reward: np.ndarray,
    terms: np.ndarray,
    finished: np.ndarray,
    invalid: np.ndarray,
) -> float:
    """Clear campaign ``b``'s step outputs; clip its throttles (one per segment, the core's
    own copy) to [0, 1] in place, a non-finite one to 0 (stop serving: safe), flagged in
    ``invalid``. Returns their mean (the one throttle in the volume world)."""
    finished[b] = False
    reward[b] = 0.0
    for k in range(terms.shape[1]):
        terms[b, k] = 0.0
    invalid[b] = False
    total = 0.0
    for s in range(throttle.shape[1]):
        p = throttle[b, s]
        if not math.isfinite(p):
            invalid[b] = True
            p = 0.0
        p = min(max(p, 0.0), 1.0)
        throttle[b, s] = p
        total += p
    return total / throttle.shape[1]


@nb.njit(cache=True, inline="always")
def _surge(
    b: int,
    par: np.ndarray,
    fst: np.ndarray,
    st: np.ndarray,
    surge_factors: np.ndarray,
    surge_cum: np.ndarray,
) -> None:
    """One tick of the surge regime: a surge ends, or one starts with a factor drawn from
    ``surge_cum``; both uniforms are drawn every tick (the stream's use never varies)."""
    u_switch = rng.uniform(st)
    u_factor = rng.uniform(st)
    if fst[b, F_SURGE] > 1.0:
        if u_switch < par[b, P_SURGE_END]:
            fst[b, F_SURGE] = 1.0
    elif u_switch < par[b, P_SURGE_START]:
        j = 0
        while j < surge_cum.shape[0] - 1 and u_factor >= surge_cum[j]:
            j += 1
        fst[b, F_SURGE] = surge_factors[j]


@nb.njit(cache=True, inline="always")
def _traffic(
    b: int,
    t: int,
    par: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    streams: np.ndarray,
    prof: np.ndarray,
    prof_mode: int,
    dow: np.ndarray,
    start_day: int,
    surge_factors: np.ndarray,
    surge_cum: np.ndarray,
    tick_s: float,
    dep_log: np.ndarray,
    dep_on: bool,
) -> int:
    """Requests of campaign ``b`` in tick ``t``: Poisson, mean base rate x profile x
    log-normal AR(1) noise (mean 1) x surge factor (x the lasting departures drawn at
    reset, ``envs.departure_gen``, when on). Exogenous: the traffic stream is consumed
    identically whatever the throttle."""
    st = streams[b, rng.STREAM_TRAFFIC]
    sd = par[b, P_NOISE_SD]
    phi = par[b, P_NOISE_PHI]
    x = phi * fst[b, F_NOISE_X] + sd * math.sqrt(1.0 - phi * phi) * rng.normal(st)
    fst[b, F_NOISE_X] = x
    _surge(b, par, fst, st, surge_factors, surge_cum)
    ft = par[b, P_FLIGHT_TICKS]
    lam = (
        par[b, P_BASE_RATE]
        * tick_s
        * shape_at(prof, prof_mode, dow, start_day, tick_s, par[b, P_START_MIN], ft, t)
        * math.exp(x - 0.5 * sd * sd)
        * fst[b, F_SURGE]
    )
    if dep_on:
        lam *= factor_at(dep_log, b, t, tick_s)
    requests = rng.poisson(st, lam)
    ist[b, I_REQUESTS] += requests
    return requests


@nb.njit(cache=True, inline="always")
def _nowcast(
    b: int,
    t: int,
    requests: int,
    par: np.ndarray,
    fst: np.ndarray,
    fc_cum: np.ndarray,
    tps: int,
    nc_alpha: float,
    nowcast: int,
    nc_ew: np.ndarray,
    nc_alphas: np.ndarray,
) -> None:
    """The intraday forecast's levels: requests seen against forecast, both smoothed (one
    time constant for ``nowcast`` 1, smoothing; ``nc_alphas``' for 2, linear; 0: off)."""
    if nowcast == 0:
        return
    s_now = t // tps
    expected = (fc_cum[b, s_now + 1] - fc_cum[b, s_now]) * par[b, P_FC_TOTAL] / tps
    if nowcast == 1:
        fst[b, F_NC_SEEN] = update_seen(fst[b, F_NC_SEEN], requests, expected, nc_alpha)
        fst[b, F_NC_EXPECTED] += nc_alpha * (expected - fst[b, F_NC_EXPECTED])
    else:
        update_levels(nc_ew, b, requests, expected, nc_alphas)


@nb.njit(cache=True, inline="always")
def _gate(b: int, t: int, par: np.ndarray, hist: np.ndarray) -> float:
    """0 once the reported spend has reached the budget (nothing is served), else 1."""
    return 0.0 if reported_spend(b, t, par, hist) >= par[b, P_BUDGET] else 1.0


@nb.njit(cache=True, inline="always")
def _serve(
    b: int,
    t: int,
    p: float,
    requests: int,
    par: np.ndarray,
    ist: np.ndarray,
    hist: np.ndarray,
    streams: np.ndarray,
) -> int:
    """Impressions served: binomial over ``requests`` at fill rate x throttle ``p``; none
    once the reported spend has reached the budget."""
    p_eff = p * _gate(b, t, par, hist)
    served = rng.binomial(streams[b, rng.STREAM_SERVING], requests, par[b, P_FILL] * p_eff)
    ist[b, I_SERVED] += served
    return served


@nb.njit(cache=True, inline="always")
def _delay(
    b: int,
    t: int,
    served: int,
    par: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    streams: np.ndarray,
    pending: np.ndarray,
    alias_prob: np.ndarray,
    alias_idx: np.ndarray,
    surv: np.ndarray,
    binned: bool,
) -> None:
    """Each served impression is never rendered, or counted ``k`` ticks later, from the
    delay tables' row ``P_DELAY_ROW``. ``binned`` False (the reference): one uniform of the
    delay stream each, the render draw then the alias table; True: the tick's counts per
    bin drawn at once (``envs.delay_bins``, the same distribution)."""
    D = pending.shape[1]
    st = streams[b, rng.STREAM_DELAY]
    head = ist[b, I_HEAD]
    render = par[b, P_RENDER]
    row = int(par[b, P_DELAY_ROW])
    never = 0
    if binned:
        never = served - place_binned(
            st, served, render, head, pending[b], alias_prob[row], alias_idx[row], surv[row]
        )
    else:  # the stream in registers for the loop (rng.next_u64_regs), the same draws
        s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
        for _ in range(served):
            bits, s0, s1, s2, s3 = rng.next_u64_regs(s0, s1, s2, s3)
            u = rng.to_unit(bits)
            if u >= render:
                never += 1
                continue
            v = (u / render) * D
            j = int(v)
            if j >= D:
                j = D - 1
            # the alias draw as arithmetic, not a branch: a coin flip mispredicted half the time
            alias = alias_idx[row, j]
            k = head + alias + (j - alias) * int((v - j) < alias_prob[row, j])
            pending[b, k - D if k >= D else k] += 1  # (head + delay) % D: both in [0, D)
        st[0], st[1], st[2], st[3] = s0, s1, s2, s3
    ist[b, I_NEVER] += never
    ist[b, I_IN_FLIGHT] += served - never


@nb.njit(cache=True, inline="always")
def _exp_post(
    b: int, t: int, units: float, par: np.ndarray, fst: np.ndarray, surv: np.ndarray, media: float
) -> float:
    """The post-end media cost in expectation [currency] of ``units`` price units served at
    tick ``t``: one counted at ``t + k`` is counted after the flight iff ``k >= ft - t``,
    probability ``surv[row, ft - t]`` (``P_DELAY_ROW``'s row)."""
    left = int(par[b, P_FLIGHT_TICKS]) - t
    row = int(par[b, P_DELAY_ROW])
    exp_post = (
        units * par[b, P_RENDER] * surv[row, left] * media if left < surv.shape[1] - 1 else 0.0
    )
    fst[b, F_EXP_POST] += exp_post
    return exp_post


@nb.njit(cache=True, inline="always")
def _reward(b: int, reward: np.ndarray, weights: np.ndarray, terms: np.ndarray) -> None:
    """Campaign ``b``'s reward: its terms weighed by ``weights`` (``REWARD_TERMS`` order)."""
    for k in range(terms.shape[1]):
        reward[b] += weights[k] * terms[b, k]


@nb.njit(cache=True, inline="always")
def _count(b: int, ist: np.ndarray, pending: np.ndarray) -> int:
    """Impressions counted this tick: the ring buffer's head, emptied; the head moves on."""
    head = ist[b, I_HEAD]
    counted = pending[b, head]
    pending[b, head] = 0
    ist[b, I_HEAD] = (head + 1) % pending.shape[1]
    ist[b, I_IN_FLIGHT] -= counted
    ist[b, I_COUNTED] += counted
    return counted


@nb.njit(cache=True, inline="always")
def _prefetch_next(b: int, ist: np.ndarray, pending: np.ndarray) -> None:
    """Prefetch the next campaign's delay ledger while campaign ``b`` runs (when it runs):
    the ledger's scattered increments are the step's hottest instructions otherwise."""
    if b + 1 < pending.shape[0] and ist[b + 1, I_DONE] == 0:
        for j in range(0, pending.shape[1], 16):
            prefetch(pending, b + 1, j)


# fmt: off
def _step(
    throttle: np.ndarray, par: np.ndarray, ist: np.ndarray, fst: np.ndarray,
    streams: np.ndarray, pending: np.ndarray, hist: np.ndarray, slot_spend: np.ndarray,
    plan_cum: np.ndarray, fc_cum: np.ndarray, alias_prob: np.ndarray, alias_idx: np.ndarray,
    surv: np.ndarray, prof: np.ndarray, prof_mode: int, dow: np.ndarray, start_day: int,
    surge_factors: np.ndarray, surge_cum: np.ndarray, tick_s: float, tps: int, price: float,
    media: float, weights: np.ndarray, win_slots: int, tolerance: float,
    burst_tolerance: float, obs: np.ndarray, terms: np.ndarray, reward: np.ndarray,
    finished: np.ndarray, invalid: np.ndarray, nc_cum: np.ndarray, nc_alpha: float,
    nc_phi: float, nowcast: int, nc_ew: np.ndarray, nc_w: np.ndarray, nc_alphas: np.ndarray,
    slot_min: float, dep_log: np.ndarray, dep_on: bool, binned: bool, value_on: bool,
    vst: np.ndarray, pend_units: np.ndarray, pend_val: np.ndarray, seg_share: np.ndarray,
    seg_split: np.ndarray, seg_rel: np.ndarray, seg_clicks: np.ndarray, seg_cvr: np.ndarray,
    seg_pred: np.ndarray, seg_vpc: np.ndarray, seg_price: np.ndarray, seg_fill: np.ndarray,
    seg_chan: np.ndarray, seg_served: np.ndarray, seg_memo: np.ndarray, drift: np.ndarray,
    vbar: np.ndarray, conv_ring: np.ndarray, conv_prob: np.ndarray, conv_idx: np.ndarray,
    conv_ticks: int, n_base: int,
) -> None:
    # fmt: on
    """Advance every campaign that is not done by one tick; write obs, reward terms, finished.

    The reward is ``weights @ terms`` (``REWARD_TERMS`` order), the terms paying
    ``pacing_score_v2`` step by step (``envs.metrics``, docs/objective.md; ``envs.ledger``
    says which helper pays what). ``binned``: ``delay.sampler`` (``_delay``). Campaigns run
    in parallel threads; results do not depend on the thread count (own rows and streams)."""
    # no reference counting in the loop (envs.borrow): the caller holds every array
    par, ist, fst, streams, pending = _B(par), _B(ist), _B(fst), _B(streams), _B(pending)
    hist, slot_spend, plan_cum, fc_cum = _B(hist), _B(slot_spend), _B(plan_cum), _B(fc_cum)
    alias_prob, alias_idx, surv, terms = _B(alias_prob), _B(alias_idx), _B(surv), _B(terms)
    for b in nb.prange(par.shape[0]):  # campaigns are independent: own streams, own rows
        _prefetch_next(b, ist, pending)
        p = _begin(b, throttle, reward, terms, finished, invalid)
        if ist[b, I_DONE] != 0:
            continue
        t = ist[b, I_T]
        requests = _traffic(
            b, t, par, ist, fst, streams, prof, prof_mode, dow, start_day, surge_factors,
            surge_cum, tick_s, dep_log, dep_on,
        )  # fmt: skip
        _nowcast(b, t, requests, par, fst, fc_cum, tps, nc_alpha, nowcast, nc_ew, nc_alphas)
        if value_on:  # segments (envs.kernel_value): served impressions and their price units
            served, units = KV.serve_segments(
                b, KV.hour_of(par[b, P_START_MIN], t, tick_s), requests, _gate(b, t, par, hist),
                throttle, par, ist, vst, streams, pending, pend_units, pend_val, alias_prob,
                alias_idx, price, seg_split,
                seg_clicks, seg_cvr, seg_pred, seg_vpc, seg_price, seg_fill, seg_chan, seg_served,
                seg_memo[b], drift, vbar, conv_ring, conv_prob, conv_idx,
            )  # fmt: skip
        else:
            served = _serve(b, t, p, requests, par, ist, hist, streams)
            _delay(b, t, served, par, ist, fst, streams, pending, alias_prob, alias_idx, surv, binned)
            units = float(served)
        fst[b, F_SERVED_UNITS] += units
        exp_post = _exp_post(b, t, units, par, fst, surv, media)
        if value_on:  # before _count moves the ledger's head
            counted_units = KV.count_value(
                b, t, price, par, ist, fst, vst, terms, pend_units, pend_val, conv_ring, conv_ticks
            )  # fmt: skip
            _count(b, ist, pending)
        else:
            counted_units = float(_count(b, ist, pending))
        spend = book(b, t, counted_units, exp_post, par, fst, terms, slot_spend, tps, price, media)
        plan_excess(
            b, t, spend, par, fst, terms, slot_spend, plan_cum, tps, win_slots, tolerance,
            burst_tolerance,
        )  # fmt: skip
        close_tick(b, t, p, units, par, ist, fst, hist, price)
        if t + 1 >= int(par[b, P_FLIGHT_TICKS]):
            post = KV.post_units(b, pend_units) if value_on else float(ist[b, I_IN_FLIGHT])
            drain(b, post, par, ist, fst, terms, media)
            finished[b] = True
        _reward(b, reward, weights, terms)
        write_obs_inline(
            b, obs, par, ist, fst, hist, plan_cum, fc_cum, tps, price, nc_cum, nc_phi, nowcast,
            nc_ew, nc_w, slot_min,
        )  # fmt: skip
        if value_on:
            KV.write_obs_segments(
                b, t + 1, obs, n_base, throttle, par, tick_s, seg_share, seg_rel, vbar,
            )  # fmt: skip


step_serial = nb.njit(cache=True)(renamed(_step, "step_serial"))
step_parallel = nb.njit(cache=True, parallel=True)(renamed(_step, "step_parallel"))
PARALLEL_MIN_CAMPAIGNS = 64
"""Below this batch size the thread start-up costs more than it saves."""
