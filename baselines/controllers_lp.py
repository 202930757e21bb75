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

import dataclasses
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import linprog

from pacegym.agents.export.runtime.lp_split import LP_SPLIT_OWN, lp_split_state, lp_split_step
from pacegym.baselines.segments import ValueController, n_segments, refuse_volume, value_config
from pacegym.envs import kernel as K
from pacegym.envs.spaces import OBS_INDEX
from pacegym.envs.value import SegmentTables, slot_hours

_CAPACITY = OBS_INDEX["capacity_log10"]

LPSplitConfig = value_config(
    "lp_split",
    "LPSplitConfig",
    "Static per-segment split from an LP on the expected tables, scaled by a PI loop: the"
    " plan fields of the rules, the loop's gains and clamp, and the LP's hourly slack.",
    base="on_off",
    own=LP_SPLIT_OWN,
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


def lp_inputs(core: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(hour weights (n, 24), kappa (n,))`` of each campaign of ``core``: its forecast
    requests by hour of day (shares of its flight's) and its budget / forecast
    full-throttle spend (``10 ** -capacity_log10`` of the observation)."""
    if core.tables is None:
        raise refuse_volume(LPSplitController.kind)
    kappa = 10.0 ** -core.obs[:, _CAPACITY].astype(np.float64)
    slot_min = core.slot_s / 60.0
    n_slots = (core.par[:, K.P_FLIGHT_TICKS] / core.tps).astype(np.int64)
    w = np.empty((core.n, 24))
    for b in range(core.n):
        w[b] = hourly_weights(core.fc_cum[b], core.par[b, K.P_START_MIN], slot_min, n_slots[b])
        w[b] = w[b] / max(w[b].sum(), 1e-300)
    return w, kappa


def campaign_splits(core: Any, slack: float, price_cap: float = 0.0) -> np.ndarray:
    """``(n, S)`` each campaign's LP split: the scenario's expected tables, its own
    forecast by hour and budget (``lp_inputs``); one small LP per campaign (~ms)."""
    w, kappa = lp_inputs(core)
    return np.stack(
        [solve_split(core.tables, w[b], float(kappa[b]), slack, price_cap) for b in range(core.n)]
    )


def expected_split(core: Any, slack: float, price_cap: float = 0.0) -> np.ndarray:
    """``(S,)`` the LP split of the expected campaign of ``core``'s: the mean of its
    campaigns' hour weights and of their ``kappa`` (an exported pacer's default split)."""
    w, kappa = lp_inputs(core)
    return solve_split(core.tables, w.mean(axis=0), float(kappa.mean()), slack, price_cap)


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
    """Fixed per-segment throttles from an LP, scaled by a PI loop (module docstring): the
    runtime's ``lp_split_step`` (the exported pacer's arithmetic). ``state`` ``(n, S + 2)``
    is each campaign's LP split, the loop's integral and last time (``runtime.lp_split``);
    ``failed`` ``(n,)`` is never set (the LP is always feasible)."""

    kind: ClassVar[str] = "lp_split"
    config_class = LPSplitConfig
    default_name = "LP split"

    def __init__(self, config: Any = None, name: str | None = None) -> None:
        super().__init__(config, name)
        self.p = dataclasses.asdict(self.config)
        self.reset(0)

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns: the loop's state cleared; the split comes at ``attach``."""
        self.failed = np.zeros(n, dtype=bool)
        self.state: np.ndarray | None = None

    @property
    def split(self) -> np.ndarray | None:
        """``(n, S)`` each campaign's LP split (a view of ``state``), None before ``attach``."""
        return None if self.state is None else self.state[:, :-2]

    def attach(self, core: Any) -> None:
        """Solve each campaign's split from the scenario's tables and its forecast."""
        cfg = self.config
        self.state = lp_split_state(campaign_splits(core, cfg.slack, cfg.price_cap))

    def act(self, obs: np.ndarray) -> np.ndarray:
        """``(n, S)`` throttles ``min(1, m x_s)``."""
        if n_segments(obs) == 0:
            raise refuse_volume(self.kind)
        if self.state is None or self.state.shape != (obs.shape[0], n_segments(obs) + 2):
            raise ValueError(
                f"controller.kind = {self.kind!r} solves its split at attach(core) after "
                "reset(n): run it through baselines.harness.run_episodes"
            )
        return lp_split_step(self.p, OBS_INDEX, obs, self.state)
