"""Aggregates with seeded 95% bootstrap intervals, and paired comparisons.

Both functions take per-episode metrics as returned by ``run_episodes(...).metrics``
(a mapping of metric key -> ``(episodes,)`` array) or a ``Rollout`` itself. Intervals
are percentile bootstraps of the mean over episodes computed by
``scipy.stats.bootstrap``: ``n_boot`` resamples drawn from ``np.random.default_rng(seed)``,
so a result is reproducible for a seed. A sample smaller than ``min_episodes(level)`` (6
episodes at 95%) gets no interval: NaN bounds, never a zero-width one. Every metric of ``aggregate`` uses the same
resampled episodes. A paired difference (``paired=True``) resamples the same episode
indices for both controllers, which is valid because ``run_episodes`` gives episode
``i`` the same traffic and delays (common random numbers) for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

N_BOOT = 2000
"""Default number of bootstrap resamples (every caller's default refers to this)."""
LEVEL = 0.95
"""Default confidence level of the intervals."""
_CHUNK = 4_000_000  # [elements] resampled at once (scipy's ``batch``), bounding memory


def _metrics(data: Any) -> Mapping[str, np.ndarray]:
    return data.metrics if hasattr(data, "metrics") else data


def _check(n_boot: int, level: float) -> None:
    if int(n_boot) < 1:
        raise ValueError(f"n_boot = {n_boot}: must be >= 1")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level = {level}: allowed (0, 1)")


def _mean(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return samples[0].mean(axis=axis)


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return (a - b).mean(axis=axis)


def min_episodes(level: float = LEVEL) -> int:
    """The fewest episodes an interval at ``level`` is computed from (6 at 95%, 8 at 99%).

    With fewer, no test can tell two controllers apart at that level: even when every
    paired episode favours one, the sign test's two-sided p-value ``2 * 0.5**n`` is above
    ``1 - level`` (a bootstrap of 1 episode is the episode itself: a zero-width interval).
    Below it ``percentile_interval`` returns NaN bounds, so a difference is never starred,
    promoted or exported on too small a sample (every ``lo > 0`` test is False)."""
    n = 1
    while 2.0 * 0.5**n > 1.0 - level:
        n += 1
    return n


def percentile_interval(
    samples: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    n_boot: int,
    seed: int,
    level: float,
    paired: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` of the percentile bootstrap of ``statistic`` over episodes (axis 0);
    NaN bounds for fewer than ``min_episodes(level)`` episodes (no interval)."""
    n = samples[0].shape[0]
    if n < 1:
        raise ValueError("bootstrap of an empty sample: need at least 1 episode")
    if n < min_episodes(level):  # too few to tell anything at this level: no interval
        value = np.asarray(statistic(*(np.moveaxis(x, 0, -1) for x in samples)), np.float64)
        return np.full_like(value, np.nan), np.full_like(value, np.nan)
    from scipy import stats  # here, not at import: scipy.stats alone takes 0.5 s to import

    width = int(np.prod(samples[0].shape[1:], dtype=np.int64)) * len(samples)
    res = stats.bootstrap(
        samples,
        statistic,
        n_resamples=int(n_boot),
        batch=max(1, _CHUNK // (n * width)),
        vectorized=True,
        paired=paired,
        axis=0,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return np.asarray(res.confidence_interval.low), np.asarray(res.confidence_interval.high)


def aggregate(
    metrics: Any, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL
) -> dict[str, Any]:
    """Mean of every metric with its bootstrap interval.

    Returns ``{key: mean, f"{key}_ci": [low, high], ..., "episodes": n}`` (plain floats,
    JSON-ready) for every key of ``metrics`` (a mapping of ``(n,)`` arrays or a Rollout).
    """
    _check(n_boot, level)
    m = _metrics(metrics)
    keys = list(m)
    table = np.stack([np.asarray(m[k], dtype=np.float64) for k in keys], axis=1)
    lo, hi = percentile_interval((table,), _mean, n_boot, seed, level)
    out: dict[str, Any] = {}
    for j, k in enumerate(keys):
        out[k] = float(table[:, j].mean())
        out[f"{k}_ci"] = [float(lo[j]), float(hi[j])]
    out["episodes"] = int(table.shape[0])
    return out


def paired_difference(
    a: Any, b: Any, key: str, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL
) -> tuple[float, float, float]:
    """``(mean, low, high)`` of ``a[key] - b[key]`` over paired episodes (same seeds).

    ``a`` and ``b`` are metrics mappings or Rollouts of the same episodes; a CI that
    excludes 0 means the controllers differ on ``key`` at the given level.
    """
    _check(n_boot, level)
    ma, mb = _metrics(a), _metrics(b)
    for name, m in (("a", ma), ("b", mb)):
        if key not in m:
            raise KeyError(f"metric {key!r} not in {name}: allowed {sorted(m)}")
    da, db = np.asarray(ma[key], dtype=np.float64), np.asarray(mb[key], dtype=np.float64)
    if da.shape != db.shape:
        raise ValueError(
            f"paired_difference needs the same episodes: {da.shape[0]} vs {db.shape[0]}"
        )
    lo, hi = percentile_interval((da, db), _mean_difference, n_boot, seed, level, paired=True)
    return float((da - db).mean()), float(lo), float(hi)
