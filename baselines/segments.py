"""What the value-aware baselines share: the observation's segment block, the top-down
fill of segments by predicted value per price, and their typed configs.

A value scenario's observation (``envs.spaces``) is ``N_OBS`` base columns, then per segment
its share of the requests now, its predicted value per price relative to the flight's
predicted average (``rel``) and its last throttle (``SEGMENT_FEATURES``). The value-aware
controllers return ``(n, S)`` throttles, one per segment; a value-blind one's ``(n,)``
throttle is every segment's.

Configs: a value-aware kind's parameters are a rule's (``RULE_PARAMS[base]``: its plan,
gains, clamps; validated by the runtime's ``rule_problem``) plus its own ``RuleParam``s
(``value_config``), so every field has a default, a unit and an allowed range, and a bad
value is refused in one line naming ``controller.params.<key>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pacegym.agents.export.runtime.rule_params import RULE_PARAMS, RuleParam, rule_problem
from pacegym.agents.export.runtime.segment_pacer import edge_price, fill_top_down, rank  # noqa: F401 (re-exported)
from pacegym.agents.export.runtime.segment_state import plan_error as _plan_error
from pacegym.baselines.controllers import ControllerConfigError, config_error
from pacegym.envs.spaces import N_OBS, OBS_INDEX, SEGMENT_FEATURES

_WIDTH = len(SEGMENT_FEATURES)


def n_segments(obs: np.ndarray) -> int:
    """Segments in an observation batch ``(n, N_OBS + 3 S)``: ``S`` (0 in the volume world)."""
    extra = obs.shape[1] - N_OBS
    if extra < 0 or extra % _WIDTH:
        raise ValueError(
            f"observation has {obs.shape[1]} columns: allowed {N_OBS} + {_WIDTH} x segments"
        )
    return extra // _WIDTH


def segment_block(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(share, rel, last)``, each ``(n, S)`` float64: the requests' share now, predicted
    value per price / the flight's average, the last throttle of each segment."""
    s = n_segments(obs)
    block = obs[:, N_OBS:].astype(np.float64).reshape(obs.shape[0], s, _WIDTH)
    return block[:, :, 0], block[:, :, 1], block[:, :, 2]


def refuse_volume(kind: str) -> ValueError:
    """The one-line refusal of a controller that needs segments, on a volume scenario."""
    return ValueError(
        f"controller.kind = {kind!r} needs a value scenario (scenario.value.channels): the "
        "observation has no segment block; allowed kinds there: the value-blind rules"
    )


def plan_error(params: Mapping[str, Any], obs: np.ndarray) -> np.ndarray:
    """``(n,)`` target - spent [share of budget] by the plan fields of ``params`` (the
    rules' ``plan``, ``decay_rate``, ``early_close``, ``in_flight_weight``): the runtime's
    ``segment_state.plan_error`` on the simulator's columns."""
    return _plan_error(params, obs, OBS_INDEX)


@dataclass(frozen=True)
class ValueConfig:
    """Base of the value-aware configs: the fields of rule ``base`` (``RULE_PARAMS``), then
    the kind's own (``own``); ``validate`` refuses what either table refuses."""

    kind: ClassVar[str]
    base: ClassVar[str]
    own: ClassVar[dict[str, RuleParam]]

    def validate(self, kind: str | None = None) -> None:
        """Raise ``ControllerConfigError`` naming ``controller.params.<key>``, the value and
        the allowed values, for the first field refused."""
        kind = kind or self.kind
        params = dataclasses.asdict(self)
        base = {k: params[k] for k in RULE_PARAMS[self.base]}
        problem = rule_problem(self.base, base)
        if problem is not None:
            raise config_error(kind, problem[0], params[problem[0]], problem[1])
        for key, spec in self.own.items():
            if not spec.accepts(params[key]):
                raise config_error(kind, key, params[key], spec.allowed())

    def base_params(self) -> dict[str, Any]:
        """The fields of rule ``base`` (to build its ``Rule``)."""
        params = dataclasses.asdict(self)
        return {k: params[k] for k in RULE_PARAMS[self.base]}


def value_config(
    kind: str,
    name: str,
    doc: str,
    base: str,
    own: Mapping[str, RuleParam],
    module: str,
    defaults: Mapping[str, Any] | None = None,
) -> Any:
    """The frozen config dataclass ``name`` of value-aware ``kind``: the fields of rule
    ``base`` (defaults overridden by ``defaults``), then ``own``; units and docs in each
    field's metadata and the docstring; bound in ``module`` (pickle finds it there)."""
    table = {**RULE_PARAMS[base], **own}
    if set(RULE_PARAMS[base]) & set(own):
        raise ControllerConfigError(f"{name}: own parameters shadow rule {base!r}'s")
    over = dict(defaults or {})
    fields, rows = [], []
    for key, spec in table.items():
        default = over.get(key, spec.default)
        meta = {"unit": spec.unit, "doc": spec.doc}
        field = dataclasses.field(default=default, metadata=meta)
        fields.append((key, str if spec.choices else float, field))
        rows.append(f"- ``{key}`` = {default!r} [{spec.unit}]: {spec.doc}")
    cls = dataclasses.make_dataclass(
        name,
        fields,
        bases=(ValueConfig,),
        frozen=True,
        namespace={
            "kind": kind,
            "base": base,
            "own": dict(own),
            "__doc__": doc + "\n\nFields:\n\n" + "\n".join(rows),
        },
    )
    cls.__module__ = module
    return cls


class ValueController:
    """A validated value-aware config, its kind and display name (a ``Controller``);
    ``params`` holds the base rule's fields (plan, gains)."""

    kind: ClassVar[str]
    config_class: ClassVar[type]
    default_name: ClassVar[str]

    def __init__(self, config: Any = None, name: str | None = None) -> None:
        self.config = config or self.config_class()
        self.config.validate(self.kind)
        self.name = self.default_name if name is None else name
        self.params = self.config.base_params()
