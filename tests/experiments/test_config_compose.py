"""Hydra compose of every config group option and experiment file of the train/compare/pipeline apps."""

import dataclasses
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from pacegym.agents.algos import check_agent
from pacegym.agents.settings import AgentSettings
from pacegym.envs.scenarios import resolve
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.hydra_app import scenario_dict

AGENTS = sorted(p.stem for p in (CONF_DIR / "agent").glob("*.yaml"))
TRACKING = sorted(p.stem for p in (CONF_DIR / "tracking").glob("*.yaml"))
SCENARIO_DIR = Path(CONF_DIR) / "scenario"
SCENARIOS = sorted(
    p.relative_to(SCENARIO_DIR).with_suffix("").as_posix() for p in SCENARIO_DIR.rglob("*.yaml")
)
MINE = ("train_", "compare_", "sweep_")
EXPERIMENTS = sorted(
    p.stem for p in (CONF_DIR / "experiment").glob("*.yaml") if p.stem.startswith(MINE)
)


def _compose(app: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(Path(CONF_DIR)), version_base="1.3"):
        return compose(config_name=app, overrides=overrides)


@pytest.mark.parametrize("agent", AGENTS)
def test_every_agent_composes_and_passes_checks(agent):
    cfg = _compose("train", [f"agent={agent}"])
    check_agent(AgentSettings.from_mapping(cfg.agent))
    assert cfg.agent.algo in ("ppo", "sac", "td3", "recurrent_ppo")


@pytest.mark.parametrize("tracking", TRACKING)
@pytest.mark.parametrize("app", ["train", "compare", "pipeline"])
def test_every_tracking_option(app, tracking):
    cfg = _compose(app, [f"tracking={tracking}"])
    assert isinstance(cfg.tracking.enabled, bool)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("app", ["train", "compare", "pipeline"])
def test_every_scenario(app, scenario):
    cfg = _compose(app, [f"scenario={scenario}"])
    # hydra.compose outside an app cannot tell a nested scenario's folder: trace file names
    assert _trace_name(resolve(scenario_dict(cfg))) == _trace_name(resolve(scenario))


def _trace_name(sc):
    trace = sc.traffic.trace_csv and Path(sc.traffic.trace_csv).name
    return dataclasses.replace(sc, traffic=dataclasses.replace(sc.traffic, trace_csv=trace))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("scenario.trafic.base_rate=1", "trafic"),
        ("scenario.traffic.base_rat=1", "base_rat"),
        ("scenario.forecast.history_days=two", "history_days"),
    ],
)
@pytest.mark.parametrize("app", ["train", "compare", "pipeline"])
def test_scenario_keys_are_typed_at_compose(app, override, key):
    with pytest.raises((ConfigCompositionException, ConfigKeyError, ValidationError), match=key):
        _compose(app, [override])


def test_scenario_node_holds_what_was_set():
    cfg = _compose("train", ["scenario=suite/surge_storm", "scenario.money.budget=2000"])
    assert scenario_dict(cfg) == {
        "base": "live_commerce",
        "name": "surge_storm",
        "traffic": {"surge_rate_per_h": 6.0, "surge_probs": [0.5, 0.5], "surge_mean_s": 180.0},
        "money": {"budget": 2000},
    }


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_file(experiment):
    app = "compare" if experiment.startswith("compare_") else "train"
    cfg = _compose(app, [f"experiment={experiment}"])
    if app == "train":
        check_agent(AgentSettings.from_mapping(cfg.agent))
        assert cfg.train.total_timesteps > 0


def test_sweep_experiment_sets_sweeper_params():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", ["experiment=sweep_ppo_live"], return_hydra_config=True)
    assert "agent.hyperparams.learning_rate" in cfg.hydra.sweeper.params


def test_overrides_are_typed():
    cfg = _compose("train", ["train.total_timesteps=1000", "agent.residual.scale_decades=0.5"])
    assert cfg.train.total_timesteps == 1000 and cfg.agent.residual.scale_decades == 0.5
    with pytest.raises((ValidationError, ConfigCompositionException)):
        _compose("train", ["train.total_timesteps=lots"])


@pytest.mark.parametrize(
    "override", ["train.totl_timesteps=5", "agent.learnig_rate=1", "compare.nope=1"]
)
def test_unknown_keys_fail_at_compose(override):
    app = "compare" if override.startswith("compare") else "train"
    with pytest.raises((ConfigCompositionException, ConfigKeyError)):
        _compose(app, [override])


@pytest.mark.parametrize("override", ["agent=nope", "tracking=nope", "scenario=nope"])
def test_unknown_group_options_fail_at_compose(override):
    with pytest.raises(ConfigCompositionException, match="nope"):
        _compose("train", [override])


APPS = ("evaluate", "train", "compare", "export", "pipeline", "benchmark")


@pytest.mark.parametrize("app", APPS)
def test_every_app_takes_the_shared_hydra_settings(app):
    """conf/hydra/app/pacegym.yaml is the one home of the apps' run dirs, messages and
    chdir; an app's YAML sets none of them, and ./conf is searched after the package."""
    import yaml

    from pacegym.experiments import benchmark, evaluate_config, export  # noqa: F401  (schemas)

    evaluate_config.register()
    assert "hydra" not in yaml.safe_load((Path(CONF_DIR) / f"{app}.yaml").read_text())
    with initialize_config_dir(config_dir=str(Path(CONF_DIR)), version_base="1.3"):
        cfg = compose(config_name=app, return_hydra_config=True)
    hc = cfg.hydra
    assert hc.run.dir.startswith(f"outputs/{app}/") and hc.sweep.dir.startswith(f"multirun/{app}/")
    assert hc.job.chdir is False and hc.job_logging.formatters.console.format == "%(message)s"
    assert ("mlflow_store" in hc.callbacks) == (app in ("train", "compare", "pipeline"))


@pytest.mark.parametrize(
    ("scenario", "name"),
    [("live_commerce", "live_commerce"), ("traces/train/taxi_daily", "taxi_daily")],
)
def test_runs_are_tagged_with_the_scenarios_name(scenario, name):
    """A twin that takes its name from its base is tagged with that name (compare finds the
    train runs of a scenario by this tag)."""
    from pacegym.experiments.tracking import default_tags

    assert default_tags(_compose("train", [f"scenario={scenario}"]))["scenario"] == name
