"""PID pacing controller on the plan error, in log-throttle space, with anti-windup.

The throttle must span three decades (a 100x surge needs p ~ 0.01), so the PID output
is ``log10 p``: ``u = u_ff + kp e + ki I + kd de/dt``, ``p = 10 ** clip(u, log10 p_min,
log10 p_max)``, with ``e = target - spent`` [share of budget] and a feed-forward
``u_ff`` from the forecast capacity (``feedforward = capacity``) or ``log10 p_base``.
The arithmetic, its anti-windup and its per-campaign state (``integral``,
``prev_error``, ``prev_time``, cleared by ``reset(n)`` and for any row whose
``time_elapsed`` is 0) are the runtime rule's (``runtime.controllers.Rule._pid``).
"""

from __future__ import annotations

from typing import ClassVar

from pacegym.baselines.controllers import RuleController, rule_config

PIDConfig = rule_config(
    "pid",
    "PIDConfig",
    "Gains in decades of throttle per share of budget (kp), per share x flight (ki), per"
    " share per flight (kd); counts served-but-not-reported spend by default.",
    module=__name__,
)


class PIDController(RuleController):
    """PID on the plan error with conditional-integration anti-windup and clamps; its
    per-campaign state is ``rule.integral``, ``rule.prev_error``, ``rule.prev_time``."""

    kind: ClassVar[str] = "pid"
    config_class = PIDConfig
    default_name = "PID"
