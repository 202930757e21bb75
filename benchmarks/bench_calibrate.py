"""Time and peak memory of calibrating a scenario from a large log.

    python benchmarks/bench_calibrate.py [--days 11] [--campaigns 4] [--repeats 3] [--dir DIR]

Simulates a daily-budget event log (joined by serve id; about 0.9 million rows per
campaign-day: 4 campaigns x 11 days ~ 10 million rows) and its per-minute
aggregates, writes them as CSV and Parquet, then runs read + validate + fit
(``read_log`` + ``calibrate``, no plots) in a fresh process per repeat and prints
a markdown table of median wall time and peak RSS (``resource.getrusage``; the
child's own maximum resident set, imports included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from pacegym.envs.calibration import calibrate, read_log
t1 = time.perf_counter()
cal = calibrate(read_log(sys.argv[1]), "daily_budget", "bench")
t2 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"seconds": t2 - t1, "rss_mb": rss, "q75": float(cal.delay.quantile(0.75))}))
"""


MAKE = """
import sys
from pathlib import Path
import pyarrow.csv as pacsv, pyarrow.parquet as pq
from pacegym.envs.calibration import event_table, minute_table, run_core
d = Path(sys.argv[1])
tc = run_core("daily_budget", int(sys.argv[2]), seed=0, days=float(sys.argv[3]))
for name, table in (("events", event_table(tc, seed=1)), ("minutes", minute_table(tc))):
    pacsv.write_csv(table, d / f"{name}.csv")
    pq.write_table(table, d / f"{name}.parquet")
"""


def measure(path: Path, repeats: int) -> tuple[float, float, float]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return (
        statistics.median(r["seconds"] for r in runs),
        max(r["rss_mb"] for r in runs),
        runs[0]["q75"],
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=float, default=11.0)
    ap.add_argument("--campaigns", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to write the logs (default: a temp dir)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(args.dir or tmp)
        d.mkdir(parents=True, exist_ok=True)
        # generate in a child too: Linux keeps a process's peak RSS across fork + exec, so
        # a large parent would inflate every measured child
        subprocess.run(
            [sys.executable, "-c", MAKE, str(d), str(args.campaigns), str(args.days)], check=True
        )
        files = []
        for name in ("events", "minutes"):
            rows = pq.ParquetFile(d / f"{name}.parquet").metadata.num_rows
            for fmt in ("csv", "parquet"):
                files.append((name, fmt, rows, d / f"{name}.{fmt}"))
        print(
            f"daily_budget, {args.campaigns} campaigns x {args.days:g} days; "
            f"{args.repeats} runs each, median time, max peak RSS\n"
        )
        print("| log | format | rows | file MB | read + fit s | peak RSS MB | fitted q75 delay s |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name, fmt, rows, path in files:
            sec, rss, q75 = measure(path, args.repeats)
            mb = path.stat().st_size / 2**20
            print(f"| {name} | {fmt} | {rows:,} | {mb:,.0f} | {sec:.1f} | {rss:,.0f} | {q75:.0f} |")


if __name__ == "__main__":
    main()
