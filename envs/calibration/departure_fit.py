"""Fit ``traffic.departures`` (``envs.params_departures``) to traffic and its forecast.

``fit_departures(actual, forecast)`` takes requests and their forecast per minute (one row
per campaign, whole 15-minute bins) and fits, on ``x = log(actual / forecast)`` per
15-minute bin (as ``envs.departures`` measures it), by moments and counting:

1. collapses: runs of at least ``COLLAPSE_MIN_H`` hours whose hourly traffic is below
   ``COLLAPSE_BELOW`` x the forecast: ``collapse_per_day`` = runs / days (at most 1),
   ``collapse_h`` their mean length, ``collapse_x`` the median hourly ratio inside them;
   ``rebound_x`` the geometric mean of the median hourly ratio over the calendar day after
   each collapse's (rows start at a midnight); both are left out of what follows;
2. bursts: runs of bins at least ``burst_ratio`` x the forecast (by default
   ``BURST_RATIO``, as ``envs.departures`` counts them; ``trace_twin.fit_twin`` chooses it
   per trace): ``burst_rate_per_h`` = runs / hours; the peak ratio of each is Pareto above
   ``burst_ratio`` (``burst_min_x``; ``burst_alpha`` by maximum likelihood), durations
   log-normal (``burst_median_min``, ``burst_sd`` from the log lengths);
3. the rest (collapse, rebound and burst bins left out, ``x`` clipped to ``TAIL_SD`` robust
   sd around its median: the Gaussian parts are not scaled to one-off events such as a
   holiday): the autocovariance of ``x`` at lags of 0-``MAX_LAG`` bins is fitted, by
   non-negative least squares over a grid of correlation times and both orders, as
   ``quarter_sd^2 [k = 0] + hour_sd^2 max(0, 1 - k / 4) + slow_sd^2 c(k)`` (a white part
   per quarter-hour, a factor per calendar hour, a slow deviation with ``c = e^-s`` or
   ``(1 + s) e^-s``, ``s = 15 min k / slow_tau_h``). ``white_var`` (the variance that the
   model already draws elsewhere, e.g. Poisson counts and minute noise) is taken off lag 0.
   With ``native_min`` above ``DEP_BIN_MIN`` (traffic recorded in bins of that width and
   interpolated per minute, ``native_bin_min``) each part's autocovariance is that of the
   generator's smoothing of it (``_columns``), and ``native_min`` is written to the fit.

Pure numpy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pacegym.envs.departures import FLOOR
from pacegym.envs.params_departures import DEP_BIN_MIN, MIN_X, DepartureParams

BIN = 15  # [min] bin of the fit (that of envs.departures)
COLLAPSE_BELOW = 0.3  # [x] an hour below this multiple of its forecast may be a collapse
COLLAPSE_MIN_H = 2  # [h] shortest collapse
BURST_RATIO = 2.0  # [x] default burst_ratio: a burst bin's multiple (envs.departures's)
MAX_LAG = 32  # [bins] longest autocovariance lag fitted (8 h)
TAIL_SD = 4.0  # [robust sd] x is clipped here for the Gaussian parts (one-off events beyond)
TAU_GRID_H = np.geomspace(0.25, 720.0, 80)  # [h] correlation times tried
NATIVE_WIDTHS = (DEP_BIN_MIN, 10, 15, 20, 30, 60, 120)  # [min] native bins tried
NATIVE_SLACK = 2.0  # a native bin interpolates within this multiple of the finest's error


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


def _collapses(
    x_hour: np.ndarray, ok_hour: np.ndarray
) -> tuple[list[float], list[float], list[float], np.ndarray]:
    """Lengths [h] and hourly log ratios of every collapse run (one row per campaign, from a
    midnight), the median hourly log ratio of each whole valid calendar day after the day a
    collapse ends in (its rebound), and the mask of hours collapsed or rebounding."""
    lengths, logs, rebounds = [], [], []
    mask = ok_hour & (x_hour < np.log(COLLAPSE_BELOW))
    for row, ok, m in zip(x_hour, ok_hour, mask, strict=True):
        for s, e in _runs(ok & (row < np.log(COLLAPSE_BELOW))):
            if e - s >= COLLAPSE_MIN_H:
                lengths.append(float(e - s))
                logs.extend(row[s:e].tolist())
                after = ((e - 1) // 24 + 1) * 24
                day = slice(after, after + 24)
                if after + 24 <= row.size and ok[day].all() and not m[day].any():
                    rebounds.append(float(np.median(row[day])))
                    m[day] = True
    return lengths, logs, rebounds, mask


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


def native_bin_min(series: np.ndarray, widths: tuple[int, ...] = NATIVE_WIDTHS) -> int:
    """[min] the widest of ``widths`` (each a multiple of ``DEP_BIN_MIN``, the first
    ``DEP_BIN_MIN``) on whose knots, at some phase, linear interpolation reproduces the
    per-minute ``series`` within ``NATIVE_SLACK`` x its error at the first: the bin width a
    trace was recorded in before it was interpolated per minute."""
    s = np.asarray(series, dtype=float).ravel()
    m = np.arange(s.size)
    scale = max(float(np.mean(np.abs(s))), FLOOR)

    def error(w: int) -> float:
        best = np.inf
        for phase in range(min(w, s.size - 1)):
            knots = m[phase::w]
            inside = slice(knots[0], knots[-1])
            best = min(best, float(np.max(np.abs(s - np.interp(m, knots, s[knots]))[inside])))
        return best / scale

    base = error(widths[0])
    fits = [w for w in widths if 2 * w <= s.size and error(w) <= NATIVE_SLACK * base + 1e-9]
    return max(fits, default=widths[0])


def _smoother(native_min: float, bins: int) -> np.ndarray:
    """``(bins // 3, bins)``: the generator's ``DEP_BIN_MIN`` values from midnight to the
    means over ``BIN`` minutes of their native-bin smoothing (``envs.departure_gen``)."""
    mid = (np.arange(bins) + 0.5) * DEP_BIN_MIN
    block = np.floor(mid / native_min).astype(int)
    average = (block[None, :] == np.arange(block.max() + 1)[:, None]).astype(float)
    average /= average.sum(axis=1, keepdims=True)
    u = np.clip(mid / native_min - 0.5, 0.0, average.shape[0] - 1.0)
    lo = np.minimum(np.floor(u).astype(int), average.shape[0] - 2)
    interp = np.zeros((bins, average.shape[0]))
    interp[np.arange(bins), lo] = lo + 1.0 - u
    interp[np.arange(bins), lo + 1] = u - lo
    per = BIN // DEP_BIN_MIN
    to_bin = np.kron(np.eye(bins // per), np.full((1, per), 1.0 / per))
    return to_bin @ interp @ average


def _columns(native_min: float) -> list[np.ndarray]:
    """The design columns' autocovariances at lags 0..MAX_LAG (unit variances): quarter,
    hour, then slow for each of ``TAU_GRID_H`` x orders 1, 2 (``_gaussian``'s order)."""
    k = np.arange(MAX_LAG + 1, dtype=float)
    if native_min <= DEP_BIN_MIN:  # as drawn: each part's autocorrelation on BIN bins
        cols = [(k == 0).astype(float), np.maximum(0.0, 1.0 - k / 4.0)]
        for tau, order in itertools.product(TAU_GRID_H, (1, 2)):
            s = k * BIN / (60.0 * tau)
            cols.append(np.exp(-s) * (1.0 + s if order == 2 else 1.0))
        return cols
    per = BIN // DEP_BIN_MIN
    span = int(np.lcm(int(native_min), 60))  # [min] rows of every phase of block and hour
    first = MAX_LAG  # rows from MAX_LAG bins in (a margin for the flat ends)
    rows = np.arange(first, first + max(span // BIN, 1))
    bins = (first + rows.size + 2 * MAX_LAG) * per
    smooth = _smoother(native_min, bins)
    mid = (np.arange(bins) + 0.5) * DEP_BIN_MIN
    lags = np.abs(mid[:, None] - mid[None, :])

    def acov(cov: np.ndarray) -> np.ndarray:
        full = smooth[rows] @ cov @ smooth.T
        return np.array([full[np.arange(rows.size), rows + j].mean() for j in range(MAX_LAG + 1)])

    cols = [acov((mid[:, None] // w == mid[None, :] // w).astype(float)) for w in (BIN, 60)]
    for tau, order in itertools.product(TAU_GRID_H, (1, 2)):
        s = lags / (60.0 * tau)
        cols.append(acov(np.exp(-s) * (1.0 + s if order == 2 else 1.0)))
    return cols


def _gaussian(
    acov: np.ndarray, native_min: float = DEP_BIN_MIN
) -> tuple[np.ndarray, float, int, np.ndarray]:
    """``([quarter_sd, hour_sd, slow_sd], slow_tau_h, slow_order, fitted acov)`` (module
    docstring, 3; the columns smoothed as the generator smooths a ``native_min`` trace)."""
    cols = _columns(native_min)
    best = (np.inf, np.zeros(3), float(TAU_GRID_H[0]), 1, np.zeros_like(acov))
    for i, (tau, order) in enumerate(itertools.product(TAU_GRID_H, (1, 2))):
        design = np.stack([cols[0], cols[1], cols[2 + i]], 1)
        coef, err = _nnls(design, acov)
        if err < best[0]:
            best = (err, coef, float(tau), order, design @ coef)
    _, coef, tau, order, fitted = best
    return np.sqrt(np.minimum(coef, 9.0)), tau, order, fitted


def _bursts(
    x: np.ndarray, ok: np.ndarray, ratio: float
) -> tuple[list[float], list[float], np.ndarray]:
    """Peak ratio [x] and length [min] of every burst (a run at ``ratio`` x or more), and the
    mask of burst bins."""
    sizes, lengths = [], []
    mask = np.zeros_like(ok)
    for r in range(x.shape[0]):
        for s, e in _runs(ok[r] & (x[r] >= np.log(ratio))):
            sizes.append(float(np.exp(x[r, s:e].max())))
            lengths.append(float((e - s) * BIN))
            mask[r, s:e] = True
    return sizes, lengths, mask


def fit_departures(
    actual: np.ndarray,
    forecast: np.ndarray,
    valid: np.ndarray | None = None,
    white_var: float = 0.0,
    native_min: float = DEP_BIN_MIN,
    burst_ratio: float = BURST_RATIO,
) -> DepartureFit:
    """Fit ``DepartureParams`` to per-minute ``actual`` and ``forecast`` (1-D, or one row per
    campaign; ``valid`` marks minutes to use; bursts are runs at ``burst_ratio`` x the forecast
    or more, above 1; see the module docstring)."""
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
    lengths, logs, rebounds, events = _collapses(x_hour, ok_hour)
    collapsed = np.repeat(events, 60 // BIN, axis=1)
    ok &= ~np.pad(collapsed, ((0, 0), (0, x.shape[1] - collapsed.shape[1])))[:, : x.shape[1]]
    if not 1.0 < burst_ratio <= 100.0:
        raise ValueError(f"burst_ratio = {burst_ratio}: allowed (1, 100]")
    sizes, durations, burst = _bursts(x, ok, burst_ratio)
    acov = _acov(x, ok & ~burst)
    acov[0] = max(acov[0] - white_var, 0.0)
    (q_sd, h_sd, s_sd), tau, order, fitted = _gaussian(acov, native_min)
    hours = max(float((ok | burst).sum()) * BIN / 60.0, 1e-9)
    alpha = len(sizes) / max(sum(np.log(np.array(sizes) / burst_ratio)), 1e-9) if sizes else 3.0
    log_d = np.log(durations) if durations else np.log([15.0])
    params = DepartureParams(
        slow_sd=min(s_sd, 3.0),
        slow_tau_h=min(tau, 720.0),
        slow_order=order,
        hour_sd=min(h_sd, 3.0),
        quarter_sd=min(q_sd, 3.0),
        burst_rate_per_h=min(len(sizes) / hours, 60.0),
        burst_min_x=burst_ratio,
        burst_alpha=float(np.clip(alpha, 0.5, 100.0)),
        burst_median_min=float(np.clip(np.exp(log_d.mean()), 1.0, 1440.0)),
        burst_sd=float(min(log_d.std(), 3.0)),
        collapse_per_day=min(len(lengths) / max(days, 1e-9), 1.0),
        collapse_x=float(np.clip(np.exp(np.median(logs)), MIN_X, 1.0)) if logs else 0.05,
        collapse_h=float(np.clip(np.mean(lengths), 1.0, 72.0)) if lengths else 6.0,
        rebound_x=float(np.clip(np.exp(np.mean(rebounds)), MIN_X, 100.0)) if rebounds else 1.0,
        native_min=native_min,
    )
    return DepartureFit(params, days, len(sizes), len(lengths), acov, fitted)
