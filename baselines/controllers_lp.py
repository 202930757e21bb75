"""A static per-segment split from an LP on the scenario's expected tables, paced by a PI loop.

``LPSplitController`` solves, per campaign, once at the start of its flight
(``scipy.optimize.linprog``, HiGHS), for fixed segment throttles ``x_s`` in [0, 1]:

    maximise   sum_s V_s x_s                 (expected value bought over the flight)
    subject to sum_s C_s x_s <= kappa sum_s C_s              (the budget)
               sum_s c_hs x_s <= (1 + slack) kappa sum_s c_hs  for every hour h

with ``c_hs`` = forecast requests in hour h x ``share[h, s]`` x ``fill_x[s]`` x
``price_x[s]`` (the expected cost of buying all of them, up to common factors), ``C_s`` its
sum over hours, ``V_s`` the same with the predicted value ``pred[h, s]`` in place of the
price, and ``kappa`` = budget / forecast full-throttle spend (``10 ** -capacity_log10`` of the
first observation). It reads the scenario's expected segment tables (``core.tables``: no
drift, nothing of the episode's draws) and the campaign's day-ahead forecast by plan slot
(``core.fc_cum``, what the pacer is given), both at ``attach`` (the harness seam, as the
server-side MPC); the hour constraints keep the split spendable hour by hour (``slack`` 0:
every hour's plan share at most). ``price_cap`` > 0 adds one row,
``sum_s C_s x_s (price_x[s] - price_cap pbar) <= 0`` with ``pbar`` the spend-weighted price
of buying every segment alike: the split's impressions cost at most ``price_cap`` times as
much on average (fewer, dearer impressions burst more: docs/baselines.md).

Pacing: ``throttle_s = min(1, m x_s)`` with ``log10 m = kp e + ki I`` clamped to
``+-m_limit`` decades, ``e`` = target - spent by the rules' plan fields; the integral is
frozen while ``m`` is clamped in the direction of the error (anti-windup). 0 once the budget
is reported spent. It refuses a volume scenario.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.optimize import linprog

from pacegym.agents.export.runtime.rule_params import RuleParam
from pacegym.baselines.segments import (
    ValueController,
    n_segments,
    plan_error,
    refuse_volume,
    value_config,
)
from pacegym.envs import kernel as K
from pacegym.envs.spaces import OBS_INDEX
from pacegym.envs.value import SegmentTables, slot_hours

_CAPACITY = OBS_INDEX["capacity_log10"]
_ELAPSED = OBS_INDEX["time_elapsed"]
_EXHAUSTED = OBS_INDEX["exhausted"]

LPSplitConfig = value_config(
    "lp_split",
    "LPSplitConfig",
    "Static per-segment split from an LP on the expected tables, scaled by a PI loop: the"
    " plan fields of the rules, the loop's gains and clamp, and the LP's hourly slack.",
    base="on_off",
    own={
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
    },
    module=__name__,
    defaults={"plan": "forecast", "in_flight_weight": 1.0},
)


def hourly_weights(
    fc_cum: np.ndarray, start_min: float, slot_min: float, n_slots: int
) -> np.ndarray:
    """``(24,)`` forecast requests by hour of day of one campaign (share of the flight's)."""
    w = np.diff(fc_cum)[:n_slots]
    hours = slot_hours(np.array([start_min]), n_slots, slot_min)[0]
    return np.bincount(hours, weights=w, minlength=24)


def solve_split(
    tab: SegmentTables, hour_w: np.ndarray, kappa: float, slack: float, price_cap: float = 0.0
) -> np.ndarray:
    """``(S,)`` the LP's segment throttles (module docstring); ``kappa`` clipped to [0, 1]
    (a budget above full-throttle spend buys everything); ``price_cap`` > 0 adds the price
    row. Falls back to ``kappa`` for every segment if HiGHS fails (it does not on a feasible
    LP: ``x = 0`` is feasible)."""
    kappa = min(max(kappa, 0.0), 1.0)
    cost_h = hour_w[:, None] * tab.share * tab.fill_x * tab.price_x  # (24, S)
    value = (hour_w[:, None] * tab.share * tab.fill_x * tab.pred).sum(axis=0)
    live = cost_h.sum(axis=1) > 0.0
    cost = cost_h.sum(axis=0)
    rows = [cost[None, :], cost_h[live]]
    bounds = [[kappa * cost_h.sum()], (1.0 + slack) * kappa * cost_h[live].sum(axis=1)]
    if price_cap > 0.0:  # sum_s C_s x_s (price_s - cap pbar) <= 0, pbar of buying all alike
        pbar = (cost * tab.price_x).sum() / max(cost.sum(), 1e-300)
        rows.append((cost * (tab.price_x - price_cap * pbar))[None, :])
        bounds.append([0.0])
    a_ub, b_ub = np.vstack(rows), np.concatenate(bounds)
    scale = max(value.max(), 1e-300)
    res = linprog(
        -value / scale,
        A_ub=a_ub / a_ub.max(),
        b_ub=b_ub / a_ub.max(),
        bounds=(0.0, 1.0),
        method="highs",
    )
    if res.status != 0:
        return np.full(tab.n, kappa)
    return np.clip(res.x, 0.0, 1.0)


class LPSplitController(ValueController):
    """Fixed per-segment throttles from an LP, scaled by a PI loop (module docstring);
    ``split`` ``(n, S)`` is each campaign's LP solution, ``failed`` ``(n,)`` never set (the
    LP is always feasible), ``integral`` the loop's state."""

    kind: ClassVar[str] = "lp_split"
    config_class = LPSplitConfig
    default_name = "LP split"

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns: the loop's state cleared; the split comes at ``attach``."""
        self.integral = np.zeros(n)
        self.prev_time = np.zeros(n)
        self.failed = np.zeros(n, dtype=bool)
        self.split: np.ndarray | None = None

    def attach(self, core: Any) -> None:
        """Solve each campaign's split from the scenario's tables and its forecast."""
        if core.tables is None:
            raise refuse_volume(self.kind)
        tab, cfg = core.tables, self.config
        kappa = 10.0 ** -core.obs[:, _CAPACITY].astype(np.float64)
        slot_min = core.slot_s / 60.0
        n_slots = (core.par[:, K.P_FLIGHT_TICKS] / core.tps).astype(np.int64)
        self.split = np.empty((core.n, tab.n))
        for b in range(core.n):  # one small LP per campaign (~ms): its own forecast and budget
            w = hourly_weights(core.fc_cum[b], core.par[b, K.P_START_MIN], slot_min, n_slots[b])
            w = w / max(w.sum(), 1e-300)
            self.split[b] = solve_split(tab, w, float(kappa[b]), cfg.slack, cfg.price_cap)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """``(n, S)`` throttles ``min(1, m x_s)``."""
        if n_segments(obs) == 0:
            raise refuse_volume(self.kind)
        if self.split is None or self.split.shape != (obs.shape[0], n_segments(obs)):
            raise ValueError(
                f"controller.kind = {self.kind!r} solves its split at attach(core) after "
                "reset(n): run it through baselines.harness.run_episodes"
            )
        cfg = self.config
        t = obs[:, _ELAPSED].astype(np.float64)
        start = t <= 0.0
        self.integral[start] = 0.0
        self.prev_time[start] = 0.0
        err = plan_error(self.params, obs)
        dt = np.maximum(t - self.prev_time, 0.0)
        self.prev_time = t
        lim = cfg.m_limit
        u_try = cfg.kp * err + cfg.ki * (self.integral + err * dt)
        exhausted = obs[:, _EXHAUSTED] >= 0.5
        windup = ((u_try > lim) & (err > 0.0)) | ((u_try < -lim) & (err < 0.0)) | exhausted
        self.integral = np.where(windup, self.integral, self.integral + err * dt)
        if cfg.ki > 0.0:
            np.clip(self.integral, -lim / cfg.ki, lim / cfg.ki, out=self.integral)
        u = np.clip(cfg.kp * err + cfg.ki * self.integral, -lim, lim)
        th = np.minimum(1.0, 10.0 ** u[:, None] * self.split)
        return np.where(exhausted[:, None], 0.0, th)
