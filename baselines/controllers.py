"""Classical pacing controllers: on/off, proportional (LinkedIn) and exponential decay.

Typed, frozen configs over the one implementation of the rules, the numpy-only pacer
runtime's (``pacegym.agents.export.runtime``), which every exported pacer ships as is:

- each config field, its default, unit and allowed values come from the runtime's table
  (``rule_params.RULE_PARAMS``; a field's unit and doc are in its ``metadata``), and a
  config is refused by the runtime's check (``rule_problem``) in this package's words,
  ``controller.params.<key> = <value> ...: allowed <range>``;
- each controller's ``reset``/``act`` are the runtime rule's (``controllers.Rule``),
  batched over campaigns, with the plan shapes of ``plans`` (which ``envs.plans`` uses
  too): the rules, their state and their formulas are documented there.

Every controller is rebuilt from ``kind`` + ``dataclasses.asdict(controller.config)``
(``baselines.build_controller``), the format an exported pacer's manifest holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pacegym.agents.export.runtime.controllers import Rule
from pacegym.agents.export.runtime.controllers import capacity_throttle as _capacity_throttle
from pacegym.agents.export.runtime.rule_params import (
    RULE_PARAMS,
    RuleParam,
    rule_problem,
    short_repr,
)
from pacegym.envs.spaces import OBS_INDEX

_CAPACITY = OBS_INDEX["capacity_log10"]


class ControllerConfigError(ValueError):
    """A controller parameter is invalid; the message names key, value and allowed range."""


def config_error(kind: str, key: str, value: Any, allowed: str) -> ControllerConfigError:
    """The one-line error naming ``controller.params.<key>``, the value and what is allowed."""
    return ControllerConfigError(
        f"controller.params.{key} = {short_repr(value)} is not allowed for kind {kind!r}: "
        f"allowed {allowed}"
    )


def check_range(
    kind: str, key: str, value: float, low: float, high: float, *, low_open: bool = False
) -> None:
    """Raise ``ControllerConfigError`` naming ``controller.params.<key>`` unless ``value`` is
    an int or float (not a bool) in the interval; every interval is finite, so NaN and
    infinities are refused too (for configs outside ``RULE_PARAMS``: the yardsticks')."""
    spec = RuleParam(value, "-", key, low=low, high=high, low_open=low_open)
    if not spec.accepts(value):
        raise config_error(kind, key, value, spec.allowed())


def param(kind: str, name: str) -> Any:
    """The dataclass field of rule parameter ``name`` of ``kind``: default from the
    runtime's table, unit and doc in its metadata."""
    spec = RULE_PARAMS[kind][name]
    return dataclasses.field(default=spec.default, metadata={"unit": spec.unit, "doc": spec.doc})


def capacity_throttle(obs: np.ndarray) -> np.ndarray:
    """Throttle that spends the budget left evenly on the forecast traffic left, in [1e-3, 1]."""
    return _capacity_throttle(obs[:, _CAPACITY])


@dataclass(frozen=True)
class RuleConfig:
    """Base of the baselines' frozen configs; each one's fields are its rule's parameters
    (``rule_config``), and ``validate`` refuses what the runtime's table refuses."""

    kind: ClassVar[str]

    def validate(self, kind: str | None = None) -> None:
        """Raise ``ControllerConfigError`` unless every field is allowed for rule ``kind``
        (default: this config's own kind)."""
        kind = kind or self.kind
        params = dataclasses.asdict(self)
        if set(params) != set(RULE_PARAMS[kind]):
            raise ControllerConfigError(
                f"controller config {type(self).__name__} does not fit kind {kind!r}: "
                f"its parameters are {sorted(RULE_PARAMS[kind])}"
            )
        problem = rule_problem(kind, params)
        if problem is not None:
            raise config_error(kind, problem[0], params[problem[0]], problem[1])


def rule_config(
    kind: str, name: str, doc: str, base: type = RuleConfig, module: str = __name__
) -> Any:
    """The frozen config dataclass ``name`` of rule ``kind``: one typed field per parameter
    of the runtime's table (``str`` for a choice, ``float`` for a number), in its order,
    with its default, and its unit and doc in the field's metadata and the docstring;
    ``module`` is where it is bound (pickle finds it there)."""
    table = RULE_PARAMS[kind]
    fields = [(k, str if s.choices else float, param(kind, k)) for k, s in table.items()]
    rows = [f"- ``{k}`` = {s.default!r} [{s.unit}]: {s.doc}" for k, s in table.items()]
    cls = dataclasses.make_dataclass(
        name,
        fields,
        bases=(base,),
        frozen=True,
        namespace={"kind": kind, "__doc__": doc + "\n\nFields:\n\n" + "\n".join(rows)},
    )
    cls.__module__ = module
    return cls


OnOffConfig = rule_config(
    "on_off", "OnOffConfig", "On/off: full throttle while the spend estimate is under plan."
)
ProportionalConfig = rule_config(
    "proportional",
    "ProportionalConfig",
    "LinkedIn's multiplicative throttle: p <- min(p_max, p (1 + r)) under plan, p (1 - r)"
    " over, never under the floor ``p_min`` (LinkedIn's rule goes to 0 and never comes"
    " back; a floor of ~1e-3 still answers a 100x surge).",
)
ExpDecayConfig = rule_config(
    "exp_decay",
    "ExpDecayConfig",
    "The exponential-decay plan (front-loaded, the seed's live-commerce fix) tracked by the"
    " proportional throttle: ``ProportionalConfig``'s fields, ``plan`` exp_decay only.",
    base=ProportionalConfig,
)


class RuleController:
    """A baseline: a validated config and the runtime's rule of its kind (a ``Controller``).

    ``reset(n)`` and ``act(obs)`` are the rule's (``runtime.controllers.Rule``), on the
    env's observation layout (``envs.spaces.OBS_INDEX``).
    """

    kind: ClassVar[str]
    config_class: ClassVar[type[RuleConfig]]
    default_name: ClassVar[str]

    def __init__(self, config: Any = None, name: str | None = None) -> None:
        self.config = config or self.config_class()
        self.config.validate(self.kind)
        self.name = self.default_name if name is None else name
        self.rule = Rule(self.kind, dataclasses.asdict(self.config), OBS_INDEX)

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns (clears the rule's per-campaign state, if any)."""
        self.rule.reset(n)

    def reset_rows(self, rows: np.ndarray) -> None:
        """Start the campaigns ``rows`` again, the others untouched (``agents.residual``)."""
        self.rule.reset_rows(rows)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Throttles ``(n,)`` for observations ``(n, N_OBS)``."""
        return self.rule.act(obs)


class OnOffController(RuleController):
    """Throttle 1 while ``spent < target``, else 0 (0 once the budget is reported spent).

    Stateless. With a lagged spend report it overshoots and then stops: the spikes the
    field reports.
    """

    kind: ClassVar[str] = "on_off"
    config_class = OnOffConfig
    default_name = "on/off"


class ProportionalController(RuleController):
    """Proportional (multiplicative) throttle tracking the controller's plan.

    Stateless: the previous throttle is ``obs[:, last_throttle]``; the first step of a
    flight uses ``p_start`` (``start = fixed``) or the forecast capacity.
    """

    kind: ClassVar[str] = "proportional"
    config_class = ProportionalConfig
    default_name = "proportional"


class ExpDecayController(RuleController):
    """Proportional throttle on an exponential-decay plan (stateless, as proportional)."""

    kind: ClassVar[str] = "exp_decay"
    config_class = ExpDecayConfig
    default_name = "exp-decay"
