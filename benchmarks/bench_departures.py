"""How traffic departs from its forecast: the recorded traces against the synthetic generator.

For each shipped trace (its daily scenario's test days, against the walk-forward day-ahead
forecast of each day) and for synthetic scenarios (28 simulated days of one campaign
against the generator's own expected traffic: the forecast of ``kind: perturbed`` without
its error), prints ``envs.departures.departure_stats``: persistence of departures
(autocorrelation of log(actual / forecast) on 15-min bins), burst sizes and durations,
the share of hours more than 30% off forecast, and how much days differ in shape. The
``twin`` rows are each trace's fitted synthetic generator (``traffic.departures`` fitted on
the same test days, ``envs.calibration.trace_twin``): its rate (no Poisson draw: the trace
is a rate) over 8 draws of as many days (seeds 0-7), pooled.

    python benchmarks/bench_departures.py
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from pacegym.envs.calibration.trace_twin import fit_twin, twin_rates
from pacegym.envs.core import PacingCore
from pacegym.envs.departures import departure_stats
from pacegym.envs.history import history_scenario, simulated_history
from pacegym.envs.scenarios import resolve
from pacegym.envs.traffic import profile_array
from pacegym.envs.walk_forward import DAY_MIN, expected_per_minute

TRACES = ("taxi", "amzn", "fb", "i94", "bike")
SYNTHETIC = ("daily_budget",)  # the intraday generator (every per-minute synthetic scenario)
DAYS = 28
COLUMNS = (
    ("acf_15min", "acf 15 min", "{:.2f}"),
    ("acf_1h", "acf 1 h", "{:.2f}"),
    ("acf_4h", "acf 4 h", "{:.2f}"),
    ("burst_size_q50", "burst x q50", "{:.1f}"),
    ("burst_size_q90", "burst x q90", "{:.1f}"),
    ("burst_min_q50", "burst min q50", "{:.0f}"),
    ("burst_min_q90", "burst min q90", "{:.0f}"),
    ("off_forecast_hours", "hours off 30%", "{:.2f}"),
    ("day_shape_cv", "day-shape CV", "{:.2f}"),
)


def trace_days(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(actual, day-ahead forecast) per minute over the test days of ``traces/<name>_daily``."""
    sc = resolve(f"traces/{name}_daily")
    core = PacingCore(sc, 1)
    expected = expected_per_minute(core.prof, core.dow)
    lo, hi = core.day_lo, core.day_hi
    table = core.fc_prof.reshape(-1, core.fc_horizon)  # the core's walk-forward forecast
    return expected[lo * DAY_MIN : (hi + 1) * DAY_MIN], table[:, :DAY_MIN].reshape(-1)


def synthetic_days(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(simulated requests, expected requests) per minute over ``DAYS`` days of ``name``."""
    sc = resolve(name)
    sc = dataclasses.replace(sc, forecast=dataclasses.replace(sc.forecast, history_days=DAYS))
    actual = simulated_history(sc, PacingCore)
    hist = history_scenario(sc)
    prof, _ = profile_array(sc.traffic)
    m = np.arange(actual.size) + int(hist.time.start_day) * DAY_MIN
    dow = np.asarray(sc.traffic.dow_factors)[(m // DAY_MIN) % 7]
    rate = float(np.mean(sc.traffic.base_rate))  # a range: its middle (the shape is what counts)
    return actual, rate * 60.0 * prof[m % prof.size] * dow


def twin_days(name: str, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(traffic, forecast) per minute of the fitted twin of ``name``: its rate over
    ``trace_twin.SEEDS`` draws of the trace's days, pooled (``trace_twin.twin_rates``)."""
    actual, _ = trace_days(name)
    twin, first = fit_twin(f"traces/{name}_daily", folder / f"{name}_twin.csv")
    return twin_rates(twin, first, actual.size // DAY_MIN)


def main() -> None:
    print("| traffic | " + " | ".join(label for _, label, _ in COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in TRACES:
            rows += [(f"trace {n}", trace_days(n)), (f"twin {n}", twin_days(n, Path(tmp)))]
    rows += [(f"synthetic {n}", synthetic_days(n)) for n in SYNTHETIC]
    for label, (actual, forecast) in rows:
        st = departure_stats(actual, forecast)
        cells = " | ".join(fmt.format(st[key]) for key, _, fmt in COLUMNS)
        print(f"| {label} | {cells} |")


if __name__ == "__main__":
    main()
