"""Observation features and the action-to-throttle mapping, shared by every view.

Observation (``float32``, one row per campaign, in this order):

| #  | name                | unit                              | range       |
|----|---------------------|-----------------------------------|-------------|
| 0  | time_elapsed        | share of flight                   | [0, 1]      |
| 1  | time_remaining      | share of flight                   | [0, 1]      |
| 2  | budget_log10        | log10 currency                    | [-12, 12]   |
| 3  | reported_spend      | share of budget (lagged, counted) | [0, 100]    |
| 4  | plan                | share of budget, reference plan   | [0, 1]      |
| 5  | plan_error          | plan - reported_spend             | [-100, 1]   |
| 6  | served_spend        | served impressions x price / budget | [0, 100]  |
| 7  | serving_rate        | recent served spend / uniform pace | [0, 1e4]   |
| 8  | in_flight           | served, not yet reported, expected spend / budget | [0, 100] |
| 9  | forecast_elapsed    | share of forecast flight traffic already past | [0, 1] |
| 10 | capacity_log10      | log10(forecast full-throttle spend left / budget left) | [-3, 3] |
| 11 | last_throttle       | pass-through rate of the last step | [0, 1]     |
| 12 | last_throttle_log10 | log10 of it, floored at -4        | [-4, 0]     |
| 13 | exhausted           | 1 once reported spend >= budget   | {0, 1}      |

Everything is what production knows at decision time: reported spend lags by
the reporting latency and excludes impressions still in flight, which the
controller can only estimate (feature 8, from served counts and the render
probability).

Action: ``Box(-1, 1, (1,))``, mapped log-linearly onto four decades of
throttle, ``p = 10 ** (2 * (a - 1))`` (a = 1 -> 1, a = 0 -> 0.01, a -> -1 -> 1e-4),
with ``a <= -1`` meaning ``p = 0`` (stop serving). A 100x surge needs
``p ~ 0.01``, the middle of the range. Non-finite actions (NaN, +-inf) are
replaced by the safe throttle 0 and counted in ``info["invalid_actions"]``;
finite actions outside [-1, 1] are clipped.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

OBS_FEATURES: tuple[tuple[str, str, float, float], ...] = (
    ("time_elapsed", "share of flight", 0.0, 1.0),
    ("time_remaining", "share of flight", 0.0, 1.0),
    ("budget_log10", "log10 currency", -12.0, 12.0),
    ("reported_spend", "share of budget", 0.0, 100.0),
    ("plan", "share of budget", 0.0, 1.0),
    ("plan_error", "share of budget", -100.0, 1.0),
    ("served_spend", "share of budget", 0.0, 100.0),
    ("serving_rate", "x uniform pace", 0.0, 1e4),
    ("in_flight", "share of budget", 0.0, 100.0),
    ("forecast_elapsed", "share of forecast traffic", 0.0, 1.0),
    ("capacity_log10", "log10 ratio", -3.0, 3.0),
    ("last_throttle", "pass-through rate", 0.0, 1.0),
    ("last_throttle_log10", "log10 pass-through rate", -4.0, 0.0),
    ("exhausted", "flag", 0.0, 1.0),
)
OBS_NAMES: tuple[str, ...] = tuple(f[0] for f in OBS_FEATURES)
N_OBS = len(OBS_FEATURES)
OBS_INDEX = {name: i for i, name in enumerate(OBS_NAMES)}
OBS_LOW = np.array([f[2] for f in OBS_FEATURES], dtype=np.float32)
OBS_HIGH = np.array([f[3] for f in OBS_FEATURES], dtype=np.float32)

THROTTLE_DECADES = 4.0
MIN_POSITIVE_THROTTLE = 10.0 ** (-THROTTLE_DECADES)


@nb.njit(cache=True)
def _map_actions(a: np.ndarray, p: np.ndarray, invalid: np.ndarray) -> None:
    for i in range(a.shape[0]):
        x = a[i]
        invalid[i] = not math.isfinite(x)
        if invalid[i] or x <= -1.0:
            p[i] = 0.0
        elif x >= 1.0:
            p[i] = 1.0
        else:
            p[i] = 10.0 ** (THROTTLE_DECADES * (x - 1.0) / 2.0)


def action_to_throttle(action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map actions in [-1, 1] to throttles in [0, 1]; also return the non-finite mask."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    p = np.empty_like(a)
    invalid = np.empty(a.shape, dtype=np.bool_)
    _map_actions(a, p, invalid)
    return p, invalid


def throttle_to_action(throttle: np.ndarray) -> np.ndarray:
    """Inverse of ``action_to_throttle`` on [0, 1] (throttles below 1e-4 map to -1)."""
    p = np.clip(np.asarray(throttle, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        a = 1.0 + 2.0 * np.log10(np.maximum(p, 1e-300)) / THROTTLE_DECADES
    return np.clip(np.where(p <= 0.0, -1.0, a), -1.0, 1.0)
