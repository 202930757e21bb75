"""The model-predictive controller and its model-knowing bound on the value suite's episodes.

    python benchmarks/bench_mpc_value.py [--episodes 32] [--seed 3000000] [--rows ...]
        [--scenario value_channels ...] [--replans value_multi_day=2 ...] [--out DIR]
        [--oracle-mean value_multi_day=1.5378 ...]

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
0) and the paired differences to dual price, to the single set and (the bound) to the
MPC, normalised [95% CI]
(``baselines.normalise.normalised_difference``) and raw (``baselines.stats``).
``--oracle-mean SCENARIO=MEAN`` skips that scenario's oracle row (the 3-day oracle takes
longer than all the rest) and normalises with that mean instead; its normalised CIs are
then the raw paired CI over the fixed span (the oracle not resampled).
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
PAIRS = (
    *((p, c) for p in POLICIES for c in ("dual_price_tuned", "single_set")),
    ("mpc_model_bound", "mpc"),  # what knowing the model is worth to the same planner
)
"""(policy, comparator) rows of the difference table."""


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


def _load(out: Path, sc: str, row: str) -> np.ndarray | None:
    f = out / f"{sc.replace('/', '.')}__{row}.npy"
    return np.load(f) if f.is_file() else None


def _difference(x: dict, p: str, c: str, oracle_mean: float) -> tuple:
    """(normalised (mean, low, high), raw (mean, low, high)) of ``p - c``; without the
    oracle's episodes the span to ``oracle_mean`` is held fixed (no oracle resampling)."""
    raw = paired_difference({SCORE_KEY: x[p]}, {SCORE_KEY: x[c]}, SCORE_KEY)
    if x["oracle"] is not None:
        return normalised_difference(x[p], x[c], x["reference"], x["oracle"]), raw
    span = float(oracle_mean) - float(x["reference"].mean())
    return tuple(100.0 * v / span for v in raw), raw


def tables(out: Path, scenarios: list[str], oracle_means: dict[str, float] | None = None) -> str:
    """The markdown tables of the module docstring from the rows kept in ``out``;
    ``oracle_means`` (scenario's last name -> mean score) stands in for an oracle row not
    run (its normalised CIs then hold the span fixed)."""
    means = oracle_means or {}
    s = {sc: {r: _load(out, sc, r) for r in CONFIGS} for sc in scenarios}
    o_mean = {
        sc: float(s[sc]["oracle"].mean()) if s[sc]["oracle"] is not None
        else means[sc.split("/")[-1]] for sc in scenarios
    }  # fmt: skip
    short = [sc.split("/")[-1] for sc in scenarios]
    lines = ["| policy | " + " | ".join(short) + " | suite mean |", "|---" * (len(short) + 2) + "|"]
    for r in CONFIGS:
        if any(s[sc][r] is None for sc in scenarios):
            continue  # the oracle not run: its mean stands in (o_mean)
        vals = [normalised_value(s[sc][r].mean(), s[sc]["reference"].mean(), o_mean[sc])
                for sc in scenarios]  # fmt: skip
        cells = [f"{v:.1f} ({s[sc][r].mean():.4f})" for v, sc in zip(vals, scenarios, strict=True)]
        lines.append(f"| {r} | " + " | ".join(cells) + f" | {np.mean(vals):.1f} |")
    lines += ["", "| policy - comparator | " + " | ".join(short) + " | suite mean |"]
    lines.append("|---" * (len(short) + 2) + "|")
    for p, c in PAIRS:
        cells, means, raws = [], [], []
        for sc in scenarios:
            d, raw = _difference(s[sc], p, c, o_mean[sc])
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
    ap.add_argument(
        "--oracle-mean", nargs="*", default=[], help="SCENARIO=MEAN for an oracle row not run"
    )
    a = ap.parse_args(argv)
    replans = {k: int(v) for k, v in (x.split("=") for x in a.replans)}
    means = {k: float(v) for k, v in (x.split("=") for x in a.oracle_mean)}
    a.out.mkdir(parents=True, exist_ok=True)
    for sc in a.scenario:
        for row in a.rows:
            if row == "oracle" and sc.split("/")[-1] in means:
                continue  # its mean stands in
            run_row(a.out, sc, row, a.episodes, a.seed, replans.get(sc.split("/")[-1]))
    if all(_load(a.out, sc, r) is not None for sc in a.scenario for r in CONFIGS if r != "oracle"):
        print(tables(a.out, a.scenario, means))


if __name__ == "__main__":
    main()
