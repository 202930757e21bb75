"""PID pacing controller on the plan error, in log-throttle space, with anti-windup.

The throttle must span three decades (a 100x surge needs p ~ 0.01), so the PID
output is ``log10 p``:

``u = u_ff + kp e + ki I + kd de/dt``, ``p = 10 ** clip(u, log10 p_min, log10 p_max)``

with ``e = target - spent`` [share of budget] (``baselines.controllers`` defines both),
``I = integral of e dt`` and ``dt`` the flight share elapsed between calls. The
feed-forward ``u_ff`` is ``-capacity_log10`` (the throttle that spends the budget left
evenly on the forecast traffic left) with ``feedforward = capacity``, else
``log10 p_base``.

Anti-windup: the integral is frozen while the output is saturated in the direction
of the error (conditional integration) and once the budget is reported spent, and
``|ki I|`` is clamped to ``i_limit`` decades.

State per campaign (cleared by ``reset(n)`` and for any row whose ``time_elapsed`` is 0):
``integral`` [share x flight], ``prev_error`` [share], ``prev_time`` [flight share].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pacegym.baselines.controllers import (
    _CAPACITY,
    _EXHAUSTED,
    _T,
    PlanTracking,
    check_choice,
    check_range,
    plan_target,
    spent_share,
)

FEEDFORWARD_MODES = ("capacity", "none")


@dataclass(frozen=True)
class PIDConfig(PlanTracking):
    """Gains in decades of throttle per share of budget (kp), per share x flight (ki),
    per share per flight (kd)."""

    in_flight_weight: float = 1.0  # [-] count served-but-not-reported spend (no lag)
    kp: float = 20.0  # [decades / share] in [0, 1e4]
    ki: float = 50.0  # [decades / (share x flight)] in [0, 1e5]
    kd: float = 0.0  # [decades / (share / flight)] in [0, 1e3]
    feedforward: str = "capacity"  # capacity | none
    p_base: float = 0.05  # [-] in [p_min, p_max] throttle at zero error (feedforward none)
    p_min: float = 1e-3  # [-] in [1e-4, 1] throttle floor while the budget is not spent
    p_max: float = 1.0  # [-] in [p_min, 1] throttle ceiling
    i_limit: float = 2.0  # [decades] in [0, 10] clamp of |ki x integral|

    def validate(self, kind: str = "pid") -> None:
        self._check_plan(kind)
        check_range(kind, "kp", self.kp, 0.0, 1e4)
        check_range(kind, "ki", self.ki, 0.0, 1e5)
        check_range(kind, "kd", self.kd, 0.0, 1e3)
        check_choice(kind, "feedforward", self.feedforward, FEEDFORWARD_MODES)
        check_range(kind, "p_min", self.p_min, 1e-4, 1.0)
        check_range(kind, "p_max", self.p_max, self.p_min, 1.0)
        check_range(kind, "p_base", self.p_base, self.p_min, self.p_max)
        check_range(kind, "i_limit", self.i_limit, 0.0, 10.0)


class PIDController:
    """PID on the plan error with conditional-integration anti-windup and clamps."""

    kind: ClassVar[str] = "pid"

    def __init__(self, config: PIDConfig | None = None, name: str = "PID") -> None:
        self.config = config or PIDConfig()
        self.config.validate(self.kind)
        self.name = name
        self.reset(0)

    def reset(self, n: int) -> None:
        """Clear the integral, previous error and previous time of ``n`` campaigns."""
        self.integral = np.zeros(n)
        self.prev_error = np.zeros(n)
        self.prev_time = np.zeros(n)

    def act(self, obs: np.ndarray) -> np.ndarray:
        cfg = self.config
        n = obs.shape[0]
        if self.integral.shape[0] != n:
            self.reset(n)
        t = obs[:, _T].astype(np.float64)
        start = t <= 0.0
        self.integral[start] = 0.0
        self.prev_time[start] = 0.0
        err = plan_target(cfg, obs) - spent_share(cfg, obs)
        self.prev_error[start] = err[start]
        dt = np.maximum(t - self.prev_time, 0.0)
        deriv = np.where(dt > 0.0, (err - self.prev_error) / np.maximum(dt, 1e-12), 0.0)
        if cfg.feedforward == "capacity":
            u_ff = -obs[:, _CAPACITY].astype(np.float64)
        else:
            u_ff = np.full(n, math.log10(cfg.p_base))
        lo, hi = math.log10(cfg.p_min), math.log10(cfg.p_max)
        exhausted = obs[:, _EXHAUSTED] >= 0.5
        # conditional integration: integrate unless it pushes a saturated output further
        u_try = u_ff + cfg.kp * err + cfg.ki * (self.integral + err * dt) + cfg.kd * deriv
        windup = ((u_try > hi) & (err > 0.0)) | ((u_try < lo) & (err < 0.0)) | exhausted
        self.integral = np.where(windup, self.integral, self.integral + err * dt)
        if cfg.ki > 0.0:
            lim = cfg.i_limit / cfg.ki
            np.clip(self.integral, -lim, lim, out=self.integral)
        u = u_ff + cfg.kp * err + cfg.ki * self.integral + cfg.kd * deriv
        self.prev_error = err
        self.prev_time = t
        p = 10.0 ** np.clip(u, lo, hi)
        return np.where(exhausted, 0.0, p)
