"""Spend plans: the cumulative share of budget that should be spent by a point in the flight.

One implementation shared by the env (reference plan for observations and the
tracking metrics) and by the controllers. All functions are vectorised over
campaigns and return values in [0, 1], 0 at the start and 1 at the end (or at
the early-close point).

- ``uniform``: linear in the basis;
- ``forecast`` (LinkedIn): cumulative forecast traffic share x budget, i.e. the
  uniform shape on the forecast axis;
- ``exp_decay``: front-loaded, density proportional to ``exp(-rate x)``, so the
  cumulative share is ``(1 - exp(-rate x)) / (1 - exp(-rate))``;
- ``early_close``: the shape is compressed to finish at ``1 - early_close`` of
  the basis.
"""

from __future__ import annotations

import numpy as np

from pacegym.envs.params import PlanParams


def shape(kind: str, x: np.ndarray, rate: float) -> np.ndarray:
    """Cumulative share of a plan shape at basis position ``x`` in [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    if kind == "exp_decay" and rate > 1e-9:
        return -np.expm1(-rate * x) / -np.expm1(-rate)
    return x


def cumulative_share(
    plan: PlanParams, time_share: np.ndarray, forecast_share: np.ndarray | None = None
) -> np.ndarray:
    """Planned cumulative spend / budget at the given elapsed time (and forecast) shares."""
    use_forecast = plan.kind == "forecast" or plan.basis == "forecast"
    if use_forecast and forecast_share is None:
        raise ValueError(f"plan.kind = {plan.kind!r} / plan.basis = {plan.basis!r} needs forecasts")
    x = np.asarray(forecast_share if use_forecast else time_share, dtype=float)
    if plan.early_close > 0.0:
        x = x / (1.0 - plan.early_close)
    return shape(plan.kind, x, plan.rate)
