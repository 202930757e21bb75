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

from typing import Any, ClassVar

import numpy as np

from pacegym.agents.export.runtime.controllers import Rule
from pacegym.agents.export.runtime.rule_params import RuleParam
from pacegym.agents.export.runtime.segment_pacer import DUAL_PRICE_OWN, dual_price_act
from pacegym.baselines.controllers import capacity_throttle
from pacegym.baselines.segments import (
    ValueController,
    fill_top_down,
    n_segments,
    plan_error,
    rank,
    refuse_volume,
    segment_block,
    value_config,
)
from pacegym.envs.spaces import N_OBS, OBS_INDEX

_EXHAUSTED = OBS_INDEX["exhausted"]
_ELAPSED = OBS_INDEX["time_elapsed"]

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
    own={
        "rate": RuleParam(
            0.02, "-", "relative change of the frontier layer per tick", low_open=True
        ),
        "trial": RuleParam(0.01, "-", "rate of the next layer once one is full", low=1e-4),
        "deadband": RuleParam(0.0, "share of budget", "no change while |target - spent| is within"),
    },
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
    """Per-segment pacing rates adjusted top-down / bottom-up by layer (module docstring);
    ``rates`` ``(n, S)`` is the state, restarted for a row whose ``time_elapsed`` is 0."""

    kind: ClassVar[str] = "smart_pacing"
    config_class = SmartPacingConfig
    default_name = "smart pacing"

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns (their rates are set on the first tick)."""
        self.rates = np.zeros((n, 0))

    def _start(self, obs: np.ndarray, rows: np.ndarray) -> None:
        share, rel, _ = segment_block(obs[rows])
        r = fill_top_down(rel, share, capacity_throttle(obs[rows]))
        self.rates[rows] = self._trial_next(r, rank(rel))

    def _trial_next(self, r: np.ndarray, order: np.ndarray) -> np.ndarray:
        """``r`` with the best layer not full at least at the trial rate (Alg. 2's trial)."""
        ranked = np.take_along_axis(r, order, axis=1)
        open_ = ranked < 1.0
        j = np.argmax(open_, axis=1)
        rows = np.flatnonzero(open_.any(axis=1))
        ranked[rows, j[rows]] = np.maximum(ranked[rows, j[rows]], self.config.trial)
        out = np.empty_like(ranked)
        np.put_along_axis(out, order, ranked, axis=1)
        return out

    def act(self, obs: np.ndarray) -> np.ndarray:
        """``(n, S)`` throttles: the rates after this tick's adjustment (0 once spent)."""
        s = n_segments(obs)
        if s == 0:
            raise refuse_volume(self.kind)
        n, cfg = obs.shape[0], self.config
        if self.rates.shape != (n, s):
            self.rates = np.zeros((n, s))
            self._start(obs, np.arange(n))
        else:
            start = np.flatnonzero(obs[:, _ELAPSED] <= 0.0)
            if start.size:
                self._start(obs, start)
        _, rel, _ = segment_block(obs)
        order = rank(rel)
        ranked = np.take_along_axis(self.rates, order, axis=1)
        err = plan_error(self.params, obs)
        idx = np.arange(n)
        # behind plan: raise the best layer not full (top-down)
        up = (err > cfg.deadband) & (ranked < 1.0).any(axis=1)
        j = np.argmax(ranked < 1.0, axis=1)
        ranked[idx[up], j[up]] = np.minimum(
            1.0, np.maximum(ranked[idx[up], j[up]], cfg.trial) * (1.0 + cfg.rate)
        )
        # ahead of plan: lower the worst layer served (bottom-up), dropped under the trial rate
        down = (err < -cfg.deadband) & (ranked > 0.0).any(axis=1)
        k = s - 1 - np.argmax(ranked[:, ::-1] > 0.0, axis=1)
        low = ranked[idx[down], k[down]] * (1.0 - min(cfg.rate, 1.0))
        ranked[idx[down], k[down]] = np.where(low < cfg.trial, 0.0, low)
        np.put_along_axis(self.rates, order, ranked, axis=1)
        self.rates[up] = self._trial_next(self.rates[up], order[up])
        exhausted = obs[:, _EXHAUSTED] >= 0.5
        return np.where(exhausted[:, None], 0.0, self.rates)
