"""Throughput and memory of the batched core and the single env.

    python benchmarks/bench_core.py [--campaigns 1024] [--steps 2000] [--repeats 5]
                                    [--clock wall|cpu]

Prints a markdown table: campaign-steps/s of the batched core (full stochastic model:
Poisson traffic with noise and surges, binomial serving, delays drawn by each
``delay.sampler``: ``impression``, one per served impression, and ``binned``, a tick's
counts per delay bin at once; finished campaigns reset in place) on live commerce and on
it at 30x the traffic and budget, steps/s of one ``PacingEnv.step`` and of Gymnasium's
``CartPole-v1`` (the yardstick of a cheap environment), each measured once per repeat in
turn so that every row sees the same load; then the ratios of the medians (binned over
impression, the core over CartPole), the value world's cost (``value_channels``, 3 channels
x 4 layers, against ``daily_budget``, the same traffic in one segment, at the same
throttle), and memory per campaign for each scenario at low and at 30x traffic (a value
scenario takes the per-impression sampler only: 0 in the binned column).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from pacegym.envs.core import PacingCore
from pacegym.envs.pacing_env import PacingEnv
from pacegym.envs.params import DELAY_SAMPLERS
from pacegym.envs.scenarios import PRESETS, resolve

SEGMENTS = resolve("value_channels").value.n_segments
CLOCK = [time.perf_counter]
"""The timer every rate reads: wall time, or with ``--clock cpu`` this process's CPU time
(``time.process_time``: steadier on a shared, loaded machine; run the core on one thread
then, ``NUMBA_NUM_THREADS=1``, so that no thread's waiting is counted)."""


def scenario(sampler: str, traffic: float) -> dict:
    """Live commerce with this delay sampler, traffic and budget x ``traffic``."""
    sc = resolve("live_commerce")
    return {
        "base": "live_commerce",
        "delay": {"sampler": sampler},
        "traffic": {"base_rate": float(sc.traffic.base_rate) * traffic},  # type: ignore[arg-type]
        "money": {"budget": float(sc.money.budget) * traffic},  # type: ignore[arg-type]
    }


def core_rate(n: int, steps: int, throttle: float, sc: dict) -> float:
    core = PacingCore(sc, n)
    core.reset(np.arange(n), np.arange(n, dtype=np.uint64))
    th = np.full(n, throttle)
    next_seed = n
    core.step(th)  # compile outside the timing
    t0 = CLOCK[0]()
    for _ in range(steps):
        res = core.step(th)
        if res.finished.any():
            rows = np.flatnonzero(core.done)
            core.reset(rows, np.arange(next_seed, next_seed + rows.size, dtype=np.uint64))
            next_seed += rows.size
    return n * steps / (CLOCK[0]() - t0)


def env_rate(steps: int) -> float:
    env = PacingEnv()
    env.reset(seed=0)
    action = np.array([-0.3], dtype=np.float32)
    env.step(action)
    t0 = CLOCK[0]()
    for _ in range(steps):
        _, _, term, _, _ = env.step(action)
        if term:
            env.reset()
    return steps / (CLOCK[0]() - t0)


def cartpole_rate(steps: int) -> float:
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    t0 = CLOCK[0]()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(i % 2)
        if term or trunc:
            env.reset()
    return steps / (CLOCK[0]() - t0)


def rate_table(args: argparse.Namespace) -> dict[str, tuple[str, list[float]]]:
    """Every row's rates, one measurement per row in each repeat (rows take turns)."""
    n = args.campaigns
    runs: dict[str, tuple[str, Callable[[], float]]] = {}
    # throttle 0.25: about the pace that spends a live-commerce budget over the flight;
    # 300x: thousands of impressions a tick, where the binned sampler's chain runs (on a
    # 16th of the campaigns: the per-impression sampler takes that much longer a step)
    for label, th, traffic, campaigns in (
        ("paced (p=0.25)", 0.25, 1.0, n),
        ("full throttle (p=1)", 1.0, 1.0, n),
        ("30x traffic and budget, paced", 0.25, 30.0, n),
        ("300x traffic and budget, paced", 0.25, 300.0, max(1, n // 16)),
    ):
        for sampler in DELAY_SAMPLERS:
            sc = scenario(sampler, traffic)
            runs[f"core, {campaigns} campaigns, {label}, {sampler}"] = (
                "campaign-steps/s",
                lambda th=th, sc=sc, c=campaigns: core_rate(c, args.steps, th, sc),
            )
    # value: daily_budget's traffic over 3 channels x 4 layers against daily_budget itself
    for label, sc_value in (
        ("daily_budget (1 segment), paced", {"base": "daily_budget"}),
        (f"value_channels ({SEGMENTS} segments), paced", {"base": "value_channels"}),
    ):
        runs[f"core, {n} campaigns, {label}"] = (
            "campaign-steps/s",
            lambda sc=sc_value: core_rate(n, args.steps, 0.25, sc),
        )
    runs["PacingEnv.step, 1 campaign"] = ("steps/s", lambda: env_rate(args.steps * 5))
    runs["CartPole-v1 step"] = ("steps/s", lambda: cartpole_rate(args.steps * 25))
    rates: dict[str, tuple[str, list[float]]] = {k: (u, []) for k, (u, _) in runs.items()}
    for _ in range(args.repeats):
        for name, (_, run) in runs.items():
            rates[name][1].append(run())
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--campaigns", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args()
    if args.clock == "cpu":
        CLOCK[0] = time.process_time

    load0 = os.getloadavg()[0]  # the figures mean little above the core count
    rows = rate_table(args)
    print(f"1-minute load: {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n")
    print(f"| measure | unit | median | min | max | ({args.repeats} repeats) |")
    print("|---|---|---:|---:|---:|---|")
    for name, (unit, r) in rows.items():
        print(
            f"| {name} | {unit} | {statistics.median(r):,.0f} | {min(r):,.0f} | {max(r):,.0f} | |"
        )
    med = {name: statistics.median(r) for name, (_, r) in rows.items()}
    cartpole = med["CartPole-v1 step"]
    print("\n| core row | binned / impression | x CartPole-v1 steps/s |")
    print("|---|---:|---:|")
    for name in med:
        if name.endswith(", binned"):
            ref = name.removesuffix("binned") + "impression"
            print(
                f"| {ref.removesuffix(', impression')} | {med[name] / med[ref]:.2f} | "
                f"{med[ref] / cartpole:.1f} (impression), {med[name] / cartpole:.1f} (binned) |"
            )

    value = [k for k in med if "value_channels" in k]
    volume = [k for k in med if "daily_budget (1 segment)" in k]
    if value and volume:
        print(
            f"\n{SEGMENTS} segments / 1 segment, same traffic and throttle: "
            f"{med[value[0]] / med[volume[0]]:.2f}"
        )
    print(
        "\n| scenario | bytes per campaign (base traffic) | (30x traffic) | (30x, binned delays) |"
    )
    print("|---|---:|---:|---:|")
    for name in PRESETS:
        sizes = []
        for mult, sampler in ((1.0, "impression"), (30.0, "impression"), (30.0, "binned")):
            base = resolve(name).traffic.base_rate
            if resolve(name).value.on and sampler == "binned":  # value: impression only
                sizes.append(0)
                continue
            sc = {
                "base": name,
                "traffic": {"base_rate": float(base) * mult},  # type: ignore[arg-type]
                "delay": {"sampler": sampler},
            }
            core = PacingCore(sc, 64)
            core.reset(np.arange(64), np.arange(64, dtype=np.uint64))
            for _ in range(200):
                core.step(np.ones(64))
            sizes.append(core.bytes_per_campaign())
        print(f"| {name} | {sizes[0]:,} | {sizes[1]:,} | {sizes[2]:,} |")


if __name__ == "__main__":
    main()
