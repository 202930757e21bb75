"""The compiled step of the batched dynamics core (one loop over campaigns).

State lives in numpy arrays owned by ``envs.core.PacingCore`` (leading campaign
axis, allocated once); this module only reads and updates them in place. Column
indices are ``envs.layout``'s, re-exported here (``K.P_BUDGET``, ``K.REWARD_TERMS``);
the observation is written by ``envs.observe``, new episodes by ``envs.reset_kernel``.

The step takes its arrays as flat arguments, not as one NamedTuple: numba's ``prange``
drops writes made through NamedTuple fields. ``PacingCore`` binds them by name from
the signature below, so their order is written once.
"""

from __future__ import annotations

import math
import types

import numba as nb
import numpy as np

from pacegym.envs import rng
from pacegym.envs.departure_gen import factor_at
from pacegym.envs.layout import *  # noqa: F403 -- the layout is part of this module's interface
from pacegym.envs.layout import (
    F_BILLABLE,
    F_COUNTED_SPEND,
    F_EXP_POST,
    F_LAST_P,
    F_MEDIA,
    F_NC_EXPECTED,
    F_NC_SEEN,
    F_NOISE_X,
    F_RATE_EW,
    F_SLOT_EXCESS,
    F_SUM_DP,
    F_SURGE,
    F_WASTE_OVER,
    F_WASTE_POST,
    F_WIN_EXCESS,
    F_WIN_SPEND,
    I_COUNTED,
    I_COUNTED_POST,
    I_DONE,
    I_HEAD,
    I_IN_FLIGHT,
    I_NEVER,
    I_REQUESTS,
    I_SERVED,
    I_T,
    I_T95,
    P_BASE_RATE,
    P_BUDGET,
    P_DELAY_ROW,
    P_FC_TOTAL,
    P_FILL,
    P_FLIGHT_TICKS,
    P_LATENCY_TICKS,
    P_NOISE_PHI,
    P_NOISE_SD,
    P_RENDER,
    P_START_MIN,
    P_SURGE_END,
    P_SURGE_START,
    R_BURST,
    R_DELIVERY,
    R_MISPLACED,
    R_WASTE,
)
from pacegym.envs.nowcast import update_seen
from pacegym.envs.nowcast_linear import update_levels
from pacegym.envs.observe import write_obs
from pacegym.envs.traffic import shape_at

_RATE_EW = 0.1  # weight of the newest tick in the serving-rate average


def _step(
    throttle: np.ndarray,
    par: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    streams: np.ndarray,
    pending: np.ndarray,
    hist: np.ndarray,
    slot_spend: np.ndarray,
    plan_cum: np.ndarray,
    fc_cum: np.ndarray,
    alias_prob: np.ndarray,
    alias_idx: np.ndarray,
    surv: np.ndarray,
    prof: np.ndarray,
    prof_mode: int,
    dow: np.ndarray,
    start_day: int,
    surge_factors: np.ndarray,
    surge_cum: np.ndarray,
    tick_s: float,
    tps: int,
    price: float,
    media: float,
    weights: np.ndarray,
    win_slots: int,
    tolerance: float,
    burst_tolerance: float,
    obs: np.ndarray,
    terms: np.ndarray,
    reward: np.ndarray,
    finished: np.ndarray,
    invalid: np.ndarray,
    nc_cum: np.ndarray,
    nc_alpha: float,
    nc_phi: float,
    nowcast: int,
    nc_ew: np.ndarray,
    nc_w: np.ndarray,
    nc_alphas: np.ndarray,
    slot_min: float,
    dep_log: np.ndarray,
    dep_on: bool,
) -> None:
    """Advance every campaign that is not done by one tick; write obs, reward terms, finished.

    ``weights[k]`` weighs ``terms[:, k]`` (``REWARD_TERMS`` order); the terms pay
    ``pacing_score_v2`` step by step (``envs.metrics``, docs/objective.md): billable
    spend; waste (over-budget cost when counted, post-end cost in expectation when served,
    ``surv[row, j]`` being the probability that a rendered impression's delay is at least
    ``j`` ticks, the realised remainder settled at the last step); and the growth of the
    current window's (``win_slots`` plan slots, ``tolerance``) and plan slot's
    (``burst_tolerance``) spend above the plan. Campaigns run in parallel threads;
    results do not depend on the thread count because each campaign only touches its own
    rows and random streams.
    """
    D = pending.shape[1]
    H = hist.shape[1]
    for b in nb.prange(par.shape[0]):  # campaigns are independent: own streams, own rows
        finished[b] = False
        reward[b] = 0.0
        for k in range(terms.shape[1]):
            terms[b, k] = 0.0
        # non-finite throttles stop serving (safe) and are flagged; others are clipped to [0, 1]
        p = throttle[b]
        invalid[b] = not math.isfinite(p)
        p = 0.0 if invalid[b] else min(max(p, 0.0), 1.0)
        if ist[b, I_DONE] != 0:
            continue
        t = ist[b, I_T]
        budget = par[b, P_BUDGET]
        ft = par[b, P_FLIGHT_TICKS]
        st_traffic = streams[b, rng.STREAM_TRAFFIC]
        st_serve = streams[b, rng.STREAM_SERVING]
        st_delay = streams[b, rng.STREAM_DELAY]

        # traffic: exogenous, the stream is consumed identically whatever the throttle
        sd = par[b, P_NOISE_SD]
        phi = par[b, P_NOISE_PHI]
        x = phi * fst[b, F_NOISE_X] + sd * math.sqrt(1.0 - phi * phi) * rng.normal(st_traffic)
        fst[b, F_NOISE_X] = x
        u_switch = rng.uniform(st_traffic)
        u_factor = rng.uniform(st_traffic)
        if fst[b, F_SURGE] > 1.0:
            if u_switch < par[b, P_SURGE_END]:
                fst[b, F_SURGE] = 1.0
        elif u_switch < par[b, P_SURGE_START]:
            j = 0
            while j < surge_cum.shape[0] - 1 and u_factor >= surge_cum[j]:
                j += 1
            fst[b, F_SURGE] = surge_factors[j]
        lam = (
            par[b, P_BASE_RATE]
            * tick_s
            * shape_at(prof, prof_mode, dow, start_day, tick_s, par[b, P_START_MIN], ft, t)
            * math.exp(x - 0.5 * sd * sd)
            * fst[b, F_SURGE]
        )
        if dep_on:  # lasting departures, drawn at reset (envs.departure_gen)
            lam *= factor_at(dep_log, b, t, tick_s)
        requests = rng.poisson(st_traffic, lam)
        ist[b, I_REQUESTS] += requests
        if nowcast:  # the intraday forecast's level: requests seen against forecast
            s_now = t // tps
            expected = (fc_cum[b, s_now + 1] - fc_cum[b, s_now]) * par[b, P_FC_TOTAL] / tps
            if nowcast == 1:
                fst[b, F_NC_SEEN] = update_seen(fst[b, F_NC_SEEN], requests, expected, nc_alpha)
                fst[b, F_NC_EXPECTED] += nc_alpha * (expected - fst[b, F_NC_EXPECTED])
            else:
                update_levels(nc_ew, b, requests, expected, nc_alphas)

        # serving: stops once reported spend reaches the budget
        lat = int(par[b, P_LATENCY_TICKS])
        reported = hist[b, (t - lat) % H] if t >= lat else 0.0
        p_eff = 0.0 if reported >= budget else p
        served = rng.binomial(st_serve, requests, par[b, P_FILL] * p_eff)
        ist[b, I_SERVED] += served

        # delays: each served ad is never rendered or counted k ticks later
        head = ist[b, I_HEAD]
        render = par[b, P_RENDER]
        row = int(par[b, P_DELAY_ROW])
        never = 0
        for _ in range(served):
            u = rng.uniform(st_delay)
            if u >= render:
                never += 1
                continue
            v = (u / render) * D
            j = int(v)
            if j >= D:
                j = D - 1
            k = j if (v - j) < alias_prob[row, j] else alias_idx[row, j]
            pending[b, (head + k) % D] += 1
        ist[b, I_NEVER] += never
        ist[b, I_IN_FLIGHT] += served - never
        # post-end waste in expectation: counted at t + k, after the flight iff k >= ft - t
        left = int(ft) - t
        exp_post = served * render * surv[row, left] * media if left < D else 0.0
        fst[b, F_EXP_POST] += exp_post

        counted = pending[b, head]
        pending[b, head] = 0
        ist[b, I_HEAD] = (head + 1) % D
        ist[b, I_IN_FLIGHT] -= counted
        ist[b, I_COUNTED] += counted

        # money
        spend = counted * price
        room = max(budget - fst[b, F_BILLABLE], 0.0)
        bill = min(spend, room)
        over_cost = (spend - bill) / price * media
        fst[b, F_BILLABLE] += bill
        fst[b, F_COUNTED_SPEND] += spend
        fst[b, F_MEDIA] += counted * media
        fst[b, F_WASTE_OVER] += over_cost
        slot = t // tps
        slot_spend[b, slot] += spend
        # spend above the plan: the current window's and slot's excess, charged as it grows
        n_slots = int(ft) // tps
        if t % (tps * win_slots) == 0:
            fst[b, F_WIN_SPEND] = 0.0
            fst[b, F_WIN_EXCESS] = 0.0
        if t % tps == 0:
            fst[b, F_SLOT_EXCESS] = 0.0
        fst[b, F_WIN_SPEND] += spend
        w0 = (slot // win_slots) * win_slots
        w1 = min(w0 + win_slots, n_slots)
        allowed = (1.0 + tolerance) * (plan_cum[b, w1] - plan_cum[b, w0]) * budget
        excess = max(fst[b, F_WIN_SPEND] - allowed, 0.0)
        d_misplaced = excess - fst[b, F_WIN_EXCESS]
        fst[b, F_WIN_EXCESS] = excess
        allowed = (1.0 + burst_tolerance) * (plan_cum[b, slot + 1] - plan_cum[b, slot]) * budget
        excess = max(slot_spend[b, slot] - allowed, 0.0)
        d_burst = excess - fst[b, F_SLOT_EXCESS]
        fst[b, F_SLOT_EXCESS] = excess
        if ist[b, I_T95] < 0 and fst[b, F_BILLABLE] >= 0.95 * budget:
            ist[b, I_T95] = t + 1
        fst[b, F_RATE_EW] += _RATE_EW * (served * price - fst[b, F_RATE_EW])
        dp = abs(p - fst[b, F_LAST_P]) if t > 0 else 0.0
        fst[b, F_SUM_DP] += dp
        fst[b, F_LAST_P] = p

        t += 1
        ist[b, I_T] = t
        hist[b, t % H] = fst[b, F_COUNTED_SPEND]

        terms[b, R_DELIVERY] = bill / budget
        terms[b, R_WASTE] = -(over_cost + exp_post) / budget
        terms[b, R_MISPLACED] = -d_misplaced / budget
        terms[b, R_BURST] = -d_burst / budget

        if t >= int(ft):
            # drain: every impression still in flight is counted after the flight, within
            # the maximum delay; its media cost belongs to this episode (and this step)
            post = ist[b, I_IN_FLIGHT]
            ist[b, I_COUNTED_POST] += post
            ist[b, I_IN_FLIGHT] = 0
            fst[b, F_WASTE_POST] += post * media
            fst[b, F_MEDIA] += post * media
            # settle: the realised post-end cost minus what was charged in expectation
            terms[b, R_WASTE] -= (post * media - fst[b, F_EXP_POST]) / budget
            ist[b, I_DONE] = 1
            finished[b] = True
        for k in range(terms.shape[1]):
            reward[b] += weights[k] * terms[b, k]
        write_obs(
            b, obs, par, ist, fst, hist, plan_cum, fc_cum, tps, price, nc_cum, nc_phi, nowcast,
            nc_ew, nc_w, slot_min,
        )  # fmt: skip


def _renamed(func: types.FunctionType, name: str) -> types.FunctionType:
    """A copy of ``func`` under another name: numba's on-disk cache is keyed by name, and
    the serial and the parallel compilation of one function must not share an entry."""
    code = func.__code__.replace(co_name=name, co_qualname=name)
    clone = types.FunctionType(code, func.__globals__, name, func.__defaults__, func.__closure__)
    clone.__qualname__ = name
    return clone


step_serial = nb.njit(cache=True)(_renamed(_step, "step_serial"))
step_parallel = nb.njit(cache=True, parallel=True)(_renamed(_step, "step_parallel"))
PARALLEL_MIN_CAMPAIGNS = 64
"""Below this batch size the thread start-up costs more than it saves."""
