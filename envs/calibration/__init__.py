"""Calibration: fit a scenario to an ad server's logs, and simulate logs from a scenario.

numpy, pandas, pyarrow and threadpoolctl only (the ``calibrate`` extra). See
``docs/calibration.md`` and the console scripts ``pacegym-calibrate`` /
``pacegym-simulate-logs``.
"""

from __future__ import annotations

from pacegym.envs.calibration.delay_fit import DelayFit, fit_deconvolved, fit_joined
from pacegym.envs.calibration.departure_fit import DepartureFit, fit_departures
from pacegym.envs.calibration.fit import (
    Calibration,
    CalibrationError,
    calibrate,
    load_yaml,
    trace_reference,
    write_scenario,
)
from pacegym.envs.calibration.logs import (
    EventLog,
    LogError,
    MinuteCounts,
    parse_events,
    parse_minutes,
    read_log,
    read_table,
)
from pacegym.envs.calibration.minutes import event_minutes, gaps
from pacegym.envs.calibration.simulate import TickCounts, event_table, minute_table, run_core
from pacegym.envs.calibration.simulate_value import (
    ValueDraws,
    channel_minute_table,
    value_event_table,
)
from pacegym.envs.calibration.trace_twin import fit_twin, trace_pair
from pacegym.envs.calibration.traffic_fit import TrafficFit, fit_traffic

__all__ = [
    "Calibration",
    "CalibrationError",
    "DelayFit",
    "DepartureFit",
    "EventLog",
    "LogError",
    "MinuteCounts",
    "TickCounts",
    "TrafficFit",
    "ValueDraws",
    "calibrate",
    "channel_minute_table",
    "event_minutes",
    "event_table",
    "fit_deconvolved",
    "fit_departures",
    "fit_joined",
    "fit_traffic",
    "fit_twin",
    "gaps",
    "load_yaml",
    "minute_table",
    "parse_events",
    "parse_minutes",
    "read_log",
    "read_table",
    "run_core",
    "trace_pair",
    "trace_reference",
    "value_event_table",
    "write_scenario",
]
