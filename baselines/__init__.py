"""Classical pacing controllers, the ``Controller`` protocol and the evaluation harness."""

from pacegym.baselines.controllers import (
    ControllerConfigError,
    ExpDecayConfig,
    ExpDecayController,
    OnOffConfig,
    OnOffController,
    ProportionalConfig,
    ProportionalController,
)
from pacegym.baselines.controllers_pid import PIDConfig, PIDController
from pacegym.baselines.factory import (
    CONTROLLERS,
    build_controller,
    from_spec,
    load_controller_yaml,
    spec,
)
from pacegym.baselines.harness import Rollout, episode_seeds, run_episodes
from pacegym.baselines.protocol import Controller
from pacegym.baselines.stats import aggregate, paired_difference

__all__ = [
    "CONTROLLERS",
    "Controller",
    "ControllerConfigError",
    "ExpDecayConfig",
    "ExpDecayController",
    "OnOffConfig",
    "OnOffController",
    "PIDConfig",
    "PIDController",
    "ProportionalConfig",
    "ProportionalController",
    "Rollout",
    "aggregate",
    "build_controller",
    "episode_seeds",
    "from_spec",
    "load_controller_yaml",
    "paired_difference",
    "run_episodes",
    "spec",
]
