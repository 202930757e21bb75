"""One campaign through a baseline rule (``controllers.Rule``) in Python floats: the latency path.

``Rule.act`` runs about forty numpy calls whatever the batch; on one campaign each costs
a microsecond of overhead. ``RowRule.act`` computes the same row in Python floats, equal
bit for bit to ``Rule.act`` on that row (``tests/agents/export/runtime/test_rule_row.py``
checks every kind on recorded and random rows):

- arithmetic (``+ - * /``, comparisons, min and max of finite values) is IEEE in both;
- where numpy computes in float32 (a Python float times a float32 column: ``in_flight_weight
  x in_flight``) the row rounds to float32 the same way (``_f32``);
- transcendental functions (``10 **``, ``expm1`` of the plan shapes) go through the same
  numpy ufuncs on a one-element array, so the same (SIMD) kernels compute them.

The PID state is ``Rule``'s own arrays, updated at the row's index.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence

import numpy as np

from .controllers import Rule
from .plans import plan_cumulative

_F32 = struct.Struct("f")


def _f32(v: float) -> float:
    """``v`` rounded to float32 (to nearest, as numpy's cast), as a Python float."""
    try:
        return _F32.unpack(_F32.pack(v))[0]
    except OverflowError:  # beyond float32's range: numpy rounds it to +-inf
        return float(np.float32(v))


_TEN = np.array(10.0)  # a 0-d float64 array: the ufunc converts one operand less [-]
_POWER = np.power


def pow10(u: float) -> float:
    """``10.0 ** u`` by numpy's float64 power ufunc (the batch path's kernel: a Python
    float takes the same ufunc loop as an array; Python's own ``**`` may differ by 1 ulp)."""
    return float(_POWER(_TEN, u))


class RowRule:
    """``rule.act`` for one row at a time (see the module docstring)."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        p = rule.p
        self.kind = rule.kind
        self.i = rule.i
        self.w_f32 = _f32(p["in_flight_weight"])
        self.plain_plan = p["plan"] in ("uniform", "forecast") or (
            p["plan"] == "exp_decay" and p["decay_rate"] <= 1e-9
        )
        self._basis = self.i["forecast_elapsed" if p["plan"] == "forecast" else "time_elapsed"]
        self._observed = p["plan"] == "observed"
        self._early_close = p["early_close"]
        self._spend_cols = (self.i["reported_spend"], self.i["in_flight"])
        self._pid_cols = (self.i["time_elapsed"], self.i["capacity_log10"], self.i["exhausted"])
        # the target of a plain plan, inlined by ``_pid``: column, then the early-close scale
        # (None: ``_target``); x / (1 - e) only where e > 0, as ``_cum`` divides
        plain = self.plain_plan and not self._observed
        self._plain_target = (self._basis, self._early_close) if plain else None
        if self.kind == "pid":  # the parameters as Python floats, the logs taken once
            self._pid_cfg = (
                p["kp"],
                p["ki"],
                p["kd"],
                math.log10(p["p_min"]),
                math.log10(p["p_max"]),
                None if p["feedforward"] == "capacity" else math.log10(p["p_base"]),
                p["i_limit"] / p["ki"] if p["ki"] > 0.0 else math.inf,
            )

    def begin(self, n: int) -> None:
        """A call of ``n`` rows starts: the state is sized to it, as ``Rule.act`` sizes it."""
        rule = self.rule
        if self.kind == "pid" and rule.integral.shape[0] != n:
            rule.reset(n)

    def _cum(self, x: float) -> float:
        """``plans.plan_cumulative`` of one basis position."""
        if not self.plain_plan:
            p = self.rule.p
            return float(
                plan_cumulative(p["plan"], np.array([x]), p["decay_rate"], p["early_close"])[0]
            )
        if self._early_close > 0.0:
            x = x / (1.0 - self._early_close)
        return min(max(x, 0.0), 1.0)

    def _target(self, row: Sequence[float]) -> float:
        if self._observed:
            return row[self.i["plan"]]
        return self._cum(row[self._basis])

    def _spent(self, row: Sequence[float]) -> float:
        reported, in_flight = self._spend_cols
        return row[reported] + _f32(self.w_f32 * row[in_flight])

    def act(self, row: Sequence[float], r: int) -> float:
        """The throttle of ``row`` (float32 values as Python floats), row ``r`` of the state."""
        if self.kind == "on_off":
            on = self._spent(row) < self._target(row)
            return 1.0 if on and row[self.i["exhausted"]] < 0.5 else 0.0
        if self.kind == "pid":
            return self._pid(row, r)
        return self._proportional(row)

    @property
    def step(self) -> Callable[[Sequence[float], int], float]:
        """``act`` as the kind's own method, for callers that bind it once (PID: ``_pid``)."""
        return self._pid if self.kind == "pid" else self.act

    def _pace(self, t: float, h: float = 1e-3) -> float:
        t0 = min(t, 1.0 - h)
        return (self._cum(t0 + h) - self._cum(t0)) / h

    def _proportional(self, row: Sequence[float]) -> float:
        cfg, i = self.rule.p, self.i
        last = row[i["last_throttle"]]
        p = last
        err = self._target(row) - self._spent(row)
        if err > cfg["deadband"]:
            p = min(p * (1.0 + cfg["rate"]), cfg["p_max"])
        elif err < -cfg["deadband"]:
            p = p * (1.0 - cfg["rate"])
        if cfg["pace_limit"] > 0.0:
            rate = row[i["serving_rate"]]
            limit = cfg["pace_limit"] * self._pace(row[i["time_elapsed"]])
            if rate > limit:
                p = min(p, last * limit / max(rate, 1e-12))
        p = min(max(p, cfg["p_min"]), cfg["p_max"])
        if row[i["time_elapsed"]] <= 0.0:
            if cfg["start"] == "capacity":
                first = min(pow10(-row[i["capacity_log10"]]), 1.0)
            else:
                first = cfg["p_start"]
            p = min(max(first, cfg["p_min"]), cfg["p_max"])
        return p if row[i["exhausted"]] < 0.5 else 0.0

    def _pid(self, row: Sequence[float], r: int) -> float:
        kp, ki, kd, lo, hi, u_base, lim = self._pid_cfg
        c_time, c_capacity, c_exhausted = self._pid_cols
        rule = self.rule
        t = row[c_time]
        if self._plain_target is None:
            target = self._target(row)
        else:  # ``_cum`` of a plain plan, inline
            c_basis, early = self._plain_target
            target = row[c_basis] if early <= 0.0 else row[c_basis] / (1.0 - early)
            target = min(max(target, 0.0), 1.0)
        reported, in_flight = self._spend_cols
        err = target - (row[reported] + _f32(self.w_f32 * row[in_flight]))  # ``_spent``
        if t <= 0.0:  # the row starts again (``Rule._pid``: state cleared, error kept)
            integral = prev_t = 0.0
            prev_err = err
        else:
            integral, prev_t = rule.integral.item(r), rule.prev_time.item(r)
            prev_err = rule.prev_error.item(r)
        dt = max(t - prev_t, 0.0)
        deriv = (err - prev_err) / max(dt, 1e-12) if dt > 0.0 else 0.0
        u_ff = -row[c_capacity] if u_base is None else u_base
        exhausted = row[c_exhausted] >= 0.5
        u_try = u_ff + kp * err + ki * (integral + err * dt) + kd * deriv
        windup = (u_try > hi and err > 0.0) or (u_try < lo and err < 0.0) or exhausted
        if not windup:
            integral = integral + err * dt
        if ki > 0.0:
            integral = min(max(integral, -lim), lim)
        u = u_ff + kp * err + ki * integral + kd * deriv
        rule.integral[r], rule.prev_error[r], rule.prev_time[r] = integral, err, t
        return 0.0 if exhausted else float(_POWER(_TEN, min(max(u, lo), hi)))  # ``pow10``
