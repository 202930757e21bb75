"""``pacegym-tune``: tune the baselines and write them as controller YAMLs.

    pacegym-tune --scenario live_commerce [--kinds pid exp_decay] [--trials 40] [--out DIR]

The search itself is ``pacegym.baselines.tune.tune``. Each kind is written as
``<out>/<kind>_tuned.yaml`` (``{kind, name, params}``, the format
``pacegym.baselines.factory.from_spec`` reads; scores as comments), by default into
``./conf/controller`` of the working directory, never into the installed package: use it
with ``--config-dir ./conf`` or ``controller=/abs/path.yaml`` style overrides. An existing
file is replaced only with ``--overwrite``; every file is written beside its target and
renamed into place, so an interrupted run leaves no half-written YAML.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from pacegym.baselines.tune import SPACES, tune


def write_yaml(result: dict[str, Any], path: Path, command: str) -> None:
    """Write the tuned controller in the ``conf/controller`` format, scores as comments."""
    t, d = result["test"], result["test_default"]
    header = (
        f"# Tuned by: {command}\n"
        f"# train mean pacing_score {result['train']:.4f}; held-out ({t['episodes']} "
        f"episodes) {t['pacing_score']:.4f} [{t['pacing_score_ci'][0]:.4f}, "
        f"{t['pacing_score_ci'][1]:.4f}] (defaults: {d['pacing_score']:.4f})\n"
    )
    body = {"kind": result["kind"], "name": f"{result['kind']} (tuned)", "params": result["params"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(header + yaml.safe_dump(body, sort_keys=False))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="live_commerce")
    ap.add_argument("--kinds", nargs="+", default=sorted(SPACES), choices=sorted(SPACES))
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--refine", type=int, default=40)
    ap.add_argument("--train-episodes", type=int, default=300)
    ap.add_argument("--train-seed", type=int, default=100_000)
    ap.add_argument("--test-episodes", type=int, default=1000)
    ap.add_argument("--test-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("conf") / "controller")
    ap.add_argument("--overwrite", action="store_true", help="replace existing *_tuned.yaml")
    args = ap.parse_args(argv)
    if args.trials < 0 or args.refine < 0 or args.train_episodes < 1 or args.test_episodes < 1:
        ap.error("--trials and --refine must be >= 0 and --train-episodes / --test-episodes >= 1")
    targets = {kind: args.out / f"{kind}_tuned.yaml" for kind in args.kinds}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not args.overwrite:
        ap.error(f"--out = {str(args.out)!r} already holds {existing}: pass --overwrite to replace")
    command = (
        f"pacegym-tune --scenario {args.scenario} --trials {args.trials} "
        f"--refine {args.refine} --seed {args.seed}"
    )
    print("| kind | train score | held-out score [95% CI] | held-out, defaults |")
    print("|---|---:|---:|---:|")
    for kind in args.kinds:
        res = tune(
            kind,
            args.scenario,
            args.trials,
            args.train_episodes,
            args.train_seed,
            args.test_episodes,
            args.test_seed,
            args.seed,
            args.refine,
            progress=True,
        )
        write_yaml(res, targets[kind], command)
        t = res["test"]
        lo, hi = t["pacing_score_ci"]
        print(
            f"| {kind} | {res['train']:.4f} | {t['pacing_score']:.4f} [{lo:.4f}, {hi:.4f}] | "
            f"{res['test_default']['pacing_score']:.4f} |"
        )
    print(f"wrote {', '.join(str(p) for p in targets.values())}")


if __name__ == "__main__":
    main()
