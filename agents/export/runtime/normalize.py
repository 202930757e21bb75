"""Observation normalisation, as stable-baselines3's ``VecNormalize`` applies it.

The project's one implementation: the exported runtime, ``agents.policy.SB3Controller``
(the reference the exports are checked against) and the torch actor behind ``policy.onnx``
(``agents/export/sb3_policy.py``, its statistics) all take it from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .manifest import PacerError, _float, _need

TILE_ROWS = 1024  # rows per tile of ``rowwise``: inner loops of 1024 x n_features values [rows]


def tile(row: np.ndarray) -> np.ndarray:
    """``row`` repeated ``TILE_ROWS`` times, flat: the second operand of ``rowwise``."""
    return np.tile(np.ascontiguousarray(row), TILE_ROWS)


def rowwise(op: np.ufunc, x: np.ndarray, t: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``op(x, row, out=out)`` for C-contiguous ``(n, k)`` arrays ``x`` and ``out`` (any
    ``n``), ``t = tile(row)``.

    numpy broadcasts a ``(k,)`` row over ``(n, k)`` rows with an inner loop of ``k`` values
    (14 features: a pass costs 3-7x a flat one); here whole tiles of rows are one long row
    ``(n // TILE_ROWS, TILE_ROWS k)``, and the rows left over one flat run of ``t``.
    """
    n, k = x.shape
    m, f = n - n % TILE_ROWS, t.size
    if m:
        op(x[:m].reshape(-1, f), t, out=out[:m].reshape(-1, f))
    if m < n:
        op(x[m:].reshape(-1), t[: (n - m) * k], out=out[m:].reshape(-1))
    return out


class Normalization:
    """``z = clip((x - mean) / sqrt(var + epsilon), -clip, clip)`` in float64, then float32.

    ``mean``, ``std = sqrt(var + epsilon)`` (float64, one entry per input) and ``clip`` are
    computed once; ``__call__`` applies them to a batch ``(n, n_in)`` or to one row.
    """

    RULE = "z = clip((x - mean) / sqrt(var + epsilon), -clip, clip) in float64, then float32"
    """The formula as written into ``manifest.policy.normalization.rule``."""

    def __init__(self, mean: Any, var: Any, epsilon: float, clip: float) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.sqrt(np.asarray(var, dtype=np.float64) + epsilon)
        self.clip = float(clip)
        self._tiles = (tile(self.mean), tile(self.std))  # for ``rowwise``

    @classmethod
    def from_spec(
        cls, spec: Mapping[str, Any], n_in: int | None = None, where: str = "policy.normalization"
    ) -> Normalization:
        """From ``{mean, var, epsilon, clip}`` (``manifest.policy.normalization``, or an
        ``agent.json``'s ``obs_norm``), checked: epsilon in [0, 1], clip >= 0, var >= 0, and
        one entry per input (``n_in``; any equal length when None)."""
        mean = np.asarray(_need(spec, "mean", where), dtype=np.float64)
        var = np.asarray(_need(spec, "var", where), dtype=np.float64)
        eps = _float(spec, "epsilon", where, 0.0, 1.0)
        clip = _float(spec, "clip", where, 0.0, math.inf)
        n = len(mean) if n_in is None and mean.ndim == 1 else n_in
        if mean.shape != (n,) or var.shape != (n,) or (var < 0).any():
            raise PacerError(
                f"{where}: mean {mean.shape} and var {var.shape} must be"
                f" ({n},) with var >= 0 (one entry per feature)"
            )
        return cls(mean, var, eps, clip)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The float32 policy input for rows ``x`` (float32 or float64; float64 arithmetic)."""
        x = np.asarray(x)
        return self.into(x, np.empty(x.shape), np.empty(x.shape, dtype=np.float32))

    def into(self, x: np.ndarray, z64: np.ndarray, z32: np.ndarray) -> np.ndarray:
        """The float32 policy input for rows ``x`` written into ``z32`` (float32), through
        ``z64`` (float64), both of ``x``'s shape: the one implementation (``__call__`` gives it
        fresh buffers; the MLP's block path its scratch). Returns ``z32``. C-contiguous
        blocks take ``rowwise``: the same operations on the same values, in long loops."""
        if x.ndim == 2 and x.flags.c_contiguous and z64.flags.c_contiguous:
            z64[...] = x  # float64 first: a mixed-type subtract casts in small buffers
            rowwise(np.subtract, z64, self._tiles[0], z64)
            rowwise(np.divide, z64, self._tiles[1], z64)
        else:
            np.subtract(x, self.mean, out=z64)
            np.divide(z64, self.std, out=z64)
        if x.ndim == 1:  # one row (the row path): two ufunc calls cost less than np.clip's
            np.maximum(z64, -self.clip, out=z64)  # Python wrapper; the same values
            np.minimum(z64, self.clip, out=z64)
        else:
            np.clip(z64, -self.clip, self.clip, out=z64)  # one pass: min(max(z, -clip), clip)
        z32[...] = z64
        return z32

    @property
    def box(self) -> tuple[list[float], list[float]]:
        """Per-input ``(low, high)`` of raw values that the clip leaves unchanged."""
        return (
            (self.mean - self.clip * self.std).tolist(),
            (self.mean + self.clip * self.std).tolist(),
        )
