"""Time the clairvoyant oracle: one hindsight LP per flight length, and whole episodes.

    python benchmarks/bench_oracle.py [--episodes 5] [--rounds 3]
    python benchmarks/bench_oracle.py --lp-only    # only the whole-flight LP table
    python benchmarks/bench_oracle.py --max-blocks 1500,720   # + the previous cap against today's
    python benchmarks/bench_oracle.py --blocks-only --normalised --episodes 16   # what a cap costs
    python benchmarks/bench_oracle.py --scenarios daily_budget,multi_day_flight
    python benchmarks/bench_oracle.py --suite      # + the whole pacegym-benchmark suite

Targets (issue "A clairvoyant reference"): one 24-h episode (5,760 ticks) solves in
seconds; the suite with the tuned baselines runs in <= 15 minutes on 2 cores (issue 26:
<= 4 minutes, ``--suite`` prints it against that). Prints
markdown tables: the LP of a whole flight from tick 0 (median over ``--episodes``
episodes, HiGHS through scipy, one thread; "by IPM": solves the simplex left to the
interior point method), the oracle's full episode (the LP plus its
re-plans on the realised state, two episodes solved at a time) in four ways on the same
seeds, interleaved over ``--rounds`` rounds: today's warm model (``OracleConfig.warm_start``,
the default), the warm model before its solver choices (``WarmLP(previous=True)``: HiGHS's
default scaling and slack starting basis), the warm model on the cap before issue 26
(``PREVIOUS_MAX_BLOCKS``) and a cold scipy solve per plan
(``warm_start=False``): wall and CPU seconds per episode (medians; CPU counts both solver
threads), today's speed-up against each, and the simulated scores' differences (targets
of issue "Speed where users wait": a day <= 0.3 s, three days <= 1 s, on the machine where
a day's cold episode took ~1.15 s and three days' ~3.8 s, so ~3.8x), and with ``--suite`` the
wall time per suite scenario of ``pacegym-benchmark`` at its defaults (tracking off),
the whole suite's against the 240-s target, its CPU time and the load (``suite_table``).
Each table states the machine's load (1-min average) when it started.

``--max-blocks A,B,...`` measures what fewer throttle variables cost
(``OracleConfig.max_blocks``: flights longer than that many ticks share one throttle
across ``ceil(ticks / max_blocks)`` ticks; the first value is the reference: 1,500, the
cap before issue 26, against today's 720): per flight length, the LP's time and value (mean
and largest difference) and the oracle episode's wall time and simulated score (mean
difference with its standard error) for each value, on the same seeds in the same run, as
ratios and differences against the first; ``--normalised`` adds, on ``pacegym-benchmark``'s
seed and tuned sets (``--episodes`` per suite scenario that a value coarsens), the
oracle's mean score and every tuned baseline's normalised score under each value, as
differences from the first; ``--blocks-only`` prints only these tables.
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
from pacegym.envs.params import bounds

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


SUITE_TARGET_S = 240.0
"""[s] issue 26: the whole suite at ``pacegym-benchmark``'s defaults within 4 min on 2 cores."""

PREVIOUS_MAX_BLOCKS = 1500
"""``OracleConfig.max_blocks`` before issue 26 (1-minute blocks on a day, 3 on three days)."""

MODES = ("cold", "previous warm", "previous blocks", "warm")
"""The oracle's paths timed against each other: a cold scipy solve per plan
(``warm_start=False``), the warm model as it was (``_PreviousWarm``), the warm model on the
previous cap (``PREVIOUS_MAX_BLOCKS``), today's default. All but the third on today's cap."""


def oracle_episodes(
    scenario: str, episodes: int, max_blocks: int, mode: str = "warm"
) -> tuple[float, float, int, np.ndarray]:
    """``(wall seconds, CPU seconds, solves, simulated scores)`` of the oracle on ``episodes``
    episodes in ``mode`` (``MODES``); CPU time counts both solver threads."""
    if mode == "previous blocks":
        max_blocks = PREVIOUS_MAX_BLOCKS
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
    """Today's warm oracle against the previous warm path, the previous cap and cold solves,
    same episodes, same run: wall and CPU seconds per episode (medians of interleaved
    rounds)."""
    print(
        f"\nOracle episodes (LP + its re-plans), two solved at a time, per episode: wall / CPU"
        f" seconds, median of {rounds} interleaved rounds ({_load()}); speed-ups and score"
        " differences of today's default (warm, max_blocks"
        f" {OracleConfig().max_blocks:,}) against each other path\n"
    )
    others = MODES[:-1]
    print(
        "| scenario | episodes | "
        + " | ".join(f"{m} [s]" for m in MODES)
        + " | "
        + " | ".join(f"vs {m} (wall / CPU)" for m in others)
        + " | solves | "
        + " | ".join(f"score diff vs {m} (mean / max abs)" for m in others)
        + " |"
    )
    print("|---|---:|" + "---:|" * (len(MODES) + 2 * len(others) + 1))
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
        new = med["warm"]
        cells = [f"{med[m][0]:.2f} / {med[m][1]:.2f}" for m in MODES]
        cells += [f"{med[m][0] / new[0]:.2f}x / {med[m][1] / new[1]:.2f}x" for m in others]
        cells.append(str(solves))
        for m in others:
            ds = scores["warm"] - scores[m]
            cells.append(f"{ds.mean():+.1e} / {np.abs(ds).max():.1e}")
        print(f"| {sc} | {episodes} | " + " | ".join(cells) + " |")
    print(f"\n(load at the end: {_load()})")


def blocks_table(episodes: int, values: list[int], scenarios: tuple[str, ...] = SCENARIOS) -> None:
    """Coarser blocks against the first ``max_blocks`` value, same seeds, same run."""
    ref = values[0]
    print(f"\nFewer throttle variables: max_blocks against {ref:,} ({_load()})\n")
    print(
        "| scenario | episodes | max_blocks | ticks per decision | LP time ratio "
        "| LP value diff (mean / max) | relative (mean) | episode time ratio "
        "| score diff (mean +- s.e.) | score diff (max abs) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in scenarios:
        _, _, lp_ref, _ = lp_solves(sc, episodes, ref)
        wall_ref, _, _, score_ref = oracle_episodes(sc, episodes, ref)
        for mb in values[1:]:
            ticks, block, lp, _ = lp_solves(sc, episodes, mb)
            if block == max(1, -(-ticks // ref)):
                continue  # the same blocks: nothing to compare
            wall, _, _, score = oracle_episodes(sc, episodes, mb)
            t_ratio = statistics.median(a[0] for a in lp_ref) / statistics.median(a[0] for a in lp)
            dv = np.array([b[1] - a[1] for a, b in zip(lp_ref, lp, strict=True)])
            rel = dv / np.maximum(np.abs([a[1] for a in lp_ref]), 1e-12)
            ds = score - score_ref
            se = ds.std(ddof=1) / np.sqrt(ds.size) if ds.size > 1 else 0.0
            print(
                f"| {sc} | {episodes} | {mb:,} | {block} | {t_ratio:.2f}x "
                f"| {dv.mean():+.1e} / {dv[np.abs(dv).argmax()]:+.1e} | {rel.mean():+.1e} "
                f"| {wall_ref / wall:.2f}x | {ds.mean():+.1e} +- {se:.1e} | {np.abs(ds).max():.1e} |"
            )


def normalised_table(episodes: int, values: list[int]) -> None:
    """What a cap moves on ``pacegym-benchmark``'s defaults (its seed and tuned sets, the
    first ``episodes`` episodes of each suite scenario): the oracle's mean score under each
    ``max_blocks`` value and every tuned baseline's normalised score against each oracle, as
    differences from the first value's. Scenarios whose flights no value coarsens are
    skipped (the same oracle)."""
    from hydra import compose, initialize_config_dir

    from pacegym.baselines.normalise import normalised_value
    from pacegym.experiments import benchmark
    from pacegym.experiments.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        b = compose(config_name="benchmark", overrides=["tracking=off"]).benchmark
    print(
        f"\nThe benchmark's scores under max_blocks {values[0]:,} -> each other value"
        f" (seed {int(b.seed):,}, {episodes} episodes per scenario; {_load()})\n"
    )
    print(
        "| scenario | ticks | max_blocks | oracle score | diff | normalised diff of the"
        " tuned baselines (mean / max abs) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for entry in b.suite:
        key, sc, _, ctrls = benchmark._plan(b, entry)
        ticks = round(bounds(sc.time.flight_min)[1] * 60.0 / sc.time.tick_s)
        if all(-(-ticks // v) == -(-ticks // values[0]) for v in values[1:]):
            continue
        means = {}
        for name, spec, _, ctrl in ctrls:
            if spec["kind"] != "oracle":
                roll = run_episodes(ctrl, sc, episodes, int(b.seed), int(b.batch_size))
                means[name] = float(roll.metrics[SCORE_KEY].mean())
        ref = means.pop("reference")
        oracle = {}
        for v in values:
            o = OracleController(OracleConfig(max_blocks=v))
            roll = run_episodes(o, sc, episodes, int(b.seed), int(b.batch_size))
            oracle[v] = float(roll.metrics[SCORE_KEY].mean())
        base = {n: normalised_value(m, ref, oracle[values[0]]) for n, m in means.items()}
        for v in values[1:]:
            d = np.array([normalised_value(m, ref, oracle[v]) - base[n] for n, m in means.items()])
            print(
                f"| {key} | {ticks:,} | {v:,} | {oracle[values[0]]:.4f} -> {oracle[v]:.4f} "
                f"| {oracle[v] - oracle[values[0]]:+.1e} | {d.mean():+.3f} / {np.abs(d).max():.3f} |"
            )


def suite_table() -> None:
    """The whole suite at ``pacegym-benchmark``'s defaults (tracking off): each scenario's
    seconds, the wall time against issue 26's 240 s on 2 cores, the CPU time of this
    process and its workers (the forkserver stopped first, so theirs is counted) and the
    load before and after. ``bench_benchmark_workers.py --suite`` times it against the
    implementation before, in fresh processes."""
    import resource
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from pacegym.experiments import benchmark
    from pacegym.experiments.benchmark_workers import stop_forkserver, worker_count
    from pacegym.experiments.config import CONF_DIR

    def cpu() -> float:
        own, kids = (
            resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="benchmark", overrides=["tracking=off"])
    load, c0, t0 = _load(), cpu(), time.perf_counter()
    result = benchmark.run_suite(cfg, Path("outputs/bench_oracle"))
    stop_forkserver()
    total, used = time.perf_counter() - t0, cpu() - c0
    workers = worker_count(cfg.benchmark, len(result["scenarios"]))
    print(
        f"\nThe suite (pacegym-benchmark defaults, tuned baselines + reference + oracle, "
        f"{workers} workers; {load} before, {_load()} after)\n"
    )
    print("| scenario | episodes | wall [s] |")
    print("|---|---:|---:|")
    for key, doc in result["scenarios"].items():
        print(f"| {key} | {doc['episodes']} | {doc['seconds']:.0f} |")
    verdict = "met" if total <= SUITE_TARGET_S else f"over by {total - SUITE_TARGET_S:.0f} s"
    print(f"| **total** | | **{total:.0f}** ({total / 60:.1f} min) |")
    print(
        f"\nagainst the target of {SUITE_TARGET_S:.0f} s on 2 cores: {verdict}; {used:.0f} CPU s"
        f" ({used / total:.2f} cores used; {os.cpu_count()} CPUs)"
    )


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
        "--normalised",
        action="store_true",
        help="+ the benchmark's oracle and normalised scores under each --max-blocks value",
    )
    ap.add_argument(
        "--blocks-only", action="store_true", help="only the --max-blocks comparison table"
    )
    ap.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated subset of the tables' rows",
    )
    args = ap.parse_args(argv)
    values = [int(v) for v in args.max_blocks.split(",")]
    run_episodes(OracleController(), "live_commerce", 2, seed=0)  # warm-up (numba, scipy)
    scenarios = tuple(args.scenarios.split(","))
    if not args.blocks_only:
        lp_table(args.episodes, scenarios)
        if args.lp_only:
            return
        episode_table(args.episodes, args.rounds, scenarios)
    if len(values) > 1:
        blocks_table(args.episodes, values, scenarios)
        if args.normalised:
            normalised_table(args.episodes, values)
    if args.suite:
        suite_table()


if __name__ == "__main__":
    main()
