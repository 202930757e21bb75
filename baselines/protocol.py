"""The ``Controller`` protocol: the one seam between policies and the simulator.

Baselines, SB3 policies and exported pacers all implement it, so one evaluation
harness compares them on identical scenarios and seeds.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Controller(Protocol):
    """A batched pacing policy.

    Contract:
    - ``reset(n)`` starts episodes for ``n`` campaigns and clears any internal state;
    - ``act(obs)`` takes a ``(n, N_OBS)`` float32 batch of observations in the order of
      ``envs.spaces.OBS_NAMES`` and returns ``(n,)`` float64 throttles in [0, 1]. It must
      not modify ``obs``, and must return finite values (the core replaces non-finite
      ones by 0 anyway). Rows of finished campaigns may be ignored.
    """

    name: str

    def reset(self, n: int) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...
