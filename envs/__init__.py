"""pacegym environments: the batched pacing core and its Gymnasium views.

The Gymnasium ids (``pacegym/LiveCommerce-v0``, ``pacegym/DailyBudget-v0``,
``pacegym/MultiDayFlight-v0``; single env and native vector env) are registered by the
parent package ``pacegym``, which every import of this one imports first.
"""

from __future__ import annotations

from pacegym import ENV_IDS
from pacegym.envs.core import PacingCore, StepResult
from pacegym.envs.layout import RANDOMIZABLE, REWARD_TERMS
from pacegym.envs.metrics import METRIC_KEYS, SCORE_KEY, EpisodeTotals, episode_metrics
from pacegym.envs.params import (
    DelayParams,
    ForecastParams,
    MoneyParams,
    PlanParams,
    ScenarioError,
    ScenarioParams,
    ScoreParams,
    ServingParams,
    TimeParams,
    TrafficParams,
)
from pacegym.envs.params_departures import DepartureParams
from pacegym.envs.scenarios import PRESETS, from_dict, resolve, to_dict
from pacegym.envs.spaces import (
    OBS_FEATURES,
    OBS_NAMES,
    ObsFeature,
    action_to_throttle,
    observation_table,
    throttle_to_action,
)

__all__ = [
    "ENV_IDS",
    "METRIC_KEYS",
    "OBS_FEATURES",
    "OBS_NAMES",
    "PRESETS",
    "RANDOMIZABLE",
    "REWARD_TERMS",
    "SCORE_KEY",
    "DelayParams",
    "DepartureParams",
    "EpisodeTotals",
    "ForecastParams",
    "MoneyParams",
    "ObsFeature",
    "PacingCore",
    "PlanParams",
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
    "observation_table",
    "resolve",
    "throttle_to_action",
    "to_dict",
]
