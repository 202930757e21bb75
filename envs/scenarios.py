"""Scenario presets and conversion from/to plain dicts (Hydra YAML, JSON).

The presets here and the YAML files under ``conf/scenario/`` describe the same
scenarios; ``tests/envs/test_scenarios.py`` holds them equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

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

SECTIONS: dict[str, type] = {
    "time": TimeParams,
    "traffic": TrafficParams,
    "forecast": ForecastParams,
    "serving": ServingParams,
    "delay": DelayParams,
    "money": MoneyParams,
    "plan": PlanParams,
    "reward": RewardParams,
    "score": ScoreParams,
}


def live_commerce() -> ScenarioParams:
    """A 60-120 min broadcast; full throttle would spend the budget in well under half of it."""
    return ScenarioParams(name="live_commerce", time=TimeParams(flight_min=(60.0, 120.0)))


def daily_budget() -> ScenarioParams:
    """A 24 h campaign on an intraday profile, planned by forecast traffic share."""
    return ScenarioParams(
        name="daily_budget",
        time=TimeParams(flight_min=1440.0, start_minute=0.0),
        traffic=TrafficParams(base_rate=1.0, profile="intraday", surge_rate_per_h=0.2),
        money=MoneyParams(budget=200_000.0),
        plan=PlanParams(kind="forecast"),
    )


def multi_day_flight() -> ScenarioParams:
    """Three days; the daily budget must be met on average (total = 3 x daily)."""
    return ScenarioParams(
        name="multi_day_flight",
        time=TimeParams(flight_min=3 * 1440.0, start_minute=0.0),
        traffic=TrafficParams(base_rate=1.0, profile="intraday", surge_rate_per_h=0.2),
        money=MoneyParams(budget=600_000.0),
        plan=PlanParams(kind="forecast"),
    )


PRESETS = {
    "live_commerce": live_commerce,
    "daily_budget": daily_budget,
    "multi_day_flight": multi_day_flight,
}


def _tupleize(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_tupleize(v) for v in value)
    return value


def from_dict(data: Mapping[str, Any], base: ScenarioParams | None = None) -> ScenarioParams:
    """Build a scenario from a nested mapping, starting from ``base`` (or the defaults).

    Unknown sections or keys raise ``ScenarioError`` naming the key and the allowed ones;
    values are validated by the dataclasses.
    """
    scenario = base if base is not None else ScenarioParams()
    updates: dict[str, Any] = {}
    for section, values in data.items():
        if section == "name":
            updates["name"] = str(values)
            continue
        if section not in SECTIONS:
            raise ScenarioError(
                f"scenario.{section} is not a scenario section: allowed {sorted(SECTIONS)} or 'name'"
            )
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ScenarioError(f"scenario.{section} must be a mapping, got {values!r}")
        cls = SECTIONS[section]
        allowed = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in allowed:
                raise ScenarioError(
                    f"scenario.{section}.{key} is not a parameter: allowed {sorted(allowed)}"
                )
        current = getattr(scenario, section)
        updates[section] = dataclasses.replace(
            current, **{k: _tupleize(v) for k, v in values.items()}
        )
    return dataclasses.replace(scenario, **updates)


def to_dict(scenario: ScenarioParams) -> dict[str, Any]:
    """Plain nested dict (lists for tuples) that ``from_dict`` turns back into ``scenario``."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        return v

    out: dict[str, Any] = {"name": scenario.name}
    for section in SECTIONS:
        obj = getattr(scenario, section)
        out[section] = {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return out


def resolve(scenario: str | ScenarioParams | Mapping[str, Any]) -> ScenarioParams:
    """A preset name, a mapping (with an optional ``base`` preset name) or params as they are."""
    if isinstance(scenario, ScenarioParams):
        return scenario
    if isinstance(scenario, str):
        if scenario not in PRESETS:
            raise ScenarioError(f"scenario = {scenario!r}: allowed presets {sorted(PRESETS)}")
        return PRESETS[scenario]()
    data = dict(scenario)
    base_name = data.pop("base", None)
    base = resolve(base_name) if base_name else None
    return from_dict(data, base)
