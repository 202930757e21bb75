"""Observation features and the action-to-throttle mapping, shared by every view.

``OBS_FEATURES`` is the observation contract, the one table of it: the kernel takes
its column indices and clipping bounds from it (``envs.observe``), the Box from
``OBS_LOW``/``OBS_HIGH``, the exported pacer's manifest its names, units and ranges,
and ``observation_table()`` renders it for ``PacingEnv``'s docstring and docs/concepts.md.
Each entry describes one ``float32`` column of the observation, in order (the core's
observation array has one row per campaign). Every value is clipped to its
``[low, high]``.

Everything is what production knows at decision time: reported spend lags by
the reporting latency and excludes impressions still in flight, which the
controller can only estimate (``in_flight``, from served counts and the render
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
from typing import NamedTuple

import numba as nb
import numpy as np

THROTTLE_DECADES = 4.0
MIN_POSITIVE_THROTTLE = 10.0 ** (-THROTTLE_DECADES)


class ObsFeature(NamedTuple):
    """One observation column."""

    name: str
    unit: str  # physical unit (the exported manifest's ``unit``)
    low: float  # the value is clipped to [low, high]
    high: float
    description: str  # what it measures (the rendered table's "unit" column)


OBS_FEATURES: tuple[ObsFeature, ...] = (
    ObsFeature("time_elapsed", "share of flight", 0.0, 1.0, "share of flight"),
    ObsFeature("time_remaining", "share of flight", 0.0, 1.0, "share of flight"),
    ObsFeature("budget_log10", "log10 currency", -12.0, 12.0, "log10 currency"),
    ObsFeature(
        "reported_spend",
        "share of budget",
        0.0,
        100.0,
        "share of budget (lagged, counted impressions only)",
    ),
    ObsFeature("plan", "share of budget", 0.0, 1.0, "share of budget, reference plan now"),
    ObsFeature("plan_error", "share of budget", -100.0, 1.0, "plan - reported_spend"),
    ObsFeature(
        "served_spend", "share of budget", 0.0, 100.0, "served impressions x price / budget"
    ),
    ObsFeature("serving_rate", "x uniform pace", 0.0, 1e4, "recent served spend / uniform pace"),
    ObsFeature(
        "in_flight",
        "share of budget",
        0.0,
        100.0,
        "expected spend served but not yet reported / budget",
    ),
    ObsFeature(
        "forecast_elapsed",
        "share of forecast traffic",
        0.0,
        1.0,
        "share of the flight's forecast traffic already past",
    ),
    ObsFeature(
        "capacity_log10",
        "log10 ratio",
        -3.0,
        3.0,
        "log10(forecast full-throttle spend left / budget left)",
    ),
    ObsFeature("last_throttle", "pass-through rate", 0.0, 1.0, "pass-through rate"),
    ObsFeature(
        "last_throttle_log10",
        "log10 pass-through rate",
        -THROTTLE_DECADES,  # the action's range: throttles below 1e-4 read as the floor
        0.0,
        f"log10 of it, floored at {-THROTTLE_DECADES:g}",
    ),
    ObsFeature("exhausted", "flag", 0.0, 1.0, "1 once reported spend >= budget"),
)
SEGMENT_FEATURES: tuple[ObsFeature, ...] = (
    ObsFeature("share", "share of requests", 0.0, 1.0, "the segment's share of requests now"),
    ObsFeature(
        "value_per_price",
        "x flight average",
        0.0,
        100.0,
        "predicted value per price / the flight's predicted average",
    ),
    ObsFeature("throttle", "pass-through rate", 0.0, 1.0, "the segment's last throttle"),
)
"""Value scenarios (``value.channels``): these columns per segment follow ``OBS_FEATURES``,
segment by segment (``envs.kernel_value.write_obs_segments``); named ``<feature>[<segment>]``."""
OBS_NAMES: tuple[str, ...] = tuple(f.name for f in OBS_FEATURES)
N_OBS = len(OBS_FEATURES)
OBS_INDEX = {name: i for i, name in enumerate(OBS_NAMES)}
OBS_LOW = np.array([f.low for f in OBS_FEATURES], dtype=np.float32)
OBS_HIGH = np.array([f.high for f in OBS_FEATURES], dtype=np.float32)


def obs_width(n_segments: int) -> int:
    """Columns of an observation: ``N_OBS``, plus the segment block of ``n_segments``
    segments (0: the volume world)."""
    return N_OBS + len(SEGMENT_FEATURES) * int(n_segments)


def obs_bounds(n_segments: int) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` float32 of an observation with ``n_segments`` segments' block."""
    low = [f.low for f in SEGMENT_FEATURES] * int(n_segments)
    high = [f.high for f in SEGMENT_FEATURES] * int(n_segments)
    return (
        np.append(OBS_LOW, np.array(low, dtype=np.float32)),
        np.append(OBS_HIGH, np.array(high, dtype=np.float32)),
    )


def obs_names(segments: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Column names of an observation with the named segments' block."""
    return OBS_NAMES + tuple(f"{f.name}[{s}]" for s in segments for f in SEGMENT_FEATURES)


def _number(x: float) -> str:
    """``12``, ``-4``, ``1e4``: the table's way of writing a bound."""
    if abs(x) < 1e4:
        return f"{x:g}"
    mantissa, exponent = f"{x:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def observation_table() -> str:
    """``OBS_FEATURES`` as a markdown table (columns #, name, unit, range; flags as ``{0, 1}``)."""
    lines = ["| # | name | unit | range |", "|---|---|---|---|"]
    for i, f in enumerate(OBS_FEATURES):
        lo, hi = _number(f.low), _number(f.high)
        span = f"{{{lo}, {hi}}}" if f.unit == "flag" else f"[{lo}, {hi}]"
        lines.append(f"| {i} | {f.name} | {f.description} | {span} |")
    return "\n".join(lines)


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
    """Map actions in [-1, 1] to throttles in [0, 1]; also return the non-finite mask.

    An action that is not real numbers (bool, str, complex, object) is refused with
    ``ValueError`` naming it: ``True`` or ``"0.5"`` would otherwise be read as a number."""
    raw = np.asarray(action)
    if raw.dtype.kind not in "iuf":
        raise ValueError(
            f"action = a {raw.dtype} array of shape {raw.shape}: not real numbers; allowed "
            "floats in [-1, 1] (the action space; ints are read as floats)"
        )
    a = np.asarray(raw, dtype=np.float64).reshape(-1)
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
