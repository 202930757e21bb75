"""The baseline rules, written once: their arithmetic (``Rule``), batched over campaigns.

``manifest.policy.controller`` is ``{"kind", "name", "params"}``; ``kind`` picks one of
the rules below (``on_off``, ``proportional``, ``pid``, ``exp_decay``) and ``params`` may
only set that kind's parameters (``rule_params.RULE_PARAMS``), so an artifact carries
numbers and choices, never code.

This module is the one implementation of the rules: ``baselines/`` runs ``Rule`` in
process behind its typed config dataclasses, and every exported ``pacer.py`` holds this
very text, so an exported baseline and the in-process one cannot drift apart. It
imports numpy and the standard library only (the plan shapes come from the sibling
``plans``), never the project.

Each rule computes its target from the observation:

- target share ``x*``: its own plan (``plans.plan_cumulative`` of ``time_elapsed``, or of
  ``forecast_elapsed`` for the ``forecast`` plan), or with ``plan = "observed"`` the
  env's plan as the observation reports it (``plan``), whatever its shape;
- spent share ``s = reported_spend + in_flight_weight x in_flight``: reported spend lags
  serving by the impression delay and the reporting latency; ``in_flight`` is the
  expected spend served but not yet counted, so ``in_flight_weight = 1`` tracks served
  spend (no lag), ``0`` the lagged report.

on/off and the proportional rules are stateless (the previous throttle is the
observation's ``last_throttle``); PID keeps per-row state (``Rule._pid``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .manifest import PacerError
from .plans import plan_cumulative
from .rule_params import check_params

FEATURES = (
    "time_elapsed",
    "plan",
    "reported_spend",
    "in_flight",
    "forecast_elapsed",
    "capacity_log10",
    "last_throttle",
    "serving_rate",
    "exhausted",
)
"""The observation features the rules read (looked up by name in the manifest)."""


def capacity_throttle(capacity_log10: np.ndarray) -> np.ndarray:
    """The throttle that spends the budget left evenly on the forecast traffic left
    (``10 ** -capacity_log10``), at most 1."""
    return np.minimum(10.0 ** (-np.asarray(capacity_log10, dtype=np.float64)), 1.0)


class Rule:
    """One baseline rule: ``reset(n)``, ``act(obs) -> (n,)`` float64 throttles (a
    ``Controller``), batched over rows (campaigns).

    ``obs`` is float32 ``(n, n_features)``; ``index`` maps the names of ``FEATURES`` to
    its columns; ``params`` holds every parameter of ``kind`` (checked: ``rule_problem``).
    State (``pid`` only): ``integral``, ``prev_error``, ``prev_time``, one entry per row.
    """

    def __init__(self, kind: str, params: Mapping[str, Any], index: Mapping[str, int]) -> None:
        self.kind = kind
        self.p = dict(params)
        self.i = {f: index[f] for f in FEATURES}
        self.reset(0)

    def reset(self, n: int) -> None:
        """Start ``n`` rows: clear the PID state (the other rules have none)."""
        if self.kind == "pid":
            self.integral = np.zeros(n)
            self.prev_error = np.zeros(n)
            self.prev_time = np.zeros(n)

    def reset_rows(self, rows: np.ndarray) -> None:
        """Start the rows ``rows`` again (as ``reset`` would), the others untouched."""
        if self.kind == "pid":
            for state in (self.integral, self.prev_error, self.prev_time):
                state[rows] = 0.0

    def _cumulative(self, time_share: np.ndarray, forecast_share: np.ndarray) -> np.ndarray:
        p = self.p
        x = forecast_share if p["plan"] == "forecast" else time_share
        return plan_cumulative(p["plan"], x, p["decay_rate"], p["early_close"])

    def _target(self, obs: np.ndarray) -> np.ndarray:
        """Planned cumulative spend share now, ``(n,)``."""
        if self.p["plan"] == "observed":
            return obs[:, self.i["plan"]].astype(np.float64)
        return self._cumulative(obs[:, self.i["time_elapsed"]], obs[:, self.i["forecast_elapsed"]])

    def _spent(self, obs: np.ndarray) -> np.ndarray:
        """Estimated spend share ``reported + in_flight_weight x in_flight``, ``(n,)``."""
        reported = obs[:, self.i["reported_spend"]].astype(np.float64)
        return reported + self.p["in_flight_weight"] * obs[:, self.i["in_flight"]]

    def _pace(self, obs: np.ndarray, h: float = 1e-3) -> np.ndarray:
        """Planned spend rate now in uniform-pace units (1 for a uniform plan), ``(n,)``."""
        t = obs[:, self.i["time_elapsed"]].astype(np.float64)
        t0 = np.minimum(t, 1.0 - h)
        return (self._cumulative(t0 + h, t0 + h) - self._cumulative(t0, t0)) / h

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Throttles of all rows (0 for a row whose budget is reported spent)."""
        if self.kind == "on_off":
            return self._on_off(obs)
        if self.kind == "pid":
            return self._pid(obs)
        return self._proportional(obs)

    def _on_off(self, obs: np.ndarray) -> np.ndarray:
        """Throttle 1 while ``spent < target``, else 0. With a lagged spend report it
        overshoots and then stops: the spikes the field reports."""
        on = self._spent(obs) < self._target(obs)
        return np.where(on & (obs[:, self.i["exhausted"]] < 0.5), 1.0, 0.0)

    def _proportional(self, obs: np.ndarray) -> np.ndarray:
        """LinkedIn's multiplicative update from the observed last throttle:
        ``p <- min(p_max, p (1 + rate))`` under plan by more than ``deadband``,
        ``p (1 - rate)`` over it, clipped to ``[p_min, p_max]``; above ``pace_limit`` x the
        plan's pace the throttle is cut in proportion; the first step of a flight starts
        at ``p_start`` (``start = fixed``) or the forecast capacity."""
        cfg, i = self.p, self.i
        last = obs[:, i["last_throttle"]].astype(np.float64)
        p = last
        err = self._target(obs) - self._spent(obs)
        up = np.minimum(p * (1.0 + cfg["rate"]), cfg["p_max"])
        down = p * (1.0 - cfg["rate"])
        p = np.where(err > cfg["deadband"], up, np.where(err < -cfg["deadband"], down, p))
        if cfg["pace_limit"] > 0.0:
            # surge guard: served spend shows a surge at once (reported spend ~15 min later)
            # [x uniform pace]; the limit is relative to the plan's own pace now
            rate = obs[:, i["serving_rate"]].astype(np.float64)
            limit = cfg["pace_limit"] * self._pace(obs)
            cut = last * limit / np.maximum(rate, 1e-12)
            p = np.where(rate > limit, np.minimum(p, cut), p)
        p = np.clip(p, cfg["p_min"], cfg["p_max"])
        if cfg["start"] == "capacity":
            first = capacity_throttle(obs[:, i["capacity_log10"]])
        else:
            first = np.full(p.shape, cfg["p_start"])
        start = obs[:, i["time_elapsed"]] <= 0.0
        p = np.where(start, np.clip(first, cfg["p_min"], cfg["p_max"]), p)
        return np.where(obs[:, i["exhausted"]] < 0.5, p, 0.0)

    def _pid(self, obs: np.ndarray) -> np.ndarray:
        """PID on the plan error in log-throttle space (the throttle spans three decades):
        ``u = u_ff + kp e + ki I + kd de/dt``, ``p = 10 ** clip(u, log10 p_min, log10 p_max)``
        with ``e = target - spent`` [share of budget], ``I`` its integral over the flight
        share ``dt`` elapsed between calls; ``u_ff = -capacity_log10`` (feedforward
        capacity) or ``log10 p_base``. Anti-windup: the integral is frozen while the output
        is saturated in the direction of the error and once the budget is reported spent,
        and ``|ki I|`` is clamped to ``i_limit`` decades. A row's state restarts when its
        ``time_elapsed`` is 0."""
        cfg, i = self.p, self.i
        n = obs.shape[0]
        if self.integral.shape[0] != n:
            self.reset(n)
        t = obs[:, i["time_elapsed"]].astype(np.float64)
        start = t <= 0.0
        self.integral[start] = 0.0
        self.prev_time[start] = 0.0
        err = self._target(obs) - self._spent(obs)
        self.prev_error[start] = err[start]
        dt = np.maximum(t - self.prev_time, 0.0)
        deriv = np.where(dt > 0.0, (err - self.prev_error) / np.maximum(dt, 1e-12), 0.0)
        if cfg["feedforward"] == "capacity":
            u_ff = -obs[:, i["capacity_log10"]].astype(np.float64)
        else:
            u_ff = np.full(n, math.log10(cfg["p_base"]))
        lo, hi = math.log10(cfg["p_min"]), math.log10(cfg["p_max"])
        exhausted = obs[:, i["exhausted"]] >= 0.5
        kp, ki, kd = cfg["kp"], cfg["ki"], cfg["kd"]
        # conditional integration: integrate unless it pushes a saturated output further
        u_try = u_ff + kp * err + ki * (self.integral + err * dt) + kd * deriv
        windup = ((u_try > hi) & (err > 0.0)) | ((u_try < lo) & (err < 0.0)) | exhausted
        self.integral = np.where(windup, self.integral, self.integral + err * dt)
        if ki > 0.0:
            lim = cfg["i_limit"] / ki
            np.clip(self.integral, -lim, lim, out=self.integral)
        u = u_ff + kp * err + ki * self.integral + kd * deriv
        self.prev_error = err
        self.prev_time = t
        p = 10.0 ** np.clip(u, lo, hi)
        return np.where(exhausted, 0.0, p)


def build_rule(ctrl: Mapping[str, Any], features: Sequence[str], where: str) -> Rule:
    """The ``Rule`` of ``manifest.<where>`` (``{"kind", "name", "params"}``), checked."""
    if not isinstance(ctrl, Mapping):
        raise PacerError(f"manifest field {where} must be an object")
    extra = sorted(set(ctrl) - {"kind", "name", "params"})
    if extra:
        raise PacerError(
            f"manifest field {where}.{extra[0]} is not allowed: allowed kind, name, params"
        )
    kind = ctrl.get("kind")
    params = check_params(kind, ctrl.get("params", {}), where)
    missing = [f for f in FEATURES if f not in features]
    if missing:
        raise PacerError(
            f"manifest field observation.features lacks {missing}, which rule {kind!r} reads"
        )
    return Rule(str(kind), params, {f: list(features).index(f) for f in FEATURES})
