"""Fitting the linear nowcast (``envs.nowcast_linear``): its weights for each start day,
fitted walk-forward on the days before it, with the ridge penalty chosen walk-forward too.

The loss is the one the nowcast is judged by: the mean absolute percentage error of the
next hour's requests (``design_rows``: a level ``exp(g)`` misses an hour by
``|exp(g) - r| D / a`` of its requests ``a``). It is minimised over the weights of ``g``
plus a ridge penalty: a least-absolute-deviation fit of ``log r`` (iteratively reweighted
ridge) gives the start, then damped Gauss-Newton rounds of iteratively reweighted least
squares on the percentage error itself. MAPE favours a low forecast where an hour may
burst (it weighs each hour by ``1 / a``), which the log fit does not.

``walk_forward_weights`` gives one row of weights per start day ``d``: fitted on every day
with a walk-forward forecast before ``d`` (an expanding history: from
``forecast.history_days``, the first day such a forecast exists), with the penalty of
``RIDGES`` whose fits had the lowest summed error on the days before ``d``, each day ``v``
scored by the fit on the days before ``v`` (walk-forward validation). Nothing from day
``d`` on is read.
"""

from __future__ import annotations

import numpy as np

from pacegym.envs.nowcast_linear import LOG_CLIP, N_LINEAR, ORIGIN_EVERY_MIN, design_rows

RIDGE = 1.0
"""Ridge penalty where no day was left to validate one on (features are O(1) logs and
trigonometric terms)."""
RIDGES = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
"""Ridge penalties the walk-forward validation chooses among."""
MIN_FIT_DAYS = 7
"""[days] the least history a fit must have for its next day to validate a penalty."""
LAD_ITERATIONS = 30
"""Reweighting rounds of the least-absolute-deviation start."""
MAPE_ITERATIONS = 30
"""Damped Gauss-Newton rounds on the percentage error."""

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]
"""One day's design: features with the constant, target level ``r``, error weight ``D / a``."""


def day_rows(actual: np.ndarray, dayahead: np.ndarray, decay_min: float) -> Rows:
    """The fitting rows of one day from midnight (``actual`` and ``dayahead`` requests per
    minute), one per ``ORIGIN_EVERY_MIN`` minutes whose next hour can be scored."""
    origins = np.arange(ORIGIN_EVERY_MIN, 1440, ORIGIN_EVERY_MIN)
    x, r, weight = design_rows(actual, dayahead, origins, float(decay_min))
    keep = np.isfinite(r) & np.isfinite(weight) & np.isfinite(x).all(axis=1)
    return np.c_[np.ones(int(keep.sum())), x[keep]], r[keep], weight[keep]


def _stack(days: list[Rows]) -> Rows:
    if not days:
        return np.empty((0, N_LINEAR)), np.empty(0), np.empty(0)
    return tuple(np.concatenate([d[i] for d in days]) for i in range(3))  # type: ignore[return-value]


def _weighted_lad(
    x: np.ndarray, y: np.ndarray, scale: np.ndarray, w: np.ndarray, ridge: float
) -> np.ndarray:
    """One reweighted ridge solve of ``sum scale |x w - y|`` around the weights ``w``."""
    weight = scale / np.maximum(np.abs(x @ w - y), 1e-3)
    xw = x * weight[:, None]
    return np.linalg.solve(xw.T @ x + ridge * np.eye(x.shape[1]), xw.T @ y)


def fit_rows(rows: Rows, ridge: float) -> np.ndarray:
    """Weights (``N_LINEAR``) minimising the hours' percentage error on ``rows`` plus
    ``ridge`` x the squared weights; zeros (the day-ahead forecast) with no rows."""
    x, r, weight = rows
    w = np.zeros(N_LINEAR)
    if r.size == 0:  # nothing to learn from: the level stays 1 (the day-ahead forecast)
        return w
    y = np.clip(np.log(np.maximum(r, 1e-9)), -LOG_CLIP, LOG_CLIP)
    for _ in range(LAD_ITERATIONS + 1):  # the start: least absolute deviation of log r
        w = _weighted_lad(x, y, np.ones(r.size), w, ridge)
    for _ in range(MAPE_ITERATIONS):  # exp(g) ~ e (1 + g - g0) around the current g0
        g = np.clip(x @ w, -LOG_CLIP, LOG_CLIP)
        e = np.exp(g)
        z = g - 1.0 + r / e  # |exp(g) - r| ~ e |g - z|
        weighted = x * (weight * e / np.maximum(np.abs(g - z), 1e-3))[:, None]
        step = np.linalg.solve(weighted.T @ x + ridge * np.eye(N_LINEAR), weighted.T @ z)
        w = 0.5 * (w + step)
    return w


def rows_error(rows: Rows, w: np.ndarray) -> float:
    """Summed percentage error [x] of the hours of ``rows`` predicted with weights ``w``."""
    x, r, weight = rows
    g = np.clip(x @ w, -LOG_CLIP, LOG_CLIP)
    return float(np.sum(weight * np.abs(np.exp(g) - r)))


def fit_linear(
    days: list[tuple[np.ndarray, np.ndarray]], decay_min: float, ridge: float = RIDGE
) -> np.ndarray:
    """Weights (``N_LINEAR``) fitted on whole days of ``(actual, day-ahead)`` requests per
    minute with penalty ``ridge`` (``fit_rows``)."""
    return fit_rows(_stack([day_rows(a, f, decay_min) for a, f in days]), ridge)


def walk_forward_weights(days: list[Rows], start: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights for start days ``start .. len(days)`` (indices into ``days``, the rows of
    consecutive days): row ``i`` fitted on ``days[: start + i]`` with the penalty of
    ``RIDGES`` that, fitted on ``days[:v]``, scored lowest summed ``rows_error`` on
    ``days[v]`` over ``MIN_FIT_DAYS <= v < start + i`` (``RIDGE`` with no such day).

    Returns ``(weights, penalties)``, shapes ``(len(days) - start + 1, N_LINEAR)`` and
    ``(len(days) - start + 1,)``.
    """
    n = len(days)
    out = np.empty((n - start + 1, N_LINEAR))
    chosen = np.empty(n - start + 1)
    scores = np.zeros(len(RIDGES))
    validated = False
    for v in range(min(start, MIN_FIT_DAYS), n + 1):
        history = _stack(days[:v])
        ridge = RIDGES[int(np.argmin(scores))] if validated else RIDGE
        fits = {}
        if v >= MIN_FIT_DAYS and v < n:  # each penalty's fit scored on the next day
            fits = {lam: fit_rows(history, lam) for lam in RIDGES}
            scores += [rows_error(days[v], fits[lam]) for lam in RIDGES]
        if v >= start:
            out[v - start] = fits[ridge] if ridge in fits else fit_rows(history, ridge)
            chosen[v - start] = ridge
        validated = validated or bool(fits)
    return out, chosen
