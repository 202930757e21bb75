"""Scenario files: one home per preset, and every file sets only what it changes."""

from pathlib import Path

import pytest
import yaml

from pacegym import ENV_IDS
from pacegym.envs import PRESETS, ScenarioParams, from_dict, resolve, to_dict
from pacegym.envs.scenarios import SECTIONS, anchor_trace, from_file

CONF = Path(__file__).resolve().parents[2] / "conf" / "scenario"
FILES = sorted(CONF.rglob("*.yaml"))
IDENTITY = ("name", "base")
"""Keys of a scenario file that are not parameters: its name and the scenario it varies."""


def _tuples(value):
    return tuple(map(_tuples, value)) if isinstance(value, list) else value


def _id(path: Path) -> str:
    return path.relative_to(CONF).with_suffix("").as_posix()


def test_presets_are_the_gym_ids_scenario_files():
    assert set(PRESETS) == set(ENV_IDS.values())
    for name in PRESETS:
        assert resolve(name) == from_file(CONF / f"{name}.yaml")
        assert resolve(name).name == name


@pytest.mark.parametrize("name", PRESETS)
def test_dict_round_trip(name):
    scenario = resolve(name)
    assert from_dict(to_dict(scenario)) == scenario
    assert from_dict(to_dict(scenario, against=ScenarioParams())) == scenario
    assert resolve({"base": name}) == scenario


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_every_scenario_file_sets_only_what_it_changes(path):
    """A key of a scenario file differs from the schema's default (``envs.params``) or, with
    ``base:``, from that scenario's value: no file restates a value it would get anyway."""
    data = anchor_trace(yaml.safe_load(path.read_text()), path.parent)
    base = resolve(data["base"]) if "base" in data else ScenarioParams()
    if "name" in data:
        assert data["name"] == path.stem, "a scenario file is named after itself"
    restated = [
        f"{section}.{key}"
        for section, values in data.items()
        if section not in IDENTITY
        for key, value in values.items()
        if _tuples(value) == getattr(getattr(base, section), key)
    ]
    assert not restated, f"{_id(path)} restates {restated}"
    assert set(data) <= {*IDENTITY, *SECTIONS}
