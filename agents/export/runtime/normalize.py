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
        fresh buffers; the MLP's block path its scratch). Returns ``z32``."""
        np.subtract(x, self.mean, out=z64)
        z64 /= self.std
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
