"""Throughput and memory of the batched core and the single env.

    python benchmarks/bench_core.py [--campaigns 1024] [--steps 2000] [--repeats 5]

Prints a markdown table: campaign-steps/s of the batched core (full stochastic model:
Poisson traffic with noise and surges, binomial serving, per-impression sampled delays,
finished campaigns reset in place), steps/s of one ``PacingEnv.step``, and memory per
campaign for each scenario at low and at 30x traffic.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from pacegym.envs.core import PacingCore
from pacegym.envs.pacing_env import PacingEnv
from pacegym.envs.scenarios import PRESETS, resolve


def core_rate(n: int, steps: int, throttle: float) -> float:
    core = PacingCore("live_commerce", n)
    core.reset(np.arange(n), np.arange(n, dtype=np.uint64))
    th = np.full(n, throttle)
    next_seed = n
    core.step(th)  # compile outside the timing
    t0 = time.perf_counter()
    for _ in range(steps):
        res = core.step(th)
        if res.finished.any():
            rows = np.flatnonzero(core.done)
            core.reset(rows, np.arange(next_seed, next_seed + rows.size, dtype=np.uint64))
            next_seed += rows.size
    return n * steps / (time.perf_counter() - t0)


def env_rate(steps: int) -> float:
    env = PacingEnv()
    env.reset(seed=0)
    action = np.array([-0.3], dtype=np.float32)
    env.step(action)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, _, _ = env.step(action)
        if term:
            env.reset()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--campaigns", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    rows = []
    # throttle 0.25: about the pace that spends a live-commerce budget over the flight
    for label, th in (("paced (p=0.25)", 0.25), ("full throttle (p=1)", 1.0)):
        rates = [core_rate(args.campaigns, args.steps, th) for _ in range(args.repeats)]
        rows.append((f"core, {args.campaigns} campaigns, {label}", "campaign-steps/s", rates))
    rates = [env_rate(args.steps * 5) for _ in range(args.repeats)]
    rows.append(("PacingEnv.step, 1 campaign", "steps/s", rates))

    print(f"| measure | unit | median | min | max | ({args.repeats} repeats) |")
    print("|---|---|---:|---:|---:|---|")
    for name, unit, r in rows:
        print(
            f"| {name} | {unit} | {statistics.median(r):,.0f} | {min(r):,.0f} | {max(r):,.0f} | |"
        )

    print("\n| scenario | bytes per campaign (base traffic) | bytes per campaign (30x traffic) |")
    print("|---|---:|---:|")
    for name in PRESETS:
        sizes = []
        for mult in (1.0, 30.0):
            base = resolve(name).traffic.base_rate
            core = PacingCore({"base": name, "traffic": {"base_rate": float(base) * mult}}, 64)
            core.reset(np.arange(64), np.arange(64, dtype=np.uint64))
            for _ in range(200):
                core.step(np.ones(64))
            sizes.append(core.bytes_per_campaign())
        print(f"| {name} | {sizes[0]:,} | {sizes[1]:,} |")


if __name__ == "__main__":
    main()
