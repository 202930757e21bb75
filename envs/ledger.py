"""The compiled money of a step: billing, the reward terms it pays, the end of a tick.

Helpers of ``envs.kernel``'s step, inlined into it (``inline="always"``): each takes
campaign ``b``'s row of the packed arrays (``envs.layout`` columns) and updates it in
place. The reward terms (``REWARD_TERMS``, docs/objective.md), in budget shares:
``book`` pays delivery (billable spend) and waste (over-budget media cost, post-end cost
in expectation), ``plan_excess`` misplaced and burst (growth of the spend above the
plan), ``drain`` settles waste against the realised post-end cost at the last step.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pacegym.envs.layout import (
    F_BILLABLE,
    F_COUNTED_SPEND,
    F_EXP_POST,
    F_LAST_P,
    F_MEDIA,
    F_RATE_EW,
    F_SLOT_EXCESS,
    F_SUM_DP,
    F_WASTE_OVER,
    F_WASTE_POST,
    F_WIN_EXCESS,
    F_WIN_SPEND,
    I_COUNTED_POST,
    I_DONE,
    I_IN_FLIGHT,
    I_T,
    I_T95,
    P_BUDGET,
    P_FLIGHT_TICKS,
    R_BURST,
    R_DELIVERY,
    R_MISPLACED,
    R_WASTE,
)

_RATE_EW = 0.1  # weight of the newest tick in the serving-rate average


@nb.njit(cache=True, inline="always")
def book(
    b: int,
    t: int,
    counted: float,
    exp_post: float,
    par: np.ndarray,
    fst: np.ndarray,
    terms: np.ndarray,
    slot_spend: np.ndarray,
    tps: int,
    price: float,
    media: float,
) -> float:
    """Bill the counted impressions (``counted`` price units: their count in the volume
    world) up to the budget; pay the delivery term (billable spend)
    and the waste term (over-budget media cost, plus ``exp_post``). Returns the spend."""
    budget = par[b, P_BUDGET]
    spend = counted * price
    room = max(budget - fst[b, F_BILLABLE], 0.0)
    bill = min(spend, room)
    over_cost = (spend - bill) / price * media
    fst[b, F_BILLABLE] += bill
    fst[b, F_COUNTED_SPEND] += spend
    fst[b, F_MEDIA] += counted * media
    fst[b, F_WASTE_OVER] += over_cost
    slot_spend[b, t // tps] += spend
    terms[b, R_DELIVERY] = bill / budget
    terms[b, R_WASTE] = -(over_cost + exp_post) / budget
    return spend


@nb.njit(cache=True, inline="always")
def plan_excess(
    b: int,
    t: int,
    spend: float,
    par: np.ndarray,
    fst: np.ndarray,
    terms: np.ndarray,
    slot_spend: np.ndarray,
    plan_cum: np.ndarray,
    tps: int,
    win_slots: int,
    tolerance: float,
    burst_tolerance: float,
) -> None:
    """Spend above the plan, charged as it grows: the current window's (``win_slots`` plan
    slots, ``tolerance``: the misplaced term) and plan slot's (``burst_tolerance``: the
    burst term). ``spend`` is this tick's, already in ``slot_spend``."""
    budget = par[b, P_BUDGET]
    slot = t // tps
    n_slots = int(par[b, P_FLIGHT_TICKS]) // tps
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
    terms[b, R_MISPLACED] = -(excess - fst[b, F_WIN_EXCESS]) / budget
    fst[b, F_WIN_EXCESS] = excess
    allowed = (1.0 + burst_tolerance) * (plan_cum[b, slot + 1] - plan_cum[b, slot]) * budget
    excess = max(slot_spend[b, slot] - allowed, 0.0)
    terms[b, R_BURST] = -(excess - fst[b, F_SLOT_EXCESS]) / budget
    fst[b, F_SLOT_EXCESS] = excess


@nb.njit(cache=True, inline="always")
def close_tick(
    b: int,
    t: int,
    p: float,
    served: float,
    par: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    hist: np.ndarray,
    price: float,
) -> None:
    """End tick ``t``: the time to 95% of the budget, the serving-rate average, the throttle
    changes; the clock moves on and the counted spend joins the reported-spend history."""
    if ist[b, I_T95] < 0 and fst[b, F_BILLABLE] >= 0.95 * par[b, P_BUDGET]:
        ist[b, I_T95] = t + 1
    fst[b, F_RATE_EW] += _RATE_EW * (served * price - fst[b, F_RATE_EW])
    dp = abs(p - fst[b, F_LAST_P]) if t > 0 else 0.0
    fst[b, F_SUM_DP] += dp
    fst[b, F_LAST_P] = p
    ist[b, I_T] = t + 1
    hist[b, (t + 1) % hist.shape[1]] = fst[b, F_COUNTED_SPEND]


@nb.njit(cache=True, inline="always")
def drain(
    b: int,
    post: float,
    par: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    terms: np.ndarray,
    media: float,
) -> None:
    """End the episode: every impression still in flight (``post`` price units: the count in
    the volume world) is counted after the flight, within the maximum delay; its media cost
    belongs to this episode (and this step). The waste term settles the realised post-end
    cost against what was charged in expectation."""
    ist[b, I_COUNTED_POST] += ist[b, I_IN_FLIGHT]
    ist[b, I_IN_FLIGHT] = 0
    fst[b, F_WASTE_POST] += post * media
    fst[b, F_MEDIA] += post * media
    terms[b, R_WASTE] -= (post * media - fst[b, F_EXP_POST]) / par[b, P_BUDGET]
    ist[b, I_DONE] = 1
