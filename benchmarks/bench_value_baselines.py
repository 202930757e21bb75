"""The value-aware baselines against the value-blind tuned PID, on the same episodes.

    python benchmarks/bench_value_baselines.py [--scenario value_channels ...] [--episodes 30]
        [--docs docs/baselines.md]

Issue 22's bar: the best value-aware baseline beats the value-blind PID on
``pacing_score_v2`` with the paired 95% CI above zero, its value per spend at least 20%
above the PID's at equal delivery (within 0.01) and without more off-plan spend
(``misplaced + burst``). For each ``--scenario`` (default the four value scenarios,
``conf/suite/value.yaml``'s) it runs the PID set (``--pid``, default the base scenario's,
``daily_budget/pid_tuned``) and each value-aware kind's set for the scenario
(``pacegym.resources.tuned_config``: its own, else its suite entry's ``baselines_from``
as the value suite runs it, ``experiments.suites.stand_in``, else the kind's defaults), and each ``<scenario>/<kind>_on_plan`` set there is (tuned
under the off-plan cap, ``pacegym-tune --off-plan-ref``), on
``--episodes`` episodes from ``--seed`` (common random numbers), and prints a markdown
table: means [95% CI], the paired score difference to the PID, value per spend relative
to the PID's, and whether each meets the bar. ``--docs FILE`` also writes the tables, with
the date, the command and the machine's load, between the ``MARK`` comment lines of
``FILE`` (docs/baselines.md's value section).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from pacegym.baselines.factory import VALUE_AWARE, build_controller, load_controller_yaml
from pacegym.baselines.harness import Rollout, run_episodes
from pacegym.baselines.stats import aggregate, paired_difference
from pacegym.envs import yaml_io
from pacegym.envs.metrics import SCORE_KEY
from pacegym.envs.scenarios import resolve
from pacegym.experiments.suites import stand_in
from pacegym.resources import find_config, tuned_config

KEYS = ("delivery", "value_per_spend", "value_relative", "misplaced", "burst")
SUITE = "value"
"""The suite whose scenarios the bar is checked on (issue 22; ``conf/suite/value.yaml``)."""
MARK = ("<!-- bench_value_baselines: start -->", "<!-- bench_value_baselines: end -->")
"""The lines of ``--docs`` between which the tables are written (replaced)."""
HEAD = (
    "controller",
    SCORE_KEY,
    *KEYS,
    "misplaced+burst",
    "score - PID",
    "value/spend vs PID",
    "delivery - PID",
    "bar",
)


def _row(r: Rollout, pid: Rollout, seed: int) -> tuple[str, bool]:
    """The table row of ``r`` against ``pid`` and whether it meets the bar (``r`` is ``pid``:
    the reference row)."""
    agg = aggregate(r.metrics, seed=seed)
    off = r.metrics["misplaced"] + r.metrics["burst"]
    pid_off = pid.metrics["misplaced"] + pid.metrics["burst"]
    d, lo, hi = paired_difference(r, pid, SCORE_KEY, seed=seed)
    vps = r.metrics["value_per_spend"].mean() / pid.metrics["value_per_spend"].mean() - 1.0
    ddel = r.metrics["delivery"].mean() - pid.metrics["delivery"].mean()
    meets = bool(lo > 0 and vps >= 0.2 and abs(ddel) <= 0.01 and off.mean() <= pid_off.mean())
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
    verdict = "reference" if r is pid else ("yes" if meets else "no")
    return f"| {r.name} | " + " | ".join(cells) + f" | {verdict} |", meets


def suite_scenarios(suite: str) -> list[str]:
    """The scenarios of ``conf/suite/<suite>.yaml``, in its order."""
    path = find_config("suite", suite)
    if path is None:
        raise SystemExit(f"suite = {suite!r}: no conf/suite/{suite}.yaml")
    return [str(e["scenario"]) for e in yaml_io.load(path.read_text(encoding="utf-8"))["suite"]]


def scenario_table(scenario: str, pid_set: str, episodes: int, seed: int) -> list[str]:
    """The markdown lines of one scenario: a title line, the table, the bar's verdict."""
    t0 = time.perf_counter()
    name = resolve(scenario).name
    pid = run_episodes(load_controller_yaml(pid_set), scenario, episodes, seed)
    rows = [_row(pid, pid, seed)[0]]
    met = []
    for kind in sorted(VALUE_AWARE):
        path = tuned_config(kind, name, stand_in=stand_in(name))
        ctrls = [load_controller_yaml(path) if path is not None else build_controller(kind)]
        on_plan = find_config("controller", f"{name}/{kind}_on_plan")
        ctrls += [load_controller_yaml(on_plan)] if on_plan is not None else []
        for ctrl in ctrls:
            row, meets = _row(run_episodes(ctrl, scenario, episodes, seed), pid, seed)
            rows.append(row)
            met += [ctrl.name] if meets else []
    verdict = f"meets the bar: {', '.join(met)}" if met else "no value-aware set meets the bar"
    return [
        f"{name}: {episodes} episodes from seed {seed}, mean [95% CI]; PID {pid_set}"
        f" ({time.perf_counter() - t0:.0f} s)",
        "",
        "| " + " | ".join(HEAD) + " |",
        "|---|" + "---:|" * (len(HEAD) - 2) + "---|",
        *rows,
        "",
        verdict,
    ]


def write_docs(path: Path, lines: list[str]) -> None:
    """Replace what lies between the ``MARK`` lines of ``path`` with ``lines``."""
    text = path.read_text(encoding="utf-8")
    if MARK[0] not in text or MARK[1] not in text:
        raise SystemExit(f"--docs = {str(path)!r}: lacks the lines {MARK[0]} and {MARK[1]}")
    head, rest = text.split(MARK[0], 1)
    _, tail = rest.split(MARK[1], 1)
    path.write_text(head + "\n".join([MARK[0], *lines, MARK[1]]) + tail, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", nargs="+", default=suite_scenarios(SUITE))
    ap.add_argument("--pid", default="daily_budget/pid_tuned")
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--docs", type=Path, default=None, help="write the tables into this file")
    args = ap.parse_args()
    if args.episodes < 2:
        ap.error(f"--episodes = {args.episodes}: allowed [2, inf) (a paired CI)")
    load = os.getloadavg()
    lines: list[str] = []
    for scenario in args.scenario:
        block = scenario_table(scenario, args.pid, args.episodes, args.seed)
        print("\n".join(block) + "\n", flush=True)
        lines += [*block, ""]
    if args.docs is not None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        command = "benchmarks/bench_value_baselines.py " + " ".join(sys.argv[1:])
        meta = (
            f"Written {stamp} by `{command}` (python, from the repository root); load average"
            f" at the start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)."
        )
        write_docs(args.docs, [meta, "", *lines])


if __name__ == "__main__":
    main()
