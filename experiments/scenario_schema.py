"""The Hydra ``scenario`` node's schema, derived from ``envs.params.ScenarioParams``.

A scenario file (``conf/scenario/``) sets only what differs from the schema's defaults or
from its ``base:`` scenario, so the node holds exactly the keys a file or an override set:
every key of the schema is typed but unset (``???``, OmegaConf's MISSING) until then, and
``without_missing`` drops the unset ones before ``envs.scenarios.resolve`` fills them from
the defaults or the base. An unknown section or key (``scenario.trafic.base_rate=1``)
fails at compose time naming it; a value of the wrong type (``scenario.forecast.
history_days=two``) too. Ranges and cross-field rules stay with the dataclasses.

Field types are mapped to what OmegaConf can hold: a number, string or optional one as it
is; a tuple as a list of its items' type (``dow_factors: list[float]``, ``cdf_points:
list[list[float]]``). A ``Value`` (a number or a ``[low, high]`` range) is ``Any``:
OmegaConf 2.3 takes unions of primitives only, never of a number and a list, so such a
value is typed by ``envs.params`` when the scenario is built, not at compose time.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Optional, Union

from omegaconf import MISSING

from pacegym.envs.params import ScenarioParams

PRIMITIVES = (bool, int, float, str)
"""Types OmegaConf holds as they are."""


def node_type(hint: Any) -> Any:
    """The OmegaConf type of a dataclass field typed ``hint`` (module docstring)."""
    if hint in PRIMITIVES:
        return hint
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and rest[0] in PRIMITIVES:
            return Optional[rest[0]]  # noqa: UP045 (OmegaConf reads typing's Optional)
        return Any
    if origin is tuple:
        items = {a for a in args if a is not Ellipsis}
        inner = node_type(items.pop()) if len(items) == 1 else Any
        return list[inner] if inner is not Any else list[Any]
    return Any


def section_schema(cls: type) -> type:
    """A dataclass with ``cls``'s fields, each of its ``node_type`` and unset."""
    hints = typing.get_type_hints(cls)
    fields = [
        (f.name, node_type(hints[f.name]), dataclasses.field(default=MISSING))
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass(f"{cls.__name__}Node", fields)


def _scenario_schema() -> type:
    """``ScenarioParams``'s sections as ``section_schema`` nodes, its other fields (the
    name) unset like theirs, and ``base``: the scenario the node varies."""
    hints = typing.get_type_hints(ScenarioParams)
    fields: list[tuple[str, Any, Any]] = [("base", str, dataclasses.field(default=MISSING))]
    for f in dataclasses.fields(ScenarioParams):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            node = section_schema(hint)
            fields.append((f.name, node, dataclasses.field(default_factory=node)))
        else:
            fields.append((f.name, node_type(hint), dataclasses.field(default=MISSING)))
    return dataclasses.make_dataclass("ScenarioNode", fields)


ScenarioNode = _scenario_schema()
"""The schema of the ``scenario`` node (module docstring)."""


def without_missing(data: Any) -> Any:
    """A plain container (``OmegaConf.to_container``) without its unset values (``???``),
    and without the mappings left empty by that; anything else as it is."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if value == MISSING:
                continue
            value = without_missing(value)
            if isinstance(value, dict) and not value and isinstance(data[key], dict) and data[key]:
                continue  # a section holding only unset keys
            out[key] = value
        return out
    if isinstance(data, list):
        return [without_missing(v) for v in data]
    return data
