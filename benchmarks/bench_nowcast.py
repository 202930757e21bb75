"""Error of the intraday forecast (nowcast) by horizon against the day-ahead forecast, per trace.

For every shipped real-traffic daily scenario (``conf/scenario/traces/*_daily.yaml``) and
each of its days (test days by default, ``--days train`` for the days the nowcast's
settings were chosen on), a flight from midnight: the day-ahead forecast is the
scenario's walk-forward forecast of that day (``envs.walk_forward``, fitted on the 14 days
before it), the nowcast corrects it with the traffic seen since midnight
(``envs.nowcast``: one smoothed level, ``--tau``/``--decay``) or by the linear nowcast
(``envs.nowcast_linear``, fitted walk-forward on the days before each day,
``envs.nowcast_fit``). Every 15
minutes each predicts the requests of the next 15 min, 1 h, 4 h and the rest of the day;
the table prints the MAPE [%] of each over all origins and days, and each nowcast's
reduction of the 1-hour error.

    python benchmarks/bench_nowcast.py                       # test days, scenario settings
    python benchmarks/bench_nowcast.py --days train --grid   # choose tau and decay
    python benchmarks/bench_nowcast.py --pid                 # what it buys the PID
    python benchmarks/bench_nowcast.py --oracle              # the linear model's bound

``--oracle`` fits the linear nowcast on the very days it scores (look-ahead: not a
forecast, the bound of its model class), with each of its ridge penalties, and prints the
best 1-hour cut beside the walk-forward one.

``--pid`` scores the daily-budget PID set on ``--episodes`` flights per trace on its
training days (from the linear nowcast's first start day to the split, the same days and
seeds for each nowcast) with no nowcast, the smoothing one and the linear one, and prints
the paired differences by episode.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools

import numpy as np

from pacegym.baselines import run_episodes
from pacegym.baselines.factory import load_controller_yaml
from pacegym.envs.core import PacingCore
from pacegym.envs.nowcast import nowcast_windows, window_totals
from pacegym.envs.nowcast_fit import RIDGES, day_rows, fit_rows
from pacegym.envs.nowcast_linear import linear_origin_levels
from pacegym.envs.params import ForecastParams
from pacegym.envs.scenarios import resolve
from pacegym.envs.walk_forward import DAY_MIN, expected_per_minute
from pacegym.resources import conf_dir

TRACES = ("taxi", "amzn", "fb", "i94", "bike")
HORIZONS = np.array([15, 60, 240, -1])
LABELS = ("15 min", "1 h", "4 h", "rest of day")
ORIGINS = np.arange(15, DAY_MIN - 15 + 1, 15)
DEFAULT = ForecastParams()


Day = tuple[np.ndarray, np.ndarray, np.ndarray]


def day_pairs(name: str, days: str) -> list[Day]:
    """(actual, day-ahead, linear nowcast weights) of each day of ``days``: requests per
    minute [profile units], and the weights the core fitted for a flight on that day."""
    sc = resolve(f"traces/{name}_daily")
    fc = dataclasses.replace(sc.forecast, nowcast="linear")
    sc = dataclasses.replace(sc, traffic=dataclasses.replace(sc.traffic, days=days), forecast=fc)
    core = PacingCore(sc, 1)
    expected = expected_per_minute(core.prof, core.dow)
    lo, hi = core.day_lo, core.day_hi
    table = core.fc_prof.reshape(-1, core.fc_horizon)  # the core's walk-forward forecast
    return [
        (
            expected[d * DAY_MIN : (d + 1) * DAY_MIN],
            table[d - lo, :DAY_MIN],
            core.nc_wtab[d - lo : d - lo + 1],
        )
        for d in range(lo, hi + 1)
    ]


def mape(pairs: list[Day], tau: float, decay: float) -> np.ndarray:
    """MAPE [%] per horizon: rows day-ahead, smoothing nowcast, linear nowcast."""
    err = np.zeros((3, HORIZONS.size))
    count = np.zeros(HORIZONS.size)
    for actual, ahead, w in pairs:
        act, fc, now = nowcast_windows(actual, ahead, ORIGINS, HORIZONS, tau, decay)
        levels = linear_origin_levels(actual, ahead, ORIGINS, w)
        lin = window_totals(actual, ahead, ORIGINS, HORIZONS, levels, decay)[2]
        ok = act > 0
        safe = np.where(ok, act, 1.0)
        for row, pred in enumerate((fc, now, lin)):
            err[row] += np.where(ok, np.abs(pred - act) / safe, 0.0).sum(axis=0)
        count += ok.sum(axis=0)
    return 100.0 * err / np.maximum(count, 1)


def pid_scores(episodes: int, seed: int) -> None:
    """Print the PID's mean ``pacing_score_v2`` per nowcast on each trace's training days,
    and the paired differences by episode (mean, standard error)."""
    pid = load_controller_yaml(conf_dir() / "controller/daily_budget/pid_tuned.yaml")
    kinds = ("none", "smoothing", "linear")
    print("| trace | days | " + " | ".join(kinds) + " | linear - smoothing (SE) |")
    print("|---|---|" + "---:|" * (len(kinds) + 1))
    for name in TRACES:
        linear = {"base": f"traces/train/{name}_daily", "forecast": {"nowcast": "linear"}}
        core = PacingCore(resolve(linear), 1)
        days = [core.day_lo, core.day_hi]
        score = {}
        for kind in kinds:
            sc = {"base": f"traces/{name}_daily", "forecast": {"nowcast": kind},
                  "traffic": {"days": "all"}, "time": {"start_day": days}}  # fmt: skip
            score[kind] = run_episodes(pid, sc, episodes, seed).metrics["pacing_score_v2"]
        diff = score["linear"] - score["smoothing"]
        se = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else float("nan")
        cells = " | ".join(f"{score[k].mean():.4f}" for k in kinds)
        print(f"| {name} | {days[0]}-{days[1]} | {cells} | {diff.mean():+.5f} ({se:.5f}) |")


def oracle_cuts(pairs: dict[str, list[Day]], decay: float) -> None:
    """Print each trace's 1-hour cut by the linear nowcast fitted walk-forward and fitted
    on the scored days themselves (the best of ``RIDGES``)."""
    print("| trace | days | 1-h cut: walk-forward | fitted on these days (penalty) |")
    print("|---|---:|---:|---:|")
    for name, p in pairs.items():
        rows = [day_rows(a, f, decay) for a, f, _ in p]
        stacked = tuple(np.concatenate([r[i] for r in rows]) for i in range(3))
        best, ridge = -np.inf, RIDGES[0]
        for lam in RIDGES:
            w = fit_rows(stacked, lam)[None, :]  # type: ignore[arg-type]
            e = mape([(a, f, w) for a, f, _ in p], DEFAULT.nowcast_tau_min, decay)
            if (cut := 1 - e[2, 1] / e[0, 1]) > best:
                best, ridge = cut, lam
        e = mape(p, DEFAULT.nowcast_tau_min, decay)
        walk = 100 * (1 - e[2, 1] / e[0, 1])
        print(f"| {name} | {len(p)} | {walk:.1f}% | {100 * best:.1f}% ({ridge:g}) |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", choices=("train", "test"), default="test")
    ap.add_argument("--grid", action="store_true", help="search tau x decay on these days")
    ap.add_argument("--tau", type=float, default=DEFAULT.nowcast_tau_min, help="[min]")
    ap.add_argument("--decay", type=float, default=DEFAULT.nowcast_decay_min, help="[min]")
    ap.add_argument("--pid", action="store_true", help="the PID's score with each nowcast")
    ap.add_argument("--oracle", action="store_true", help="the linear model fitted in-sample")
    ap.add_argument("--episodes", type=int, default=64, help="flights per trace (--pid)")
    ap.add_argument("--seed", type=int, default=100_000, help="first episode seed (--pid)")
    args = ap.parse_args()
    if args.pid:
        pid_scores(args.episodes, args.seed)
        return
    pairs = {n: day_pairs(n, args.days) for n in TRACES}
    if args.oracle:
        oracle_cuts(pairs, args.decay)
        return
    if args.grid:
        print("| tau [min] | decay [min] | mean 1-h reduction | worst trace |")
        print("|---:|---:|---:|---:|")
        for tau, decay in itertools.product((15, 30, 60, 120), (60, 120, 240, 480, 960)):
            red = [1 - (e := mape(p, tau, decay))[1, 1] / e[0, 1] for p in pairs.values()]
            print(f"| {tau} | {decay} | {100 * np.mean(red):.1f}% | {100 * min(red):.1f}% |")
        return
    tau, decay = args.tau, args.decay
    print(f"{args.days} days; smoothing nowcast tau {tau:g} min, decay {decay:g} min; MAPE [%]")
    print("| trace | days | " + " | ".join(f"{h}: ahead / smooth / linear" for h in LABELS)
          + " | 1-h cut: smooth | linear |")  # fmt: skip
    print("|---|---:|" + "---:|" * (len(LABELS) + 2))
    for name, p in pairs.items():
        e = mape(p, tau, decay)
        cells = " | ".join(f"{e[0, k]:.1f} / {e[1, k]:.1f} / {e[2, k]:.1f}" for k in range(4))
        cuts = " | ".join(f"{100 * (1 - e[r, 1] / e[0, 1]):.1f}%" for r in (1, 2))
        print(f"| {name} | {len(p)} | {cells} | {cuts} |")


if __name__ == "__main__":
    main()
