"""Structured config schemas of the train, compare and pipeline apps (Hydra ConfigStore).

YAML under ``conf/`` only sets values; these dataclasses give every key its type and
default, so an unknown key (``agent.learnig_rate``) or a wrong type fails at compose
time, before any training. The ``scenario`` node stays a plain dict (validated by
``envs.scenarios.from_dict``), as do ``agent.hyperparams`` (checked against the
algorithm's constructor) and ``agent.residual.base`` (a ``conf/controller`` entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from pacegym.resources import conf_dir

CONF_DIR = conf_dir()
"""The package's config directory (``pacegym.resources.conf_dir``)."""


@dataclass
class ResidualConfig:
    enabled: bool = False
    base: dict[str, Any] = field(default_factory=dict)  # a controller config: kind, name, params
    scale_decades: float = 1.0  # [decades] |log10 correction| of the base throttle at |a| = 1


@dataclass
class ShapingConfig:
    """Training-only reward shaping (``agents.shaping``): a score-aligned reward."""

    enabled: bool = False
    weights: dict[str, float] = field(default_factory=dict)  # agents.shaping.SHAPING_TERMS


@dataclass
class AgentConfig:
    name: str = "ppo"  # label in MLflow and the leaderboard
    algo: str = "ppo"  # ppo | sac | td3 | recurrent_ppo (also a2c, ddpg)
    policy: str = "MlpPolicy"  # SB3 policy alias (MlpLstmPolicy for recurrent_ppo)
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    hyperparams: dict[str, Any] = field(default_factory=dict)  # algorithm constructor kwargs
    normalize_obs: bool = True  # VecNormalize observations; statistics saved with the model
    normalize_reward: bool = False
    clip_obs: float = 10.0  # [std] clip of normalised observations
    residual: ResidualConfig = field(default_factory=ResidualConfig)
    shaping: ShapingConfig = field(default_factory=ShapingConfig)


@dataclass
class TrainConfig:
    total_timesteps: int = 200_000  # [env-steps] campaign-steps over all campaigns
    n_envs: int = 128  # campaigns stepped per call of the batched env
    seed: int = 0  # training campaigns use episode seeds from seed + i
    device: str = "cpu"
    torch_threads: int = 1
    eval_freq: int = 50_000  # [env-steps] between held-out evaluations; 0: only at the end
    eval_episodes: int = 256
    eval_seed: int = 1_000_000  # validation seeds (model selection); disjoint from test seeds
    checkpoint_freq: int = 50_000  # [env-steps]; 0: only at the end
    select: str = "best"  # best (on eval seeds) | last: which model becomes <run_dir>/model
    max_minutes: float = 0.0  # [min] wall-clock budget; 0: none
    progress_bar: bool = True
    resume: str | None = None  # run dir or checkpoint to continue from
    randomize: dict[str, Any] = field(default_factory=dict)  # {"traffic.base_rate": [4, 16]}


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db
    experiment: str = "pacegym"
    log_model: bool = True  # upload the model directory as run artifacts
    run_name: str | None = None  # None: derived (app, agent, a multirun job's overrides)
    parent_run_id: str | None = None  # nest under this run (set by sweeps for their trials)


@dataclass
class CompareConfig:
    episodes: int = 512  # held-out test episodes per policy (same seeds for all)
    seed: int = 2_000_000  # test seeds: disjoint from train.eval_seed and training seeds
    baselines: list[str] = field(default_factory=lambda: ["*_tuned"])  # conf/controller globs
    agents: list[str] = field(default_factory=list)  # model dirs or MLflow run ids
    discover_agents: bool = True  # add the latest finished train run per agent name
    n_boot: int = 2000
    level: float = 0.95
    batch_size: int = 1024
    primary: str = "pacing_score"


@dataclass
class PipelineStepsConfig:
    train: bool = True
    compare: bool = True
    export: bool = True  # export the winner when experiments.export is importable


@dataclass
class TrainApp:
    scenario: Any = MISSING
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


@dataclass
class CompareApp:
    scenario: Any = MISSING
    compare: CompareConfig = field(default_factory=CompareConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


@dataclass
class PipelineApp:
    scenario: Any = MISSING
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    pipeline: PipelineStepsConfig = field(default_factory=PipelineStepsConfig)


def register() -> None:
    """Register the schemas (idempotent): ``<app>_schema`` and the group schemas."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainApp)
    cs.store(name="compare_schema", node=CompareApp)
    cs.store(name="pipeline_schema", node=PipelineApp)
    cs.store(group="agent", name="agent_schema", node=AgentConfig)
    cs.store(group="tracking", name="tracking_schema", node=TrackingConfig)


register()
