"""The compiled reset: parameters, forecast and zero state of new episodes.

``PacingCore.reset`` seeds the campaigns' streams, draws the ``RANDOMIZABLE``
parameters (``draw_uniform``, scaled to their ranges in numpy) and hands the matrix of
drawn values (columns ``V_*``) to ``init_rows``, which fills the rows of the packed
arrays (columns ``P_*``, ``I_*``, ``F_*``; ``envs.layout``) and draws each row's lasting
departures into ``dep_log`` (``envs.departure_gen``; all-zero parameters draw nothing and
advance no stream of the campaign).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from pacegym.envs import rng
from pacegym.envs.departure_gen import fill_departures
from pacegym.envs.layout import (
    F_NOISE_X,
    F_SURGE,
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
    V_BASE_RATE,
    V_BUDGET,
    V_FC_BIAS,
    V_FC_SD,
    V_FILL,
    V_FLIGHT_MIN,
    V_LATENCY,
    V_NOISE_SD,
    V_NOISE_TAU,
    V_RENDER,
    V_START_MIN,
    V_SURGE_MEAN,
    V_SURGE_RATE,
)
from pacegym.envs.nowcast import fill_discounted
from pacegym.envs.traffic import shape_at


@nb.njit(cache=True)
def draw_uniform(streams: np.ndarray, rows: np.ndarray, stream: int, out: np.ndarray) -> None:
    """``out[i, j]``: uniforms from stream ``stream`` of campaign ``rows[i]``."""
    for i in range(rows.shape[0]):
        st = streams[rows[i], stream]
        for j in range(out.shape[1]):
            out[i, j] = rng.uniform(st)


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
def _walk_forward_slot(
    fc_prof: np.ndarray, fc_day0: int, fc_horizon: int, start_min: float, s: int, slot_s: float
) -> float:
    """Walk-forward forecast [profile units x min] of plan slot ``s`` of a flight starting
    ``start_min`` [min] after trace row 0: row ``day - fc_day0`` of the flattened
    ``(days, fc_horizon)`` table, read from midnight of the start day (as ``_learned_slot``)."""
    n_min = max(1, math.floor(slot_s / 60.0 + 0.5))
    width = slot_s / 60.0 / n_min  # [min] per sub-interval
    day = int(start_min // 1440.0)
    base = (day - fc_day0) * fc_horizon
    out = 0.0
    for k in range(n_min):
        minute = start_min - day * 1440.0 + s * slot_s / 60.0 + (k + 0.5) * width
        out += fc_prof[base + min(int(minute), fc_horizon - 1)] * width
    return out


@nb.njit(cache=True, inline="always")
def _expected_slot(
    v: np.ndarray,
    s: int,
    slots: int,
    prof: np.ndarray,
    prof_mode: int,
    dow: np.ndarray,
    start_day: int,
    slot_s: float,
    fc_prof: np.ndarray,
    fc_mode: int,
    fc_day0: int,
    fc_horizon: int,
) -> float:
    """Expected requests in plan slot ``s`` of a campaign with drawn values ``v``, before the
    forecast's bias and error (``init_rows`` says what each ``fc_mode`` reads)."""
    if fc_mode == 1:
        return _learned_slot(fc_prof, start_day, v[V_START_MIN], s, slot_s)
    if fc_mode == 2:
        wf = _walk_forward_slot(fc_prof, fc_day0, fc_horizon, v[V_START_MIN], s, slot_s)
        return v[V_BASE_RATE] * 60.0 * wf
    shape = shape_at(prof, prof_mode, dow, start_day, slot_s, v[V_START_MIN], slots, s)
    return v[V_BASE_RATE] * slot_s * shape


@nb.njit(cache=True, inline="always")
def _set_par(
    b: int,
    v: np.ndarray,
    par: np.ndarray,
    ft: int,
    tick_s: float,
    n_hist: int,
    per_campaign_delay: bool,
) -> None:
    """Campaign ``b``'s parameter row from its drawn values ``v`` (``V_*`` columns) and its
    flight of ``ft`` ticks: per-tick noise, surge and latency figures."""
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


@nb.njit(cache=True, inline="always")
def _zero_state(
    b: int,
    ist: np.ndarray,
    fst: np.ndarray,
    pending: np.ndarray,
    hist: np.ndarray,
    slot_spend: np.ndarray,
) -> None:
    """Campaign ``b``'s counters and ring buffers at the start of an episode, no surge on."""
    for k in range(ist.shape[1]):
        ist[b, k] = 0
    ist[b, I_T95] = -1
    for k in range(fst.shape[1]):
        fst[b, k] = 0.0
    fst[b, F_SURGE] = 1.0
    pending[b, :] = 0
    hist[b, :] = 0.0
    slot_spend[b, :] = 0.0


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
    fc_day0: int,
    fc_horizon: int,
    nc_cum: np.ndarray,
    nc_phi: float,
    nowcast: int,
    dep_log: np.ndarray,
    dep_par: np.ndarray,
) -> None:
    """Parameters, forecast and zero state of new episodes in ``rows`` (streams already seeded).

    ``fc_mode`` 0: the forecast is the true expected profile (``shape_at`` of ``prof``,
    ``dow``, per plan slot) x bias x noise; 1: a learned forecast, ``fc_prof[minute of
    week]`` [requests/min] from Monday 00:00, replaces the expected profile (bias and
    noise still apply); 2: a walk-forward forecast of a trace (``envs.walk_forward``),
    ``fc_prof`` the flattened ``(days, fc_horizon)`` table from day ``fc_day0`` in profile
    units, times the campaign's base rate.
    """
    max_slots = slot_spend.shape[1]
    n_hist = hist.shape[1]
    for i in range(rows.shape[0]):
        b = rows[i]
        v = vals[i]
        slots = min(max(round(v[V_FLIGHT_MIN] * 60.0 / slot_s), 1), max_slots)
        _set_par(b, v, par, slots * tps, tick_s, n_hist, per_campaign_delay)

        # forecast: expected traffic per slot x bias x log-normal error (scenario stream)
        st = streams[b, rng.STREAM_SCENARIO]
        sd = v[V_FC_SD]
        total = 0.0
        fc_cum[b, 0] = 0.0
        for s in range(max_slots):
            if s < slots:
                expected = _expected_slot(
                    v, s, slots, prof, prof_mode, dow, start_day, slot_s, fc_prof, fc_mode,
                    fc_day0, fc_horizon,
                )  # fmt: skip
                z = rng.normal(st)
                total += expected * v[V_FC_BIAS] * math.exp(sd * z - 0.5 * sd * sd)
            fc_cum[b, s + 1] = total
        for s in range(max_slots + 1):
            fc_cum[b, s] = min(fc_cum[b, s] / total, 1.0) if total > 0.0 else min(s / slots, 1.0)
        par[b, P_FC_TOTAL] = total
        if nowcast:
            fill_discounted(nc_cum, fc_cum, b, total, max_slots, nc_phi)

        _zero_state(b, ist, fst, pending, hist, slot_spend)
        # the traffic noise starts from its stationary law (the traffic stream's first draw)
        fst[b, F_NOISE_X] = v[V_NOISE_SD] * rng.normal(streams[b, rng.STREAM_TRAFFIC])
        fill_departures(dep_log, b, streams, dep_par, start_day * 1440.0 + v[V_START_MIN])
