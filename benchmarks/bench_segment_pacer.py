"""Benchmark the exported per-segment pacers: 1 campaign, and 1M campaigns x 12 segments.

    python benchmarks/bench_segment_pacer.py [--rows 1000000] [--repeats 5] [--threads 2]
        [--kinds dual_price smart_pacing lp_split]

For each kind, exports ``conf/controller/value_channels/<kind>_tuned.yaml`` for the segments
of ``value_channels`` (``agents.export.segment_export``), loads it with the numpy runtime
(``load_segment_pacer``, with one and with ``--threads`` worker threads) and times ``act``
(the state kept inside, advanced in place) on float32 observations ``(rows, 14 + 3 x 12)``:
rows recorded along value_channels episodes run by the baseline, tiled to ``--rows``, and
one row (a single campaign; the median of ``--repeats`` x 100 calls). Prints the median,
min and max wall seconds per call over ``--repeats`` calls (after one warm-up), the median
CPU seconds of the process (all threads; on a shared machine, what the call would take on
idle cores) and the 1-minute load average before and after, so a figure taken on a shared
machine says so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

import numpy as np

KINDS = ("dual_price", "smart_pacing", "lp_split")


def recorded_obs(scenario: str, controller: Any, n: int = 8) -> np.ndarray:
    """Observations ``(ticks x n, width)`` float32 along ``n`` episodes run by ``controller``."""
    from pacegym.envs.core import PacingCore
    from pacegym.envs.scenarios import resolve

    core = PacingCore(resolve(scenario), n)
    core.reset(np.arange(n), np.arange(1, n + 1, dtype=np.uint64))
    controller.reset(n)
    if hasattr(controller, "attach"):
        controller.attach(core)
    rows = []
    while not core.done.all():
        rows.append(core.obs.copy())
        core.step(controller.act(core.obs))
    return np.concatenate(rows).astype(np.float32)


def timed(pacer: Any, x: np.ndarray, repeats: int) -> tuple[list[float], list[float]]:
    """``(wall, cpu)`` seconds per ``act`` call on ``x`` (after one warm-up), ``repeats``
    calls; cpu is the process's, all its threads together."""
    pacer.reset(len(x))
    pacer.act(x)
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        pacer.act(x)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="worker threads (also timed: 1)")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    args = ap.parse_args(argv)
    from pacegym.agents.export.runtime.segment_pacer import load_segment_pacer
    from pacegym.agents.export.segment_export import export_segment_controller
    from pacegym.baselines.factory import load_controller_yaml
    from pacegym.resources import find_config

    print("| kind | rows | segments | threads | median s | min s | max s | cpu s | load 1-min |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for kind in args.kinds:
        ctrl = load_controller_yaml(find_config("controller", f"value_channels/{kind}_tuned"))
        obs = recorded_obs("value_channels", ctrl)
        x = np.ascontiguousarray(np.resize(obs, (args.rows, obs.shape[1])))
        with tempfile.TemporaryDirectory() as tmp:
            art = export_segment_controller(ctrl, "value_channels", f"{tmp}/p")
            pacers = {t: load_segment_pacer(art, threads=t) for t in sorted({1, args.threads})}
        cases = [(1, 1, obs[len(obs) // 2 : len(obs) // 2 + 1], args.repeats * 100)]
        cases += [(t, len(x), x, args.repeats) for t in pacers]
        for threads, rows, data, repeats in cases:
            load0 = os.getloadavg()[0]
            times, cpu = timed(pacers[threads], data, repeats)
            load1 = os.getloadavg()[0]
            print(
                f"| {kind} | {rows:,} | {pacers[1].n_segments} | {threads}"
                f" | {statistics.median(times):.3g} | {min(times):.3g} | {max(times):.3g}"
                f" | {statistics.median(cpu):.3g} | {load0:.2f} -> {load1:.2f} |",
                flush=True,
            )
    print(f"usable CPUs: {len(os.sched_getaffinity(0))}")


if __name__ == "__main__":
    main()
