"""The Hydra schemas are derived from the one typed source of each default, not re-declared."""

import dataclasses
import inspect
import itertools
import typing
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from pacegym.agents.settings import AgentConfigError, AgentSettings, TrainSettings
from pacegym.baselines import stats
from pacegym.baselines.harness import run_episodes
from pacegym.experiments import leaderboard
from pacegym.experiments.config import (
    CONF_DIR,
    CompareApp,
    CompareConfig,
    PipelineApp,
    TrackingConfig,
    TrainApp,
)
from pacegym.experiments.tracking import DEFAULT_EXPERIMENT
from pacegym.experiments.train import settings_of, train

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
TRAIN_EXPERIMENTS = [e for e in EXPERIMENTS if e.startswith(("train_", "sweep_"))]
COMPARE_EXPERIMENTS = [e for e in EXPERIMENTS if e.startswith("compare_")]


def _compose(app: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(Path(CONF_DIR)), version_base="1.3"):
        return compose(config_name=app, overrides=overrides)


def _stored(name: str):
    return ConfigStore.instance().load(f"{name}.yaml").node


@pytest.mark.parametrize("app", [TrainApp, PipelineApp])
def test_app_schemas_use_the_agents_settings_classes(app):
    hints = typing.get_type_hints(app)
    assert hints["agent"] is AgentSettings and hints["train"] is TrainSettings


@pytest.mark.parametrize("name", ["train_schema", "pipeline_schema"])
def test_stored_schema_defaults_equal_the_dataclass_defaults(name):
    node = _stored(name)
    assert OmegaConf.to_object(node.train) == TrainSettings()
    assert OmegaConf.to_object(node.agent) == AgentSettings()
    assert OmegaConf.to_object(node.tracking) == TrackingConfig()
    assert OmegaConf.to_object(_stored("agent/agent_schema")) == AgentSettings()


def test_compare_schema_defaults_come_from_the_code_that_uses_them():
    assert OmegaConf.to_object(_stored("compare_schema").compare) == CompareConfig()
    assert typing.get_type_hints(CompareApp)["compare"] is CompareConfig
    c = CompareConfig()
    assert c.batch_size == inspect.signature(run_episodes).parameters["batch_size"].default
    build = inspect.signature(leaderboard.build).parameters
    for fn in (stats.aggregate, stats.paired_difference, leaderboard.build):
        params = inspect.signature(fn).parameters
        assert params["n_boot"].default == c.n_boot and params["level"].default == c.level
    assert build["primary"].default == c.primary
    assert TrackingConfig().experiment == DEFAULT_EXPERIMENT


def test_train_yaml_sets_no_train_value_so_the_dataclass_rules():
    _, agent, settings, _plain = settings_of(_compose("train", []))
    assert settings == TrainSettings()
    # the default agent is conf/agent/ppo_residual.yaml (a correction of the tuned PID)
    assert agent.name == "ppo_residual" and agent.hyperparams["n_steps"] == 64


def test_pipeline_yaml_sets_only_what_differs_from_the_defaults():
    cfg = _compose("pipeline", [])
    _, _, settings, _plain = settings_of(cfg)
    default = TrainSettings()
    fields = [f.name for f in dataclasses.fields(default)]
    changed = {k for k in fields if getattr(settings, k) != getattr(default, k)}
    assert changed == {"total_timesteps", "max_minutes"}
    assert OmegaConf.to_object(cfg.compare).episodes == CompareConfig().episodes


def _max_compare_episodes() -> int:
    runs = [_compose("compare", [f"experiment={e}"]) for e in COMPARE_EXPERIMENTS]
    return max([CompareConfig().episodes, *(int(c.compare.episodes) for c in runs)])


@pytest.mark.parametrize("experiment", [None, *TRAIN_EXPERIMENTS])
def test_training_validation_and_test_seeds_are_disjoint(experiment):
    """Campaign ``i`` trains from seed ``train.seed + i``; validation episode ``i`` uses
    ``train.eval_seed + i``, test episode ``i`` ``compare.seed + i``: the ranges must not
    meet, or a model would be selected or tested on an episode it trained on."""
    overrides = [f"experiment={experiment}"] if experiment else []
    _, _, t, _plain = settings_of(_compose("train", overrides))
    test_seed = CompareConfig().seed
    ranges = sorted(
        [
            (t.seed, t.seed + t.n_envs),
            (t.eval_seed, t.eval_seed + t.eval_episodes),
            (test_seed, test_seed + _max_compare_episodes()),
        ]
    )
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ranges)), ranges


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("train.eval_episodes=0", r"train\.eval_episodes = 0: allowed an integer in \[1, "),
        ("train.select=worst", r"train\.select = 'worst': allowed \['best', 'last'\]"),
        ("agent.clip_obs=0", r"agent\.clip_obs = 0\.0: allowed a finite number in \(0, "),
        ("agent.clip_obs=-5", r"agent\.clip_obs = -5\.0: allowed a finite number in \(0, "),
        ("agent.clip_obs=nan", r"agent\.clip_obs = nan: allowed a finite number"),
        ("train.max_minutes=inf", r"train\.max_minutes = inf: allowed a finite number"),
        ("agent.hyperparams.gae_lambda=2.0", r"agent\.hyperparams\.gae_lambda = 2\.0: allowed"),
    ],
)
def test_bad_value_fails_by_name_before_any_mlflow_run(tmp_path, monkeypatch, override, match):
    store = tmp_path / "mlflow.db"
    cfg = _compose("train", [override, f"tracking.uri=sqlite:///{store}"])
    monkeypatch.chdir(tmp_path)  # where an artifact store would appear
    with pytest.raises(AgentConfigError, match=match):
        train(cfg, tmp_path / "run")
    assert sorted(tmp_path.iterdir()) == []  # no run dir, no MLflow store, no artifacts
