"""Training and agent settings: one typed source of defaults; bad keys and values fail by name."""

import dataclasses

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pacegym.agents.settings import (
    AgentConfigError,
    AgentSettings,
    ResidualSettings,
    TrainSettings,
)
from pacegym.experiments import config as _config  # noqa: F401  (registers the schemas)
from pacegym.resources import conf_dir

AGENT_YAMLS = sorted((conf_dir() / "agent").glob("*.yaml"))


def test_defaults_are_valid_and_frozen():
    train = TrainSettings()
    assert train.select == "best" and train.eval_seed == 1_000_000
    assert train.max_seconds == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        train.n_envs = 4  # type: ignore[misc]
    assert AgentSettings().residual == ResidualSettings()


def test_from_mapping_fills_defaults_and_nests():
    train = TrainSettings.from_mapping({"n_envs": 8, "max_minutes": 2})
    assert train == dataclasses.replace(TrainSettings(), n_envs=8, max_minutes=2.0)
    assert train.max_seconds == 120.0
    agent = AgentSettings.from_mapping({"residual": {"enabled": True, "base": {"kind": "pid"}}})
    assert agent.residual == ResidualSettings(enabled=True, base={"kind": "pid"})
    assert agent.net_arch == [64, 64]


@pytest.mark.parametrize("path", AGENT_YAMLS, ids=lambda p: p.stem)
def test_every_agent_yaml_round_trips(path):
    # composed as the apps compose it (an agent config may take its base through defaults)
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"agent={path.stem}"])
    agent = AgentSettings.from_mapping(OmegaConf.to_container(cfg.agent, resolve=True))
    assert agent.name == path.stem
    assert AgentSettings.from_mapping(dataclasses.asdict(agent)) == agent


def test_whole_numbers_become_floats_and_numpy_ints_ints():
    agent = AgentSettings.from_mapping({"clip_obs": 5, "residual": {"scale_decades": 1}})
    assert type(agent.clip_obs) is float and type(agent.residual.scale_decades) is float
    assert agent.residual == ResidualSettings()
    train = TrainSettings(n_envs=np.int64(4))
    assert type(train.n_envs) is int and train == TrainSettings(n_envs=4)


@pytest.mark.parametrize(
    ("cls", "data", "match", "section"),
    [
        (
            TrainSettings,
            {"eval_epsiodes": 3},
            r"^train\.eval_epsiodes = 3: unknown key",
            TrainSettings,
        ),
        (
            AgentSettings,
            {"learnig_rate": 1e-3},
            r"^agent\.learnig_rate = 0\.001: unknown",
            AgentSettings,
        ),
        (
            AgentSettings,
            {"residual": {"scale": 1}},
            r"^agent\.residual\.scale = 1: unknown",
            ResidualSettings,
        ),
        (
            AgentSettings,
            {"shaping": {"enabled": True}},
            r"^agent\.shaping = .*: unknown",
            AgentSettings,
        ),
    ],
)
def test_unknown_keys_fail_naming_key_value_and_allowed_keys(cls, data, match, section):
    with pytest.raises(AgentConfigError, match=match) as info:
        cls.from_mapping(data)
    msg = str(info.value)
    assert "\n" not in msg
    assert all(repr(f.name) in msg for f in dataclasses.fields(section))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            {"total_timesteps": 0},
            r"train\.total_timesteps = 0: allowed an integer in \[1, 1e\+12\]",
        ),
        ({"n_envs": 0}, r"train\.n_envs = 0: allowed an integer in \[1, 65536\]"),
        ({"eval_episodes": 0}, r"train\.eval_episodes = 0: allowed an integer in \[1, 1000000\]"),
        ({"eval_freq": -1}, r"train\.eval_freq = -1: allowed an integer in \[0, "),
        ({"checkpoint_freq": -5}, r"train\.checkpoint_freq = -5: allowed an integer in \[0, "),
        ({"torch_threads": 0}, r"train\.torch_threads = 0: allowed an integer in \[1, 1024\]"),
        ({"seed": -1}, r"train\.seed = -1: allowed an integer in \[0, 4294967295\]"),
        ({"eval_seed": -1}, r"train\.eval_seed = -1: allowed an integer in \[0, 4294967295\]"),
        ({"max_minutes": -1.0}, r"train\.max_minutes = -1\.0: allowed a finite number in \[0, "),
        ({"select": "worst"}, r"train\.select = 'worst': allowed \['best', 'last'\]"),
        ({"n_envs": "8"}, r"train\.n_envs = '8': allowed int"),
        ({"progress_bar": "yes"}, r"train\.progress_bar = 'yes': allowed bool"),
        ({"resume": 3}, r"train\.resume = 3: allowed str \| None"),
        ({"max_minutes": float("nan")}, r"train\.max_minutes = nan: allowed a finite number"),
        ({"max_minutes": float("inf")}, r"train\.max_minutes = inf: allowed a finite number"),
        ({"seed": 2**32}, r"train\.seed = 4294967296: allowed an integer in \[0, 4294967295\]"),
        ({"n_envs": 10**30}, r"train\.n_envs = 1000000000000000000000000000000: allowed"),
    ],
)
def test_bad_train_values_fail_by_name(data, match):
    with pytest.raises(AgentConfigError, match=match):
        TrainSettings.from_mapping(data)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"clip_obs": 0.0}, r"agent\.clip_obs = 0\.0: allowed a finite number in \(0, "),
        ({"clip_obs": -5.0}, r"agent\.clip_obs = -5\.0: allowed a finite number in \(0, "),
        ({"clip_obs": float("nan")}, r"agent\.clip_obs = nan: allowed"),
        ({"net_arch": [64, 0]}, r"agent\.net_arch\[1\] = 0: allowed an integer in \[1, 65536\]"),
        ({"residual": {"scale_decades": 0.0}}, r"agent\.residual\.scale_decades = 0\.0: allowed"),
        ({"hyperparams": {"gamma": 1.5}}, r"agent\.hyperparams\.gamma = 1\.5: allowed .* \[0, 1\]"),
        ({"hyperparams": {"learning_rate": 0}}, r"agent\.hyperparams\.learning_rate = 0: allowed"),
        (
            {"hyperparams": {"n_steps": 8.5}},
            r"agent\.hyperparams\.n_steps = 8\.5: allowed an integer",
        ),
        (
            {"hyperparams": {"policy_kwargs": {"log_std_init": float("inf")}}},
            r"agent\.hyperparams\.policy_kwargs\.log_std_init = inf: allowed .* \[-20, 2\]",
        ),
        (
            {"hyperparams": {"anything": float("nan")}},
            r"agent\.hyperparams\.anything = nan: allowed",
        ),
        ({"net_arch": [64, "x"]}, r"agent\.net_arch = \[64, 'x'\]: allowed list\[int\]"),
        ({"normalize_obs": 1}, r"agent\.normalize_obs = 1: allowed bool"),
        ({"residual": {"enabled": "no"}}, r"agent\.residual\.enabled = 'no': allowed bool"),
        ({"hyperparams": [1]}, r"agent\.hyperparams = \[1\]: allowed dict"),
    ],
)
def test_bad_agent_values_fail_by_name(data, match):
    with pytest.raises(AgentConfigError, match=match):
        AgentSettings.from_mapping(data)
