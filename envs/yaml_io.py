"""Reading pacegym's YAML files: safe (no tag builds an object) and strict about duplicate
keys, which ``yaml.safe_load`` resolves without a word to the last one (``money:`` written
twice in a scenario file would drop the first budget).

``load(text)`` raises ``yaml.constructor.ConstructorError`` (a ``yaml.YAMLError`` with a
``problem_mark``: line and column) for a mapping that repeats a key; callers word it
without quoting the file (``envs.scenarios``, ``baselines.factory``). Merge keys (``<<``)
may be overridden, as YAML allows.
"""

from __future__ import annotations

from typing import IO, Any

import yaml
from yaml.constructor import ConstructorError

DUPLICATE = "found a duplicate key"
"""The ``problem`` of the error for a repeated key (``pacegym.errors`` words it)."""


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping repeating one of its own keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader refuses it itself
                continue
            if repeated:
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark, DUPLICATE, key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def problem(exc: BaseException) -> str:
    """What is wrong with a YAML file, without quoting it: ``a duplicate key at line 4,
    column 1`` or ``not valid YAML at line 2, column 8``."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = "a duplicate key" if getattr(exc, "problem", "") == DUPLICATE else "not valid YAML"
    return what + where


def load(stream: str | bytes | IO[Any]) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (``UniqueKeyLoader``)."""
    return yaml.load(stream, Loader=UniqueKeyLoader)
