"""Segment kind ``lp_split``: a static per-segment split, scaled by a PI loop on the plan.

The split ``x_s`` in [0, 1] is data: solved offline by an LP on the scenario's expected
segment tables and the campaign's day-ahead forecast (``baselines.controllers_lp``, with
scipy; never at runtime). The manifest's ``policy.split`` is the scenario's expected
campaign's; a server that solves each campaign's own writes it into that campaign's state.

Pacing: ``throttle_s = min(1, m x_s)`` with ``log10 m = kp e + ki I`` clamped to
``+-m_limit`` decades, ``e`` = target - spent by the plan fields of the base rule
``on_off``; the integral is frozen while ``m`` is clamped in the direction of the error
and once the budget is reported spent (anti-windup), and ``|ki I|`` is at most
``m_limit``. 0 once the budget is reported spent.

State (``segment_state``): ``(n, S + 2)``: columns ``0 .. S-1`` the campaign's split,
``S`` the integral ``I`` [share x flight], ``S + 1`` the ``time_elapsed`` of the last call.
Reset rule: a new campaign's row is ``(policy.split, 0, 0)`` (or its own split, 0, 0); a
row whose ``time_elapsed`` is 0 clears ``I`` and the last time and keeps its split.
``baselines.controllers_lp`` runs ``lp_split_step`` in process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .rule_params import RuleParam
from .segment_state import plan_error

LP_SPLIT_OWN: dict[str, RuleParam] = {
    "kp": RuleParam(10.0, "decades / share", "proportional gain of log10 m", high=1e4),
    "ki": RuleParam(20.0, "decades / (share x flight)", "integral gain of log10 m", high=1e5),
    "m_limit": RuleParam(1.0, "decades", "clamp of |log10 m|", high=4.0),
    "slack": RuleParam(
        0.0, "share of the hour's plan", "hourly spend above plan the LP may plan", high=10.0
    ),
    "price_cap": RuleParam(
        0.0,
        "x uniform buying's",
        "spend-weighted impression price the LP may plan (0: no cap)",
        high=10.0,
    ),
}
"""The LP split's own parameters, after the plan fields of its base rule ``on_off``
(``slack`` and ``price_cap`` are the offline LP's; the runtime carries them as a record)."""


def lp_split_names(segments: Sequence[str]) -> tuple[str, ...]:
    """The state's column names: ``split.<segment>`` each, ``integral``, ``prev_time``."""
    return (*(f"split.{s}" for s in segments), "integral", "prev_time")


def lp_split_state(split: np.ndarray) -> np.ndarray:
    """New campaigns' state rows ``(n, S + 2)`` from their splits ``(n, S)``."""
    split = np.asarray(split, dtype=np.float64)
    return np.concatenate([split, np.zeros((split.shape[0], 2))], axis=1)


def lp_split_step(
    p: Mapping[str, Any], index: Mapping[str, int], obs: np.ndarray, state: np.ndarray
) -> np.ndarray:
    """``(n, S)`` throttles of rows ``obs``; ``state`` ``(n, S + 2)`` is advanced in place."""
    s = state.shape[1] - 2
    split, integral, prev_time = state[:, :s], state[:, s], state[:, s + 1]
    t = obs[:, index["time_elapsed"]].astype(np.float64)
    start = t <= 0.0
    integral[start] = 0.0
    prev_time[start] = 0.0
    err = plan_error(p, obs, index)
    dt = np.maximum(t - prev_time, 0.0)
    prev_time[:] = t
    lim, kp, ki = p["m_limit"], p["kp"], p["ki"]
    u_try = kp * err + ki * (integral + err * dt)
    exhausted = obs[:, index["exhausted"]] >= 0.5
    windup = ((u_try > lim) & (err > 0.0)) | ((u_try < -lim) & (err < 0.0)) | exhausted
    new = np.where(windup, integral, integral + err * dt)
    if ki > 0.0:
        np.clip(new, -lim / ki, lim / ki, out=new)
    integral[:] = new
    u = np.clip(kp * err + ki * new, -lim, lim)
    th = np.minimum(1.0, 10.0 ** u[:, None] * split)
    return np.where(exhausted[:, None], 0.0, th)
