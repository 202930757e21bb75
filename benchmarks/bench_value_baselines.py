"""The value-aware baselines against the value-blind tuned PID, on the same episodes.

    python benchmarks/bench_value_baselines.py [--scenario value_channels] [--episodes 30]

Issue 22's bar: the best value-aware baseline beats the value-blind PID on
``pacing_score_v2`` with the paired 95% CI above zero, its value per spend at least 20%
above the PID's at equal delivery (within 0.01) and without more off-plan spend
(``misplaced + burst``). Runs the PID set (``--pid``, default the base scenario's,
``daily_budget/pid_tuned``) and each value-aware kind's set for the scenario
(``pacegym.resources.tuned_config``; the kind's defaults when it has none) on
``--episodes`` episodes from ``--seed`` (common random numbers), and prints a markdown
table: means [95% CI], the paired score difference to the PID, value per spend relative
to the PID's, and whether each meets the bar.
"""

from __future__ import annotations

import argparse

from pacegym.baselines.factory import VALUE_AWARE, build_controller, load_controller_yaml
from pacegym.baselines.harness import Rollout, run_episodes
from pacegym.baselines.stats import aggregate, paired_difference
from pacegym.envs.metrics import SCORE_KEY
from pacegym.envs.scenarios import resolve
from pacegym.resources import tuned_config

KEYS = ("delivery", "value_per_spend", "value_relative", "misplaced", "burst")


def _row(r: Rollout, pid: Rollout, seed: int) -> str:
    agg = aggregate(r.metrics, seed=seed)
    off = r.metrics["misplaced"] + r.metrics["burst"]
    pid_off = pid.metrics["misplaced"] + pid.metrics["burst"]
    d, lo, hi = paired_difference(r, pid, SCORE_KEY, seed=seed)
    vps = r.metrics["value_per_spend"].mean() / pid.metrics["value_per_spend"].mean() - 1.0
    ddel = r.metrics["delivery"].mean() - pid.metrics["delivery"].mean()
    meets = lo > 0 and vps >= 0.2 and abs(ddel) <= 0.01 and off.mean() <= pid_off.mean()
    cells = [
        f"{agg[SCORE_KEY]:.4f} [{agg[SCORE_KEY + '_ci'][0]:.4f}, {agg[SCORE_KEY + '_ci'][1]:.4f}]"
    ]
    cells += [f"{agg[k]:.4f}" if k != "value_per_spend" else f"{agg[k]:.5f}" for k in KEYS]
    cells += [
        f"{off.mean():.4f}",
        f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]",
        f"{vps:+.1%}",
        f"{ddel:+.4f}",
    ]
    return f"| {r.name} | " + " | ".join(cells) + f" | {'yes' if meets else 'no'} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="value_channels")
    ap.add_argument("--pid", default="daily_budget/pid_tuned")
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    name = resolve(args.scenario).name
    pid = run_episodes(load_controller_yaml(args.pid), args.scenario, args.episodes, args.seed)
    rows = [_row(pid, pid, args.seed)]
    for kind in sorted(VALUE_AWARE):
        path = tuned_config(kind, name)
        ctrl = load_controller_yaml(path) if path is not None else build_controller(kind)
        rows.append(
            _row(run_episodes(ctrl, args.scenario, args.episodes, args.seed), pid, args.seed)
        )
    head = [
        "controller",
        SCORE_KEY,
        *KEYS,
        "misplaced+burst",
        "score - PID",
        "value/spend vs PID",
        "delivery - PID",
        "bar",
    ]
    print(f"{name}: {args.episodes} episodes from seed {args.seed}, mean [95% CI]")
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 2) + "---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
