"""Fitting the linear nowcast: the loss is the next hour's percentage error, each start
day's weights and ridge penalty are chosen on the days before it only, and the history
grows with the trace."""

import numpy as np

from pacegym.envs.core import PacingCore
from pacegym.envs.nowcast_fit import (
    LAD_ITERATIONS,
    RIDGE,
    RIDGES,
    day_rows,
    fit_rows,
    rows_error,
    walk_forward_weights,
)
from pacegym.envs.nowcast_linear import LOG_CLIP, N_LINEAR

from .test_nowcast_linear import DAY, _levels_trace, _scenario

FLAT = 1.0 + 0.5 * np.sin(2 * np.pi * np.arange(DAY) / DAY)


def _rows(seed: int, n_days: int) -> list:
    """Fitting rows of ``n_days`` days of ``_levels_trace`` against a flat daily forecast."""
    trace = _levels_trace(seed)
    return [day_rows(trace[d * DAY : (d + 1) * DAY], FLAT, 120.0) for d in range(n_days)]


def _write(path, trace: np.ndarray) -> str:
    path.write_text("requests\n" + "\n".join(f"{v:.6f}" for v in trace) + "\n")
    return str(path)


def _log_lad(rows, ridge: float) -> np.ndarray:
    """The least-absolute-deviation fit of ``log r`` alone (the fit's start)."""
    x, r, _ = rows
    y = np.clip(np.log(np.maximum(r, 1e-9)), -LOG_CLIP, LOG_CLIP)
    w = np.zeros(N_LINEAR)
    for _ in range(LAD_ITERATIONS + 1):
        weight = 1.0 / np.maximum(np.abs(x @ w - y), 1e-3)
        xw = x * weight[:, None]
        w = np.linalg.solve(xw.T @ x + ridge * np.eye(N_LINEAR), xw.T @ y)
    return w


def test_the_fit_lowers_the_percentage_error_it_is_judged_by():
    days = _rows(2, 20)
    rng = np.random.default_rng(0)
    x, r, weight = (np.concatenate([d[i] for d in days]) for i in range(3))
    r = r * np.exp(rng.normal(0.0, 0.4, r.size))  # hours scattered around the level
    rows = (x, r, weight)
    assert rows_error(rows, fit_rows(rows, RIDGE)) < rows_error(rows, _log_lad(rows, RIDGE))


def test_earlier_start_days_never_see_later_days():
    days = _rows(3, 30)
    full, full_ridges = walk_forward_weights(days, 10)
    for cut in (12, 20, 29):
        part, part_ridges = walk_forward_weights(days[:cut], 10)
        np.testing.assert_array_equal(part, full[: cut - 10 + 1])
        np.testing.assert_array_equal(part_ridges, full_ridges[: cut - 10 + 1])
    assert set(full_ridges) <= set(RIDGES)


def test_the_penalty_is_the_one_that_validated_best():
    """Targets of pure noise around the forecast: the largest penalty (weights near 0,
    the day-ahead forecast) forecasts the next days best, and is chosen."""
    rng = np.random.default_rng(1)
    days = []
    for _ in range(20):
        x = np.c_[np.ones(90), rng.normal(0.0, 1.0, (90, N_LINEAR - 1))]
        days.append((x, np.exp(rng.normal(0.0, 0.5, 90)), np.ones(90)))
    _, ridges = walk_forward_weights(days, 14)
    assert np.all(ridges == max(RIDGES))


def test_the_ridge_choice_is_walk_forward_and_the_history_expands(tmp_path):
    trace = _levels_trace(0)
    sc = _scenario(_write(tmp_path / "a.csv", trace), "linear", start_day=30)
    core = PacingCore(sc, 1)
    weights, ridges = core.nc_wtab.copy(), core.nc_ridges.copy()
    assert ridges.shape == (1,) and ridges[0] in RIDGES
    changed = trace.copy()
    changed[30 * DAY :] *= 1.0 + np.random.default_rng(2).uniform(0.0, 3.0, changed.size - 30 * DAY)
    same = PacingCore(_scenario(_write(tmp_path / "b.csv", changed), "linear", start_day=30), 1)
    np.testing.assert_allclose(same.nc_wtab, weights, rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(same.nc_ridges, ridges)
    # day 8 is more than history_days (7) before the flight, yet the nowcast learns from it
    early = trace.copy()
    early[8 * DAY + 480 : 9 * DAY] *= 3.0
    moved = PacingCore(_scenario(_write(tmp_path / "c.csv", early), "linear", start_day=30), 1)
    assert np.abs(moved.nc_wtab - weights).max() > 1e-4
