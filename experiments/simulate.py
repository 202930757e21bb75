"""Simulate a scenario under a fixed throttle and print the episode metrics.

pacegym-simulate [--scenario live_commerce] [--throttle 0.25] [--episodes 256] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from envs.core import PacingCore
from envs.metrics import METRIC_KEYS
from envs.scenarios import PRESETS


def simulate(scenario: str, throttle: float, episodes: int, seed: int) -> dict[str, np.ndarray]:
    core = PacingCore(scenario, episodes)
    core.reset(np.arange(episodes), seed + np.arange(episodes, dtype=np.uint64))
    th = np.full(episodes, throttle)
    while not core.done.all():
        core.step(th)
    return core.metrics()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scenario", default="live_commerce", choices=sorted(PRESETS))
    ap.add_argument("--throttle", type=float, default=0.25)
    ap.add_argument("--episodes", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not 0.0 <= args.throttle <= 1.0:
        ap.error(f"--throttle = {args.throttle} is out of range: allowed [0, 1]")
    m = simulate(args.scenario, args.throttle, args.episodes, args.seed)
    print(f"{args.scenario}, fixed throttle {args.throttle}, {args.episodes} episodes")
    print("| metric | mean | p5 | p95 |\n|---|---:|---:|---:|")
    for k in METRIC_KEYS:
        v = m[k]
        print(f"| {k} | {v.mean():.4f} | {np.percentile(v, 5):.4f} | {np.percentile(v, 95):.4f} |")


if __name__ == "__main__":
    main()
