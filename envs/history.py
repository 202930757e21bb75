"""Traffic simulated by the core: the history a learned forecast trains on, and log counts.

``record_counters`` runs a core under a fixed throttle until every campaign is done and
returns the per-tick increments of some of its integer counters (``I_*`` columns of
``ist``). Two users: ``simulated_history`` (eligible requests per minute of one campaign
over ``forecast.history_days``, which ``forecast_week`` fits the scenario's
``forecast.kind`` forecaster to) and ``envs.calibration.simulate`` (logs of requests,
serves and counted impressions).

Nothing here imports the core: functions take a core, or a ``CoreFactory`` (the
``PacingCore`` class itself), so that ``envs.core`` can build a learned forecast with
``forecast_week(scenario, PacingCore)`` and no import cycle.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from pacegym.envs.forecast import FORECASTERS, WEEK_MIN, make_forecaster
from pacegym.envs.layout import I_REQUESTS
from pacegym.envs.params import ScenarioError, ScenarioParams


class CountingCore(Protocol):
    """What ``record_counters`` needs of a ``PacingCore``."""

    scenario: ScenarioParams
    ist: np.ndarray  # (n, N_IST) int64 counters

    @property
    def done(self) -> np.ndarray: ...

    def reset(self, rows: np.ndarray, seeds: np.ndarray) -> None: ...

    def step(self, throttle: np.ndarray) -> Any: ...


CoreFactory = Callable[[ScenarioParams, int], CountingCore]
"""``(scenario, n) -> core``: ``PacingCore`` itself."""


def record_counters(core: CountingCore, throttle: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """Step ``core`` (already reset) under ``throttle`` until every campaign is done.

    Returns the per-tick increments of the ``ist`` counters ``columns``, int64 of shape
    ``(len(columns), n, ticks)``; ``ticks`` is the longest flight (shorter ones end in 0).
    """
    n = core.ist.shape[0]
    rec = np.zeros((len(columns), n, core.scenario.time.max_flight_ticks + 1), dtype=np.int64)
    cols = list(columns)
    t = 0
    while not core.done.all():
        core.step(throttle)
        t += 1
        rec[:, :, t] = core.ist[:, cols].T
    return np.diff(rec[:, :, : t + 1], axis=2)


def history_scenario(scenario: ScenarioParams) -> ScenarioParams:
    """The scenario's traffic over ``forecast.history_days`` days ending Monday 00:00."""
    days = int(scenario.forecast.history_days)
    time = dataclasses.replace(
        scenario.time, flight_min=days * 1440.0, start_minute=0.0, start_day=(-days) % 7
    )
    money = dataclasses.replace(scenario.money, budget=1e12)
    forecast = dataclasses.replace(scenario.forecast, kind="perturbed", fit_on="simulated")
    traffic = dataclasses.replace(scenario.traffic, days="all")
    return dataclasses.replace(scenario, time=time, traffic=traffic, money=money, forecast=forecast)


def simulated_history(scenario: ScenarioParams, make_core: CoreFactory) -> np.ndarray:
    """Requests per minute of one campaign over the history days, from a core.

    The campaign is seeded with ``forecast.history_seed`` and serves nothing (throttle 0):
    traffic does not depend on the throttle.
    """
    hist = history_scenario(scenario)
    tps_min = round(60.0 / hist.time.tick_s)
    if tps_min < 1 or abs(60.0 / hist.time.tick_s - tps_min) > 1e-9:
        raise ScenarioError(
            f"time.tick_s = {hist.time.tick_s}: a data-driven forecast needs ticks that divide a "
            "minute"
        )
    core = make_core(hist, 1)
    core.reset(np.zeros(1, np.int64), np.array([scenario.forecast.history_seed], np.uint64))
    per_tick = record_counters(core, np.zeros(1), [I_REQUESTS])[0, 0].astype(float)
    return per_tick.reshape(-1, tps_min).sum(axis=1)


@functools.lru_cache(maxsize=16)
def forecast_week(scenario: ScenarioParams, make_core: CoreFactory) -> np.ndarray:
    """Forecast requests per minute for the week after the history (index: minute of week).

    Trains ``forecast.kind``'s forecaster on ``simulated_history``; cached per scenario
    (read-only result).
    """
    kind = scenario.forecast.kind
    if kind not in FORECASTERS:
        raise ScenarioError(f"forecast.kind = {kind!r}: allowed {sorted(FORECASTERS)}")
    if scenario.traffic.profile == "broadcast":
        raise ScenarioError(
            f"forecast.kind = {kind!r} learns a per-minute profile from past days; "
            "traffic.profile = 'broadcast' is indexed by flight share: use 'intraday' or "
            "'trace', or forecast.kind = 'perturbed'"
        )
    history = simulated_history(scenario, make_core)
    pred = make_forecaster(kind, scenario.forecast.season).fit(history).predict(WEEK_MIN)
    out = np.maximum(pred, 0.0)
    out.flags.writeable = False
    return out
