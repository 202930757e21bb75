"""Simulate a scenario under a fixed throttle and print the episode metrics.

pacegym-simulate [--scenario live_commerce] [--throttle 0.25] [--episodes 256] [--seed 0]

``--scenario`` takes a preset, the name of a scenario file (``./conf/scenario/`` or the
package's, e.g. ``calibrated_daily_budget``) or a path to a scenario YAML.
"""

from __future__ import annotations

import argparse

import numpy as np

from pacegym import progress
from pacegym.envs.checks import COUNT, SEED, SHARE
from pacegym.envs.core import PacingCore
from pacegym.envs.metrics import METRIC_KEYS
from pacegym.envs.params import ScenarioError, ScenarioParams
from pacegym.envs.scenarios import resolve, scenario_names
from pacegym.flags import FlagParser


def simulate(
    scenario: str | ScenarioParams, throttle: float, episodes: int, seed: int
) -> dict[str, np.ndarray]:
    """Metrics of ``episodes`` episodes at a fixed ``throttle``; off a terminal a run longer
    than ``pacegym.progress.LINE_EVERY_S`` prints progress lines (ticks of the longest
    flight)."""
    core = PacingCore(scenario, episodes)
    core.reset(np.arange(episodes), seed + np.arange(episodes, dtype=np.uint64))
    th = np.full(episodes, throttle)
    ticks = int(core.flight_ticks.max())
    with progress.bar(ticks, "simulate", "ticks") as pbar:
        t = 0
        while not core.done.all():
            core.step(th)
            t += 1
            if t % TICKS_PER_UPDATE == 0:
                pbar.update(TICKS_PER_UPDATE)
        pbar.update(t % TICKS_PER_UPDATE)
    return core.metrics()


TICKS_PER_UPDATE = 64
"""Ticks between progress updates (an update costs about as much as a small tick)."""


FLAGS = {"throttle": SHARE, "episodes": COUNT, "seed": SEED}
"""The numeric flags' allowed values."""


def main(argv: list[str] | None = None) -> None:
    ap = FlagParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--scenario",
        default="live_commerce",
        help=f"one of {', '.join(scenario_names())}, or a path to a scenario YAML",
    )
    ap.add_argument("--throttle", type=float, default=0.25)
    ap.add_argument("--episodes", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    ap.check_flags(args, FLAGS)
    try:
        scenario = resolve(args.scenario)
    except ScenarioError as e:
        ap.error(str(e))
    m = simulate(scenario, args.throttle, args.episodes, args.seed)
    print(f"{scenario.name}, fixed throttle {args.throttle}, {args.episodes} episodes")
    print("| metric | mean | p5 | p95 |\n|---|---:|---:|---:|")
    for k in METRIC_KEYS:
        v = m[k]
        print(f"| {k} | {v.mean():.4f} | {np.percentile(v, 5):.4f} | {np.percentile(v, 95):.4f} |")


if __name__ == "__main__":
    main()
