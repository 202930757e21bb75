"""The ``Controller`` protocol: the one seam between policies and the simulator.

Baselines, SB3 policies and exported pacers all implement it, so one evaluation
harness compares them on identical scenarios and seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from pacegym.envs.core import PacingCore


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


@runtime_checkable
class Clairvoyant(Protocol):
    """A reference policy that reads the simulator itself (``baselines.oracle``).

    Contract: ``baselines.harness.run_episodes`` calls ``attach(core)`` right after
    ``reset(n)``, once the ``n`` new episodes of ``core`` are seeded and before the first
    ``act``. It may read ``core`` and step copies of it (``PacingCore.clone``); it must
    never step or modify ``core`` itself. Deployable policies never implement this.
    """

    def attach(self, core: PacingCore) -> None: ...
