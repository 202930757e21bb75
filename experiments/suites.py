"""Which preset's tuned sets stand in for a scenario without its own.

The benchmark suites (``conf/suite/*.yaml``) say it, entry by entry
(``baselines_from``); they are the one place that does. ``pacegym-tune`` (the incumbent a
new set must beat) and ``pacegym-compare`` (the sets a scenario runs) read it here, so a
scenario runs the same sets in all three apps, and a set tuned on a scenario's training
twin (``traces/train/<name>``, the same ``name``) is the one its test scenario runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pacegym.envs import yaml_io
from pacegym.envs.scenarios import resolve
from pacegym.resources import config_files


def stand_ins(search: Iterable[str | Path] = ()) -> dict[str, str]:
    """Scenario name (``ScenarioParams.name``) -> the ``baselines_from`` preset of its
    entries in the suites visible by name (``pacegym.resources`` lookup order). Raises
    ``ValueError`` naming the scenario when two entries name different presets."""
    out: dict[str, str] = {}
    for suite, path in config_files("suite", search).items():
        for i, entry in enumerate(
            (yaml_io.load(path.read_text(encoding="utf-8")) or {}).get("suite", [])
        ):
            family = entry.get("baselines_from")
            if family is None:
                continue
            name = resolve(str(entry["scenario"]), search).name
            if out.setdefault(name, str(family)) != str(family):
                raise ValueError(
                    f"suite {suite}: suite[{i}].baselines_from = {family!r} for scenario "
                    f"{name!r}: another suite names {out[name]!r}; allowed one preset per scenario"
                )
    return out


def stand_in(scenario: str, search: Iterable[str | Path] = ()) -> str | None:
    """The preset whose tuned sets ``scenario`` (a scenario's name) runs where it has no
    own set of a kind; None when no suite names one (the live-commerce sets then)."""
    return stand_ins(search).get(scenario)
