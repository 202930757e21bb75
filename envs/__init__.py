"""pacegym environments: the batched pacing core and its Gymnasium views.

Importing this package registers ``pacegym/LiveCommerce-v0``,
``pacegym/DailyBudget-v0`` and ``pacegym/MultiDayFlight-v0`` (single env and
native vector env).
"""

from __future__ import annotations

import gymnasium

from envs.core import PacingCore, StepResult
from envs.metrics import METRIC_KEYS, EpisodeTotals, episode_metrics
from envs.params import (
    DelayParams,
    ForecastParams,
    MoneyParams,
    PlanParams,
    RewardParams,
    ScenarioError,
    ScenarioParams,
    ScoreParams,
    ServingParams,
    TimeParams,
    TrafficParams,
)
from envs.scenarios import PRESETS, from_dict, resolve, to_dict
from envs.spaces import OBS_FEATURES, OBS_NAMES, action_to_throttle, throttle_to_action

ENV_IDS = {
    "pacegym/LiveCommerce-v0": "live_commerce",
    "pacegym/DailyBudget-v0": "daily_budget",
    "pacegym/MultiDayFlight-v0": "multi_day_flight",
}

for _env_id, _scenario in ENV_IDS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(
            id=_env_id,
            entry_point="envs.pacing_env:PacingEnv",
            vector_entry_point="envs.vector:PacingVectorEnv",
            kwargs={"scenario": _scenario},
        )

__all__ = [
    "ENV_IDS",
    "METRIC_KEYS",
    "OBS_FEATURES",
    "OBS_NAMES",
    "PRESETS",
    "DelayParams",
    "EpisodeTotals",
    "ForecastParams",
    "MoneyParams",
    "PacingCore",
    "PlanParams",
    "RewardParams",
    "ScenarioError",
    "ScenarioParams",
    "ScoreParams",
    "ServingParams",
    "StepResult",
    "TimeParams",
    "TrafficParams",
    "action_to_throttle",
    "episode_metrics",
    "from_dict",
    "resolve",
    "throttle_to_action",
    "to_dict",
]
