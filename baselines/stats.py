"""Aggregates with seeded, vectorised 95% bootstrap intervals, and paired comparisons.

Both functions take per-episode metrics as returned by ``run_episodes(...).metrics``
(a mapping of metric key -> ``(episodes,)`` array) or a ``Rollout`` itself. Intervals
are percentile bootstraps of the mean over episodes: ``n_boot`` resamples drawn from
``np.random.default_rng(seed)``, so a result is reproducible for a seed. A paired
difference resamples the same episode indices for both controllers, which is valid
because ``run_episodes`` gives episode ``i`` the same traffic and delays (common
random numbers) for the same seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

N_BOOT = 2000
"""Default number of bootstrap resamples (every caller's default refers to this)."""
LEVEL = 0.95
"""Default confidence level of the intervals."""
_CHUNK = 4_000_000  # [elements] bootstrap index matrix built in chunks of this size


def _metrics(data: Any) -> Mapping[str, np.ndarray]:
    return data.metrics if hasattr(data, "metrics") else data


def _check(n_boot: int, level: float) -> None:
    if int(n_boot) < 1:
        raise ValueError(f"n_boot = {n_boot}: must be >= 1")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level = {level}: allowed (0, 1)")


def bootstrap_means(values: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Means of ``n_boot`` resamples of the rows of ``values`` ``(n,)`` or ``(n, k)``.

    Returns ``(n_boot,)`` or ``(n_boot, k)``; every column uses the same resampled rows.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    if n < 1:
        raise ValueError("bootstrap of an empty sample: need at least 1 episode")
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK // n)
    out = []
    for start in range(0, n_boot, rows):
        idx = rng.integers(0, n, size=(min(rows, n_boot - start), n))
        out.append(v[idx].mean(axis=1))
    return np.concatenate(out)


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
    boots = bootstrap_means(table, n_boot, seed)
    q = [100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0]
    lo, hi = np.percentile(boots, q, axis=0)
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
    d = da - db
    boots = bootstrap_means(d, n_boot, seed)
    lo, hi = np.percentile(boots, [100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0])
    return float(d.mean()), float(lo), float(hi)
