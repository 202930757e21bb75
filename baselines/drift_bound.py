"""What knowing a value scenario's hidden channel drift is worth to a rule: a clairvoyant bound.

In ``suite/value_drift`` each episode draws a hidden value factor per channel
(``core.drift``, shape ``(n, channels)``, mean 1; ``envs.core_value``): the
observation's ``value_per_price[s]`` is the predicted value, which the drift moves.
``TrueDrift(inner)`` reads that drift (``Clairvoyant.attach``) and multiplies every
segment's ``value_per_price`` column by its channel's drift before ``inner`` (a
value-aware controller, e.g. the tuned dual price) acts on the observation.

No causal policy knows the drift; one that learns it from realised conversions
(``agents.feedback``) can at best approach this. So ``TrueDrift``'s paired difference to
``inner`` on the same episodes is the ceiling of what any drift estimate is worth to that
rule, and it bounds what a learned policy gains by reading the drift (issue 23):
``pacegym-benchmark suite=value`` runs it beside the agents (``benchmark.drift_bound``)
as a row of type ``ROLE``, measured against the same comparators, never crowned, tuned
or exported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pacegym.envs.spaces import N_OBS, SEGMENT_FEATURES

ROLE = "bound"
"""The leaderboard type of a clairvoyant bound's row (not ``agent`` nor ``baseline``)."""
VALUE_COLUMN = [f.name for f in SEGMENT_FEATURES].index("value_per_price")
"""The predicted value's column within a segment's block of the observation."""


def scale_value(obs: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """A copy of a value scenario's observation ``obs`` ``(n, N_OBS + 3 S)`` whose every
    segment's ``value_per_price`` column is multiplied by ``factor`` ``(n, S)``."""
    scaled = np.array(obs, copy=True)
    scaled[:, N_OBS + VALUE_COLUMN :: len(SEGMENT_FEATURES)] *= factor
    return scaled


class TrueDrift:
    """``inner`` acting on the predicted value times the episode's true channel drift.

    Contract: ``attach(core)`` after ``reset(n)`` (``baselines.harness``), then ``act``
    as ``inner`` does; ``inner``'s own ``attach`` (a clairvoyant or LP-splitting inner) is
    called too. Refuses a volume scenario (no segments, no drift) at ``attach``.
    """

    role = ROLE

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.kind = str(getattr(inner, "kind", type(inner).__name__))
        self.name = f"{getattr(inner, 'name', self.kind)} x true drift"
        self._factor: np.ndarray | None = None

    def reset(self, n: int) -> None:
        self.inner.reset(n)
        self._factor = None

    def attach(self, core: Any) -> None:
        if not getattr(core, "value_on", False):
            raise ValueError(
                f"TrueDrift({self.kind}) on scenario {core.scenario.name!r}: needs a value "
                "scenario (value.channels), whose channels drift"
            )
        # (n, S): each segment's channel's drift, fixed for the episode
        self._factor = np.asarray(core.drift)[:, np.asarray(core.tables.channel)]
        if hasattr(self.inner, "attach"):
            self.inner.attach(core)

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self._factor is None:
            raise RuntimeError("TrueDrift.act before attach(core): run it through the harness")
        return self.inner.act(scale_value(obs, self._factor))
