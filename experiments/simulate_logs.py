"""Write ad-server logs simulated from a scenario by the dynamics core.

pacegym-simulate-logs [--scenario daily_budget] [--days 14] [--campaigns 4] [--seed 0]
    [--form both|events|minutes] [--join serve_id|serve_timestamp|none]
    [--format csv|parquet] [--throttle 1.0] [--out outputs/logs] [--overwrite]

Writes ``<out>/<scenario>_events.<fmt>`` (one row per request, serve and impression)
and/or ``<out>/<scenario>_minutes.<fmt>`` (per-minute requests, serves, counted
impressions); columns are documented in ``envs/calibration/logs.py`` and
docs/calibration.md. A value scenario (``value.channels``) has a per-minute row per
channel and also writes ``<out>/<scenario>_value_events.<fmt>`` (impressions per
channel and minute, clicks, conversions with their click's time:
``envs/calibration/value_log.py``). ``--scenario`` is a preset, a scenario YAML path or the name of
one under conf/scenario/. Without ``--days`` each campaign logs one flight of the
scenario (needed for broadcast profiles); with it, that many days from midnight.
``--out`` is this run's own folder (``pacegym.outdir``): a folder holding an earlier
run's logs is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pacegym import outdir
from pacegym.envs.calibration import event_table, minute_table, run_core, value_event_table
from pacegym.envs.checks import COUNT, SEED, SHARE
from pacegym.envs.params import ScenarioParams
from pacegym.envs.scenarios import resolve
from pacegym.flags import FlagParser


def load_scenario(spec: str) -> ScenarioParams:
    """A preset name, a scenario file's name or a path to one (``envs.scenarios.resolve``)."""
    return resolve(spec)


def write_table(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)


FLAGS = {"throttle": SHARE, "campaigns": COUNT, "seed": SEED}
"""The numeric flags' allowed values (``--days``: ``time.flight_min``, by the scenario)."""


def main(argv: list[str] | None = None) -> None:
    ap = FlagParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="daily_budget")
    ap.add_argument("--days", type=float, default=None)
    ap.add_argument("--campaigns", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--form", choices=("both", "events", "minutes"), default="both")
    ap.add_argument("--join", choices=("serve_id", "serve_timestamp", "none"), default="serve_id")
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ap.add_argument("--throttle", type=float, default=1.0)
    ap.add_argument("--out", default="outputs/logs")
    ap.add_argument("--overwrite", action="store_true", help="replace an earlier run's --out")
    args = ap.parse_args(argv)
    ap.check_flags(args, FLAGS)
    scenario = load_scenario(args.scenario)
    out = Path(args.out)
    stem = Path(args.scenario).stem
    command = " ".join(["pacegym-simulate-logs", *(sys.argv[1:] if argv is None else argv)])
    t0 = time.perf_counter()
    with outdir.owned("--out", out, args.overwrite, command):
        tc = run_core(scenario, args.campaigns, args.seed, args.days, args.throttle)
        if args.form in ("both", "minutes"):
            path = out / f"{stem}_minutes.{args.format}"
            table = minute_table(tc)
            write_table(table, path)
            print(f"{path}: {table.num_rows} rows (per-minute aggregates)")
        if args.form in ("both", "events"):
            path = out / f"{stem}_events.{args.format}"
            table = event_table(tc, seed=args.seed + 1, join=args.join)
            write_table(table, path)
            print(f"{path}: {table.num_rows} rows (events, join = {args.join})")
        if tc.value is not None:
            path = out / f"{stem}_value_events.{args.format}"
            table = value_event_table(tc.value)
            write_table(table, path)
            print(f"{path}: {table.num_rows} rows (impressions by channel, clicks, conversions)")
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
