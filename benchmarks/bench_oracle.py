"""Time the clairvoyant oracle: one hindsight LP per flight length, and whole episodes.

    python benchmarks/bench_oracle.py [--episodes 5]
    python benchmarks/bench_oracle.py --suite      # + the whole pacegym-benchmark suite

Targets (issue "A clairvoyant reference"): one 24-h episode (5,760 ticks) solves in
seconds; the suite with the tuned baselines runs in <= 15 minutes on 2 cores. Prints
markdown tables: the LP of a whole flight from tick 0 (median over ``--episodes``
episodes, HiGHS through scipy, one thread; "by IPM": solves the simplex left to the
interior point method), the oracle's full episode (the LP plus its
re-plans on the realised state, two episodes solved at a time), and with ``--suite`` the
wall time per suite scenario of ``pacegym-benchmark`` at its default episode counts
(tracking off).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from pacegym.baselines.harness import episode_seeds, run_episodes
from pacegym.baselines.hindsight import solve
from pacegym.baselines.oracle import (
    OracleConfig,
    OracleController,
    hindsight_episodes,
    realised_requests,
)
from pacegym.envs.core import PacingCore

SCENARIOS = ("live_commerce", "suite/long_delay_tail", "daily_budget", "multi_day_flight")


def lp_times(scenario: str, episodes: int) -> tuple[int, int, list[float], int]:
    core = PacingCore(scenario, episodes)
    core.reset(np.arange(episodes), episode_seeds(123, episodes))
    eps = hindsight_episodes(core, realised_requests(core))
    cfg = OracleConfig()
    times, ticks, block, ipm = [], 0, 1, 0
    for ep in eps:
        block = max(1, -(-ep.flight_ticks // cfg.max_blocks))
        sol = solve(ep, block, cfg.time_limit_s)
        assert sol.ok, sol.message
        times.append(sol.seconds)
        ipm += sol.method == "highs-ipm"
        ticks = ep.flight_ticks
    return ticks, block, times, ipm


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--suite", action="store_true", help="also time the whole suite")
    args = ap.parse_args(argv)
    run_episodes(OracleController(), "live_commerce", 2, seed=0)  # warm-up (numba, scipy)
    print(f"Hindsight LP of a whole flight, median of {args.episodes} episodes\n")
    print("| scenario | ticks | ticks per decision | LP solve median [s] | max [s] | by IPM |")
    print("|---|---:|---:|---:|---:|---:|")
    for sc in SCENARIOS:
        ticks, block, t, ipm = lp_times(sc, args.episodes)
        med = statistics.median(t)
        print(f"| {sc} | {ticks:,} | {block} | {med:.2f} | {max(t):.2f} | {ipm} |")
    print("\nOracle episodes (LP + 10 re-plans), two solved at a time\n")
    print("| scenario | episodes | wall [s] | per episode [s] | solves |")
    print("|---|---:|---:|---:|---:|")
    for sc in SCENARIOS:
        o = OracleController()
        t0 = time.perf_counter()
        run_episodes(o, sc, args.episodes, seed=7)
        wall = time.perf_counter() - t0
        print(f"| {sc} | {args.episodes} | {wall:.1f} | {wall / args.episodes:.2f} | {o.solves} |")
    if args.suite:
        from hydra import compose, initialize_config_dir

        from pacegym.experiments import benchmark
        from pacegym.experiments.config import CONF_DIR

        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="benchmark", overrides=["tracking=off"])
        t0 = time.perf_counter()
        result = benchmark.run_suite(cfg, __import__("pathlib").Path("outputs/bench_oracle"))
        total = time.perf_counter() - t0
        print("\nThe suite (pacegym-benchmark defaults, tuned baselines + reference + oracle)\n")
        print("| scenario | episodes | wall [s] |")
        print("|---|---:|---:|")
        for key, doc in result["scenarios"].items():
            print(f"| {key} | {doc['episodes']} | {doc['seconds']:.0f} |")
        print(f"| **total** | | **{total:.0f}** ({total / 60:.1f} min) |")


if __name__ == "__main__":
    main()
