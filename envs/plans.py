"""Spend plans: the cumulative share of budget that should be spent by a point in the flight.

The env's reference plan (for observations and the tracking metrics) on the plan shapes
that the baseline rules and every exported pacer use too: the shapes are written once,
in the pacer runtime's ``plans`` module (``pacegym.agents.export.runtime.plans``: numpy
alone, no import from the project, so importing it from here pulls in no layer above the
simulator). All functions are vectorised over campaigns and return values in [0, 1], 0 at
the start and 1 at the end (or at the early-close point).

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

from pacegym.agents.export.runtime.plans import plan_cumulative, shape
from pacegym.envs.params import PlanParams

__all__ = ["cumulative_share", "shape"]


def cumulative_share(
    plan: PlanParams, time_share: np.ndarray, forecast_share: np.ndarray | None = None
) -> np.ndarray:
    """Planned cumulative spend / budget at the given elapsed time (and forecast) shares."""
    use_forecast = plan.kind == "forecast" or plan.basis == "forecast"
    if use_forecast and forecast_share is None:
        raise ValueError(f"plan.kind = {plan.kind!r} / plan.basis = {plan.basis!r} needs forecasts")
    x = forecast_share if use_forecast else time_share
    return plan_cumulative(plan.kind, x, plan.rate, plan.early_close)
