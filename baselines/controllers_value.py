"""Value-aware pacing from the observation alone: a dual-price threshold and Smart Pacing.

Both act on a value scenario's segments (``baselines.segments``: the observation's segment
block, ``rel`` = a segment's predicted value per price / the flight's average) and return
``(n, S)`` throttles, one per segment.

- ``DualPriceController``: enter a segment when its ``rel >= lambda_t``. The dual price
  ``lambda_t`` is set by a PI(D) loop against the plan (the PID rule of
  ``controllers_pid``, the same gains, feed-forward and anti-windup): the loop's output
  ``p_t`` is the share of the requests to enter, and ``lambda_t`` the ``rel`` at which the
  best segments hold that share (``segments.fill_top_down``). Spend behind plan raises
  ``p_t`` and lowers ``lambda_t``; ahead, the reverse. The soft edge: the marginal segment
  gets the fraction of its requests that reaches ``p_t`` exactly, so spend is continuous in
  the loop's output. ``lambda_min`` is a floor: segments below it are never entered.
  ``softness`` > 0 replaces the hard fill by ``min(1, c rel ** (1 / softness))`` with the
  same share ``p_t`` entered (``segment_pacer.fill_power``): more segments in part, so more
  and cheaper impressions (the best segments cost the most per impression, and a minute's
  few dear impressions are what bursts: docs/baselines.md). In the volume world (no
  segment block) it is its base PID: ``(n,)`` throttles ``p_t``.
- ``SmartPacingController``: Smart Pacing's layered throttle (Xu et al., KDD'15, Alg. 2
  "adjust pacing rates"): each segment (layer) keeps its own pacing rate, layers ranked by
  ``rel`` now (best first). Behind plan (``target - spent > deadband``), the best layer
  not at rate 1 is raised, ``r <- min(1, max(r, trial) (1 + rate))``, top-down, and once it
  is full the next layer gets the trial rate ``trial``; ahead of plan, the worst layer
  still served is lowered bottom-up, ``r <- r (1 - rate)``, dropped to 0 under ``trial``.
  The first tick fills the layers top-down to the forecast capacity (the PID's
  feed-forward) and gives the next layer the trial rate. It refuses a volume scenario.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from pacegym.agents.export.runtime.controllers import Rule
from pacegym.agents.export.runtime.segment_pacer import DUAL_PRICE_OWN, dual_price_act
from pacegym.agents.export.runtime.smart_pacing import SMART_PACING_OWN, smart_pacing_step
from pacegym.baselines.segments import (
    ValueController,
    fill_top_down,
    n_segments,
    rank,
    refuse_volume,
    segment_block,
    value_config,
)
from pacegym.envs.spaces import N_OBS, OBS_INDEX

DualPriceConfig = value_config(
    "dual_price",
    "DualPriceConfig",
    "Dual-price threshold throttle: the PID rule's fields (its output is the share of the"
    " requests entered, best predicted value per price first), the price floor and the"
    " fill's softness.",
    base="pid",
    own=DUAL_PRICE_OWN,
    module=__name__,
    defaults={"plan": "forecast"},
)

SmartPacingConfig = value_config(
    "smart_pacing",
    "SmartPacingConfig",
    "Smart Pacing's layered throttle: the plan fields of the rules, the frontier layer's"
    " relative change per tick, the trial rate and a deadband.",
    base="on_off",
    own=SMART_PACING_OWN,
    module=__name__,
    defaults={"plan": "forecast", "in_flight_weight": 1.0},
)


class DualPriceController(ValueController):
    """Enter segments with ``rel >= lambda_t``, ``lambda_t`` from a PI loop on the plan
    (module docstring). ``lam`` holds each campaign's last dual price ``(n,)``."""

    kind: ClassVar[str] = "dual_price"
    config_class = DualPriceConfig
    default_name = "dual-price"

    def __init__(self, config: Any = None, name: str | None = None) -> None:
        super().__init__(config, name)
        self.pid = Rule("pid", self.params, OBS_INDEX)
        self.lam = np.zeros(0)

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns: the PID's state cleared, no price yet."""
        self.pid.reset(n)
        self.lam = np.zeros(n)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """``(n, S)`` throttles (``(n,)``, the PID's, without segments)."""
        if n_segments(obs) == 0:
            return self.pid.act(obs)
        cfg = self.config
        th, self.lam = dual_price_act(self.pid, cfg.lambda_min, obs, N_OBS, cfg.softness)
        return th


class SmartPacingController(ValueController):
    """Per-segment pacing rates adjusted top-down / bottom-up by layer (module docstring):
    the runtime's ``smart_pacing_step`` (the exported pacer's arithmetic). ``state``
    ``(n, S + 1)`` is the rates then ``started`` (``runtime.smart_pacing``); a row whose
    ``time_elapsed`` is 0 starts again."""

    kind: ClassVar[str] = "smart_pacing"
    config_class = SmartPacingConfig
    default_name = "smart pacing"

    def __init__(self, config: Any = None, name: str | None = None) -> None:
        super().__init__(config, name)
        self.p = dataclasses.asdict(self.config)
        self.state = np.zeros((0, 0))

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns (their rates are set on the first tick)."""
        self.state = np.zeros((n, 0))

    @property
    def rates(self) -> np.ndarray:
        """``(n, S)`` each campaign's layer rates (a view of ``state``)."""
        return self.state[:, :-1]

    def act(self, obs: np.ndarray) -> np.ndarray:
        """``(n, S)`` throttles: the rates after this tick's adjustment (0 once spent)."""
        s = n_segments(obs)
        if s == 0:
            raise refuse_volume(self.kind)
        if self.state.shape != (obs.shape[0], s + 1):
            self.state = np.zeros((obs.shape[0], s + 1))
        share, rel, _ = segment_block(obs)
        segs = (share, rel, rank(rel))
        return smart_pacing_step(self.p, OBS_INDEX, obs, segs, self.state, fill_top_down)
