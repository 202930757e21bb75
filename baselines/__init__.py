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
from pacegym.baselines.controllers_lp import LPSplitConfig, LPSplitController
from pacegym.baselines.controllers_pid import PIDConfig, PIDController
from pacegym.baselines.controllers_value import (
    DualPriceConfig,
    DualPriceController,
    SmartPacingConfig,
    SmartPacingController,
)
from pacegym.baselines.factory import (
    CONTROLLERS,
    VALUE_AWARE,
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
    "VALUE_AWARE",
    "Controller",
    "ControllerConfigError",
    "DualPriceConfig",
    "DualPriceController",
    "ExpDecayConfig",
    "ExpDecayController",
    "LPSplitConfig",
    "LPSplitController",
    "OnOffConfig",
    "OnOffController",
    "PIDConfig",
    "PIDController",
    "ProportionalConfig",
    "ProportionalController",
    "Rollout",
    "SmartPacingConfig",
    "SmartPacingController",
    "aggregate",
    "build_controller",
    "episode_seeds",
    "from_spec",
    "load_controller_yaml",
    "paired_difference",
    "run_episodes",
    "spec",
]
