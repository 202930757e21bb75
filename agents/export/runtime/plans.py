"""Plan shapes: the cumulative share of the budget a plan has spent at a point of its basis.

The one implementation of the shapes, on the ground floor: numpy alone, no import from
the project, so the simulator's reference plan (``envs.plans.cumulative_share``), the
baseline rules (``controllers.Rule``, which ``baselines/`` runs) and every exported
``pacer.py`` compute the same numbers from the same lines. Vectorised over campaigns;
values in [0, 1], 0 at the start and 1 at the end (or at the early-close point).

- ``uniform``: linear in the basis; ``forecast`` (LinkedIn): the uniform shape on the
  forecast axis (the caller picks the basis);
- ``exp_decay``: front-loaded, density ~ ``exp(-rate x)``, so the cumulative share is
  ``(1 - exp(-rate x)) / (1 - exp(-rate))``;
- ``early_close`` [share of the basis]: the shape is compressed to finish at
  ``1 - early_close``.
"""

from __future__ import annotations

import numpy as np

PLAN_SHAPES = ("uniform", "forecast", "exp_decay")
"""The plan shapes (a rule may also follow the observed plan, ``rule_params.RULE_PARAMS``)."""


def shape(kind: str, x: np.ndarray, rate: float) -> np.ndarray:
    """Cumulative share of a plan shape at basis position ``x`` in [0, 1]; ``rate``
    [1/flight] is ``exp_decay``'s decay rate (ignored by the other shapes)."""
    x = np.clip(x, 0.0, 1.0)
    if kind == "exp_decay" and rate > 1e-9:
        return -np.expm1(-rate * x) / -np.expm1(-rate)
    return x


def plan_cumulative(kind: str, x: np.ndarray, rate: float, early_close: float) -> np.ndarray:
    """Planned cumulative share at basis position ``x`` (elapsed time or forecast share),
    float64, finishing at ``1 - early_close`` of the basis."""
    x = np.asarray(x, dtype=float)
    if early_close > 0.0:
        x = x / (1.0 - early_close)
    return shape(kind, x, rate)
