"""The baseline rules' parameters, written once: one table of name, default, unit and
allowed values per rule kind (``RULE_PARAMS``), and the one check of a parameter set
(``rule_problem``).

``baselines/`` builds its typed config dataclasses from this table (fields, defaults,
units) and refuses with ``rule_problem`` in its own words (``controller.params.<key>``);
the runtime refuses a manifest's ``policy.controller.params`` with ``check_params``
(``manifest field ...``). Numpy-free, standard library only, no import from the project.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .manifest import PacerError
from .plans import PLAN_SHAPES


@dataclass(frozen=True)
class RuleParam:
    """One rule parameter: its default, its unit and the values allowed (``rule_problem``).

    Numbers must be finite ints or floats (not bools) in ``[low, high]`` (``(low, high]``
    with ``low_open``), or equal ``off``; ``at_least`` / ``at_most`` name parameters that
    bound this one too; ``own_plan``: only ``off`` is allowed with ``plan = "observed"``.
    Strings must be one of ``choices``.
    """

    default: float | str
    unit: str  # as the docs write it in brackets: "-", "1/flight", "share of budget"
    doc: str
    low: float = 0.0
    high: float = 1.0
    low_open: bool = False
    at_least: str = ""
    at_most: str = ""
    off: float | None = None
    own_plan: bool = False
    choices: tuple[str, ...] = ()

    def accepts(self, value: Any) -> bool:
        """``value`` is allowed on its own (before the bounds set by other parameters)."""
        if self.choices:
            return isinstance(value, str) and value in self.choices
        if self.off is not None and in_interval(value, self.off, self.off):
            return True
        return in_interval(value, self.low, self.high, self.low_open)

    def allowed(self, params: Mapping[str, Any] | None = None) -> str:
        """The allowed values in words; with ``params``, bounds by other parameters named
        with their values (``[p_min = 0.001, p_max = 1]``)."""
        if self.choices:
            return str(list(self.choices))
        lo, hi = f"{self.low:g}", f"{self.high:g}"
        if params is not None and self.at_least:
            lo = f"{self.at_least} = {params[self.at_least]:g}"
        if params is not None and self.at_most:
            hi = f"{self.at_most} = {params[self.at_most]:g}"
        text = f"a finite number in {'(' if self.low_open else '['}{lo}, {hi}]"
        return text if self.off is None else f"{self.off:g} (off) or {text}"


_PLAN = {
    "plan": RuleParam(
        "uniform",
        "-",
        "the rule's own plan shape, or the env's plan (observed)",
        choices=(*PLAN_SHAPES, "observed"),
    ),
    "decay_rate": RuleParam(1.5, "1/flight", "exp_decay plan: density ~ exp(-rate x t)", high=50.0),
    "early_close": RuleParam(0.0, "share of flight", "finish the plan this early", high=0.9),
    "in_flight_weight": RuleParam(0.0, "-", "share of the in-flight spend counted as spent"),
}
_P_MIN = RuleParam(1e-3, "-", "throttle floor while the budget is not spent", low=1e-4)
_P_MAX = RuleParam(1.0, "-", "throttle ceiling", low=1e-4, at_least="p_min")
_PROPORTIONAL = {
    **_PLAN,
    "rate": RuleParam(0.1, "-", "relative throttle change per update (every tick)", low_open=True),
    "p_start": RuleParam(
        0.01, "-", "the first throttle (start = fixed)", low=1e-4, at_least="p_min", at_most="p_max"
    ),
    "start": RuleParam(
        "capacity",
        "-",
        "first throttle: p_start (fixed) or the forecast capacity",
        choices=("fixed", "capacity"),
    ),
    "p_min": _P_MIN,
    "p_max": _P_MAX,
    "deadband": RuleParam(0.0, "share of budget", "no change while |target - spent| is within"),
    "pace_limit": RuleParam(
        1.25,
        "x plan pace",
        "cut the throttle above this serving pace",
        low=1.0,
        high=1e4,
        off=0.0,
        own_plan=True,
    ),
}
RULE_PARAMS: dict[str, dict[str, RuleParam]] = {
    "on_off": dict(_PLAN),
    "proportional": dict(_PROPORTIONAL),
    "exp_decay": {
        **_PROPORTIONAL,
        "plan": replace(_PLAN["plan"], default="exp_decay", choices=("exp_decay",)),
        "decay_rate": replace(_PLAN["decay_rate"], default=2.0, low_open=True),
    },
    "pid": {
        **_PLAN,
        "in_flight_weight": replace(_PLAN["in_flight_weight"], default=1.0),
        "kp": RuleParam(20.0, "decades / share", "proportional gain", high=1e4),
        "ki": RuleParam(50.0, "decades / (share x flight)", "integral gain", high=1e5),
        "kd": RuleParam(0.0, "decades / (share / flight)", "derivative gain", high=1e3),
        "feedforward": RuleParam(
            "capacity",
            "-",
            "u_ff: -capacity_log10, or log10 p_base (none)",
            choices=("capacity", "none"),
        ),
        "p_base": RuleParam(
            0.05,
            "-",
            "throttle at zero error (feedforward none)",
            low=1e-4,
            at_least="p_min",
            at_most="p_max",
        ),
        "p_min": _P_MIN,
        "p_max": _P_MAX,
        "i_limit": RuleParam(2.0, "decades", "clamp of |ki x integral|", high=10.0),
    },
}
"""kind -> {parameter: ``RuleParam``}: the one table of each rule's parameters (the
baselines' config dataclasses take their fields, defaults and units from it)."""


def in_interval(value: Any, low: float, high: float, low_open: bool = False) -> bool:
    """``value`` is an int or float (not a bool) in the finite interval: NaN, infinities
    and ints beyond float range are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        v = float(value)
    except OverflowError:
        return False
    return (v > low if low_open else v >= low) and v <= high


def short_repr(value: Any) -> str:
    """``repr(value)`` on one short line, however hostile the value."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def _depth(table: Mapping[str, RuleParam], key: str) -> int:
    refs = [r for r in (table[key].at_least, table[key].at_most) if r]
    return max((1 + _depth(table, r) for r in refs), default=0)


def rule_problem(kind: str, params: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first of ``params`` (every parameter of rule ``kind``) that ``RULE_PARAMS``
    refuses, as ``(key, allowed values in words)``; None if all are allowed.

    Each value is checked alone first, in table order; then against the parameters that
    bound it, the bounds before what they bound (``p_max`` before ``p_start``)."""
    table = RULE_PARAMS[kind]
    for key, spec in table.items():
        if not spec.accepts(params[key]):
            return key, spec.allowed()
    for key in sorted(table, key=lambda k: _depth(table, k)):
        spec, v = table[key], params[key]
        if spec.choices or (spec.off is not None and v == spec.off):
            continue
        lo = params[spec.at_least] if spec.at_least else -math.inf
        hi = params[spec.at_most] if spec.at_most else math.inf
        if not lo <= v <= hi:
            return key, spec.allowed(params)
        if spec.own_plan and params["plan"] == "observed":
            return key, f"{spec.off:g} (off) with plan 'observed' (it has no pace to limit against)"
    return None


def check_params(kind: Any, params: Any, where: str = "policy.controller") -> dict[str, Any]:
    """The full parameter dict of rule ``kind`` (defaults filled in, numbers as floats), or
    ``PacerError`` naming ``<where>.params.<key>``, the value and the allowed values."""
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
    out = {key: params.get(key, spec.default) for key, spec in table.items()}
    problem = rule_problem(kind, out)
    if problem is not None:
        key, allowed = problem
        raise PacerError(
            f"manifest field {where}.params.{key} = {short_repr(out[key])}: allowed {allowed}"
        )
    return {k: v if isinstance(v, str) else float(v) for k, v in out.items()}
