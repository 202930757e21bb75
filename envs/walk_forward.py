"""Which days a flight starts on, and a trace's forecast fitted only on the days before it.

A recorded trace (``traffic.profile = trace``) is a calendar: row 0 is Monday 00:00 and
day ``d`` is rows ``1440 d .. 1440 (d + 1) - 1``. A scenario on it draws each episode's
start day from ``start_days``:

- ``traffic.days = all``: ``time.start_day`` (a day, or a ``[low, high]`` range of days);
- ``train``: every day whose flight (``time.start_minute`` + ``time.flight_min`` at their
  highest) ends by midnight of ``traffic.split_day``, from the first day with
  ``forecast.history_days`` of history when the forecast is fitted on the trace;
- ``test``: every day from ``traffic.split_day`` whose flight ends within the trace.

So tuning and training (``days: train``) never see a test day, and a scenario scored on
``days: test`` meets only days after everything it was tuned on: a time-ordered split.

``walk_forward_forecast`` is the day-ahead forecast of such a scenario with
``forecast.fit_on = trace``: for each possible start day ``d`` it fits
``forecast.kind``'s forecaster on the ``history_days`` trace days before ``d`` (rows
``1440 (d - history_days) .. 1440 d - 1``, nothing later) and predicts from midnight of
``d`` to the latest end of a flight starting that day. The flight's own days are never
in its history; ``forecast_history_rows`` names the rows used, which a test checks.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from pacegym.envs.forecast import make_forecaster
from pacegym.envs.nowcast_fit import day_rows, walk_forward_weights
from pacegym.envs.params import ScenarioError, ScenarioParams, bounds

DAY_MIN = 1440
_LINEAR_NOTE = "twice over with forecast.nowcast = 'linear'"


def flight_span_min(scenario: ScenarioParams) -> float:
    """[min] latest end of a flight after midnight of its start day (highest start minute
    plus the longest flight)."""
    return bounds(scenario.time.start_minute)[1] + bounds(scenario.time.flight_min)[1]


def horizon_min(scenario: ScenarioParams) -> int:
    """[min] length of each start day's forecast: whole days covering ``flight_span_min``."""
    return DAY_MIN * math.ceil(flight_span_min(scenario) / DAY_MIN)


def start_days(scenario: ScenarioParams, trace_minutes: int | None) -> tuple[int, int]:
    """``(low, high)``: the whole days (inclusive) a flight of ``scenario`` may start on.

    ``trace_minutes`` is the trace's length (``None`` for a parametric profile). Raises
    ``ScenarioError`` naming ``traffic.split_day`` when the split leaves no day.
    """
    tr, fc = scenario.traffic, scenario.forecast
    first = nowcast_first_day(scenario)
    span = flight_span_min(scenario)
    n = int(trace_minutes or 0)
    split = tr.split_day
    if split is not None and split * DAY_MIN >= n:
        raise ScenarioError(
            f"traffic.split_day = {split} is at or after the trace's end ({n / DAY_MIN:g} days): "
            f"allowed < {n // DAY_MIN}"
        )
    if tr.days == "all":
        lo, hi = (int(v) for v in bounds(scenario.time.start_day))
        if lo < first:
            raise ScenarioError(
                f"time.start_day = {lo}: forecast.fit_on = 'trace' fits on the "
                f"forecast.history_days = {fc.history_days} days before the flight "
                f"({_LINEAR_NOTE if fc.nowcast == 'linear' else 'each'}): allowed >= {first}"
            )
        return lo, hi
    split = int(split)  # type: ignore[arg-type]  # validated: days != all needs it
    if tr.days == "train":
        lo, hi = first, math.floor((split * DAY_MIN - span) / DAY_MIN)
    else:
        lo, hi = split, math.floor((n - span) / DAY_MIN)
        if lo < first:
            raise ScenarioError(
                f"traffic.split_day = {split}: forecast.fit_on = 'trace' fits on the "
                f"forecast.history_days = {fc.history_days} days before a test day "
                f"({_LINEAR_NOTE if fc.nowcast == 'linear' else 'each'}): allowed >= {first}"
            )
    if hi < lo:
        raise ScenarioError(
            f"traffic.split_day = {split} leaves no {tr.days} day for a flight of up to "
            f"{span:g} min after midnight of its start day (trace of {n / DAY_MIN:g} days, "
            f"{first} history days): move the split"
        )
    return lo, hi


def nowcast_first_day(scenario: ScenarioParams) -> int:
    """The first day a flight may start on: ``forecast.history_days`` when the forecast is
    fitted on the trace, twice that with the linear nowcast (fitted on the history days,
    each with its own walk-forward forecast), else 0."""
    fc = scenario.forecast
    if fc.fit_on != "trace":
        return 0
    return int(fc.history_days) + nowcast_history_days(scenario)


def nowcast_history_days(scenario: ScenarioParams) -> int:
    """[days] the linear nowcast needs at least before a flight's day, each with its own
    walk-forward forecast: ``forecast.history_days`` with ``forecast.nowcast = linear``,
    else 0."""
    fc = scenario.forecast
    return int(fc.history_days) if fc.nowcast == "linear" else 0


def nowcast_fit_first_day(scenario: ScenarioParams) -> int:
    """The first day the linear nowcast is fitted on (it is fitted on every day from there
    to the flight's day, an expanding history): the first with a walk-forward forecast,
    ``forecast.history_days``."""
    return int(scenario.forecast.history_days)


def expected_per_minute(prof: np.ndarray, dow: np.ndarray) -> np.ndarray:
    """A trace's expected traffic per minute [profile units]: its shape (row 0 a Monday
    00:00) x the day-of-week factor of each row's day: what the forecast is fitted on."""
    return prof * dow[(np.arange(prof.shape[0]) // DAY_MIN) % 7]


def forecast_history_rows(scenario: ScenarioParams, day: int) -> range:
    """Trace rows (minutes) the forecast of a flight starting on ``day`` is fitted on."""
    days = int(scenario.forecast.history_days)
    return range((day - days) * DAY_MIN, day * DAY_MIN)


@functools.lru_cache(maxsize=16)
def walk_forward_forecast(
    scenario: ScenarioParams, expected: bytes, days: tuple[int, int]
) -> np.ndarray:
    """Forecast expected traffic [profile units] per minute, one row per start day.

    ``expected`` is the trace's expected traffic per minute (profile x day-of-week
    factor, float64 bytes, so that the result can be cached); ``days`` the inclusive
    ``start_days``. Row ``d - days[0]`` holds ``horizon_min`` minutes from midnight of day
    ``d``, predicted by ``forecast.kind``'s forecaster fitted on ``forecast_history_rows``
    only. Read-only, cached per scenario.
    """
    series = np.frombuffer(expected, dtype=np.float64)
    horizon = horizon_min(scenario)
    lo, hi = days
    out = np.empty((hi - lo + 1, horizon))
    fc = scenario.forecast
    for d in range(lo, hi + 1):
        rows = forecast_history_rows(scenario, d)
        if rows.start < 0:
            raise ScenarioError(
                f"time.start_day = {d}: the forecast needs forecast.history_days = "
                f"{scenario.forecast.history_days} trace days before it"
            )
        history = series[rows.start : rows.stop]
        out[d - lo] = make_forecaster(fc.kind, fc.season).fit(history).predict(horizon)
    np.maximum(out, 0.0, out=out)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=16)
def walk_forward_nowcast(
    scenario: ScenarioParams, expected: bytes, days: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The linear nowcast's weights (``envs.nowcast_linear``), one row per start day, and
    the ridge penalty each was fitted with.

    Row ``d - days[0]`` is fitted on every day from ``nowcast_fit_first_day`` to ``d - 1``,
    each day's actual traffic against its own walk-forward day-ahead forecast
    (``walk_forward_forecast``), with the penalty chosen on those days too
    (``envs.nowcast_fit.walk_forward_weights``): nothing from day ``d`` on. ``expected``
    and ``days`` as in ``walk_forward_forecast``. Read-only, cached per scenario.
    """
    series = np.frombuffer(expected, dtype=np.float64)
    lo, hi = days
    first = nowcast_fit_first_day(scenario)
    ahead = walk_forward_forecast(scenario, expected, (first, hi))  # the core's table
    decay = float(scenario.forecast.nowcast_decay_min)
    rows = [
        day_rows(series[h * DAY_MIN : (h + 1) * DAY_MIN], ahead[h - first, :DAY_MIN], decay)
        for h in range(first, hi)
    ]
    weights, ridges = walk_forward_weights(rows, lo - first)
    weights.flags.writeable = False
    ridges.flags.writeable = False
    return weights, ridges
