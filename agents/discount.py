"""One discount horizon in flight shares: ``train.discount: flight`` (PPO and A2C).

SB3 discounts every env-step alike (``gamma``). A 1-hour flight is 240 ticks and a 3-day
flight 17,280, so with ``gamma = 0.999`` (a horizon of about 1,000 ticks) a short flight
sees its end from every tick while a long flight's first 16,000 ticks do not see theirs:
under-delivery, settled only as the flight runs out, is invisible where it is caused.
Measured on the generalist (docs/training.md, "The generalist"), it did not help: the
24-h and 3-day flights fell apart sooner than with one ``gamma`` (the variance of their
long returns, not the horizon, is what hurts them). It stays an option, off by default.

``FlightDiscountBuffer`` discounts campaign ``i`` with ``gamma ** (REFERENCE_TICKS /
ticks_i)``: every flight gets the horizon of a 1-hour flight at ``gamma``, measured in
shares of its own length (0.999 on 240 ticks, 0.99996 on 5,760). It is SB3's
``RolloutBuffer`` with ``gamma`` an array over the campaigns (SB3's GAE recursion
broadcasts it); ``flight_scales`` gives the exponents from the scenarios' nominal flight
lengths (the middle of a ``time.flight_min`` range).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.buffers import RolloutBuffer

from pacegym.agents.vec_env import REFERENCE_TICKS
from pacegym.envs.mixture import split_rows
from pacegym.envs.params import ScenarioParams, bounds

DISCOUNT_ALGOS = ("ppo", "a2c")
"""Algorithms ``train.discount: flight`` applies to (SB3's on-policy ``RolloutBuffer``)."""


def flight_scales(scenarios: Sequence[ScenarioParams], n_envs: int) -> list[float]:
    """``REFERENCE_TICKS / nominal flight ticks`` per campaign (the mixture's blocks)."""
    out = np.empty(n_envs)
    for sc, block in zip(scenarios, split_rows(n_envs, len(scenarios)), strict=True):
        lo, hi = bounds(sc.time.flight_min)
        ticks = 0.5 * (lo + hi) * 60.0 / sc.time.tick_s
        out[block] = REFERENCE_TICKS / ticks
    return out.tolist()


class FlightDiscountBuffer(RolloutBuffer):
    """``RolloutBuffer`` discounting campaign ``i`` by ``gamma ** scales[i]`` (module docstring)."""

    def __init__(self, *args: Any, scales: Sequence[float] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if scales is None:
            return
        s = np.asarray(scales, dtype=np.float64).reshape(-1)
        if s.shape[0] != self.n_envs or not np.all(np.isfinite(s) & (s > 0)):
            raise ValueError(
                f"scales = {s.tolist()[:4]}...: allowed one finite number > 0 per env ({self.n_envs})"
            )
        self.gamma = (float(self.gamma) ** s).astype(np.float32)  # type: ignore[assignment]
