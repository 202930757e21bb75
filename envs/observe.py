"""The compiled observation: one row of ``envs.spaces.OBS_FEATURES`` per campaign.

Column indices (``O_*``) and clipping bounds come from ``OBS_FEATURES``; numba freezes
them into the machine code as constants. Every feature is clipped to its declared
``[low, high]``, so the Box holds by construction.
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

from pacegym.envs.borrow import renamed
from pacegym.envs.layout import (
    F_LAST_P,
    F_NC_EXPECTED,
    F_NC_SEEN,
    F_RATE_EW,
    F_SERVED_UNITS,
    I_T,
    P_BUDGET,
    P_FC_TOTAL,
    P_FILL,
    P_FLIGHT_TICKS,
    P_LATENCY_TICKS,
    P_RENDER,
    P_START_MIN,
    P_UNIT_X,
)
from pacegym.envs.nowcast import discounted_remaining, level
from pacegym.envs.nowcast_linear import HORIZON_MIN, linear_level
from pacegym.envs.spaces import MIN_POSITIVE_THROTTLE, OBS_HIGH, OBS_INDEX, OBS_LOW

O_TIME_ELAPSED = OBS_INDEX["time_elapsed"]
O_TIME_REMAINING = OBS_INDEX["time_remaining"]
O_BUDGET_LOG10 = OBS_INDEX["budget_log10"]
O_REPORTED_SPEND = OBS_INDEX["reported_spend"]
O_PLAN = OBS_INDEX["plan"]
O_PLAN_ERROR = OBS_INDEX["plan_error"]
O_SERVED_SPEND = OBS_INDEX["served_spend"]
O_SERVING_RATE = OBS_INDEX["serving_rate"]
O_IN_FLIGHT = OBS_INDEX["in_flight"]
O_FORECAST_ELAPSED = OBS_INDEX["forecast_elapsed"]
O_CAPACITY_LOG10 = OBS_INDEX["capacity_log10"]
O_LAST_THROTTLE = OBS_INDEX["last_throttle"]
O_LAST_THROTTLE_LOG10 = OBS_INDEX["last_throttle_log10"]
O_EXHAUSTED = OBS_INDEX["exhausted"]

# float64 copies: the clip happens before the float32 store, exactly as with literals
_LOW = OBS_LOW.astype(np.float64)
_HIGH = OBS_HIGH.astype(np.float64)


@nb.njit(cache=True, inline="always")
def interp_cum(cum: np.ndarray, b: int, pos: float, n_slots: int) -> float:
    """Row ``b`` of a cumulative per-slot curve (plan, forecast) at ``pos`` slots elapsed."""
    if pos >= n_slots:
        return cum[b, n_slots]
    s = int(pos)
    f = pos - s
    return cum[b, s] + f * (cum[b, s + 1] - cum[b, s])


@nb.njit(cache=True, inline="always")
def reported_spend(b: int, t: int, par: np.ndarray, hist: np.ndarray) -> float:
    """Campaign ``b``'s spend as reported at tick ``t``: the counted spend of
    ``P_LATENCY_TICKS`` ticks before (``hist`` is the ring buffer of it), 0 until then."""
    lat = int(par[b, P_LATENCY_TICKS])
    return hist[b, (t - lat) % hist.shape[1]] if t >= lat else 0.0


@nb.njit(cache=True, inline="always")
def _put(obs: np.ndarray, b: int, k: int, x: float) -> None:
    obs[b, k] = min(max(x, _LOW[k]), _HIGH[k])


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
    nc_cum: np.ndarray,
    nc_phi: float,
    nowcast: int,
    nc_ew: np.ndarray,
    nc_w: np.ndarray,
    slot_min: float,
) -> None:
    """Observation row of campaign ``b`` (the table is ``envs.spaces.OBS_FEATURES``).

    With ``nowcast`` (1 smoothing, 2 linear), the forecast traffic left (``capacity_log10``)
    is corrected by the level of the traffic seen (``envs.nowcast``, ``envs.nowcast_linear``,
    whose ``nc_ew``/``nc_w`` rows it reads; ``slot_min`` [min] a plan slot); the plan and
    ``forecast_elapsed`` stay the day-ahead forecast's.
    """
    budget = par[b, P_BUDGET]
    ft = par[b, P_FLIGHT_TICKS]
    t = ist[b, I_T]
    n_slots = int(ft) // tps
    reported = reported_spend(b, t, par, hist)
    pos = t / tps
    plan = interp_cum(plan_cum, b, pos, n_slots)
    fc = interp_cum(fc_cum, b, pos, n_slots)
    served_spend = fst[b, F_SERVED_UNITS] * price
    in_flight = max(served_spend * par[b, P_RENDER] - reported, 0.0)
    left = budget - reported - in_flight
    remaining = (1.0 - fc) * par[b, P_FC_TOTAL]  # [requests] forecast left in the flight
    if nowcast != 0:
        if nowcast == 1:
            r = level(fst[b, F_NC_SEEN], fst[b, F_NC_EXPECTED])
        else:  # the next hour's forecast against the flight's mean hour, and the time of day
            hour = interp_cum(fc_cum, b, pos + HORIZON_MIN / slot_min, n_slots) - fc
            minute = (par[b, P_START_MIN] + pos * slot_min) % 1440.0
            r = linear_level(nc_ew, nc_w, b, minute, hour * n_slots * slot_min / HORIZON_MIN)
        remaining += (r - 1.0) * discounted_remaining(nc_cum, b, pos, n_slots, nc_phi)
    full = remaining * par[b, P_FILL] * par[b, P_RENDER] * price * par[b, P_UNIT_X]
    # nothing left to spend reads as the most capacity there is
    cap = _HIGH[O_CAPACITY_LOG10] if left <= 0.0 else math.log10(max(full, 1e-300) / left)
    p = fst[b, F_LAST_P]
    p_log = math.log10(p) if p > MIN_POSITIVE_THROTTLE else _LOW[O_LAST_THROTTLE_LOG10]
    _put(obs, b, O_TIME_ELAPSED, t / ft)
    _put(obs, b, O_TIME_REMAINING, 1.0 - t / ft)
    _put(obs, b, O_BUDGET_LOG10, math.log10(budget))
    _put(obs, b, O_REPORTED_SPEND, reported / budget)
    _put(obs, b, O_PLAN, plan)
    _put(obs, b, O_PLAN_ERROR, plan - reported / budget)
    _put(obs, b, O_SERVED_SPEND, served_spend / budget)
    _put(obs, b, O_SERVING_RATE, fst[b, F_RATE_EW] / (budget / ft))
    _put(obs, b, O_IN_FLIGHT, in_flight / budget)
    _put(obs, b, O_FORECAST_ELAPSED, fc)
    _put(obs, b, O_CAPACITY_LOG10, cap)
    _put(obs, b, O_LAST_THROTTLE, p)
    _put(obs, b, O_LAST_THROTTLE_LOG10, p_log)
    _put(obs, b, O_EXHAUSTED, 1.0 if reported >= budget else 0.0)


write_obs_inline = nb.njit(cache=True, inline="always")(
    renamed(write_obs.py_func, "write_obs_inline")
)
"""``write_obs`` inlined where it is called (the step's: no call passing ~100 scalars)."""


@nb.njit(cache=True)
def write_obs_rows(rows: np.ndarray, *args: Any) -> None:
    """``write_obs(b, *args)`` for each campaign ``b`` in ``rows`` (after a reset): ``args``
    are ``write_obs``'s arguments after ``b``, so its signature is their one list."""
    for i in range(rows.shape[0]):
        write_obs(rows[i], *args)
