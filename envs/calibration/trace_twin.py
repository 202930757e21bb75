"""A trace scenario's synthetic twin: its day-ahead forecast x fitted departures.

A trace scenario (``traffic.profile = trace``, ``forecast.fit_on = trace``) replays recorded
demand against a walk-forward day-ahead forecast (``envs.walk_forward``). Its twin keeps
everything but the traffic: the traffic's shape is the day-ahead forecast of each day
(written as the twin's trace), the forecast knows that shape (``kind: perturbed``, no
error), and ``traffic.departures`` fitted on ``log(trace / forecast)``
(``departure_fit``) makes the traffic depart from it as the trace does. Minute 0 is still a
Monday and day ``d`` of the twin is the forecast of day ``d`` of the trace (days before the
first forecast day repeat the first week of forecasts, weekday for weekday), so the twin
starts its flights on the trace scenario's days.

``trace_pair`` gives the trace and its forecast over the scenario's start days (what the
twin is fitted on and held to), ``twin_scenario`` the twin (``traffic.departures`` on the
trace's native bin, ``departure_fit.native_bin_min``), ``fit_twin`` fits it (the
burst-entry ratio chosen per trace from ``BURST_GRID`` by ``twin_distance``), ``simulate``
its requests per minute from a core over whole days, ``twin_rates`` its traffic rate over
``SEEDS`` draws of those days (what ``fit_twin``, ``tests/envs/test_departure_fit.py`` and
``benchmarks/bench_departures.py`` hold against the trace: the trace is a rate recorded at
thousands a bin, so the twin's Poisson draw around its rate, variance 1/n on a bin of n
requests, is left out of all three).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.envs.calibration.departure_fit import DepartureFit, fit_departures, native_bin_min
from pacegym.envs.calibration.fit import _stage
from pacegym.envs.core import PacingCore
from pacegym.envs.departures import departure_stats
from pacegym.envs.history import record_counters
from pacegym.envs.layout import I_REQUESTS, P_BASE_RATE
from pacegym.envs.params import ScenarioError, ScenarioParams
from pacegym.envs.params_departures import DEP_BIN_MIN
from pacegym.envs.scenarios import from_dict, resolve
from pacegym.envs.walk_forward import DAY_MIN, expected_per_minute

SEEDS = 8
"""Draws of the twin whose statistics ``twin_rates`` pools (a 13-day draw holds about one
collapse or burst: its quantiles are one draw's luck)."""


BURST_GRID = (2.0, 1.75, 1.5)
"""[x] burst-entry ratios ``fit_twin`` tries (``fit_departures``'s ``burst_ratio``), the
statistics' own 2x first: below it, hours-long departures of 1.5-2x that are neither
collapses nor 2x bursts are fitted as bursts, not clipped into the Gaussian parts."""
TOLERANCE = {
    "acf_15min": 0.15,
    "acf_1h": 0.15,
    "acf_4h": 0.15,
    "off_forecast_hours": 0.10,
    "burst_size_q50": float(np.log(2.0)),
    "burst_size_q90": float(np.log(2.0)),
    "burst_min_q50": float(np.log(2.0)),
    "burst_min_q90": float(np.log(2.0)),
}
"""The scale of each statistic's miss in ``twin_distance`` (``burst_*`` on log values): the
tolerances of docs/real_traffic.md (``tests/envs/test_departure_fit.py``)."""


def twin_distance(got: dict[str, float], want: dict[str, float]) -> float:
    """The largest miss of the statistics ``got`` from ``want`` (``departure_stats``) in units
    of its ``TOLERANCE``: absolute on acf and hours off forecast, of logs on burst quantiles
    (no burst on both sides: 0; on one side only: ``inf``). At most 1: every tolerance held."""
    worst = 0.0
    for key, scale in TOLERANCE.items():
        a, b = got[key], want[key]
        if key.startswith("burst_"):
            if a == b or not (a > 0 or b > 0):  # equal, or no burst either side (nan, 0 min)
                continue
            a, b = (np.log(a), np.log(b)) if a > 0 and b > 0 else (np.inf, 0.0)
        worst = max(worst, abs(a - b) / scale if np.isfinite(a - b) else np.inf)
    return worst


def _core(scenario: str | ScenarioParams) -> PacingCore:
    sc = resolve(scenario)
    if sc.forecast.fit_on != "trace":
        raise ScenarioError(
            f"scenario {sc.name!r}: forecast.fit_on = {sc.forecast.fit_on!r}; a twin is fitted "
            "on a trace scenario (forecast.fit_on = 'trace')"
        )
    return PacingCore(sc, 1)


def trace_pair(scenario: str | ScenarioParams) -> tuple[np.ndarray, np.ndarray, int]:
    """``(trace, forecast, first day)``: per minute [profile units] over the scenario's start
    days, the trace and the day-ahead forecast of each day (the core's walk-forward table)."""
    core = _core(scenario)
    expected = expected_per_minute(core.prof, core.dow)
    lo, hi = core.day_lo, core.day_hi
    table = core.fc_prof.reshape(-1, core.fc_horizon)[:, :DAY_MIN]
    return expected[lo * DAY_MIN : (hi + 1) * DAY_MIN], table.reshape(-1), lo


def twin_series(forecast: np.ndarray, first_day: int, tail: np.ndarray) -> np.ndarray:
    """The twin's trace [profile units]: days ``0..first_day - 1`` repeat the first week of
    ``forecast`` weekday for weekday, then ``forecast`` (which starts on ``first_day``), then
    ``tail`` (the last day's forecast beyond its midnight: a flight may run on)."""
    days = forecast.reshape(-1, DAY_MIN)
    before = [days[(d - first_day) % min(7, days.shape[0])] for d in range(first_day)]
    return np.concatenate([*before, days.reshape(-1), tail])


def twin_scenario(
    scenario: str | ScenarioParams, fit: DepartureFit, trace_csv: str | Path
) -> dict[str, Any]:
    """The twin's overrides on ``scenario`` (a mapping for ``from_dict``); its trace (from
    ``twin_series``) is read from ``trace_csv``."""
    sc = resolve(scenario)
    return {
        "name": f"{sc.name}_twin",
        "traffic": {
            "trace_csv": str(trace_csv),
            "noise_sd": 0.0,
            "surge_rate_per_h": 0.0,
            "departures": dataclasses.asdict(fit.params),
        },
        "forecast": {"kind": "perturbed", "season": "day", "fit_on": "simulated", "noise_sd": 0.0},
    }


def write_csv(series: np.ndarray, path: str | Path) -> Path:
    """``series`` as a trace CSV (columns ``minute,requests``), written whole or not at all
    (a temporary file beside it, then renamed: a full disk leaves no truncated trace)."""
    p = Path(path)
    lines = ["minute,requests"] + [f"{m},{v:.6g}" for m, v in enumerate(series)]
    tmp = _stage(p, "\n".join(lines) + "\n")
    try:
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def _flight(twin: ScenarioParams, first_day: int, days: int, seed: int) -> PacingCore:
    """A core reset on one flight of ``twin`` over ``days`` whole days from ``first_day``."""
    tr = dataclasses.replace(twin.traffic, days="all", split_day=None)
    time = dataclasses.replace(
        twin.time, start_day=first_day, start_minute=0.0, flight_min=days * float(DAY_MIN)
    )
    core = PacingCore(from_dict({}, dataclasses.replace(twin, traffic=tr, time=time)), 1)
    core.reset(np.zeros(1, np.int64), np.array([seed], np.uint64))
    return core


def simulate(
    twin: ScenarioParams, first_day: int, days: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(requests, expected)`` per minute of one campaign of ``twin`` over ``days`` whole days
    from ``first_day`` (one flight, nothing served: traffic does not depend on serving)."""
    core = _flight(twin, first_day, days, seed)
    rate = float(core.par[0, P_BASE_RATE])  # [requests/s] as drawn
    per_tick = record_counters(core, np.zeros(1), [I_REQUESTS])[0, 0].astype(float)
    tps_min = round(60.0 / float(core.scenario.time.tick_s))
    requests = per_tick.reshape(-1, tps_min).sum(axis=1)
    m = np.arange(first_day * DAY_MIN, (first_day + days) * DAY_MIN)
    expected = rate * 60.0 * core.prof[m % core.prof.size]
    return requests, expected


def twin_rates(
    twin: ScenarioParams, first_day: int, days: int, seeds: int = SEEDS
) -> tuple[np.ndarray, np.ndarray]:
    """``(traffic, forecast)`` per minute [profile units]: the twin's shape x its departure
    factor (without the Poisson draw, as the trace is a rate) and its shape, over ``days``
    whole days from ``first_day``, drawn with seeds ``0..seeds - 1`` one after another (its
    statistics pooled over the draws; ``twin`` without traffic noise or surges)."""
    m = np.arange(first_day * DAY_MIN, (first_day + days) * DAY_MIN)
    traffic, forecast = [], []
    for seed in range(seeds):
        core = _flight(twin, first_day, days, seed)
        shape = core.prof[m % core.prof.size]
        traffic.append(shape * np.exp(core.dep_log[0, (m - m[0]) // DEP_BIN_MIN]))
        forecast.append(shape)
    return np.concatenate(traffic), np.concatenate(forecast)


def fit_twin(scenario: str | ScenarioParams, trace_csv: str | Path) -> tuple[ScenarioParams, int]:
    """Fit ``scenario``'s twin, write its trace to ``trace_csv``; ``(twin, first day)``. The
    burst-entry ratio is a fit parameter: of ``BURST_GRID``, the first whose twin (its
    ``twin_rates`` over the trace's days) has the least ``twin_distance`` to the trace."""
    sc = resolve(scenario)
    trace, forecast, lo = trace_pair(sc)
    core = _core(sc)  # the walk-forward table is cached: no second fit
    tail = core.fc_prof.reshape(-1, core.fc_horizon)[-1, DAY_MIN:]
    write_csv(twin_series(forecast, lo, tail), trace_csv)
    want, native = departure_stats(trace, forecast), native_bin_min(trace)
    best: tuple[float, ScenarioParams | None] = (np.inf, None)
    for ratio in BURST_GRID:
        fit = fit_departures(trace, forecast, native_min=native, burst_ratio=ratio)
        twin = from_dict(twin_scenario(sc, fit, trace_csv), sc)
        miss = twin_distance(departure_stats(*twin_rates(twin, lo, trace.size // DAY_MIN)), want)
        if best[1] is None or miss < best[0]:
            best = (miss, twin)
    assert best[1] is not None
    return best[1], lo
