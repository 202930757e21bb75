"""Benchmark the exported per-segment pacer (kind ``dual_price``): 1M campaigns x 12 segments.

    python benchmarks/bench_segment_pacer.py [--rows 1000000] [--repeats 5] [--threads 2]

Exports ``conf/controller/value_channels/dual_price_tuned.yaml`` for the segments of
``value_channels`` (``agents.export.segment_export``), loads it with the numpy runtime
(``load_segment_pacer``, with one and with ``--threads`` worker threads) and times ``act``
on ``--rows`` float32 observations ``(rows, 14 + 3 x 12)``: rows recorded along
value_channels episodes, tiled. Prints the
median, min and max seconds per call over ``--repeats`` calls (after one warm-up) and the
1-minute load average before and after, so a figure taken on a shared machine says so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np


def recorded_obs(scenario: str, controller: object, n: int = 8) -> np.ndarray:
    """Observations ``(ticks x n, width)`` float32 along ``n`` episodes run by ``controller``."""
    from pacegym.envs.core import PacingCore
    from pacegym.envs.scenarios import resolve

    core = PacingCore(resolve(scenario), n)
    core.reset(np.arange(n), np.arange(1, n + 1, dtype=np.uint64))
    controller.reset(n)
    rows = []
    while not core.done.all():
        rows.append(core.obs.copy())
        core.step(controller.act(core.obs))
    return np.concatenate(rows).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="worker threads (also timed: 1)")
    args = ap.parse_args(argv)
    from pacegym.agents.export.runtime.segment_pacer import load_segment_pacer
    from pacegym.agents.export.segment_export import export_segment_controller
    from pacegym.baselines.factory import load_controller_yaml
    from pacegym.resources import find_config

    ctrl = load_controller_yaml(find_config("controller", "value_channels/dual_price_tuned"))
    obs = recorded_obs("value_channels", ctrl)
    x = np.ascontiguousarray(np.resize(obs, (args.rows, obs.shape[1])))
    with tempfile.TemporaryDirectory() as tmp:
        art = export_segment_controller(ctrl, "value_channels", f"{tmp}/p")
        pacers = {t: load_segment_pacer(art, threads=t) for t in sorted({1, args.threads})}
    print("| rows | segments | threads | median s | min s | max s | load 1-min (before, after) |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for threads, pacer in pacers.items():
        pacer.reset(args.rows)
        load0 = os.getloadavg()[0]
        pacer.act(x)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            th = pacer.act(x)
            times.append(time.perf_counter() - t0)
        load1 = os.getloadavg()[0]
        print(
            f"| {args.rows:,} | {th.shape[1]} | {threads} | {statistics.median(times):.3f}"
            f" | {min(times):.3f} | {max(times):.3f} | {load0:.2f}, {load1:.2f} |"
        )
    print(f"usable CPUs: {len(os.sched_getaffinity(0))}")


if __name__ == "__main__":
    main()
