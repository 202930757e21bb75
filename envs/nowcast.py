"""The intraday inventory forecast (nowcast): the day-ahead forecast corrected by the traffic
seen so far in the flight.

The day-ahead forecast (``forecast.kind``) is fixed when the flight starts, and so is the
plan signed on it. During the flight the ratio of the requests seen to the requests
forecast tells how far the day departs from its forecast; recorded demand shows that such
departures last hours (news bursts, holidays, storms), so the next hours are likely off by
a similar factor. ``forecast.nowcast = smoothing`` keeps two exponentially weighted sums
over the flight's ticks (time constant ``forecast.nowcast_tau_min``): the requests seen,
each capped at ``NOWCAST_CLIP`` x the tick's forecast (a short 10-100x surge must not
inflate the next hours), and the requests forecast. Their ratio ``r`` is the current
level; the forecast ``h`` minutes ahead is the day-ahead one x ``1 + (r - 1) phi^h`` with
``phi = exp(-1 / forecast.nowcast_decay_min)`` per minute: the departure decays back to the
day-ahead forecast (exponential smoothing with a damped level, as ``envs.forecast``'s
``HoltWinters`` does over days).

The nowcast informs the controller, never the plan: it changes the observation's
``capacity_log10`` (the spend the rest of the flight could buy at full throttle, the
feed-forward of the PID and proportional baselines), not ``plan`` or
``forecast_elapsed``. ``forecast.nowcast = none`` (the default) leaves every result as it
was.

The functions here are the one definition of the update and of the prediction: the core's
kernels inline them, and ``nowcast_windows`` (the error report by horizon,
``benchmarks/bench_nowcast.py``) runs them over a trace minute by minute. ``forecast.nowcast =
linear`` (``envs.nowcast_linear``) predicts the level from several such sums instead.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

NOWCAST_CLIP = 4.0
"""[x] requests seen count up to this multiple of the forecast in the level (the cap keeps a
surge of minutes from moving the forecast of hours)."""


@nb.njit(cache=True, inline="always")
def smoothing_weight(dt_min: float, tau_min: float) -> float:
    """Weight of the newest interval of ``dt_min`` [min] in a sum with time constant ``tau_min``."""
    return -math.expm1(-dt_min / tau_min)


@nb.njit(cache=True, inline="always")
def update_seen(seen: float, observed: float, expected: float, alpha: float) -> float:
    """The smoothed requests seen after an interval with ``observed`` of ``expected``."""
    return seen + alpha * (min(observed, NOWCAST_CLIP * expected) - seen)


@nb.njit(cache=True, inline="always")
def level(seen: float, expected: float) -> float:
    """The ratio of smoothed requests seen to forecast (1 before anything was forecast)."""
    if expected <= 0.0:
        return 1.0
    return min(max(seen / expected, 1.0 / NOWCAST_CLIP), NOWCAST_CLIP)


@nb.njit(cache=True)
def smoothing_origin_levels(
    actual: np.ndarray, dayahead: np.ndarray, origins: np.ndarray, tau_min: float
) -> np.ndarray:  # pragma: no cover - compiled
    """The smoothing nowcast's level at each of ``origins`` [min] of a flight from minute 0
    of ``actual`` and ``dayahead`` (requests per minute), as the core updates it."""
    alpha = smoothing_weight(1.0, tau_min)
    out = np.ones(origins.shape[0])
    seen = 0.0
    fc = 0.0
    m = 0
    for i in range(origins.shape[0]):
        while m < origins[i]:
            seen = update_seen(seen, actual[m], dayahead[m], alpha)
            fc += alpha * (dayahead[m] - fc)
            m += 1
        out[i] = level(seen, fc)
    return out


@nb.njit(cache=True)
def window_totals(
    actual: np.ndarray,
    dayahead: np.ndarray,
    origins: np.ndarray,
    horizons: np.ndarray,
    levels: np.ndarray,
    decay_min: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """At each of ``origins`` [min], the totals of the next ``horizons[k]`` minutes (``-1``:
    the rest of the flight): actual, day-ahead, and day-ahead corrected by the level
    ``levels[i]`` decaying with ``decay_min`` (the prediction the core's capacity uses).

    Returns ``(actual totals, day-ahead totals, nowcast totals)``, each of shape
    ``(len(origins), len(horizons))``.
    """
    n = actual.shape[0]
    phi = math.exp(-1.0 / decay_min)
    act = np.zeros((origins.shape[0], horizons.shape[0]))
    ahead = np.zeros_like(act)
    now = np.zeros_like(act)
    for i in range(origins.shape[0]):
        m = origins[i]
        r = levels[i]
        for k in range(horizons.shape[0]):
            end = n if horizons[k] < 0 else min(n, m + horizons[k])
            w = 1.0
            for j in range(m, end):
                act[i, k] += actual[j]
                ahead[i, k] += dayahead[j]
                now[i, k] += dayahead[j] * (1.0 + (r - 1.0) * w)
                w *= phi
    return act, ahead, now


def nowcast_windows(
    actual: np.ndarray,
    dayahead: np.ndarray,
    origins: np.ndarray,
    horizons: np.ndarray,
    tau_min: float,
    decay_min: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The smoothing nowcast's ``window_totals`` of one flight (the error report by horizon,
    ``benchmarks/bench_nowcast.py``)."""
    levels = smoothing_origin_levels(actual, dayahead, origins, tau_min)
    return window_totals(actual, dayahead, origins, horizons, levels, decay_min)


@nb.njit(cache=True, inline="always")
def discounted_remaining(nc_cum: np.ndarray, b: int, pos: float, n_slots: int, phi: float) -> float:
    """Forecast requests left in campaign ``b``'s flight at ``pos`` slots elapsed, slot ``k``
    ahead weighted ``phi^k``: how much of a departure ``r - 1`` from the forecast still
    applies (``nc_cum[b, s]`` = sum over slots ``j >= s`` of forecast x ``phi^(j - s)``)."""
    if pos >= n_slots:
        return 0.0
    s = int(pos)
    return (nc_cum[b, s] - phi * nc_cum[b, s + 1]) * (1.0 - (pos - s)) + phi * nc_cum[b, s + 1]


@nb.njit(cache=True, inline="always")
def fill_discounted(
    nc_cum: np.ndarray, fc_cum: np.ndarray, b: int, total: float, slots: int, phi: float
) -> None:
    """Row ``b`` of ``nc_cum`` from the forecast's cumulative shares ``fc_cum`` x ``total``."""
    acc = 0.0
    nc_cum[b, slots] = 0.0
    for s in range(slots - 1, -1, -1):
        acc = (fc_cum[b, s + 1] - fc_cum[b, s]) * total + phi * acc
        nc_cum[b, s] = acc
