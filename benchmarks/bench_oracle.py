"""Time the clairvoyant oracle: one hindsight LP per flight length, and whole episodes.

    python benchmarks/bench_oracle.py [--episodes 5] [--rounds 3]
    python benchmarks/bench_oracle.py --lp-only    # only the whole-flight LP table
    python benchmarks/bench_oracle.py --max-blocks 1500,720   # + coarser blocks, measured
    python benchmarks/bench_oracle.py --scenarios daily_budget,multi_day_flight
    python benchmarks/bench_oracle.py --suite      # + the whole pacegym-benchmark suite

Targets (issue "A clairvoyant reference"): one 24-h episode (5,760 ticks) solves in
seconds; the suite with the tuned baselines runs in <= 15 minutes on 2 cores. Prints
markdown tables: the LP of a whole flight from tick 0 (median over ``--episodes``
episodes, HiGHS through scipy, one thread; "by IPM": solves the simplex left to the
interior point method), the oracle's full episode (the LP plus its
re-plans on the realised state, two episodes solved at a time) in three ways on the same
seeds, interleaved over ``--rounds`` rounds: today's warm model (``OracleConfig.warm_start``,
the default), the warm model before its solver choices (``WarmLP(previous=True)``: HiGHS's
default scaling and slack starting basis) and a cold scipy solve per plan
(``warm_start=False``): wall and CPU seconds per episode (medians; CPU counts both solver
threads), today's speed-up against each, and the simulated scores' differences (targets
of issue "Speed where users wait": a day <= 0.3 s, three days <= 1 s, on the machine where
a day's cold episode took ~1.15 s and three days' ~3.8 s, so ~3.8x), and with ``--suite`` the
wall time per suite scenario of ``pacegym-benchmark`` at its default episode counts
(tracking off). Each table states the machine's load (1-min average) when it started.

``--max-blocks A,B,...`` measures what fewer throttle variables cost
(``OracleConfig.max_blocks``: flights longer than that many ticks share one throttle
across ``ceil(ticks / max_blocks)`` ticks; the first value is the reference, today's
1,500): per flight length, the LP's time and value and the oracle episode's wall time
and simulated score for each value, on the same seeds in the same run, as ratios and
differences against the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from pacegym.baselines.harness import episode_seeds, run_episodes
from pacegym.baselines.hindsight import HindsightEpisode, HindsightSolution, solve
from pacegym.baselines.hindsight_warm import WarmLP
from pacegym.baselines.oracle import (
    OracleConfig,
    OracleController,
    hindsight_episodes,
    realised_requests,
)
from pacegym.envs.core import PacingCore
from pacegym.envs.metrics import SCORE_KEY

SCENARIOS = ("live_commerce", "suite/long_delay_tail", "daily_budget", "multi_day_flight")


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def lp_solves(scenario: str, episodes: int, max_blocks: int) -> tuple[int, int, list, int]:
    """``(ticks, block, [(seconds, value)] per episode, solves left to the IPM)``."""
    core = PacingCore(scenario, episodes)
    core.reset(np.arange(episodes), episode_seeds(123, episodes))
    eps = hindsight_episodes(core, realised_requests(core))
    cfg = OracleConfig(max_blocks=max_blocks)
    out, ticks, block, ipm = [], 0, 1, 0
    for ep in eps:
        block = max(1, -(-ep.flight_ticks // cfg.max_blocks))
        sol = solve(ep, block, cfg.time_limit_s)
        assert sol.ok, sol.message
        out.append((sol.seconds, sol.value))
        ipm += sol.method == "highs-ipm"
        ticks = ep.flight_ticks
    return ticks, block, out, ipm


class _PreviousWarm(OracleController):
    """The warm oracle with ``WarmLP(previous=True)``: HiGHS's default scaling and slack
    starting basis (the warm path before its solver choices; same LP)."""

    def _warm_solve(self, b: int, ep: HindsightEpisode) -> HindsightSolution:
        if self._warm[b] is None:
            self._warm[b] = WarmLP(self._episodes[b], int(self._block[b]), previous=True)
        return super()._warm_solve(b, ep)


MODES = ("cold", "previous warm", "warm")
"""The oracle's paths timed against each other: a cold scipy solve per plan
(``warm_start=False``), the warm model as it was (``_PreviousWarm``), today's default."""


def oracle_episodes(
    scenario: str, episodes: int, max_blocks: int, mode: str = "warm"
) -> tuple[float, float, int, np.ndarray]:
    """``(wall seconds, CPU seconds, solves, simulated scores)`` of the oracle on ``episodes``
    episodes in ``mode`` (``MODES``); CPU time counts both solver threads."""
    cfg = OracleConfig(max_blocks=max_blocks, warm_start=mode != "cold")
    o = _PreviousWarm(cfg) if mode == "previous warm" else OracleController(cfg)
    t0, c0 = time.perf_counter(), time.process_time()
    roll = run_episodes(o, scenario, episodes, seed=7)
    return time.perf_counter() - t0, time.process_time() - c0, o.solves, roll.metrics[SCORE_KEY]


def lp_table(episodes: int, scenarios: tuple[str, ...] = SCENARIOS) -> None:
    print(f"Hindsight LP of a whole flight, median of {episodes} episodes ({_load()})\n")
    print("| scenario | ticks | ticks per decision | LP solve median [s] | max [s] | by IPM |")
    print("|---|---:|---:|---:|---:|---:|")
    for sc in scenarios:
        ticks, block, res, ipm = lp_solves(sc, episodes, OracleConfig().max_blocks)
        t = [s for s, _ in res]
        med = statistics.median(t)
        print(f"| {sc} | {ticks:,} | {block} | {med:.2f} | {max(t):.2f} | {ipm} |")


def episode_table(episodes: int, rounds: int, scenarios: tuple[str, ...] = SCENARIOS) -> None:
    """Today's warm oracle against the previous warm path and cold solves, same episodes,
    same run: wall and CPU seconds per episode (medians of interleaved rounds)."""
    print(
        f"\nOracle episodes (LP + its re-plans), two solved at a time, per episode: wall / CPU"
        f" seconds, median of {rounds} interleaved rounds ({_load()}); speed-ups and score"
        " differences of today's warm path against the previous warm path and cold\n"
    )
    print(
        "| scenario | episodes | cold [s] | previous warm [s] | warm [s] | vs previous (wall / "
        "CPU) | vs cold (wall / CPU) | solves | score diff vs previous (mean / max abs) "
        "| vs cold (mean / max abs) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in scenarios:
        times: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
        scores: dict[str, np.ndarray] = {}
        for _ in range(rounds):
            for mode in MODES:
                wall, cpu, solves, score = oracle_episodes(
                    sc, episodes, OracleConfig().max_blocks, mode
                )
                times[mode].append((wall / episodes, cpu / episodes))
                scores[mode] = score
        med = {m: np.median(np.array(times[m]), axis=0) for m in MODES}
        cell = {m: f"{med[m][0]:.2f} / {med[m][1]:.2f}" for m in MODES}
        new = med["warm"]
        ratio = {m: f"{med[m][0] / new[0]:.2f}x / {med[m][1] / new[1]:.2f}x" for m in MODES}
        diff = {}
        for m in ("previous warm", "cold"):
            ds = scores["warm"] - scores[m]
            diff[m] = f"{ds.mean():+.1e} / {np.abs(ds).max():.1e}"
        print(
            f"| {sc} | {episodes} | {cell['cold']} | {cell['previous warm']} | {cell['warm']} "
            f"| {ratio['previous warm']} | {ratio['cold']} | {solves} | {diff['previous warm']} "
            f"| {diff['cold']} |"
        )
    print(f"\n(load at the end: {_load()})")


def blocks_table(episodes: int, values: list[int], scenarios: tuple[str, ...] = SCENARIOS) -> None:
    """Coarser blocks against the first ``max_blocks`` value, same seeds, same run."""
    ref = values[0]
    print(f"\nFewer throttle variables: max_blocks against {ref:,} ({_load()})\n")
    print(
        "| scenario | max_blocks | ticks per decision | LP time ratio | LP value diff (max) "
        "| episode time ratio | score diff (mean) | score diff (max abs) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for sc in scenarios:
        _, _, lp_ref, _ = lp_solves(sc, episodes, ref)
        wall_ref, _, _, score_ref = oracle_episodes(sc, episodes, ref)
        for mb in values[1:]:
            ticks, block, lp, _ = lp_solves(sc, episodes, mb)
            if block == max(1, -(-ticks // ref)):
                continue  # the same blocks: nothing to compare
            wall, _, _, score = oracle_episodes(sc, episodes, mb)
            t_ratio = statistics.median(a[0] for a in lp_ref) / statistics.median(a[0] for a in lp)
            dv = max((b[1] - a[1] for a, b in zip(lp_ref, lp, strict=True)), key=abs)
            ds = score - score_ref
            print(
                f"| {sc} | {mb:,} | {block} | {t_ratio:.2f}x | {dv:+.1e} | {wall_ref / wall:.2f}x "
                f"| {ds.mean():+.1e} | {np.abs(ds).max():.1e} |"
            )


def suite_table() -> None:
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from pacegym.experiments import benchmark
    from pacegym.experiments.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="benchmark", overrides=["tracking=off"])
    load = _load()
    t0 = time.perf_counter()
    result = benchmark.run_suite(cfg, Path("outputs/bench_oracle"))
    total = time.perf_counter() - t0
    print(
        f"\nThe suite (pacegym-benchmark defaults, tuned baselines + reference + oracle; {load})\n"
    )
    print("| scenario | episodes | wall [s] |")
    print("|---|---:|---:|")
    for key, doc in result["scenarios"].items():
        print(f"| {key} | {doc['episodes']} | {doc['seconds']:.0f} |")
    print(f"| **total** | | **{total:.0f}** ({total / 60:.1f} min) |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument(
        "--max-blocks",
        default=str(OracleConfig().max_blocks),
        help="comma-separated OracleConfig.max_blocks values: the first is the reference",
    )
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the episodes")
    ap.add_argument("--lp-only", action="store_true", help="only the whole-flight LP table")
    ap.add_argument("--suite", action="store_true", help="also time the whole suite")
    ap.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated subset of the tables' rows",
    )
    args = ap.parse_args(argv)
    values = [int(v) for v in args.max_blocks.split(",")]
    run_episodes(OracleController(), "live_commerce", 2, seed=0)  # warm-up (numba, scipy)
    scenarios = tuple(args.scenarios.split(","))
    lp_table(args.episodes, scenarios)
    if args.lp_only:
        return
    episode_table(args.episodes, args.rounds, scenarios)
    if len(values) > 1:
        blocks_table(args.episodes, values, scenarios)
    if args.suite:
        suite_table()


if __name__ == "__main__":
    main()
