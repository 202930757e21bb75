"""The model-predictive controller and its model-knowing bound on the value suite's episodes.

    python benchmarks/bench_mpc_value.py [--episodes 32] [--seed 3000000] [--rows ...]
        [--scenario value_channels ...] [--replans value_multi_day=2 ...] [--out DIR]

Runs, on the benchmark's own episodes (``pacegym-benchmark suite=value``: ``--seed``, the
same seeds on every scenario, batches of ``baselines.harness.BATCH_SIZE``), the rows
issue 23's question needs: the yardsticks (``reference``, ``oracle``: the normalised
scale), the suite's tuned dual price (``value_channels/dual_price_tuned``, every value
scenario's best tuned baseline), the single suite set (``value_generalist/
dual_price_tuned``), the causal MPC (``conf/controller/mpc_value.yaml``) and its
clairvoyant-model variant (``baselines.mpc.ModelMPC``, the same config). ``--replans
SCENARIO=R`` re-plans the two MPC rows ``R`` times per flight on that scenario (the 3-day
LPs take seconds each). Each row's per-episode ``pacing_score_v2`` is kept in ``--out``
(``<scenario>__<row>.npy``, with its seconds), so rows run one call at a time and a later
call reuses them; the last call prints the tables: normalised score (oracle 100, reference
0) and the paired differences to dual price and to the single set, normalised [95% CI]
(``baselines.normalise.normalised_difference``) and raw (``baselines.stats``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pacegym.baselines.factory import load_controller_yaml
from pacegym.baselines.harness import run_episodes
from pacegym.baselines.mpc import ModelMPC
from pacegym.baselines.normalise import normalised_difference, normalised_value
from pacegym.baselines.stats import paired_difference
from pacegym.envs.metrics import SCORE_KEY
from pacegym.resources import find_config

SCENARIOS = ("value_channels", "suite/value_drift", "suite/value_price", "suite/value_multi_day")
CONFIGS = {
    "reference": "reference",
    "oracle": "oracle",
    "dual_price_tuned": "value_channels/dual_price_tuned",
    "single_set": "value_generalist/dual_price_tuned",
    "mpc": "mpc_value",
    "mpc_model_bound": "mpc_value",
}
"""Row name -> controller config (``conf/controller/<name>.yaml``)."""
POLICIES = ("mpc", "mpc_model_bound")
COMPARATORS = ("dual_price_tuned", "single_set")


def build(row: str, replans: int | None) -> object:
    """The controller of ``row``; ``replans`` overrides the MPC rows' re-plans."""
    ctrl = load_controller_yaml(find_config("controller", CONFIGS[row]))
    if row in POLICIES and replans is not None:
        from dataclasses import replace

        ctrl.config = replace(ctrl.config, replans=replans)
    if row == "mpc_model_bound":
        ctrl = ModelMPC(config=ctrl.config)
    return ctrl


def run_row(out: Path, sc: str, row: str, episodes: int, seed: int, replans: int | None) -> None:
    key = f"{sc.replace('/', '.')}__{row}"
    if (out / f"{key}.npy").is_file():
        return
    ctrl = build(row, replans)
    t0 = time.perf_counter()
    roll = run_episodes(ctrl, sc, episodes, seed)
    secs = time.perf_counter() - t0
    np.save(out / f"{key}.npy", roll.metrics[SCORE_KEY])
    fails = int(getattr(ctrl, "failures", 0))
    (out / f"{key}.json").write_text(json.dumps({"seconds": secs, "failures": fails}))
    print(f"{sc} {row}: {secs:.0f} s, mean {roll.metrics[SCORE_KEY].mean():.4f}", flush=True)


def _fmt(d: tuple[float, float, float], raw: tuple[float, float, float]) -> str:
    return f"{d[0]:+.1f} [{d[1]:+.1f}, {d[2]:+.1f}] ({raw[0]:+.4f})"


def tables(out: Path, scenarios: list[str]) -> str:
    """The markdown tables of the module docstring from the rows kept in ``out``."""
    s = {
        sc: {r: np.load(out / f"{sc.replace('/', '.')}__{r}.npy") for r in CONFIGS}
        for sc in scenarios
    }
    short = [sc.split("/")[-1] for sc in scenarios]
    lines = ["| policy | " + " | ".join(short) + " | suite mean |", "|---" * (len(short) + 2) + "|"]
    for r in CONFIGS:
        vals = [normalised_value(s[sc][r].mean(), s[sc]["reference"].mean(), s[sc]["oracle"].mean())
                for sc in scenarios]  # fmt: skip
        cells = [f"{v:.1f} ({s[sc][r].mean():.4f})" for v, sc in zip(vals, scenarios, strict=True)]
        lines.append(f"| {r} | " + " | ".join(cells) + f" | {np.mean(vals):.1f} |")
    lines += ["", "| policy - comparator | " + " | ".join(short) + " | suite mean |"]
    lines.append("|---" * (len(short) + 2) + "|")
    for p in POLICIES:
        for c in COMPARATORS:
            cells, means, raws = [], [], []
            for sc in scenarios:
                x = s[sc]
                d = normalised_difference(x[p], x[c], x["reference"], x["oracle"])
                raw = paired_difference({SCORE_KEY: x[p]}, {SCORE_KEY: x[c]}, SCORE_KEY)
                cells.append(_fmt(d, raw))
                means.append(d[0])
                raws.append(raw[0])
            mean = f"{np.mean(means):+.1f} ({np.mean(raws):+.4f})"
            lines.append(f"| {p} - {c} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=32)
    ap.add_argument("--seed", type=int, default=3_000_000)
    ap.add_argument("--rows", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--scenario", nargs="+", default=list(SCENARIOS))
    ap.add_argument("--replans", nargs="*", default=[], help="SCENARIO=R for the MPC rows")
    ap.add_argument("--out", type=Path, default=Path("bench_mpc_value"))
    a = ap.parse_args(argv)
    replans = {k: int(v) for k, v in (x.split("=") for x in a.replans)}
    a.out.mkdir(parents=True, exist_ok=True)
    for sc in a.scenario:
        for row in a.rows:
            run_row(a.out, sc, row, a.episodes, a.seed, replans.get(sc.split("/")[-1]))
    if all(
        (a.out / f"{sc.replace('/', '.')}__{r}.npy").is_file() for sc in a.scenario for r in CONFIGS
    ):
        print(tables(a.out, a.scenario))


if __name__ == "__main__":
    main()
