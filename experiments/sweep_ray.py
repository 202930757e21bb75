"""``pacegym-sweep``: tune a ``pacegym-train`` agent on Ray Tune (one machine or a cluster).

    pacegym-sweep --experiment sweep_ppo_live --num-cpus 2 [override ...]
    pacegym-sweep --experiment tune_ppo_live --search optuna --num-samples 8 \
        --scheduler asha --num-cpus 2
    pacegym-sweep --resume --out multirun/ray/<time>       # an interrupted sweep, continued

The search space is the experiment's ``hydra.sweeper.params`` plus ``key=...`` sweep
overrides, typed (``experiments.sweep_space``: ``a,b`` values, ``interval(lo,hi)``,
``tag(log,interval(lo,hi))``). ``--search``: ``grid`` (Ray's basic variant generator,
``--num-samples`` repeats of the grid), ``random``, or ``optuna`` (Ray's ``OptunaSearch``,
seeded by ``--seed``); ``--num-samples`` trials. Each trial is one ``pacegym-train`` run
that ``tune.report``s every held-out evaluation (``pacing_score_v2``, env-steps) with a
Ray checkpoint of its training checkpoint (``experiments.sweep_trial``). ``--scheduler
asha`` (``ASHAScheduler`` on env-steps: rungs from ``--grace-period`` env-steps, default
``train.eval_freq``, by ``--reduction-factor`` up to ``train.total_timesteps``) stops the
trials that trail at a rung; it needs ``train.eval_freq > 0``.

Tracking goes where the user's other runs go: ``--tracking-uri``, else
``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the working directory (made
absolute: Ray runs each trial elsewhere). One parent run (``run_type=sweep``) per sweep;
every trial is a child run with its learning curves (``eval/*`` at every evaluation). A
trial the scheduler stopped ends ``KILLED`` with tag ``stopped_early=true``; the parent
ends FINISHED when every child finished or was stopped so, with the best child's score. A
sqlite file only works when every trial runs on this machine; on a cluster (``--address``,
probed first: ``experiments.ray_connect``) use a server every node reaches.

``--out`` (default ``multirun/ray/<time>``, the sweep's own folder, ``pacegym.outdir``) is
Ray's experiment folder: one folder per trial (Ray's results and checkpoints beside the
train run's files), ``sweep.json`` (what ``--resume`` needs) and ``best.json`` (the best
finished trial's typed parameters, score and MLflow run). ``--resume`` continues an
interrupted sweep there (``Tuner.restore``): unfinished trials restart from their last
checkpoint, under the same parent run.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

from pacegym import outdir
from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments import hydra_app  # noqa: F401  (./conf on the search path, as the apps)
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.override_checks import refuse_unknown_additions
from pacegym.experiments.ray_connect import connect, probe
from pacegym.experiments.sweep_ray_args import check_args, parser
from pacegym.experiments.sweep_runs import (
    finish_parent,
    interrupt_parent,
    open_parent,
    reopen_parent,
    settle,
)
from pacegym.experiments.sweep_space import describe, domains, fixed, search_space
from pacegym.experiments.sweep_trial import RUN_ID_KEY, STEPS_KEY, dirname, trial
from pacegym.experiments.tracking import scenario_of
from pacegym.experiments.tracking import tracking_uri as default_uri

STATE_FILE = "sweep.json"
"""In ``--out``: the sweep's MLflow parent run and store, read back by ``--resume``."""


@dataclass(frozen=True)
class Sweep:
    """How a sweep searches (the command line's choices)."""

    search: str = "grid"  # sweep_space.SEARCHES
    num_samples: int = 1
    scheduler: str = "fifo"  # or "asha"
    grace_period: int | None = None  # [env-steps] ASHA's first rung (None: train.eval_freq)
    reduction_factor: float = 2.0
    seed: int = 0  # Optuna's sampler


def train_config(experiment: str, overrides: list[str]) -> Any:
    """The composed train config of the sweep's fixed overrides (budget, tracking)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", [f"experiment={experiment}", *fixed(overrides)])


def tune_config(sweep: Sweep, train_cfg: Any) -> Any:
    """Ray's ``TuneConfig``: metric, samples, the search algorithm and the scheduler."""
    from ray import tune

    search_alg = scheduler = None
    if sweep.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        search_alg = OptunaSearch(seed=sweep.seed)
    if sweep.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        eval_freq = int(train_cfg.train.eval_freq)
        if eval_freq <= 0:
            raise ValueError(
                "train.eval_freq = 0: --scheduler asha stops trials at their evaluations; "
                "allowed > 0 (env-steps between evaluations)"
            )
        total = int(train_cfg.train.total_timesteps)
        grace = sweep.grace_period or eval_freq
        if grace > total:
            raise ValueError(
                f"--grace-period = {grace}: allowed [1, {total}] (env-steps up to "
                "train.total_timesteps; the default is train.eval_freq)"
            )
        scheduler = ASHAScheduler(
            time_attr=STEPS_KEY,
            max_t=total,
            grace_period=grace,
            reduction_factor=sweep.reduction_factor,
        )
    return tune.TuneConfig(
        metric=SCORE_KEY,
        mode="max",
        num_samples=sweep.num_samples,
        search_alg=search_alg,
        scheduler=scheduler,
        trial_dirname_creator=dirname,
        reuse_actors=True,  # a trial process imports torch and SB3 once, not per trial
    )


def _trainable(setup: dict[str, Any], cpus_per_trial: float) -> Any:
    """The trial function with the sweep's ``setup`` (not part of the searched config)."""
    from ray import tune

    return tune.with_resources(tune.with_parameters(trial, setup=setup), {"cpu": cpus_per_trial})


def _check_cpus(cpus_per_trial: float) -> None:
    import ray

    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    if cpus_per_trial > cpus:  # no trial could ever be placed: Ray would wait forever
        raise ValueError(
            f"--cpus-per-trial = {cpus_per_trial}: allowed (0, {cpus:g}], the CPUs of the Ray "
            "cluster"
        )


def run(
    experiment: str,
    overrides: list[str],
    tracking_uri: str | None,
    out: Path,
    num_cpus: int | None,
    address: str | None,
    cpus_per_trial: float = 1.0,
    sweep: Sweep = Sweep(),
) -> dict[str, Any]:
    """Run a new sweep under one parent run into ``out``; returns ``best.json``'s document."""
    from ray import tune

    space = search_space(experiment, overrides)
    cfg = train_config(experiment, overrides)
    tune_cfg = tune_config(sweep, cfg)  # a bad scheduler setting fails before any run
    uri = default_uri({"tracking": {"uri": tracking_uri}})
    tracking = {"tracking": {"uri": uri, "experiment": str(cfg.tracking.experiment)}}
    # once, before any trial: the store exists (no race on a fresh sqlite file) and so does
    # the parent every trial nests under
    parent = open_parent(
        tracking,
        f"{experiment} (ray sweep)",
        {
            "sweep": experiment,
            "scenario": scenario_of("train", [f"experiment={experiment}", *fixed(overrides)]),
            "search_space": json.dumps(describe(space))[:5000],
        },
    )
    setup = {
        "experiment": experiment,
        "base_overrides": [
            f"experiment={experiment}",
            f"tracking.uri={uri}",
            f"tracking.parent_run_id={parent}",
            "train.progress_bar=false",  # trials share one terminal; Ray prints their status
            *fixed(overrides),
        ],
        "conf_dir": str(CONF_DIR),
        "out": str(out.resolve()),
    }
    state = {"parent_run_id": parent, "tracking": tracking, "setup": setup}
    outdir.write_atomic(out / STATE_FILE, json.dumps(state, indent=1))

    def tuner() -> Any:
        _check_cpus(cpus_per_trial)
        return tune.Tuner(
            _trainable(setup, cpus_per_trial),
            param_space={"params": domains(space, sweep.search)},
            tune_config=tune_cfg,
            run_config=_run_config(out),
        )

    return _fit(tuner, state, num_cpus, address, space)


def _run_config(out: Path) -> Any:
    from ray import tune

    return tune.RunConfig(
        storage_path=str(out.resolve().parent),
        name=out.name,  # Ray's experiment folder is --out itself
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
    )


def resume(out: Path, num_cpus: int | None, address: str | None, cpus: float) -> dict[str, Any]:
    """Continue the interrupted sweep in ``out`` (``Tuner.restore``) under its parent run."""
    from ray import tune

    path = out / STATE_FILE
    if not path.is_file():
        raise ValueError(f"--out = {str(out)!r}: no {STATE_FILE} there: allowed a sweep's folder")
    if not tune.Tuner.can_restore(str(out.resolve())):
        raise ValueError(f"--out = {str(out)!r}: Ray left no experiment state there")
    state = json.loads(path.read_text())
    setup = {**state["setup"], "out": str(out.resolve())}  # the folder may have moved
    reopen_parent(state["tracking"], state["parent_run_id"])

    def tuner() -> Any:
        _check_cpus(cpus)
        return tune.Tuner.restore(
            str(out.resolve()),
            _trainable(setup, cpus),
            resume_unfinished=True,
            resume_errored=True,
        )

    return _fit(tuner, {**state, "setup": setup}, num_cpus, address, None)


def _fit(
    tuner: Any, state: dict[str, Any], num_cpus: int | None, address: str | None, space: Any
) -> dict[str, Any]:
    """Start Ray, fit, settle the trials' MLflow runs and the parent; ``best.json``'s doc."""
    import ray

    tracking, parent = state["tracking"], state["parent_run_id"]
    results = None
    try:
        connect("--address", address, num_cpus)
        results = tuner().fit()
    finally:
        ray.shutdown()  # every trial process has ended: its MLflow run is settled below
        trials = _trial_runs(results)
        settle(tracking, parent, trials)
        if results is not None and _interrupted(results):
            interrupt_parent(tracking, parent)
            where = state["setup"]["out"]
            print(f"continue with: pacegym-sweep --resume --out {where}", file=sys.stderr)
            raise KeyboardInterrupt(where)  # Ray caught Ctrl-C and saved its state
        summary = finish_parent(tracking, parent)
    failed = [str(r.error) for r in results if r.error is not None]
    if failed:
        raise RuntimeError(f"{len(failed)} Ray trial(s) failed; first: {failed[0]}")
    by_run = {r.metrics.get(RUN_ID_KEY): r for r in results}
    best = by_run.get(summary.get("best_run_id"))
    return {
        "params": best.config["params"] if best is not None else None,
        SCORE_KEY: summary.get(f"best_{SCORE_KEY}"),
        "mlflow_run_id": summary.get("best_run_id"),
        "mlflow_parent_run_id": parent,
        "tracking_uri": tracking["tracking"]["uri"],
        "trials": len(results),
        "children_finished": summary["finished"],
        "stopped_early": summary["stopped_early"],
        **({"search_space": describe(space)} if space is not None else {}),
    }


def _trials(results: Any) -> list[Any]:
    """Ray's trials of a fit (their ``status`` and ``last_result``)."""
    return getattr(getattr(results, "_experiment_analysis", None), "trials", None) or []


def _ended(trial: Any) -> str:
    """How Ray left a trial: ``ERROR``, ``DONE`` (finished, or its scheduler stopped it:
    Ray marks both ``done``), else ``INTERRUPTED`` (Ctrl-C: Ray saved it for a resume)."""
    if str(trial.status) == "ERROR":
        return "ERROR"
    done = str(trial.status) == "TERMINATED" and bool((trial.last_result or {}).get("done"))
    return "DONE" if done else "INTERRUPTED"


def _interrupted(results: Any) -> bool:
    """True when a trial neither ended nor failed: Ctrl-C stopped the fit."""
    return any(_ended(t) == "INTERRUPTED" for t in _trials(results))


def _trial_runs(results: Any) -> dict[str, str]:
    """``{MLflow run id: _ended}`` of the trials that reported (none: {})."""
    out: dict[str, str] = {}
    for t in _trials(results):
        run_id = (t.last_result or {}).get(RUN_ID_KEY)
        if run_id:
            out[str(run_id)] = _ended(t)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = parser(__doc__)
    a = ap.parse_intermixed_args(argv)  # overrides may come before or after options
    check_args(ap, a)
    if a.address:  # before the folder or a run exists: an address that never answers
        try:
            probe("--address", a.address)
        except ValueError as exc:
            ap.error(str(exc))
    if not a.resume:  # a +key= the train schema does not declare: before anything runs
        groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
        try:
            cfg = train_config(a.experiment, a.overrides)
            refuse_unknown_additions(cfg, fixed(a.overrides), groups)
        except ValueError as exc:
            ap.error(str(exc))
    command = " ".join(["pacegym-sweep", *(sys.argv[1:] if argv is None else argv)])
    if a.resume:
        best = resume(a.out, a.num_cpus, a.address, a.cpus_per_trial)
        outdir.write_atomic(a.out / "best.json", json.dumps(best, indent=2) + "\n")
        outdir.finish(outdir.Claim("--out", a.out, None, None))
    else:
        if a.out is None:
            a.out = Path("multirun") / "ray" / time.strftime("%Y-%m-%d_%H-%M-%S")
        sweep = Sweep(
            a.search, a.num_samples, a.scheduler, a.grace_period, a.reduction_factor, a.seed
        )
        with outdir.owned("--out", a.out, a.overwrite, command):
            best = run(
                a.experiment,
                a.overrides,
                a.tracking_uri,
                a.out,
                a.num_cpus,
                a.address,
                a.cpus_per_trial,
                sweep,
            )
            outdir.write_atomic(a.out / "best.json", json.dumps(best, indent=2) + "\n")
    print(json.dumps(best, indent=2))


if __name__ == "__main__":
    main()
