"""The compiled step of the batched dynamics core (one loop over campaigns).

State lives in numpy arrays owned by ``envs.core.PacingCore`` (leading
campaign axis, allocated once); this module only reads and updates them in
place. Column indices of the packed arrays are module constants.
"""

from __future__ import annotations

import math
import types

import numba as nb
import numpy as np

from pacegym.envs import rng

# per-campaign parameters (float64 columns of `par`)
P_BUDGET = 0  # [currency]
P_BASE_RATE = 1  # [requests/s]
P_FILL = 2  # [-]
P_RENDER = 3  # [-]
P_NOISE_SD = 4  # [-] stationary log-sd
P_NOISE_PHI = 5  # [-] AR(1) coefficient per tick
P_SURGE_START = 6  # [-] probability a surge starts in a tick
P_SURGE_END = 7  # [-] probability a surge ends in a tick
P_START_MIN = 8  # [min after midnight]
P_FLIGHT_TICKS = 9  # [ticks]
P_LATENCY_TICKS = 10  # [ticks]
P_FC_TOTAL = 11  # [requests] forecast traffic over the flight
P_DELAY_ROW = 12  # row of the delay alias table
N_PAR = 13

# integer state (int64 columns of `ist`)
I_T = 0  # ticks elapsed
I_HEAD = 1  # ring-buffer position of "counted now"
I_SERVED = 2  # impressions served
I_IN_FLIGHT = 3  # served, rendered, not yet counted
I_NEVER = 4  # served, never rendered
I_COUNTED = 5  # counted during the flight
I_COUNTED_POST = 6  # counted after the flight
I_T95 = 7  # tick at which billable spend reached 95% of budget (-1: not yet)
I_DONE = 8  # 1 once the episode (flight + drain) is over
I_REQUESTS = 9  # eligible requests seen
N_IST = 10

# float state (float64 columns of `fst`)
F_NOISE_X = 0  # log-rate noise
F_SURGE = 1  # current surge multiplier (1: none)
F_BILLABLE = 2  # [currency]
F_MEDIA = 3  # [currency] media cost paid
F_WASTE_OVER = 4  # [currency] media cost of over-budget impressions
F_WASTE_POST = 5  # [currency] media cost of post-flight impressions
F_COUNTED_SPEND = 6  # [currency] gross counted spend (price x counted)
F_LAST_P = 7  # last throttle
F_SUM_DP = 8  # sum |throttle change|
F_RATE_EW = 9  # [currency/tick] exponentially weighted served spend rate
N_FST = 10

# reward terms (columns of `terms`)
R_BILLABLE = 0
R_WASTE = 1
R_TRACKING = 2
R_SMOOTHNESS = 3
REWARD_TERMS = ("billable", "waste", "tracking", "smoothness")

_RATE_EW = 0.1  # weight of the newest tick in the serving-rate average
_SHARE_CAP = 100.0  # [share of budget] observation ceiling (keeps the Box finite)
_RATE_CAP = 1e4  # [x uniform pace] observation ceiling


@nb.njit(cache=True, inline="always")
def _interp_row(cum: np.ndarray, b: int, pos: float, n_slots: int) -> float:
    if pos >= n_slots:
        return cum[b, n_slots]
    s = int(pos)
    f = pos - s
    return cum[b, s] + f * (cum[b, s + 1] - cum[b, s])


@nb.njit(cache=True, inline="always")
def profile_minute(start_day: int, minute: float, n: int) -> int:
    """Index into a per-minute profile of ``n`` minutes that starts on Monday 00:00, at
    ``minute`` [min] after midnight of day ``start_day``. It wraps: a one-day profile
    repeats daily (the day offset drops out of it exactly), a longer trace replays its
    days in order from day ``start_day``."""
    return (int(minute) + start_day * 1440) % n


@nb.njit(cache=True, inline="always")
def shape_at(
    prof: np.ndarray,
    mode: int,
    dow: np.ndarray,
    start_day: int,
    tick_s: float,
    start_min: float,
    flight_ticks: float,
    t: int,
) -> float:
    """Expected traffic multiplier (profile x day-of-week) during tick ``t``."""
    if mode == 0:
        x = (t + 0.5) / flight_ticks
        pos = min(max(x, 0.0), 1.0) * (prof.shape[0] - 1)
        i = min(int(pos), prof.shape[0] - 2)
        f = pos - i
        return prof[i] + f * (prof[i + 1] - prof[i])
    minute = start_min + (t + 0.5) * tick_s / 60.0
    day = (start_day + int(minute // 1440.0)) % 7
    return prof[profile_minute(start_day, minute, prof.shape[0])] * dow[day]


@nb.njit(cache=True)
def write_obs(
    b: int,
    obs: np.ndarray,
    par: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    hist: np.ndarray,
    plan_cum: np.ndarray,
    fc_cum: np.ndarray,
    tps: int,
    price: float,
) -> None:
    """Observation row of campaign ``b`` (see ``envs.spaces`` for the table)."""
    budget = par[b, P_BUDGET]
    ft = par[b, P_FLIGHT_TICKS]
    t = ist[b, I_T]
    n_slots = int(ft) // tps
    lat = int(par[b, P_LATENCY_TICKS])
    H = hist.shape[1]
    reported = hist[b, (t - lat) % H] if t >= lat else 0.0
    pos = t / tps
    plan = _interp_row(plan_cum, b, pos, n_slots)
    fc = _interp_row(fc_cum, b, pos, n_slots)
    served_spend = ist[b, I_SERVED] * price
    in_flight = max(served_spend * par[b, P_RENDER] - reported, 0.0)
    left = budget - reported - in_flight
    full = (1.0 - fc) * par[b, P_FC_TOTAL] * par[b, P_FILL] * par[b, P_RENDER] * price
    if left <= 0.0:
        cap = 3.0
    else:
        cap = min(max(math.log10(max(full, 1e-300) / left), -3.0), 3.0)
    p = fst[b, F_LAST_P]
    obs[b, 0] = t / ft
    obs[b, 1] = 1.0 - t / ft
    obs[b, 2] = min(max(math.log10(budget), -12.0), 12.0)
    obs[b, 3] = min(reported / budget, _SHARE_CAP)
    obs[b, 4] = plan
    obs[b, 5] = max(plan - reported / budget, -_SHARE_CAP)
    obs[b, 6] = min(served_spend / budget, _SHARE_CAP)
    obs[b, 7] = min(fst[b, F_RATE_EW] / (budget / ft), _RATE_CAP)
    obs[b, 8] = min(in_flight / budget, _SHARE_CAP)
    obs[b, 9] = fc
    obs[b, 10] = cap
    obs[b, 11] = p
    obs[b, 12] = math.log10(p) if p > 1e-4 else -4.0
    obs[b, 13] = 1.0 if reported >= budget else 0.0


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
    obs: np.ndarray,
    terms: np.ndarray,
    reward: np.ndarray,
    finished: np.ndarray,
    invalid: np.ndarray,
) -> None:
    """Advance every campaign that is not done by one tick; write obs, reward terms, finished.

    Campaigns run in parallel threads; results do not depend on the thread count
    because each campaign only touches its own rows and random streams.
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
        requests = rng.poisson(st_traffic, lam)
        ist[b, I_REQUESTS] += requests

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
        slot_spend[b, t // tps] += spend
        if ist[b, I_T95] < 0 and fst[b, F_BILLABLE] >= 0.95 * budget:
            ist[b, I_T95] = t + 1
        fst[b, F_RATE_EW] += _RATE_EW * (served * price - fst[b, F_RATE_EW])
        dp = abs(p - fst[b, F_LAST_P]) if t > 0 else 0.0
        fst[b, F_SUM_DP] += dp
        fst[b, F_LAST_P] = p

        t += 1
        ist[b, I_T] = t
        hist[b, t % H] = fst[b, F_COUNTED_SPEND]

        n_slots = int(ft) // tps
        plan = _interp_row(plan_cum, b, t / tps, n_slots)
        terms[b, R_BILLABLE] = bill / budget
        terms[b, R_WASTE] = -over_cost / budget
        terms[b, R_TRACKING] = -abs(fst[b, F_COUNTED_SPEND] / budget - plan) / ft
        terms[b, R_SMOOTHNESS] = -dp / ft

        if t >= int(ft):
            # drain: every impression still in flight is counted after the flight, within
            # the maximum delay; its media cost belongs to this episode (and this step)
            post = ist[b, I_IN_FLIGHT]
            ist[b, I_COUNTED_POST] += post
            ist[b, I_IN_FLIGHT] = 0
            fst[b, F_WASTE_POST] += post * media
            fst[b, F_MEDIA] += post * media
            terms[b, R_WASTE] -= post * media / budget
            ist[b, I_DONE] = 1
            finished[b] = True
        for k in range(terms.shape[1]):
            reward[b] += weights[k] * terms[b, k]
        write_obs(b, obs, par, ist, fst, hist, plan_cum, fc_cum, tps, price)


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


@nb.njit(cache=True)
def write_obs_rows(
    rows: np.ndarray,
    obs: np.ndarray,
    par: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    hist: np.ndarray,
    plan_cum: np.ndarray,
    fc_cum: np.ndarray,
    tps: int,
    price: float,
) -> None:
    for i in range(rows.shape[0]):
        write_obs(rows[i], obs, par, ist, fst, hist, plan_cum, fc_cum, tps, price)


@nb.njit(cache=True)
def draw_uniform(streams: np.ndarray, rows: np.ndarray, stream: int, out: np.ndarray) -> None:
    """``out[i, j]``: uniforms from stream ``stream`` of campaign ``rows[i]``."""
    for i in range(rows.shape[0]):
        st = streams[rows[i], stream]
        for j in range(out.shape[1]):
            out[i, j] = rng.uniform(st)


# columns of the drawn-parameter matrix `vals` (order of envs.core.RANDOMIZABLE)
V_FLIGHT_MIN = 0
V_START_MIN = 1
V_BASE_RATE = 2
V_NOISE_SD = 3
V_NOISE_TAU = 4
V_SURGE_RATE = 5
V_SURGE_MEAN = 6
V_FC_BIAS = 7
V_FC_SD = 8
V_FILL = 9
V_DELAY_Q_S = 10
V_DELAY_Q = 11
V_DELAY_SIGMA = 12
V_RENDER = 13
V_LATENCY = 14
V_BUDGET = 15


@nb.njit(cache=True)
def _learned_slot(
    fc_prof: np.ndarray, start_day: int, start_min: float, s: int, slot_s: float
) -> float:
    """Learned forecast requests in plan slot ``s``: the per-minute forecast summed over the
    slot's minutes (the mid-slot minute, scaled, when a slot is shorter than a minute)."""
    n_min = max(1, math.floor(slot_s / 60.0 + 0.5))
    width = slot_s / 60.0 / n_min  # [min] per sub-interval
    out = 0.0
    for k in range(n_min):
        minute = start_day * 1440.0 + start_min + s * slot_s / 60.0 + (k + 0.5) * width
        out += fc_prof[int(minute) % fc_prof.shape[0]] * width
    return out


@nb.njit(cache=True)
def init_rows(
    rows: np.ndarray,
    vals: np.ndarray,
    par: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    streams: np.ndarray,
    pending: np.ndarray,
    hist: np.ndarray,
    slot_spend: np.ndarray,
    fc_cum: np.ndarray,
    prof: np.ndarray,
    prof_mode: int,
    dow: np.ndarray,
    start_day: int,
    tick_s: float,
    slot_s: float,
    tps: int,
    per_campaign_delay: bool,
    fc_prof: np.ndarray,
    fc_mode: int,
) -> None:
    """Parameters, forecast and zero state of new episodes in ``rows`` (streams already seeded).

    ``fc_mode`` 0: the forecast is the true expected profile (``prof``, ``dow``) x bias x
    noise; 1: a learned forecast, ``fc_prof[minute of week]`` [requests/min] from Monday
    00:00, replaces the expected profile (bias and noise still apply).
    """
    max_slots = slot_spend.shape[1]
    n_hist = hist.shape[1]
    for i in range(rows.shape[0]):
        b = rows[i]
        v = vals[i]
        slots = min(max(round(v[V_FLIGHT_MIN] * 60.0 / slot_s), 1), max_slots)
        ft = slots * tps
        par[b, P_BUDGET] = v[V_BUDGET]
        par[b, P_BASE_RATE] = v[V_BASE_RATE]
        par[b, P_FILL] = v[V_FILL]
        par[b, P_RENDER] = v[V_RENDER]
        par[b, P_NOISE_SD] = v[V_NOISE_SD]
        par[b, P_NOISE_PHI] = math.exp(-tick_s / v[V_NOISE_TAU])
        par[b, P_SURGE_START] = -math.expm1(-v[V_SURGE_RATE] * tick_s / 3600.0)
        par[b, P_SURGE_END] = -math.expm1(-tick_s / v[V_SURGE_MEAN])
        par[b, P_START_MIN] = v[V_START_MIN]
        par[b, P_FLIGHT_TICKS] = ft
        par[b, P_LATENCY_TICKS] = min(max(round(v[V_LATENCY] / tick_s), 0), n_hist - 2)
        par[b, P_DELAY_ROW] = b if per_campaign_delay else 0

        # forecast: expected traffic per slot x bias x log-normal error (scenario stream)
        st = streams[b, rng.STREAM_SCENARIO]
        sd = v[V_FC_SD]
        total = 0.0
        fc_cum[b, 0] = 0.0
        for s in range(max_slots):
            if s < slots:
                if fc_mode == 1:
                    z = rng.normal(st)
                    total += (
                        _learned_slot(fc_prof, start_day, v[V_START_MIN], s, slot_s)
                        * v[V_FC_BIAS]
                        * math.exp(sd * z - 0.5 * sd * sd)
                    )
                else:
                    if prof_mode == 0:
                        x = (s + 0.5) / slots * (prof.shape[0] - 1)
                        j = min(int(x), prof.shape[0] - 2)
                        shape = prof[j] + (x - j) * (prof[j + 1] - prof[j])
                    else:
                        minute = v[V_START_MIN] + (s + 0.5) * slot_s / 60.0
                        day = (start_day + int(minute // 1440.0)) % 7
                        shape = prof[profile_minute(start_day, minute, prof.shape[0])] * dow[day]
                    z = rng.normal(st)
                    total += (
                        v[V_BASE_RATE]
                        * slot_s
                        * shape
                        * v[V_FC_BIAS]
                        * math.exp(sd * z - 0.5 * sd * sd)
                    )
            fc_cum[b, s + 1] = total
        for s in range(max_slots + 1):
            fc_cum[b, s] = min(fc_cum[b, s] / total, 1.0) if total > 0.0 else min(s / slots, 1.0)
        par[b, P_FC_TOTAL] = total

        for k in range(ist.shape[1]):
            ist[b, k] = 0
        ist[b, I_T95] = -1
        for k in range(fst.shape[1]):
            fst[b, k] = 0.0
        fst[b, F_SURGE] = 1.0
        fst[b, F_NOISE_X] = v[V_NOISE_SD] * rng.normal(streams[b, rng.STREAM_TRAFFIC])
        pending[b, :] = 0
        hist[b, :] = 0.0
        slot_spend[b, :] = 0.0
