"""Time ``pacegym-benchmark`` serial against ``benchmark.workers`` processes, same run.

    python benchmarks/bench_benchmark_workers.py [--workers 2] [--episodes-short 20]
        [--episodes-long 4] [--only live_commerce,daily_budget,...] [--repeats 1]
    python benchmarks/bench_benchmark_workers.py --suite    # the defaults against 4 min

``--suite`` (issue 26: "the full benchmark suite (``pacegym-benchmark`` defaults) <= 4 min
wall on 2 cores") runs, each in a fresh process on the same episodes (the app's defaults,
200 / 50, unless ``--episodes-short`` / ``--episodes-long`` / ``--only`` say otherwise):
``before``, the implementation before issue 26's suite work (``workers=1``, the oracle
solving two episodes at once, every scenario's oracle episodes in one batch, so past
``warm_models`` = 64 they re-plan cold) and ``defaults``, the app as shipped (one worker
per usable CPU, the oracle's episodes in batches of ``warm_models``). It prints each run's
wall and CPU time with the load, each scenario's seconds, the defaults' wall time against
the 240-s target, the ratio to ``before``, and checks that every row but the oracle's has
the same figures (the oracle's: its score's and the tuned baselines' normalised scores'
largest moves, another optimal schedule where a row re-planned cold before).

Without ``--suite`` (target, issue "Day two": ``benchmark.workers=2`` within 0.6x the
serial wall time on 2 cores), each repeat runs ``experiments.benchmark.run_suite`` (tracking off) on the same
settings three times, each in a fresh process (``--child``: what a new
``pacegym-benchmark`` pays, timed from after the app's import to the written results):

- ``serial``: ``workers=1`` (the default before issue 26, which made it one worker per
  usable CPU); the oracle solves two episodes at once
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
SUITE_MODES = ("before", "defaults")
"""The runs of ``--suite`` (the module docstring)."""
TARGET_S = 240.0
"""[s] issue 26's bound on the whole suite's wall time at the defaults, on 2 cores."""


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
    if args.child == "before":  # every oracle episode of a scenario in one batch
        benchmark.batch_of = lambda b, ctrl: int(b.batch_size)
    workers = {"workers": [args.workers], "defaults": []}.get(args.child, [1])
    overrides = [
        f"benchmark.only=[{args.only}]",
        *(f"benchmark.{k}={v}" for k, v in _episodes(args).items() if v is not None),
        *(f"benchmark.workers={w}" for w in workers),
        "tracking=off",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="benchmark", overrides=overrides)
    out = Path(args.out)
    before, cpu0 = _load(), _cpu()
    t0 = time.perf_counter()
    b = cfg.benchmark
    result = benchmark.run_suite(cfg, out.parent / "run")  # the worker pool is joined
    benchmark_workers.stop_forkserver()  # and its server: their CPU time is counted now
    wall = time.perf_counter() - t0
    doc = json.dumps(_without_seconds(result), sort_keys=True)
    after, cpu = _load(), _cpu() - cpu0
    seconds = result["seconds"]
    out.write_text(
        json.dumps(
            {"wall": wall, "cpu": cpu, "before": before, "after": after, "doc": doc}
            | {"seconds": seconds, "workers": benchmark_workers.worker_count(b, len(seconds))}
        )
    )


def _episodes(args: argparse.Namespace) -> dict[str, Any]:
    """The episode counts a run overrides (None: the app's default; ``--suite`` only)."""
    return {"episodes_short": args.episodes_short, "episodes_long": args.episodes_long}


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
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


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


def _suite_report(runs: dict[str, dict[str, Any]]) -> list[str]:
    """``--suite``'s tables, the target line and the results check (markdown lines)."""
    lines = [
        "| run | workers | wall s | CPU s | cores used | load (1 min) before -> after |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for m in SUITE_MODES:
        x = runs[m]
        lines.append(
            f"| {m} | {x['workers']} | {x['wall']:.1f} | {x['cpu']:.1f} | "
            f"{x['cpu'] / x['wall']:.2f} | {x['before']:.1f} -> {x['after']:.1f} |"
        )
    old, new = runs["before"], runs["defaults"]
    lines += ["", "| scenario | before s | defaults s |", "|---|---:|---:|"]
    lines += [f"| {k} | {old['seconds'][k]:.0f} | {v:.0f} |" for k, v in new["seconds"].items()]
    verdict = "met" if new["wall"] <= TARGET_S else f"over by {new['wall'] - TARGET_S:.0f} s"
    return [
        *lines,
        "",
        f"defaults: {new['wall']:.0f} s ({new['wall'] / 60:.1f} min) wall against the "
        f"{TARGET_S:.0f}-s target: {verdict}; {new['wall'] / old['wall']:.2f}x the wall time "
        f"before, {new['cpu'] / old['cpu']:.2f}x its CPU time; {os.cpu_count()} CPUs (at a "
        "load above the CPU count the wall times say little: the CPU times do)",
        *_moves(json.loads(old["doc"]), json.loads(new["doc"])),
    ]


def _moves(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every row but the oracle's the same; the oracle's score's and the tuned baselines'
    normalised scores' largest moves (raises where another row differs)."""
    scored = ("normalised", "regret")  # measured against the oracle's row
    d_oracle, d_norm = 0.0, 0.0
    for key, doc in new["scenarios"].items():
        rows = {r["name"]: r for r in old["scenarios"][key]["rows"]}
        for r in doc["rows"]:
            was = rows[r["name"]]
            if r["name"] == "oracle":
                d_oracle = max(d_oracle, abs(r["pacing_score_v2"] - was["pacing_score_v2"]))
                continue
            same = {k: v for k, v in r.items() if not k.startswith(scored)}
            if same != {k: v for k, v in was.items() if not k.startswith(scored)}:
                raise SystemExit(f"{key}: row {r['name']} differs from the run before")
            if r["type"] == "baseline":
                d_norm = max(d_norm, abs(r["normalised"] - was["normalised"]))
    return [
        f"same figures on every row but the oracle's: True; the oracle's score moved by at most "
        f"{d_oracle:.1e}, a tuned baseline's normalised score by at most {d_norm:.3f} points"
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--episodes-short", type=int, help="default 20 (--suite: the app's 200)")
    ap.add_argument("--episodes-long", type=int, help="default 4 (--suite: the app's 50)")
    ap.add_argument("--suite", action="store_true", help="the defaults before and now")
    ap.add_argument("--only", default=ONLY, help="comma-separated suite scenarios (all: '')")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--child", choices=MODES + SUITE_MODES, help=argparse.SUPPRESS)  # one run
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.suite:
        with tempfile.TemporaryDirectory() as tmp:
            suite = {m: run(args, m, Path(tmp) / m) for m in SUITE_MODES}
        print("\n".join(_suite_report(suite)))
        return
    args.episodes_short = 20 if args.episodes_short is None else args.episodes_short
    args.episodes_long = 4 if args.episodes_long is None else args.episodes_long
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
