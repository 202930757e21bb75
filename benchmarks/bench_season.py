"""How much of a day's traffic the walk-forward forecast puts in the wrong hours, with a daily
or a weekly season, per shipped trace.

For each trace of the real-traffic scenarios (``conf/scenario/traces/*_daily.yaml``) and
each day of its training days (from ``forecast.history_days`` to the split) and test days
(from the split on), Holt-Winters is fitted on the 14 days before the day
(``envs.forecast.make_forecaster``, as the scenarios' walk-forward forecast is) and
predicts the day. The error is half the summed absolute difference of the hourly shares of
the day's requests, actual against forecast (0: every hour's share right; 1: none), the
mean over days. The plan of a daily budget is signed on these shares.

    python benchmarks/bench_season.py
"""

from __future__ import annotations

import numpy as np

from pacegym.envs.core import PacingCore
from pacegym.envs.forecast import SEASONS, make_forecaster
from pacegym.envs.scenarios import resolve
from pacegym.envs.walk_forward import DAY_MIN, expected_per_minute

TRACES = ("taxi", "amzn", "fb", "i94", "bike")


def shape_error(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Half the summed absolute difference of the hourly shares of one day (NaN: no traffic)."""
    a = actual.reshape(24, -1).sum(axis=1)
    f = forecast.reshape(24, -1).sum(axis=1)
    if a.sum() <= 0.0 or f.sum() <= 0.0:
        return float("nan")
    return float(np.abs(a / a.sum() - f / f.sum()).sum() / 2.0)


def errors(name: str) -> dict[tuple[str, str], float]:
    """``(days, season) -> mean shape error`` for one trace."""
    sc = resolve(f"traces/{name}_daily")
    core = PacingCore(sc, 1)
    series = expected_per_minute(core.prof, core.dow)
    n_hist, split = int(sc.forecast.history_days), int(sc.traffic.split_day)  # type: ignore[arg-type]
    days = {"train": range(n_hist, split), "test": range(split, series.size // DAY_MIN - 1)}
    out = {}
    for label, span in days.items():
        for season in SEASONS:
            err = [
                shape_error(
                    series[d * DAY_MIN : (d + 1) * DAY_MIN],
                    make_forecaster(sc.forecast.kind, season)
                    .fit(series[(d - n_hist) * DAY_MIN : d * DAY_MIN])
                    .predict(DAY_MIN),
                )
                for d in span
            ]
            out[label, season] = float(np.nanmean(err))
    return out


def main() -> None:
    print("hourly shares misplaced by the walk-forward forecast, daily / weekly season")
    print("| trace | training days | test days |")
    print("|---|---:|---:|")
    for name in TRACES:
        e = errors(name)
        cells = [f"{e[d, 'day']:.3f} / {e[d, 'week']:.3f}" for d in ("train", "test")]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
