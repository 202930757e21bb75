"""Time ``pacegym-benchmark`` serial against ``benchmark.workers`` processes, same run.

    python benchmarks/bench_benchmark_workers.py [--workers 2] [--episodes-short 20]
        [--episodes-long 4] [--only live_commerce,daily_budget,...] [--repeats 1]

Target (issue "Ray Tune that schedules", item 2): ``benchmark.workers=2`` takes at most
0.6x the serial wall time on 2 cores. Runs ``experiments.benchmark.run_suite`` (tracking
off) on the same settings serially (``workers=1``) and with ``--workers``, taking turns
``--repeats`` times, checks that both give the same results (every figure but the
timings), and prints a markdown table: wall time of each, the CPU time it used (this
process and its worker processes, every thread), their ratios, and the machine's 1-minute
load average before and after each run. On a shared machine a wall-time ratio is only as
good as the load it ran at: at a load at or above the core count the second worker finds
no idle core. The default is the whole suite at fewer episodes (short and multi-day flights).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

from pacegym.experiments import benchmark
from pacegym.experiments.config import CONF_DIR

ONLY = ""
"""The whole suite (``benchmark.only=[]``): 11 scenarios, short and multi-day flights."""


def _load() -> float:
    return os.getloadavg()[0]


def _without_seconds(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _without_seconds(v) for k, v in doc.items() if k != "seconds"}
    if isinstance(doc, list):
        return [_without_seconds(v) for v in doc]
    return doc


def _cpu() -> float:
    """[s] CPU time of this process and its reaped children (user + system, all threads)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(
    args: argparse.Namespace, workers: int, out: Path
) -> tuple[float, float, float, float, str]:
    """``(wall s, CPU s, load before, load after, results without timings as JSON)``."""
    overrides = [
        f"benchmark.only=[{args.only}]",
        f"benchmark.episodes_short={args.episodes_short}",
        f"benchmark.episodes_long={args.episodes_long}",
        f"benchmark.workers={workers}",
        "tracking=off",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="benchmark", overrides=overrides)
    before, cpu0 = _load(), _cpu()
    t0 = time.perf_counter()
    result = benchmark.run_suite(cfg, out)  # the worker pool is joined when it returns
    wall = time.perf_counter() - t0
    doc = json.dumps(_without_seconds(result), sort_keys=True)
    return wall, _cpu() - cpu0, before, _load(), doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--episodes-short", type=int, default=20)
    ap.add_argument("--episodes-long", type=int, default=4)
    ap.add_argument("--only", default=ONLY, help="comma-separated suite scenarios (all: '')")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    walls: dict[int, list[float]] = {1: [], args.workers: []}
    cpus: dict[int, list[float]] = {1: [], args.workers: []}
    rows = []
    results = set()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for w in (1, args.workers):
                wall, cpu, before, after, doc = run(args, w, Path(tmp) / f"{r}_{w}")
                walls[w].append(wall)
                cpus[w].append(cpu)
                results.add(doc)
                rows.append(
                    f"| {r + 1} | {w} | {wall:.1f} | {cpu:.1f} | {before:.1f} -> {after:.1f} |"
                )
    serial, spread = statistics.median(walls[1]), statistics.median(walls[args.workers])
    where = f"{len(args.only.split(','))} scenarios" if args.only else "the whole suite"
    print(
        f"{where}, {args.episodes_short} episodes on short "
        f"flights, {args.episodes_long} on long ones; {os.cpu_count()} CPUs\n"
    )
    print("| repeat | workers | wall s | CPU s | load (1 min) before -> after |")
    print("|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    cpu_ratio = statistics.median(cpus[args.workers]) / statistics.median(cpus[1])
    print(
        f"\nmedian wall: serial {serial:.1f} s, workers={args.workers} {spread:.1f} s; ratio "
        f"{spread / serial:.2f}x (target <= 0.6x on 2 cores); CPU time ratio {cpu_ratio:.2f}x; "
        f"same results: {len(results) == 1}"
    )
    if len(results) != 1:
        raise SystemExit("the worker runs' results differ from the serial run's")


if __name__ == "__main__":
    main()
