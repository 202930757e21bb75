from pathlib import Path

import pytest
import yaml

from pacegym.envs import PRESETS, from_dict, resolve, to_dict

CONF = Path(__file__).resolve().parents[2] / "conf" / "scenario"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_yaml_scenarios_equal_python_presets(name):
    data = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    assert from_dict(data) == PRESETS[name]()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_dict_round_trip(name):
    scenario = PRESETS[name]()
    assert from_dict(to_dict(scenario)) == scenario
    assert resolve({"base": name}) == scenario
