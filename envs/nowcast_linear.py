"""A learned intraday forecast (``forecast.nowcast = linear``): the level of the next hour
predicted from the traffic seen at several time scales, fitted walk-forward on the trace.

``forecast.nowcast = smoothing`` (``envs.nowcast``) takes the next hours' level from one
exponentially weighted ratio of requests seen to requests forecast. On the mention-volume
traces that level says too little about the next hour (bursts start without warning and
fade within it); a linear model over several such ratios does better (``docs/real_traffic.md``).

Features at a minute of the flight (``N_LINEAR`` weights, one row per start day):

- a constant;
- ``log level`` of the requests seen against forecast, smoothed with each time constant of
  ``LINEAR_TAUS_MIN`` (``envs.nowcast.update_seen`` and ``level``: each tick's requests
  capped at ``NOWCAST_CLIP`` x its forecast, the ratio clipped to ``[1/4, 4]``);
- the minute of day as ``sin`` and ``cos``;
- ``log`` of the next hour's forecast against the flight's mean hour (a departure behaves
  differently at the peak and in the trough).

The model's output ``g`` gives the level ``r = exp(g)`` (clipped to ``[1/4, 4]``) that
``envs.nowcast`` applies to the forecast left, decaying with ``forecast.nowcast_decay_min``
as ever. ``envs.nowcast_fit`` fits it on the next hour's percentage error, for a flight
starting on day ``d`` on the trace days before ``d`` (each with its own walk-forward
day-ahead forecast, ``envs.walk_forward.walk_forward_nowcast``), never on the flight's days.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from pacegym.envs.nowcast import NOWCAST_CLIP, level, smoothing_weight, update_seen

LINEAR_TAUS_MIN = (5.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0)
"""[min] time constants of the smoothed levels the linear nowcast reads."""
N_TAUS = len(LINEAR_TAUS_MIN)
N_LINEAR = 1 + N_TAUS + 3
"""Weights of the linear nowcast: constant, one per time constant, sin, cos, hour level."""
HORIZON_MIN = 60
"""[min] the horizon the model is fitted on: the next hour's requests."""
ORIGIN_EVERY_MIN = 15
"""[min] spacing of the fitting origins over each history day."""
LOG_CLIP = math.log(NOWCAST_CLIP)
"""Bound of the model's output ``g`` = log level."""


def tick_weights(tick_min: float) -> np.ndarray:
    """Per-tick smoothing weight of each of ``LINEAR_TAUS_MIN`` for ticks of ``tick_min``."""
    return np.array([smoothing_weight(tick_min, tau) for tau in LINEAR_TAUS_MIN])


@nb.njit(cache=True, inline="always")
def update_levels(
    ew: np.ndarray, b: int, observed: float, expected: float, alphas: np.ndarray
) -> None:
    """Row ``b`` of ``ew`` (requests seen, then requests forecast, per time constant) after an
    interval with ``observed`` requests of ``expected``."""
    k_n = alphas.shape[0]
    for k in range(k_n):
        ew[b, k] = update_seen(ew[b, k], observed, expected, alphas[k])
        ew[b, k_n + k] += alphas[k] * (expected - ew[b, k_n + k])


@nb.njit(cache=True, inline="always")
def linear_level(
    ew: np.ndarray, w: np.ndarray, b: int, minute_of_day: float, hour_level: float
) -> float:
    """The level of the traffic ahead predicted by row ``b`` of weights ``w`` from row ``b``
    of the smoothed levels ``ew``; ``hour_level`` is the next hour's forecast over the
    flight's mean hour."""
    k_n = ew.shape[1] // 2
    g = w[b, 0]
    for k in range(k_n):
        g += w[b, 1 + k] * math.log(level(ew[b, k], ew[b, k_n + k]))
    angle = 2.0 * math.pi * minute_of_day / 1440.0
    g += w[b, k_n + 1] * math.sin(angle) + w[b, k_n + 2] * math.cos(angle)
    g += w[b, k_n + 3] * math.log(min(max(hour_level, 1e-3), 1e3))
    return math.exp(min(max(g, -LOG_CLIP), LOG_CLIP))


@nb.njit(cache=True)
def design_rows(
    actual: np.ndarray, dayahead: np.ndarray, origins: np.ndarray, decay_min: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Features (without the constant), target level and error weight at each of
    ``origins`` [min] of one day from midnight (``actual`` and ``dayahead`` requests per
    minute). The target ``r`` is the level whose decayed correction hits the next hour's
    requests ``a``; a level ``g`` predicts them off by ``|g - r| D / a`` of ``a`` (``D``
    the hour's decayed forecast), so ``D / a`` is the row's weight in the hour's absolute
    percentage error. An origin whose next hour is cut by the day's end, has no forecast
    or no requests is left out (its row is NaN)."""
    n = actual.shape[0]
    ew = np.zeros((1, 2 * N_TAUS))
    alphas = np.empty(N_TAUS)
    for k in range(N_TAUS):
        alphas[k] = smoothing_weight(1.0, LINEAR_TAUS_MIN[k])
    phi = math.exp(-1.0 / decay_min)
    day_total = dayahead.sum()
    x = np.full((origins.shape[0], N_LINEAR - 1), np.nan)
    y = np.full(origins.shape[0], np.nan)
    weight = np.full(origins.shape[0], np.nan)
    m = 0
    for i in range(origins.shape[0]):
        while m < origins[i]:
            update_levels(ew, 0, actual[m], dayahead[m], alphas)
            m += 1
        if m + HORIZON_MIN > n:
            continue
        a = 0.0
        f = 0.0
        decayed = 0.0
        w = 1.0
        for j in range(m, m + HORIZON_MIN):
            a += actual[j]
            f += dayahead[j]
            decayed += dayahead[j] * w
            w *= phi
        if decayed <= 0.0 or day_total <= 0.0 or a <= 0.0:
            continue
        for k in range(N_TAUS):
            x[i, k] = math.log(level(ew[0, k], ew[0, N_TAUS + k]))
        angle = 2.0 * math.pi * (m % 1440) / 1440.0
        x[i, N_TAUS] = math.sin(angle)
        x[i, N_TAUS + 1] = math.cos(angle)
        x[i, N_TAUS + 2] = math.log(min(max(f / (day_total * 60.0 / n), 1e-3), 1e3))
        y[i] = 1.0 + (a - f) / decayed
        weight[i] = decayed / a
    return x, y, weight


@nb.njit(cache=True)
def linear_origin_levels(
    actual: np.ndarray, dayahead: np.ndarray, origins: np.ndarray, w: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """The linear nowcast's level at each of ``origins`` [min] of a flight from midnight
    (``w``: one row of weights), for the error report (``envs.nowcast.nowcast_windows``)."""
    n = actual.shape[0]
    ew = np.zeros((1, 2 * N_TAUS))
    alphas = np.empty(N_TAUS)
    for k in range(N_TAUS):
        alphas[k] = smoothing_weight(1.0, LINEAR_TAUS_MIN[k])
    total = dayahead.sum()
    out = np.ones(origins.shape[0])
    m = 0
    for i in range(origins.shape[0]):
        while m < origins[i]:
            update_levels(ew, 0, actual[m], dayahead[m], alphas)
            m += 1
        f = dayahead[m : min(n, m + HORIZON_MIN)].sum()
        hour = f / (total * 60.0 / n) if total > 0.0 else 1.0
        out[i] = linear_level(ew, w, 0, float(m % 1440), hour)
    return out
