"""``pacegym-tune``: tune the baselines for a scenario with Optuna and promote the winners.

For a controller kind and a scenario, ``tune`` runs Optuna's TPE sampler (seeded,
multivariate) on the mean score (``SCORE_KEY``) over ``train_episodes`` episodes seeded
from ``train_seed``. The kind's defaults and the incumbent (the curated parameters in
use) are enqueued as the first trials, so the search never returns something that scores
lower on the training seeds than what it started from. The best parameters are then
confirmed on ``test_episodes`` held-out episodes seeded from ``test_seed`` (a disjoint
seed range), paired against the incumbent on the same episodes (common random numbers).
The search spaces are ``pacegym.baselines.tune.TUNABLE``: by default the rules' (``SPACES``);
the value-aware kinds (``VALUE_SPACES``, value scenarios only) on ``--kinds``.

    pacegym-tune --scenario daily_budget [--kinds pid exp_decay] [--trials 60] [--force]
    pacegym-tune --scenario live_commerce daily_budget suite/surge_storm --name generalist \
        --kinds pid --fix plan=observed      # one set for several scenarios, plan pinned

Several ``--scenario`` values tune one parameter set for all of them (the objective is
the mean score over their episodes, each scenario equally often); the set is named
``--name`` (required then). ``--fix key=value`` pins a parameter (it is not searched).
``--off-plan-ref CONTROLLER`` keeps only sets whose training misplaced + burst is at most
``--off-plan-scale`` (1; below: a margin) x that config's (the tuned file's header says so).
``--objective normalised`` maximises the mean normalised score instead, each scenario
against the reference on the same episodes (``baselines.weighting``): the benchmark's
weighting, in which a surge storm's wide score range no longer outweighs the rest; the
held-out comparison and the promotion rule are then in normalised points.

For each kind, ``pacegym.baselines.tune.tune`` searches on training seeds and confirms on
held-out seeds against the incumbent, the curated tuned set in use for this scenario
(``pacegym.resources.tuned_config``: its own set, else the set of the preset its suite
entry borrows from, ``baselines_from``, else the live-commerce set). A set is named after
the scenario (``ScenarioParams.name``): one tuned on a trace's training twin,
``--scenario traces/train/taxi_daily``, is ``taxi_daily``'s, the set its test scenario
``traces/taxi_daily`` runs. Everything goes into the run folder
(``--out``, default ``outputs/tune/<scenario>/<time>/``): ``<kind>_tuned.yaml`` and
``report.json``. A tuned set replaces the curated file only when it is better on the
held-out seeds (paired 95% CI of the score difference above zero), or with ``--force``;
it is promoted to ``--promote-dir`` (default ``./conf/controller``: in a checkout, the
repository's curated configs; elsewhere, the working directory's own ``conf``), as
``<kind>_tuned.yaml`` for live commerce and ``<scenario>/<kind>_tuned.yaml`` otherwise.
The YAML header records the provenance (command, time, seeds, scores, the file it
replaced). Files are written beside their target and renamed into place.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pacegym import outdir
from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.factory import config_class
from pacegym.baselines.stats import aggregate, paired_difference
from pacegym.baselines.tune import (
    SPACES,
    TUNABLE,
    Scenarios,
    check_seeds,
    full_params,
    off_plan,
    off_plan_line,
    reference_off_plan,
    rollout,
)
from pacegym.baselines.weighting import NORMALISED_KEY, reference_scores
from pacegym.envs import yaml_io
from pacegym.envs.metrics import SCORE_KEY
from pacegym.envs.params import ScenarioError, ScenarioParams
from pacegym.envs.scenarios import resolve, scenario_names
from pacegym.experiments import tune_start as ts
from pacegym.experiments.suites import stand_in
from pacegym.flags import FlagParser
from pacegym.resources import conf_dir, tuned_config, tuned_config_name

OBJECTIVES = ("score", "normalised")
"""``--objective``: the mean ``pacing_score_v2``, or the mean normalised score."""


def tune(
    kind: str,
    scenario: Scenarios = "live_commerce",
    trials: int = 60,
    train_episodes: int = 200,
    train_seed: int = 100_000,
    test_episodes: int = 1000,
    test_seed: int = 0,
    seed: int = 0,
    incumbent: Mapping[str, Any] | None = None,
    fix: Mapping[str, Any] | None = None,
    objective: str = "score",
    off_plan_cap: float | None = None,
    start: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Tune ``kind`` on ``scenario`` (or several, ``baselines.tune.rollout``); confirm on
    held-out seeds against ``incumbent``. ``fix``: pinned, not searched; ``start``: tried first.

    Returns ``{"kind", "params" (full config), "train" (best mean score), "trials",
    "test" (aggregate of the tuned set), "incumbent_test" (aggregate of the incumbent,
    defaults when None), "difference" ((mean, low, high) of tuned - incumbent on the
    held-out score), "score_key", "off_plan" (held-out off-plan, training - cap)}``.
    ``objective``: ``"score"`` (the mean ``pacing_score_v2``) or ``"normalised"`` (the mean
    normalised score, each scenario against the reference on the same episodes:
    ``baselines.weighting``; ``score_key`` is then ``normalised`` and the held-out
    comparison in its points). ``off_plan_cap``: see ``baselines.tune.best_trial``."""
    if kind not in TUNABLE:
        raise ValueError(f"kind = {kind!r}: allowed {sorted(TUNABLE)}")
    if trials < 1 or train_episodes < 1 or test_episodes < 1:
        raise ValueError("trials, train_episodes and test_episodes must be >= 1")
    check_seeds(train_seed, train_episodes, test_seed, test_episodes)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective = {objective!r}: allowed {list(OBJECTIVES)}")
    key = NORMALISED_KEY if objective == "normalised" else SCORE_KEY
    train_ref = test_ref = None
    if objective == "normalised":
        single = isinstance(scenario, str | ScenarioParams)
        scs = [resolve(x) for x in ([scenario] if single else scenario)]
        train_ref = reference_scores(scs, train_episodes, train_seed)
        test_ref = reference_scores(scs, test_episodes, test_seed)
    fix = dict(fix or {})
    space = {k: v for k, v in TUNABLE[kind].items() if k not in fix}
    defaults = {**dataclasses.asdict(config_class(kind)()), **fix}
    base = full_params(kind, incumbent) if incumbent is not None else full_params(kind, defaults)
    fixed = {**{k: v for k, v in base.items() if k not in space}, **fix}  # e.g. p_min, p_max

    def evaluate(params: dict[str, Any]) -> tuple[float, float | None]:
        metrics = rollout(kind, params, scenario, train_episodes, train_seed, train_ref).metrics
        excess = None if off_plan_cap is None else off_plan(metrics) - off_plan_cap
        return float(metrics[key].mean()), excess

    firsts = ([] if start is None else [full_params(kind, {**start, **fix})]) + [defaults, base]
    capped = off_plan_cap is not None
    found, n, number = ts.search(kind, space, fixed, firsts, evaluate, seed, trials, capped)
    best = found[0]
    tuned_roll = rollout(kind, best, scenario, test_episodes, test_seed, test_ref)
    base_roll = rollout(kind, base, scenario, test_episodes, test_seed, test_ref)
    return {
        "kind": kind,
        "score_key": key,
        "params": best,
        "train": found[1],
        "trials": n,
        "best_trial": number,  # -1: a first set no trial could try as it is, scored exactly
        "off_plan": (off_plan(tuned_roll.metrics), found[2]),
        "test": aggregate(tuned_roll.metrics, seed=test_seed),
        "incumbent_test": aggregate(base_roll.metrics, seed=test_seed),
        "difference": paired_difference(tuned_roll, base_roll, key, seed=test_seed),
    }


def yaml_text(result: dict[str, Any], scenario: str, provenance: list[str]) -> str:
    """The tuned controller in the ``controller`` config format, provenance as comments."""
    body = {
        "kind": result["kind"],
        "name": f"{result['kind']} (tuned)",
        "params": result["params"],
    }
    header = "".join(f"# {line}\n" for line in provenance)
    return header + yaml.safe_dump(body, sort_keys=False)


def _where(path: Path | None) -> str:
    """A config file as the lookup names it (package-relative), or 'defaults'."""
    if path is None:
        return "defaults"
    for base in (conf_dir(), Path.cwd() / "conf"):
        try:
            return f"controller config {path.relative_to(base.resolve() / 'controller').with_suffix('')}"
        except ValueError:
            continue
    return str(path)


def _score_line(agg: dict[str, Any], key: str) -> str:
    lo, hi = agg[f"{key}_ci"]
    return f"{agg[key]:.4f} [{lo:.4f}, {hi:.4f}]"


def parse_fix(ap: argparse.ArgumentParser, items: list[str], kinds: list[str]) -> dict[str, Any]:
    """``--fix key=value ...`` as a dict (values read as YAML scalars), each checked against
    every tuned kind's parameters (``ap.error`` naming the key otherwise)."""
    fix: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            ap.error(f"--fix = {item!r}: allowed KEY=VALUE (e.g. plan=observed)")
        fix[key] = yaml.safe_load(value)
    for kind in kinds:
        try:
            full_params(kind, fix)
        except (ControllerConfigError, TypeError, ValueError) as e:
            ap.error(f"--fix = {' '.join(items)!r} for {kind}: {e}")
    return fix


def _parser() -> argparse.ArgumentParser:
    """The ``pacegym-tune`` command line (module docstring)."""
    ap = FlagParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--scenario",
        nargs="+",
        default=["live_commerce"],
        help="preset, scenario name or path; several: one set for all (needs --name)",
    )
    ap.add_argument("--name", default=None, help="name of a set tuned for several scenarios")
    ap.add_argument(
        "--fix", nargs="*", default=[], metavar="KEY=VALUE", help="pin a parameter (not searched)"
    )
    ap.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="score",
        help="what to maximise: the mean score, or the mean normalised score (each scenario "
        "weighed in normalised points, for a set tuned for several)",
    )
    ap.add_argument(
        "--off-plan-ref", metavar="CONTROLLER", help="cap misplaced + burst at this config's"
    )
    ap.add_argument("--off-plan-scale", type=float, default=1.0, help="the cap: this x the ref's")
    ts.add_start_option(ap)
    ap.add_argument("--kinds", nargs="+", default=sorted(SPACES), choices=sorted(TUNABLE))
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--train-episodes", type=int, default=200)
    ap.add_argument("--train-seed", type=int, default=100_000)
    ap.add_argument("--test-episodes", type=int, default=1000)
    ap.add_argument("--test-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="run folder")
    ap.add_argument("--promote-dir", type=Path, default=Path("conf") / "controller")
    ap.add_argument("--force", action="store_true", help="promote even when not better")
    ap.add_argument("--no-promote", action="store_true", help="only write the run folder")
    ap.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run's results in --out"
    )
    return ap


def _scenarios(ap: argparse.ArgumentParser, args: argparse.Namespace) -> list[ScenarioParams]:
    """The resolved ``--scenario`` list, after every range and name check (``ap.error``
    naming the option otherwise)."""
    for key in ("trials", "train_episodes", "test_episodes"):
        if getattr(args, key) < 1:
            ap.error(f"--{key.replace('_', '-')} = {getattr(args, key)}: allowed [1, inf)")
    for key in ("train_seed", "test_seed", "seed"):
        if getattr(args, key) < 0:
            ap.error(f"--{key.replace('_', '-')} = {getattr(args, key)}: allowed [0, inf)")
    try:
        check_seeds(args.train_seed, args.train_episodes, args.test_seed, args.test_episodes)
    except ValueError as e:
        ap.error(f"--train-seed = {args.train_seed}: {e}")
    try:
        scenarios = [resolve(s) for s in args.scenario]
    except ScenarioError as e:
        ap.error(f"{e}; known: {scenario_names()}")
    if len(scenarios) > 1 and not args.name:
        ap.error(f"--name = None: {len(scenarios)} scenarios need a name for their set")
    if args.name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", args.name):
        ap.error(f"--name = {args.name!r}: allowed a plain identifier (letters, digits, _)")
    return scenarios


@dataclasses.dataclass(frozen=True)
class _Run:
    """One ``pacegym-tune`` call: the set's name, what it tunes on, how it was called."""

    name: str  # the set's name (--name, else the scenario's)
    stand_in: str | None  # the preset whose sets it runs where it has none (suites.stand_in)
    scenario: Scenarios  # one scenario, or the list a set is tuned for
    where: str  # the scenarios' names, for messages
    command: str
    stamp: str  # [%Y-%m-%d_%H-%M-%S] start time
    out: Path  # run folder


def _tune_kind(
    kind: str, args: argparse.Namespace, run: _Run, fix: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """Tune one kind against its incumbent set, write it to the run folder (and promote it
    when it is better, or with --force); returns its report entry and its table row."""
    current = tuned_config(kind, run.name, stand_in=run.stand_in)
    incumbent = yaml_io.load(current.read_text(encoding="utf-8")).get("params") if current else None
    if incumbent is not None and fix:
        incumbent = {**incumbent, **fix}  # the incumbent with the pinned values
    ref, a = args.off_plan_ref, args
    cap = None
    if ref:
        cap = a.off_plan_scale * reference_off_plan(
            ref, run.scenario, a.train_episodes, a.train_seed
        )
    res = tune(
        kind,
        run.scenario,
        args.trials,
        args.train_episodes,
        args.train_seed,
        args.test_episodes,
        args.test_seed,
        args.seed,
        incumbent,
        fix,
        args.objective,
        cap,
        ts.start_params(kind, args.start_from),
    )
    key = res["score_key"]
    mean, lo, hi = res["difference"]
    better = lo > 0.0
    provenance = [
        f"Tuned by: {run.command}",
        f"at {run.stamp} on scenario {run.where}; Optuna TPE seed {args.seed}, "
        f"{res['trials']} trials x {args.train_episodes} training episodes from seed "
        f"{args.train_seed}",
        f"held-out {key} ({args.test_episodes} episodes from seed {args.test_seed}): "
        f"{_score_line(res['test'], key)}; incumbent {_where(current)}: "
        f"{_score_line(res['incumbent_test'], key)}; "
        f"paired difference {mean:+.4f} [{lo:+.4f}, {hi:+.4f}]",
    ]
    if ref:
        provenance.append(off_plan_line(ref, cap, res["off_plan"], run.scenario, a))
    text = yaml_text(res, run.name, provenance)
    outdir.write_atomic(run.out / f"{kind}_tuned.yaml", text)
    promoted = None
    if not args.no_promote and (better or args.force):
        promoted = args.promote_dir / f"{tuned_config_name(kind, run.name)}.yaml"
        outdir.write_atomic(promoted, text)
    entry = {
        **res,
        "incumbent": str(current) if current else None,
        "promoted": str(promoted) if promoted else None,
    }
    row = (
        f"| {kind} | {res['train']:.4f} | {_score_line(res['test'], key)} | "
        f"{_score_line(res['incumbent_test'], key)} | {mean:+.4f} [{lo:+.4f}, {hi:+.4f}] | "
        f"{promoted or ('no: not better' if not args.no_promote else 'no')} |"
    )
    return entry, row


def main(argv: list[str] | None = None) -> None:
    ap = _parser()
    args = ap.parse_args(argv)
    scenarios = _scenarios(ap, args)
    fix = parse_fix(ap, args.fix, args.kinds)
    name = args.name or scenarios[0].name
    stamp = dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    run = _Run(
        name=name,
        stand_in=stand_in(name),
        scenario=scenarios if len(scenarios) > 1 else scenarios[0],
        where=", ".join(s.name for s in scenarios),
        command="pacegym-tune " + " ".join(sys.argv[1:] if argv is None else argv),
        stamp=stamp,
        out=args.out or Path("outputs") / "tune" / name / stamp,  # claimed below
    )
    report: dict[str, Any] = {
        "scenario": name,
        "scenarios": [s.name for s in scenarios],
        "fix": fix,
        "command": run.command,
        "kinds": {},
    }
    with outdir.owned("--out", run.out, args.overwrite, run.command):
        print(f"tuning on {run.where}: {args.trials} trials x {args.train_episodes} episodes")
        print(
            "| kind | train | held-out tuned | held-out incumbent | tuned - incumbent | promoted |"
        )
        print("|---|---:|---:|---:|---:|---|")
        for kind in args.kinds:
            report["kinds"][kind], row = _tune_kind(kind, args, run, fix)
            print(row)
        outdir.write_atomic(run.out / "report.json", json.dumps(report, indent=2, default=str))
    print(f"wrote {run.out}")


if __name__ == "__main__":
    main()
