"""Structured config schemas of the train, compare and pipeline apps (Hydra ConfigStore).

YAML under ``conf/`` only sets values; the schemas give every key its type and default,
so an unknown key (``agent.learnig_rate``) or a wrong type fails at compose time, before
any training. The ``agent`` and ``train`` nodes are ``agents.settings.AgentSettings``
and ``TrainSettings`` themselves (their one declaration, with the ranges that
``from_mapping`` checks); this module only declares what belongs to the apps:
tracking, compare and the pipeline's steps. The ``scenario`` node is typed by
``experiments.scenario_schema.ScenarioNode`` (derived from ``envs.params.ScenarioParams``:
its keys are checked at compose time, its values by ``envs.scenarios.from_dict``);
``agent.hyperparams`` (checked against the algorithm's constructor) and
``agent.residual.base`` (a ``conf/controller`` entry) stay plain dicts.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from pacegym.agents.settings import AgentSettings, TrainSettings
from pacegym.baselines.harness import BATCH_SIZE
from pacegym.baselines.stats import LEVEL, N_BOOT
from pacegym.envs.checks import check_section, setting
from pacegym.experiments.leaderboard import PRIMARY
from pacegym.experiments.scenario_schema import ScenarioNode
from pacegym.experiments.tracking import DEFAULT_EXPERIMENT
from pacegym.resources import conf_dir

CONF_DIR = conf_dir()
"""The package's config directory (``pacegym.resources.conf_dir``)."""

SEED_MAX = 2**63 - 1
"""The largest seed of an app's ``seed`` setting."""


def seed_setting(default: int) -> Any:
    """An app's ``seed`` field: ``default``, an integer in [0, ``SEED_MAX``]."""
    return setting(default, 0, SEED_MAX, integer=True)


def count_setting(default: int, high: int) -> Any:
    """A count field of an app (episodes, resamples, a batch): an integer in [1, high]."""
    return setting(default, 1, high, integer=True)


@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = True
    uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db
    experiment: str = DEFAULT_EXPERIMENT  # MLflow experiment name
    log_model: bool = True  # upload the model directory as run artifacts
    run_name: str | None = None  # None: derived (app, agent, a multirun job's overrides)
    parent_run_id: str | None = None  # nest under this run (set by sweeps for their trials)
    optional: bool = False  # true: without MLflow installed, run untracked (pacegym-evaluate)


@dataclass(frozen=True)
class CompareConfig:
    episodes: int = count_setting(512, 10_000_000)  # [episodes] held-out test episodes per
    # policy (same seeds for all)
    seed: int = seed_setting(2_000_000)  # test seeds: disjoint from train.eval_seed and training
    baselines: list[str] = field(default_factory=lambda: ["*_tuned"])  # conf/controller globs
    agents: list[str] = field(default_factory=list)  # model dirs or MLflow run ids
    discover_agents: bool = True  # add the latest finished train run per agent name
    n_boot: int = count_setting(N_BOOT, 1_000_000)  # bootstrap resamples of the intervals
    level: float = setting(LEVEL, 0.0, 1.0, low_open=True, high_open=True)  # of the intervals
    batch_size: int = count_setting(BATCH_SIZE, 1_000_000)  # [campaigns] stepped together
    primary: str = PRIMARY  # the metric that ranks the leaderboard (METRIC_KEYS)
    oracle: bool = True  # add the oracle and reference rows: regret + normalised score


@dataclass(frozen=True)
class PipelineStepsConfig:
    train: bool = True
    compare: bool = True
    export: bool = True  # export the winner when experiments.export is importable


@dataclass
class TrainApp:
    scenario: ScenarioNode = field(default_factory=ScenarioNode)  # type: ignore[valid-type]
    agent: AgentSettings = field(default_factory=AgentSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    overwrite: bool = False  # replace an earlier run's results in hydra.run.dir (pacegym.outdir)


@dataclass
class CompareApp:
    scenario: ScenarioNode = field(default_factory=ScenarioNode)  # type: ignore[valid-type]
    compare: CompareConfig = field(default_factory=CompareConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    overwrite: bool = False  # replace an earlier run's results in hydra.run.dir (pacegym.outdir)


@dataclass
class PipelineApp(TrainApp):
    """The train app's nodes, then compare's and the pipeline's steps."""

    compare: CompareConfig = field(default_factory=CompareConfig)
    pipeline: PipelineStepsConfig = field(default_factory=PipelineStepsConfig)


def check_settings(section: str, node: Any, schema: type) -> None:
    """Refuse, before any work, a number of ``node`` (a composed config of the dataclass
    ``schema``) outside its declaration (``envs.checks.setting``): ``ValueError`` naming
    ``<section>.<key>`` (``<key>`` at the top level), the value and the interval in one
    line, e.g. ``compare.episodes = 0: allowed an integer in [1, 10000000]``."""
    check_section(node, section, error=ValueError, short=True, schema=schema)


def schema(cls: type) -> DictConfig:
    """The structured config of dataclass ``cls``, writable at every level.

    OmegaConf makes the node of a frozen dataclass read-only, and Hydra composes by
    merging YAML and overrides into the schema node; so the frozen settings are
    registered as they are declared (same keys, types and defaults) with the read-only
    flag cleared. The struct flag stays: unknown keys still fail at compose time.
    """
    node = OmegaConf.structured(cls)
    _clear_readonly(node, cls)
    return node


def _clear_readonly(node: DictConfig, cls: type) -> None:
    OmegaConf.set_readonly(node, None)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            _clear_readonly(node[f.name], hints[f.name])


def register() -> None:
    """Register the schemas (idempotent): ``<app>_schema`` and the group schemas."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=schema(TrainApp))
    cs.store(name="compare_schema", node=schema(CompareApp))
    cs.store(name="pipeline_schema", node=schema(PipelineApp))
    cs.store(group="agent", name="agent_schema", node=schema(AgentSettings))
    cs.store(group="tracking", name="tracking_schema", node=schema(TrackingConfig))


register()
