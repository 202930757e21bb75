"""Time ``pacegym-benchmark`` serial against ``benchmark.workers`` processes, same run.

    python benchmarks/bench_benchmark_workers.py [--workers 2] [--episodes-short 20]
        [--episodes-long 4] [--only live_commerce,daily_budget,...] [--repeats 1]

Target (issue "Day two"): ``benchmark.workers=2`` takes at most 0.6x the serial wall time
on 2 cores. Each repeat runs ``experiments.benchmark.run_suite`` (tracking off) on the same
settings three times, each in a fresh process (``--child``: what a new
``pacegym-benchmark`` pays, timed from after the app's import to the written results):

- ``serial``: ``workers=1`` as shipped; the oracle solves two episodes at once
  (``conf/controller/oracle.yaml``, ``threads: 2``), so it already uses part of a second core;
- ``serial, one core``: ``workers=1`` pinned to one CPU (``sched_setaffinity``), one
  BLAS/numba/torch thread (``benchmark_workers.THREAD_ENV``) and the oracle solving one
  episode at a time (``benchmark_workers.one_thread``, as in a worker);
- ``workers=N``: ``--workers`` processes (their forkserver started and stopped in the run).

It checks that all give the same results (every figure but the timings) and prints a
markdown table: wall time, the CPU time used (the process and every process it started,
every thread), the cores that makes on average, and the machine's 1-minute load average
before and after each run; then both ratios, each labelled, and the floor: the one-core
run's CPU time spread over ``--workers`` cores without any loss, against the serial wall
time. On a shared machine a wall-time ratio is only as good as the load it ran at: at a
load at or above the core count the second worker finds no idle core. The default is the
whole suite at fewer episodes (short and multi-day flights).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ONLY = ""
"""The whole suite (``benchmark.only=[]``): 11 scenarios, short and multi-day flights."""
MODES = ("serial", "serial, one core", "workers")
"""The runs of each repeat, in order (the module docstring)."""


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


def child(args: argparse.Namespace) -> None:
    """One timed run in this (fresh) process; writes ``{wall, cpu, before, after, doc}``."""
    if args.child == "serial, one core":  # before anything starts a thread
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from hydra import compose, initialize_config_dir

    from pacegym.baselines.factory import from_spec
    from pacegym.experiments import benchmark, benchmark_workers
    from pacegym.experiments.config import CONF_DIR

    if args.child == "serial, one core":  # the oracle's solves one at a time, as a worker's
        benchmark.from_spec = lambda spec: from_spec(benchmark_workers.one_thread(spec))
    workers = args.workers if args.child == "workers" else 1
    overrides = [
        f"benchmark.only=[{args.only}]",
        f"benchmark.episodes_short={args.episodes_short}",
        f"benchmark.episodes_long={args.episodes_long}",
        f"benchmark.workers={workers}",
        "tracking=off",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="benchmark", overrides=overrides)
    out = Path(args.out)
    before, cpu0 = _load(), _cpu()
    t0 = time.perf_counter()
    result = benchmark.run_suite(cfg, out.parent / "run")  # the worker pool is joined
    benchmark_workers.stop_forkserver()  # and its server: their CPU time is counted now
    wall = time.perf_counter() - t0
    doc = json.dumps(_without_seconds(result), sort_keys=True)
    after, cpu = _load(), _cpu() - cpu0
    out.write_text(
        json.dumps({"wall": wall, "cpu": cpu, "before": before, "after": after, "doc": doc})
    )


def run(args: argparse.Namespace, mode: str, tmp: Path) -> dict[str, Any]:
    """``mode``'s run in a fresh process: ``{wall, cpu, before, after, doc}``."""
    from pacegym.experiments.benchmark_workers import THREAD_ENV

    tmp.mkdir(parents=True)
    env = {**os.environ, **(THREAD_ENV if mode == "serial, one core" else {})}
    cmd = [sys.executable, __file__, f"--child={mode}", f"--out={tmp / 'run.json'}"]
    cmd += [f"--{k.replace('_', '-')}={v}" for k, v in _settings(args).items()]
    subprocess.run(cmd, env=env, check=True)
    return json.loads((tmp / "run.json").read_text())


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("workers", "episodes_short", "episodes_long", "only")
    return {k: getattr(args, k) for k in keys}


def _report(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The table and the ratios (markdown lines)."""
    label = {"workers": f"workers={args.workers}"}
    lines = [
        "| repeat | run | wall s | CPU s | cores used | load (1 min) before -> after |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for r in range(args.repeats):
        for m in MODES:
            x = runs[m][r]
            lines.append(
                f"| {r + 1} | {label.get(m, m)} | {x['wall']:.1f} | {x['cpu']:.1f} | "
                f"{x['cpu'] / x['wall']:.2f} | {x['before']:.1f} -> {x['after']:.1f} |"
            )
    wall = {m: statistics.median(x["wall"] for x in runs[m]) for m in MODES}
    cpu = {m: statistics.median(x["cpu"] for x in runs[m]) for m in MODES}
    w = label["workers"]
    lines += [
        "",
        f"median wall: serial {wall['serial']:.1f} s, serial on one core "
        f"{wall['serial, one core']:.1f} s, {w} {wall['workers']:.1f} s",
        f"- {w} / serial: {wall['workers'] / wall['serial']:.2f}x (the target: <= 0.6x on 2 cores)",
        f"- {w} / serial on one core: {wall['workers'] / wall['serial, one core']:.2f}x",
        f"- floor of {w} / serial: {cpu['serial, one core'] / args.workers / wall['serial']:.2f}x "
        f"(the one-core run's {cpu['serial, one core']:.1f} CPU s on {args.workers} idle cores, "
        "no loss: only meaningful at a load well below the core count)",
        f"- CPU time: {w} / serial on one core {cpu['workers'] / cpu['serial, one core']:.2f}x, "
        f"serial / serial on one core {cpu['serial'] / cpu['serial, one core']:.2f}x",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--episodes-short", type=int, default=20)
    ap.add_argument("--episodes-long", type=int, default=4)
    ap.add_argument("--only", default=ONLY, help="comma-separated suite scenarios (all: '')")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)  # one timed run
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for i, m in enumerate(MODES):
                runs[m].append(run(args, m, Path(tmp) / f"{r}_{i}"))
    where = f"{len(args.only.split(','))} scenarios" if args.only else "the whole suite"
    print(
        f"{where}, {args.episodes_short} episodes on short flights, {args.episodes_long} on "
        f"long ones; {os.cpu_count()} CPUs\n"
    )
    print("\n".join(_report(args, runs)))
    same = len({x["doc"] for m in MODES for x in runs[m]}) == 1
    print(f"\nsame results: {same}")
    if not same:
        raise SystemExit("the runs' results differ")


if __name__ == "__main__":
    main()
