"""How traffic departs from its forecast: the statistics that tell recorded demand from the
synthetic generator (and that a generator fitted to a trace must match).

``departure_stats(actual, forecast)`` takes requests and their forecast per minute over
whole days and reports, on 15-minute bins of ``x = log(actual / forecast)``:

- ``acf_15min``, ``acf_1h``, ``acf_4h``: the autocorrelation of ``x`` at those lags (how
  long a departure persists: recorded demand keeps it for hours, minutes-long noise and
  short surges do not);
- ``burst_size_q50``/``q90``: the peak ratio ``actual / forecast`` of bursts (runs of bins
  above ``BURST_RATIO`` x the forecast), and ``burst_min_q50``/``q90`` their durations
  [min];
- ``off_forecast_hours``: the share of hours whose traffic is more than ``OFF_BY`` off
  the forecast (either way: news bursts and collapses alike);
- ``day_shape_cv``: the mean over hours of day of the coefficient of variation, across
  days, of the hour's share of its day (how much days differ in shape).

Pure numpy; ``benchmarks/bench_departures.py`` prints the table for the shipped traces
against the synthetic scenarios.
"""

from __future__ import annotations

import numpy as np

BIN_MIN = 15
"""[min] bin of the statistics."""
BURST_RATIO = 2.0
"""[x] a bin at least this multiple of its forecast is part of a burst."""
OFF_BY = 0.3
"""[share] an hour more than this far from its forecast (either way) is off forecast."""
FLOOR = 1e-9
"""[requests/min] added to both sides of the log ratio (an empty minute is not -inf)."""


def _bins(series: np.ndarray, width: int) -> np.ndarray:
    n = series.size // width
    return series[: n * width].reshape(n, width).sum(axis=1)


def _acf(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    den = float(np.dot(x, x))
    if lag >= x.size or den <= 0.0:
        return float("nan")
    return float(np.dot(x[:-lag], x[lag:]) / den)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of every run of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def departure_stats(actual: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """The statistics of the module docstring for per-minute ``actual`` and ``forecast``
    (same length, whole days)."""
    a = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if a.shape != f.shape or a.ndim != 1 or a.size < 1440:
        raise ValueError(f"actual and forecast: equal 1-D lengths of >= 1 day, got {a.shape}")
    ab, fb = _bins(a, BIN_MIN), _bins(f, BIN_MIN)
    x = np.log((ab + FLOOR) / (fb + FLOOR))
    ratio = (ab + FLOOR) / (fb + FLOOR)
    bursts = _runs(ratio >= BURST_RATIO)
    sizes = np.array([ratio[s:e].max() for s, e in bursts] or [np.nan])
    lengths = np.array([(e - s) * BIN_MIN for s, e in bursts] or [0.0], dtype=float)
    ah, fh = _bins(a, 60), _bins(f, 60)
    off = np.abs(ah / np.maximum(fh, FLOOR) - 1.0) > OFF_BY
    days = a.size // 1440
    hourly = _bins(a[: days * 1440], 60).reshape(days, 24)
    share = hourly / np.maximum(hourly.sum(axis=1, keepdims=True), FLOOR)
    cv = share.std(axis=0) / np.maximum(share.mean(axis=0), FLOOR)
    return {
        "acf_15min": _acf(x, 1),
        "acf_1h": _acf(x, 60 // BIN_MIN),
        "acf_4h": _acf(x, 240 // BIN_MIN),
        "burst_size_q50": float(np.quantile(sizes, 0.5)),  # nan: no burst
        "burst_size_q90": float(np.quantile(sizes, 0.9)),
        "burst_min_q50": float(np.quantile(lengths, 0.5)),
        "burst_min_q90": float(np.quantile(lengths, 0.9)),
        "off_forecast_hours": float(off.mean()),
        "day_shape_cv": float(cv.mean()),
    }
