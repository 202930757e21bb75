"""The baseline rules as data: a known rule per kind, parameters checked from the manifest.

``manifest.policy.controller`` is ``{"kind", "name", "params"}``; ``kind`` picks one of
the rules below (``on_off``, ``proportional``, ``pid``, ``exp_decay``) and ``params`` may
only set that kind's parameters (``RULE_PARAMS``: default, type and range of each), so an
artifact carries numbers and choices, never code. The arithmetic is the project's
baselines (``baselines/controllers.py``, ``controllers_pid.py``, ``envs/plans.py``)
written again with numpy alone, operation for operation: the tests in
``tests/agents/export/runtime/test_controllers.py`` hold the two bit-identical on
recorded observations, for the tuned parameters and for random valid ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .manifest import PacerError

_PLAN = {
    "plan": ("uniform", ("uniform", "forecast", "exp_decay", "observed")),
    "decay_rate": (1.5, (0.0, 50.0)),
    "early_close": (0.0, (0.0, 0.9)),
    "in_flight_weight": (0.0, (0.0, 1.0)),
}
_PROPORTIONAL = {
    **_PLAN,
    "rate": (0.1, (0.0, 1.0)),  # (0, 1]: checked below
    "p_start": (0.01, (1e-4, 1.0)),
    "start": ("capacity", ("fixed", "capacity")),
    "p_min": (1e-3, (1e-4, 1.0)),
    "p_max": (1.0, (1e-4, 1.0)),
    "deadband": (0.0, (0.0, 1.0)),
    "pace_limit": (1.25, (0.0, 1e4)),  # 0 (off) or [1, 1e4]: checked below
}
RULE_PARAMS: dict[str, dict[str, tuple[Any, tuple[Any, ...]]]] = {
    "on_off": dict(_PLAN),
    "proportional": dict(_PROPORTIONAL),
    "exp_decay": {
        **_PROPORTIONAL,
        "plan": ("exp_decay", ("exp_decay",)),
        "decay_rate": (2.0, (0.0, 50.0)),
    },
    "pid": {
        **_PLAN,
        "in_flight_weight": (1.0, (0.0, 1.0)),
        "kp": (20.0, (0.0, 1e4)),
        "ki": (50.0, (0.0, 1e5)),
        "kd": (0.0, (0.0, 1e3)),
        "feedforward": ("capacity", ("capacity", "none")),
        "p_base": (0.05, (1e-4, 1.0)),
        "p_min": (1e-3, (1e-4, 1.0)),
        "p_max": (1.0, (1e-4, 1.0)),
        "i_limit": (2.0, (0.0, 10.0)),
    },
}
"""kind -> {param: (default, (low, high) for numbers | allowed choices for strings)}.

The same defaults and ranges as the baselines' config dataclasses (tested); cross-field
rules: ``p_min <= p_start, p_base <= p_max``, ``rate > 0``, ``pace_limit`` 0 or >= 1,
``exp_decay``'s ``decay_rate > 0``."""
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


def check_params(kind: Any, params: Any, where: str = "policy.controller") -> dict[str, Any]:
    """The full parameter dict of rule ``kind`` (defaults filled in), or ``PacerError``
    naming ``<where>.params.<key>``, the value and the allowed range."""
    if kind not in RULE_PARAMS:
        raise PacerError(f"manifest field {where}.kind = {kind!r}: allowed {sorted(RULE_PARAMS)}")
    if not isinstance(params, Mapping):
        raise PacerError(f"manifest field {where}.params must be an object, got {params!r}")
    table = RULE_PARAMS[kind]
    unknown = sorted(set(params) - set(table))
    if unknown:
        raise PacerError(
            f"manifest field {where}.params.{unknown[0]} is not a parameter of rule {kind!r}:"
            f" allowed {sorted(table)}"
        )
    out: dict[str, Any] = {}
    for key, (default, allowed) in table.items():
        v = params.get(key, default)
        if isinstance(default, str):
            if v not in allowed:
                raise PacerError(
                    f"manifest field {where}.params.{key} = {v!r}: allowed {list(allowed)}"
                )
        elif (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or not (allowed[0] <= v <= allowed[1])
        ):
            raise PacerError(
                f"manifest field {where}.params.{key} = {v!r}: allowed a number in"
                f" [{allowed[0]:g}, {allowed[1]:g}]"
            )
        out[key] = v if isinstance(v, str) else float(v)
    _check_cross(kind, out, f"{where}.params")
    return out


def _check_cross(kind: str, p: dict[str, Any], where: str) -> None:
    def refuse(key: str, rule: str) -> None:
        raise PacerError(f"manifest field {where}.{key} = {p[key]!r}: allowed {rule}")

    if "p_max" in p and p["p_max"] < p["p_min"]:
        refuse("p_max", f"[p_min = {p['p_min']:g}, 1]")
    for key in ("p_start", "p_base"):
        if key in p and not p["p_min"] <= p[key] <= p["p_max"]:
            refuse(key, f"[p_min = {p['p_min']:g}, p_max = {p['p_max']:g}]")
    if "rate" in p and not p["rate"] > 0.0:
        refuse("rate", "(0, 1]")
    if "pace_limit" in p and p["pace_limit"] != 0.0 and p["pace_limit"] < 1.0:
        refuse("pace_limit", "0 (off) or [1, 10000]")
    if p.get("pace_limit", 0.0) != 0.0 and p.get("plan") == "observed":
        refuse("pace_limit", "0 (off) with plan 'observed'")
    if kind == "exp_decay" and not p["decay_rate"] > 0.0:
        refuse("decay_rate", "(0, 50]")


def shape(kind: str, x: np.ndarray, rate: float) -> np.ndarray:
    """Cumulative share of a plan shape at basis position ``x`` (``envs.plans.shape``)."""
    x = np.clip(x, 0.0, 1.0)
    if kind == "exp_decay" and rate > 1e-9:
        return -np.expm1(-rate * x) / -np.expm1(-rate)
    return x


class Rule:
    """One baseline rule: ``reset(n)``, ``act(obs) -> (n,)`` throttles (a ``Controller``).

    ``obs`` is float32 ``(n, n_features)`` in manifest order; ``index`` maps the names of
    ``FEATURES`` to columns. State (``pid`` only): ``integral``, ``prev_error``,
    ``prev_time``, one entry per row, as in ``baselines.controllers_pid``.
    """

    def __init__(self, kind: str, params: Mapping[str, Any], index: Mapping[str, int]) -> None:
        self.kind = kind
        self.p = dict(params)
        self.i = {f: index[f] for f in FEATURES}
        self.reset(0)

    def reset(self, n: int) -> None:
        if self.kind == "pid":
            self.integral = np.zeros(n)
            self.prev_error = np.zeros(n)
            self.prev_time = np.zeros(n)

    def _cumulative(self, time_share: np.ndarray, forecast_share: np.ndarray) -> np.ndarray:
        p = self.p
        x = np.asarray(forecast_share if p["plan"] == "forecast" else time_share, dtype=float)
        if p["early_close"] > 0.0:
            x = x / (1.0 - p["early_close"])
        return shape(p["plan"], x, p["decay_rate"])

    def _target(self, obs: np.ndarray) -> np.ndarray:
        if self.p["plan"] == "observed":
            return obs[:, self.i["plan"]].astype(np.float64)
        return self._cumulative(obs[:, self.i["time_elapsed"]], obs[:, self.i["forecast_elapsed"]])

    def _spent(self, obs: np.ndarray) -> np.ndarray:
        reported = obs[:, self.i["reported_spend"]].astype(np.float64)
        return reported + self.p["in_flight_weight"] * obs[:, self.i["in_flight"]]

    def _pace(self, obs: np.ndarray, h: float = 1e-3) -> np.ndarray:
        t = obs[:, self.i["time_elapsed"]].astype(np.float64)
        t0 = np.minimum(t, 1.0 - h)
        return (self._cumulative(t0 + h, t0 + h) - self._cumulative(t0, t0)) / h

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.kind == "on_off":
            on = self._spent(obs) < self._target(obs)
            return np.where(on & (obs[:, self.i["exhausted"]] < 0.5), 1.0, 0.0)
        if self.kind == "pid":
            return self._pid(obs)
        return self._proportional(obs)

    def _proportional(self, obs: np.ndarray) -> np.ndarray:
        cfg, i = self.p, self.i
        last = obs[:, i["last_throttle"]].astype(np.float64)
        p = last
        err = self._target(obs) - self._spent(obs)
        up = np.minimum(p * (1.0 + cfg["rate"]), cfg["p_max"])
        down = p * (1.0 - cfg["rate"])
        p = np.where(err > cfg["deadband"], up, np.where(err < -cfg["deadband"], down, p))
        if cfg["pace_limit"] > 0.0:
            rate = obs[:, i["serving_rate"]].astype(np.float64)
            limit = cfg["pace_limit"] * self._pace(obs)
            cut = last * limit / np.maximum(rate, 1e-12)
            p = np.where(rate > limit, np.minimum(p, cut), p)
        p = np.clip(p, cfg["p_min"], cfg["p_max"])
        if cfg["start"] == "capacity":
            first = np.minimum(10.0 ** (-obs[:, i["capacity_log10"]].astype(np.float64)), 1.0)
        else:
            first = np.full(p.shape, cfg["p_start"])
        p = np.where(
            obs[:, i["time_elapsed"]] <= 0.0, np.clip(first, cfg["p_min"], cfg["p_max"]), p
        )
        return np.where(obs[:, i["exhausted"]] < 0.5, p, 0.0)

    def _pid(self, obs: np.ndarray) -> np.ndarray:
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
