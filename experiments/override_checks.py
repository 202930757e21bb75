"""Overrides a Hydra app refuses before it runs: additions of keys its schema does not
declare (``+modle=...``) and deletions of settings it needs (``~scenario.money``). Both
would otherwise be taken by Hydra without a word (``experiments.hydra_app`` calls them on
every app; ``pacegym-sweep`` on its trials' overrides)."""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
from typing import Any

from omegaconf import DictConfig, OmegaConf


def refuse_unknown_additions(cfg: DictConfig, overrides: list[str], groups: set[str]) -> None:
    """Refuse an override that adds a key (``+key=value``, ``++key=value``) the app's schema
    does not declare: Hydra opens the config for an addition, so a typo there (``+modle=..``)
    would be taken without a word and ignored by every app. Each key is walked from the
    root: below a node of a dataclass schema only its fields exist; below a free mapping (a
    ``dict`` field such as ``train.randomize`` or ``evaluate``'s ``controllers``) any key
    may be added. Config group choices (``+experiment=...``; in ``groups``) are Hydra's to
    check. ``ValueError``: ``<key> = <value>: no such key; allowed keys: ...``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(overrides):
        if not (override.is_add() or override.is_force_add()):
            continue
        key = override.key_or_group
        if key in groups or override.package is not None:
            continue
        node: Any = cfg
        for depth, part in enumerate(key.split(".")):
            kind = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
            if kind is None or not dataclasses.is_dataclass(kind):
                break  # a free mapping: anything below it is the user's
            names = [f.name for f in dataclasses.fields(kind)]
            if part not in names:
                where = ".".join(key.split(".")[:depth])
                allowed = ", ".join(sorted(names))
                raise ValueError(
                    f"{key} = {override.value()}: no such key"
                    f"{f' in {where}' if where else ''}; allowed keys: {allowed}"
                )
            node = node[part]


class OverrideError(ValueError):
    """An override the app refuses (a deletion of a setting it needs); one line naming it."""


def refuse_deletions(cfg: DictConfig, overrides: list[str], prog: str) -> None:
    """Refuse an override that deletes a setting the app needs (``~scenario``, ``~agent``,
    ``~tracking``, ``~scenario.money``): a key its schema declares. Hydra takes the deletion
    and the app would then run on the schema's defaults without a word (another scenario,
    another agent). Below a free mapping (``train.randomize``, ``agent.hyperparams``) an
    entry may be deleted: the library's default for it is documented. Hydra's own groups
    (``~hydra/...``) and ``~experiment`` (no setting) are Hydra's; any other of the
    package's config groups (``~suite``, whose values land in ``benchmark``) is refused.
    ``OverrideError``: ``~<key>: ...; set it instead: <key>=<value>``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    # ``agent=<dir>`` in evaluate becomes ``agents=[...]`` and ``~controller`` (the agent
    # runs alone: experiments.app_args): that deletion is the app's own
    agent_alone = any(o.startswith("agents=") for o in overrides)
    for override in OverridesParser.create().parse_overrides(overrides):
        if not override.is_delete() or override.package is not None:
            continue
        key = override.key_or_group
        if key == "controller" and agent_alone:
            continue
        if key in _needed_groups():
            raise OverrideError(
                f"~{key}: deletes the {key} config group, a setting {prog} needs (it would run "
                f"on the schema's defaults without a word); choose one instead: {key}=<option>"
            )
        node: Any = cfg
        parts = key.split(".")
        for depth, part in enumerate(parts):
            kind = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
            if kind is None or not dataclasses.is_dataclass(kind):
                break  # a free mapping: its entries are the user's
            if part not in {f.name for f in dataclasses.fields(kind)}:
                break
            if depth == len(parts) - 1:
                raise OverrideError(
                    f"~{key}: deletes {key}, a setting {prog} needs (it would run on the "
                    f"schema's defaults without a word); set it instead: {key}=<value>"
                )
            node = node[part]


OPTIONAL_GROUPS = ("experiment", "hydra")
"""Config groups whose deletion changes no setting (``experiment: null`` by default;
Hydra's own)."""


@functools.lru_cache(maxsize=1)
def _needed_groups() -> frozenset[str]:
    """The package's config groups (``pacegym.conf/<group>/``) but ``OPTIONAL_GROUPS``."""
    root = importlib.resources.files("pacegym.conf")
    return frozenset(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith("_") and p.name not in OPTIONAL_GROUPS
    )
