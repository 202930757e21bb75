"""Time evaluating one baseline on 1,000 live-commerce episodes (target: <= 10 s on 2 cores).

    python benchmarks/bench_evaluate.py [--episodes 1000] [--repeats 5]

Prints a markdown table of medians over repeats (after one warm-up for numba's cache).
"""

from __future__ import annotations

import argparse
import statistics
import time

from pacegym.baselines import aggregate, build_controller, run_episodes


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    run_episodes(build_controller("proportional"), "live_commerce", 16, seed=0)  # warm-up
    print(f"live_commerce, {args.episodes} episodes, median of {args.repeats} repeats\n")
    print("| controller | run_episodes [s] | + aggregate (2000 bootstraps) [s] | episodes/s |")
    print("|---|---:|---:|---:|")
    for kind in ("on_off", "proportional", "pid", "exp_decay"):
        run_s, agg_s = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            roll = run_episodes(build_controller(kind), "live_commerce", args.episodes, seed=0)
            t1 = time.perf_counter()
            aggregate(roll.metrics)
            run_s.append(t1 - t0)
            agg_s.append(time.perf_counter() - t1)
        r, a = statistics.median(run_s), statistics.median(agg_s)
        print(f"| {kind} | {r:.3f} | {r + a:.3f} | {args.episodes / r:,.0f} |")


if __name__ == "__main__":
    main()
