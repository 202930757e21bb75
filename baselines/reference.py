"""The naive reference policy of the normalised score: one constant throttle per flight.

``ReferenceController`` sets, at the first tick of each episode, the throttle that spends
the budget exactly if the forecast is right (``capacity_throttle``: budget / the
forecast's full-throttle spend over the flight, in [1e-3, 1]) and holds it to the end.
It uses no feedback, no plan and no knowledge of delays: the zero of the normalised
score (``baselines.normalise``; 100 is the clairvoyant ``baselines.oracle``), in the
spirit of D4RL's random-policy reference, but a policy a pacing team would actually ship
on day one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pacegym.baselines.controllers import capacity_throttle
from pacegym.envs.spaces import OBS_INDEX

_T = OBS_INDEX["time_elapsed"]


@dataclass(frozen=True)
class ReferenceConfig:
    """No parameters: the reference is fixed by definition (docs/benchmark.md)."""

    def validate(self) -> None:
        """Nothing to check."""


class ReferenceController:
    """Constant throttle from the forecast, set at ``time_elapsed == 0`` (module docstring)."""

    kind: ClassVar[str] = "reference"

    def __init__(self, config: ReferenceConfig | None = None, name: str = "reference") -> None:
        self.config = config or ReferenceConfig()
        self.name = name
        self._p = np.zeros(0)

    def reset(self, n: int) -> None:
        self._p = np.full(n, np.nan)

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self._p.shape[0] != obs.shape[0]:
            self.reset(obs.shape[0])
        start = (obs[:, _T] <= 0.0) | np.isnan(self._p)
        self._p = np.where(start, capacity_throttle(obs), self._p)
        return self._p.copy()
