"""Inventory forecasters learned from past traffic, and the env's data-driven forecast.

A ``Forecaster`` is anything with ``fit(history)`` and ``predict(horizon)``:
``history`` is a 1-D array of non-negative counts per period (e.g. requests per
minute), oldest first, whose first value opens a season (minute 0 of a day when
``season`` = 1440); ``predict(h)`` returns the expected counts of the next ``h``
periods. Two are provided:

- ``SeasonalNaive``: the last season repeated (``season`` = 1440: yesterday;
  10080: last week). The reference every other forecaster is measured against.
- ``HoltWinters``: multiplicative seasonal exponential smoothing with a damped
  short-term level: ``y[t+h] = L * (1 + (r - 1) phi^h) * S[(t+h) mod season] *
  W[day]``, where ``L`` is the long-run level, ``r`` the recent ratio to it
  (an average decaying back to 1 with ``phi`` per period, like the simulator's
  log-AR(1) noise), ``S`` the seasonal shape (smoothed over ``smooth``
  neighbouring periods) and ``W`` day-of-week factors (from >= 14 seasons of
  history). Updates use ratios clipped to ``[1/clip, clip]``, so a 10-100x surge
  moves neither the level nor the seasonal much.

Pure numpy (and one compiled smoothing pass): nothing here runs the simulator. The
history a scenario's learned forecast is trained on is simulated by the core in
``envs.history`` (``forecast_week``), which picks the forecaster from ``FORECASTERS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numba as nb
import numpy as np

WEEK_MIN = 7 * 1440


class ForecastError(ValueError):
    """Bad or insufficient history; the message names the length and what is needed."""


@runtime_checkable
class Forecaster(Protocol):
    """Fit on past counts per period, predict the next ``horizon`` periods."""

    def fit(self, history: np.ndarray) -> Forecaster: ...

    def predict(self, horizon: int) -> np.ndarray: ...


def check_history(history: np.ndarray, need: int, what: str) -> np.ndarray:
    """``history`` as float64 1-D; errors name the bad index or the missing length."""
    y = np.asarray(history, dtype=float)
    if y.ndim != 1:
        raise ForecastError(f"history has shape {y.shape}; allowed a 1-D array of counts")
    bad = ~np.isfinite(y) | (y < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ForecastError(f"history[{i}] = {y[i]}: allowed finite counts >= 0")
    if y.size < need:
        raise ForecastError(
            f"history has {y.size} periods; {what} needs at least {need} "
            "(too little history for a forecast)"
        )
    return y


@dataclass
class SeasonalNaive:
    """Repeat the last season."""

    season: int = 1440  # [periods]
    _last: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    _phase: int = 0

    def fit(self, history: np.ndarray) -> SeasonalNaive:
        y = check_history(history, self.season, f"SeasonalNaive(season={self.season})")
        self._last = y[-self.season :].copy()
        self._phase = y.size % self.season
        return self

    def predict(self, horizon: int) -> np.ndarray:
        if self._last.size == 0:
            raise ForecastError("SeasonalNaive: call fit(history) before predict")
        return self._last[np.arange(int(horizon)) % self.season]


@nb.njit(cache=True)
def _hw_pass(y, S, W, season, L, r, alpha, beta, gamma, clip):  # pragma: no cover - compiled
    """One smoothing pass over ``y``; updates ``S`` in place, returns the final ``L, r``."""
    lo = 1.0 / clip
    for t in range(y.shape[0]):
        j = t % season
        e = y[t] / max(L * S[j] * W[(t // season) % 7], 1e-12)
        e = min(max(e, lo), clip)  # ratio to the long-run expectation, clipped
        r = r + beta * (e - r)
        L = L * (1.0 + alpha * (e - 1.0))
        s = min(max(e / r, lo), clip)  # net of the short-term deviation
        S[j] = S[j] * (1.0 + gamma * (s - 1.0))
    return L, r


def _circular_mean(x: np.ndarray, window: int) -> np.ndarray:
    window = min(window, x.size - (1 - x.size % 2))  # odd, at most the length
    if window <= 1:
        return x
    half = window // 2
    wrapped = np.concatenate([x[-half:], x, x[: window - 1 - half]])
    return np.convolve(wrapped, np.ones(window) / window, mode="valid")


@dataclass
class HoltWinters:
    """Multiplicative seasonal smoothing with a damped, mean-reverting short-term level."""

    season: int = 1440  # [periods] per season (a day of minutes)
    alpha: float = 0.002  # [-] long-run level update per period
    beta: float = 0.1  # [-] short-term level update per period
    gamma: float = 0.1  # [-] seasonal update per season
    phi: float = 0.97  # [-] per-period decay of the short-term deviation in forecasts
    smooth: int = 15  # [periods] circular moving average of the seasonal shape
    clip: float = 2.0  # [x] updates use ratios clipped to [1/clip, clip]
    weekly: bool = True  # day-of-week factors when >= 14 seasons of history
    _state: tuple | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma", "phi"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ForecastError(f"HoltWinters.{name} = {v}: allowed [0, 1]")
        if self.season < 1 or self.smooth < 1 or self.clip <= 1.0:
            raise ForecastError(
                f"HoltWinters(season={self.season}, smooth={self.smooth}, clip={self.clip}): "
                "allowed season >= 1, smooth >= 1, clip > 1"
            )

    def fit(self, history: np.ndarray) -> HoltWinters:
        s = self.season
        y = check_history(history, 2 * s, f"HoltWinters(season={s})")
        days = y.size // s
        W = np.ones(7)
        if self.weekly and days >= 14:
            full = y[: days * s].reshape(days, s)
            med = np.median(full, axis=0)  # a typical day: surges do not move a median
            level = np.sum(np.minimum(full, self.clip * np.maximum(med, 1e-12)), axis=1)
            level /= level.mean()
            W = np.array([level[d::7].mean() for d in range(7)])
            W /= W.mean()
        k = min(days, 7)  # initial shape: the median of the first (up to) 7 seasons
        first = np.median(y[: k * s].reshape(k, s) / W[np.arange(k) % 7, None], axis=0)
        L = max(float(first.mean()), 1e-9)
        S = np.maximum(_circular_mean(first / L, self.smooth), 1e-6)
        S /= S.mean()
        L, r = _hw_pass(y, S, W, s, L, 1.0, self.alpha, self.beta, self.gamma, self.clip)
        S = _circular_mean(S, self.smooth)
        mean = float(S.mean())  # the level was learned against the unnormalised shape
        self._state = (L * mean, r, S / mean, W, y.size)
        return self

    def predict(self, horizon: int) -> np.ndarray:
        if self._state is None:
            raise ForecastError("HoltWinters: call fit(history) before predict")
        L, r, S, W, n = self._state
        t = n + np.arange(int(horizon))
        h = np.arange(1, int(horizon) + 1)
        return L * (1.0 + (r - 1.0) * self.phi**h) * S[t % self.season] * W[(t // self.season) % 7]


FORECASTERS = {"seasonal_naive": SeasonalNaive, "holt_winters": HoltWinters}
"""``forecast.kind`` -> forecaster class (per-minute, daily season by default)."""
SEASONS = {"day": 1440, "week": WEEK_MIN}
"""``forecast.season`` -> periods (minutes) per season: a day (its level scaled by
day-of-week factors) or a week (each day of the week its own shape: weekends differ)."""


def make_forecaster(kind: str, season: str = "day") -> Forecaster:
    """The forecaster of ``forecast.kind`` with the season of ``forecast.season``: needs
    two seasons of history (Holt-Winters) or one (seasonal naive)."""
    if season == "day":
        return FORECASTERS[kind]()
    if kind == "holt_winters":  # the week is the season: no day-of-week factors on top
        return HoltWinters(season=SEASONS[season], weekly=False)
    return FORECASTERS[kind](season=SEASONS[season])


def mape_by_horizon(
    series: np.ndarray,
    forecasters: dict[str, Forecaster],
    origins: list[int],
    buckets: tuple[tuple[int, int], ...] = ((1, 15), (16, 60), (61, 240), (241, 1440)),
) -> dict[str, list[float]]:
    """Rolling-origin MAPE [%] per horizon bucket (periods ``lo..hi`` ahead, inclusive).

    Each forecaster is fitted on ``series[:o]`` and scored on the next ``max hi``
    periods; periods with an actual count of 0 are skipped (MAPE is undefined there).
    """
    H = max(hi for _, hi in buckets)
    out: dict[str, list[float]] = {}
    for name, f in forecasters.items():
        errs = np.zeros(H)
        n = np.zeros(H)
        for o in origins:
            if o + H > len(series):
                raise ForecastError(
                    f"origin {o} + horizon {H} exceeds the series length {len(series)}"
                )
            pred = f.fit(series[:o]).predict(H)
            act = series[o : o + H]
            ok = act > 0
            errs[ok] += np.abs(pred[ok] - act[ok]) / act[ok]
            n[ok] += 1
        out[name] = [
            float(100.0 * errs[lo - 1 : hi].sum() / max(n[lo - 1 : hi].sum(), 1))
            for lo, hi in buckets
        ]
    return out
