"""Fit ``traffic.departures`` (``envs.params_departures``) to traffic and its forecast.

``fit_departures(actual, forecast)`` takes requests and their forecast per minute (one row
per campaign, whole 15-minute bins) and fits, on ``x = log(actual / forecast)`` per
15-minute bin (as ``envs.departures`` measures it), by moments and counting:

1. collapses: runs of at least ``COLLAPSE_MIN_H`` hours whose hourly traffic is below
   ``COLLAPSE_BELOW`` x the forecast: ``collapse_per_day`` = runs / days (at most 1),
   ``collapse_h`` their mean length, ``collapse_x`` the median hourly ratio inside them;
2. bursts: runs of bins at least ``BURST_RATIO`` x above the running median of ``x`` over
   ``LEVEL_BINS`` bins (the slow level): ``burst_rate_per_h`` = runs / hours; the peak
   excess of each is Pareto above ``BURST_RATIO`` (``burst_alpha`` by maximum likelihood),
   durations log-normal (``burst_median_min``, ``burst_sd`` from the log lengths);
3. the rest (collapse and burst bins left out, ``x`` clipped to ``TAIL_SD`` robust sd
   around its median: the Gaussian parts are not scaled to one-off events such as a
   holiday): the autocovariance of ``x`` at lags of 0-``MAX_LAG`` bins is fitted, by non-negative least squares over a grid of correlation
   times and both orders, as ``quarter_sd^2 [k = 0] + hour_sd^2 max(0, 1 - k / 4) +
   slow_sd^2 c(k)`` (a white part per quarter-hour, a factor per calendar hour, a slow
   deviation with ``c = e^-s`` or ``(1 + s) e^-s``, ``s = 15 min k / slow_tau_h``). ``white_var`` (the variance that the model
   already draws elsewhere, e.g. Poisson counts and minute noise) is taken off lag 0.

Pure numpy.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np

from pacegym.envs.departures import FLOOR
from pacegym.envs.params_departures import MIN_X, DepartureParams

BIN = 15  # [min] bin of the fit (that of envs.departures)
COLLAPSE_BELOW = 0.3  # [x] an hour below this multiple of its forecast may be a collapse
COLLAPSE_MIN_H = 2  # [h] shortest collapse
BURST_RATIO = 2.0  # [x] a burst bin is this far above the slow level (envs.departures's)
LEVEL_BINS = 17  # [bins] running-median window of the slow level (4 h)
MAX_LAG = 32  # [bins] longest autocovariance lag fitted (8 h)
TAIL_SD = 4.0  # [robust sd] x is clipped here for the Gaussian parts (one-off events beyond)
TAU_GRID_H = np.geomspace(0.25, 720.0, 80)  # [h] correlation times tried


@dataclass(frozen=True)
class DepartureFit:
    """Fitted departures and what they were fitted on."""

    params: DepartureParams
    days: float  # [days] of traffic fitted
    n_bursts: int
    n_collapses: int
    acov: np.ndarray  # (MAX_LAG + 1,) autocovariance of x left after bursts and collapses
    acov_fit: np.ndarray  # (MAX_LAG + 1,) the fitted model's


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _bins(series: np.ndarray, width: int) -> np.ndarray:
    n = series.shape[-1] // width
    return series[..., : n * width].reshape(*series.shape[:-1], n, width).sum(axis=-1)


def _collapses(x_hour: np.ndarray, ok_hour: np.ndarray) -> tuple[list[float], list[float]]:
    """Lengths [h] and hourly log ratios of every collapse run (one row per campaign)."""
    lengths, logs = [], []
    for row, ok in zip(x_hour, ok_hour, strict=True):
        for s, e in _runs(ok & (row < np.log(COLLAPSE_BELOW))):
            if e - s >= COLLAPSE_MIN_H:
                lengths.append(float(e - s))
                logs.extend(row[s:e].tolist())
    return lengths, logs


def _level(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Running median of ``x`` over ``LEVEL_BINS`` valid bins around each bin."""
    half = LEVEL_BINS // 2
    padded = np.pad(np.where(ok, x, np.nan), (half, half), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, LEVEL_BINS)
    with warnings.catch_warnings():  # a window of invalid bins only: level 0
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nanmedian(windows, axis=1)
    return np.where(np.isfinite(level), level, 0.0)


def _acov(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Autocovariance at lags 0..MAX_LAG over pairs of valid bins of the same row, of ``x``
    clipped to ``TAIL_SD`` robust sd (1.4826 MAD) around its median."""
    if not ok.any():
        return np.zeros(MAX_LAG + 1)
    med = float(np.median(x[ok]))
    width = TAIL_SD * 1.4826 * float(np.median(np.abs(x[ok] - med)))
    x = np.clip(x, med - width, med + width)
    z = np.where(ok, x - x[ok].mean(), 0.0)
    out = np.zeros(MAX_LAG + 1)
    for k in range(MAX_LAG + 1):
        a, b = (z, z) if k == 0 else (z[:, k:], z[:, :-k])
        both = ok if k == 0 else ok[:, k:] & ok[:, :-k]
        n = both.sum()
        out[k] = (a * b)[both].sum() / n if n else 0.0
    return out


def _nnls(design: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative least squares for a few columns: the best of every column subset."""
    best, best_err = np.zeros(design.shape[1]), float(np.sum(target**2))
    for r in range(1, design.shape[1] + 1):
        for cols in itertools.combinations(range(design.shape[1]), r):
            coef, *_ = np.linalg.lstsq(design[:, cols], target, rcond=None)
            if np.any(coef < 0):
                continue
            full = np.zeros(design.shape[1])
            full[list(cols)] = coef
            err = float(np.sum((design @ full - target) ** 2))
            if err < best_err:
                best, best_err = full, err
    return best, best_err


def _gaussian(acov: np.ndarray) -> tuple[np.ndarray, float, int, np.ndarray]:
    """``([quarter_sd, hour_sd, slow_sd], slow_tau_h, slow_order, fitted acov)`` (module
    docstring, 3)."""
    k = np.arange(MAX_LAG + 1, dtype=float)
    best = (np.inf, np.zeros(3), float(TAU_GRID_H[0]), 1, np.zeros_like(acov))
    for tau, order in itertools.product(TAU_GRID_H, (1, 2)):
        s = k * BIN / (60.0 * tau)
        slow = np.exp(-s) * (1.0 + s if order == 2 else 1.0)
        design = np.stack([(k == 0).astype(float), np.maximum(0.0, 1.0 - k / 4.0), slow], 1)
        coef, err = _nnls(design, acov)
        if err < best[0]:
            best = (err, coef, float(tau), order, design @ coef)
    _, coef, tau, order, fitted = best
    return np.sqrt(np.minimum(coef, 9.0)), tau, order, fitted


def _bursts(x: np.ndarray, ok: np.ndarray) -> tuple[list[float], list[float], np.ndarray]:
    """Peak excess [x] and length [min] of every burst, and the mask of burst bins."""
    sizes, lengths = [], []
    mask = np.zeros_like(ok)
    for r in range(x.shape[0]):
        excess = x[r] - _level(x[r], ok[r])
        for s, e in _runs(ok[r] & (excess >= np.log(BURST_RATIO))):
            sizes.append(float(np.exp(excess[s:e].max())))
            lengths.append(float((e - s) * BIN))
            mask[r, s:e] = True
    return sizes, lengths, mask


def fit_departures(
    actual: np.ndarray,
    forecast: np.ndarray,
    valid: np.ndarray | None = None,
    white_var: float = 0.0,
) -> DepartureFit:
    """Fit ``DepartureParams`` to per-minute ``actual`` and ``forecast`` (1-D, or one row per
    campaign; ``valid`` marks minutes to use; see the module docstring)."""
    a = np.atleast_2d(np.asarray(actual, dtype=float))
    f = np.atleast_2d(np.asarray(forecast, dtype=float))
    ok_min = np.ones(a.shape, bool) if valid is None else np.atleast_2d(valid)
    if a.shape != f.shape or a.shape != ok_min.shape or a.shape[1] < 60:
        raise ValueError(f"actual, forecast, valid: equal shapes of >= 60 minutes, got {a.shape}")
    x = np.log((_bins(a, BIN) + FLOOR) / (_bins(f, BIN) + FLOOR))
    ok = _bins(ok_min.astype(float), BIN) == BIN
    x_hour = np.log((_bins(a, 60) + FLOOR) / (_bins(f, 60) + FLOOR))
    ok_hour = _bins(ok_min.astype(float), 60) == 60
    days = float(ok_min.sum()) / 1440.0
    lengths, logs = _collapses(x_hour, ok_hour)
    collapsed = np.repeat(ok_hour & (x_hour < np.log(COLLAPSE_BELOW)), 60 // BIN, axis=1)
    ok &= ~np.pad(collapsed, ((0, 0), (0, x.shape[1] - collapsed.shape[1])))[:, : x.shape[1]]
    sizes, durations, burst = _bursts(x, ok)
    acov = _acov(x, ok & ~burst)
    acov[0] = max(acov[0] - white_var, 0.0)
    (q_sd, h_sd, s_sd), tau, order, fitted = _gaussian(acov)
    hours = max(float((ok | burst).sum()) * BIN / 60.0, 1e-9)
    alpha = len(sizes) / max(sum(np.log(np.array(sizes) / BURST_RATIO)), 1e-9) if sizes else 3.0
    log_d = np.log(durations) if durations else np.log([15.0])
    params = DepartureParams(
        slow_sd=min(s_sd, 3.0),
        slow_tau_h=min(tau, 720.0),
        slow_order=order,
        hour_sd=min(h_sd, 3.0),
        quarter_sd=min(q_sd, 3.0),
        burst_rate_per_h=min(len(sizes) / hours, 60.0),
        burst_min_x=BURST_RATIO,
        burst_alpha=float(np.clip(alpha, 0.5, 100.0)),
        burst_median_min=float(np.clip(np.exp(log_d.mean()), 1.0, 1440.0)),
        burst_sd=float(min(log_d.std(), 3.0)),
        collapse_per_day=min(len(lengths) / max(days, 1e-9), 1.0),
        collapse_x=float(np.clip(np.exp(np.median(logs)), MIN_X, 1.0)) if logs else 0.05,
        collapse_h=float(np.clip(np.mean(lengths), 1.0, 72.0)) if lengths else 6.0,
    )
    return DepartureFit(params, days, len(sizes), len(lengths), acov, fitted)
