"""Run a ``pacegym-train`` sweep on Ray Tune (one machine or a cluster), tracked in MLflow.

    python -m pacegym.experiments.sweep_ray --experiment sweep_ppo_live --num-cpus 2 \
        [--tracking-uri URI] [--address auto] [override ...]

The search space is the experiment's ``hydra.sweeper.params`` (the same file that
``pacegym-train -m`` sweeps with joblib): every ``key: a,b,c`` becomes
``tune.grid_search([a, b, c])``. Each trial composes the train config with its
overrides and runs ``experiments.train.train`` in its own run dir under ``--out`` (this
sweep's own folder, ``pacegym.outdir``: an earlier sweep's is replaced only with ``--overwrite``).

Tracking goes where the user's other runs go: ``--tracking-uri``, else
``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the working directory (made
absolute here: Ray runs each trial in a directory of its own). The driver checks the store,
opens one parent run (``run_type=sweep``, named after the experiment) and every trial is a
child run named by its parameters; the parent ends with the best trial's score. A sqlite
file only works when every trial runs on this machine; on a cluster use a server that
every node reaches. Each trial reports the held-out ``pacing_score_v2`` (``SCORE_KEY``); the best trial's
overrides are printed and written to ``<out>/best.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from pacegym import errors, outdir
from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments import hydra_app  # noqa: F401  (./conf on the search path, as the apps)
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.sweep_runs import finish_parent, open_parent
from pacegym.experiments.tracking import tracking_uri as default_uri

EXPERIMENT = "sweep_ppo_live"
"""The experiment file swept when ``--experiment`` is not given."""
CPUS_PER_TRIAL = 1.0
"""[CPUs] Ray resources reserved per trial when ``--cpus-per-trial`` is not given."""


def search_space(experiment: str, overrides: list[str]) -> dict[str, list[str]]:
    """``{key: [values as override strings]}`` from ``hydra.sweeper.params`` and ``a,b`` overrides."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train", [f"experiment={experiment}", *_fixed(overrides)], return_hydra_config=True
        )
    params = dict(cfg.hydra.sweeper.params or {})
    for o in overrides:  # a command-line value replaces the file's axis for that key
        key, _, value = o.partition("=")
        if _is_sweep(o):
            params[key] = value
        else:
            params.pop(key, None)
    parser = OverridesParser.create()
    space: dict[str, list[str]] = {}
    for key, value in params.items():
        ov = parser.parse_override(f"{key}={value}")
        space[key] = (
            [str(v) for v in ov.sweep_string_iterator()] if ov.is_sweep_override() else [str(value)]
        )
    return space


def _is_sweep(override: str) -> bool:
    return "=" in override and "," in override.split("=", 1)[1] and "[" not in override


def _fixed(overrides: list[str]) -> list[str]:
    return [o for o in overrides if not _is_sweep(o)]


def trial(config: dict[str, Any]) -> None:
    """One Ray Tune trial: compose, train, report the held-out pacing score."""
    from ray import tune

    from pacegym.experiments.train import train

    name = trial_name(config["params"])
    overrides = [
        *config["base_overrides"],
        *(f"{k}={v}" for k, v in config["params"].items()),
        f"tracking.run_name='{config['experiment']} {name}'",
    ]
    with initialize_config_dir(config_dir=config["conf_dir"], version_base="1.3"):
        cfg = compose("train", overrides)
    result = train(cfg, Path(config["out"]) / name.replace(" ", "_"))
    tune.report(
        {
            SCORE_KEY: float(result.eval.get(SCORE_KEY, float("nan"))),
            "env_steps": result.num_timesteps,
            "steps_per_s": result.steps_per_s,
            "mlflow_run_id": result.mlflow_run_id or "",
        }
    )


def trial_name(params: dict[str, Any]) -> str:
    """``lr=0.0001 scale_decades=0.5``: a trial's parameters, last key segment each."""
    return " ".join(f"{k.split('.')[-1]}={v}" for k, v in params.items())


def run(
    experiment: str,
    overrides: list[str],
    tracking_uri: str | None,
    out: Path,
    num_cpus: int | None,
    address: str | None,
    cpus_per_trial: float = CPUS_PER_TRIAL,
) -> dict[str, Any]:
    """Run the sweep under one parent run; returns the best trial's params and score.

    ``tracking_uri`` None: the user's default store (module docstring).
    """
    import ray
    from ray import tune

    space = search_space(experiment, overrides)
    uri = default_uri({"tracking": {"uri": tracking_uri}})
    tracking = {"tracking": {"uri": uri, "experiment": _experiment_name(experiment, overrides)}}
    # once, before any trial: the store exists (no race on a fresh sqlite file) and so
    # does the parent every trial nests under
    parent = open_parent(
        tracking,
        f"{experiment} (ray sweep)",
        {"sweep": experiment, "search_space": json.dumps(space)[:5000]},
    )
    base = [
        f"experiment={experiment}",
        f"tracking.uri={uri}",
        f"tracking.parent_run_id={parent}",
        "train.progress_bar=false",  # trials share one terminal; Ray prints their status
        *_fixed(overrides),
    ]
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False)
    try:
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        if cpus_per_trial > cpus:  # no trial could ever be placed: Ray would wait forever
            raise ValueError(
                f"--cpus-per-trial = {cpus_per_trial}: allowed (0, {cpus:g}], the CPUs of the "
                "Ray cluster"
            )
        param_space = {
            "params": {k: tune.grid_search(v) for k, v in space.items()},
            "experiment": experiment,
            "base_overrides": base,
            "conf_dir": str(CONF_DIR),
            "out": str(out.resolve()),
        }
        tuner = tune.Tuner(
            tune.with_resources(trial, {"cpu": cpus_per_trial}),
            param_space=param_space,
            tune_config=tune.TuneConfig(metric=SCORE_KEY, mode="max"),
            run_config=tune.RunConfig(storage_path=str((out / "ray").resolve()), name=experiment),
        )
        results = tuner.fit()
    finally:
        ray.shutdown()
        summary = finish_parent(tracking, parent)
    errors = [str(r.error) for r in results if r.error is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} Ray trial(s) failed; first: {errors[0]}")
    best = results.get_best_result()
    return {
        "params": best.config["params"],
        SCORE_KEY: best.metrics[SCORE_KEY],
        "mlflow_run_id": best.metrics.get("mlflow_run_id"),
        "mlflow_parent_run_id": parent,
        "tracking_uri": uri,
        "trials": len(results),
        "children_finished": summary["finished"],
    }


def _experiment_name(experiment: str, overrides: list[str]) -> str:
    """The MLflow experiment the trials log to (``tracking.experiment`` as composed)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", [f"experiment={experiment}", *_fixed(overrides)])
    return str(cfg.tracking.experiment)


def main(argv: list[str] | None = None) -> None:
    ap = errors.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--experiment", default=EXPERIMENT)
    ap.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the sweep's folder (default multirun/ray/<time>, a new one per sweep, as Hydra's)",
    )
    ap.add_argument("--overwrite", action="store_true", help="replace an earlier sweep's --out")
    ap.add_argument("--num-cpus", type=int, default=None, help="local Ray only")
    ap.add_argument("--address", default=None, help="an existing Ray cluster, e.g. auto")
    ap.add_argument("--cpus-per-trial", type=float, default=CPUS_PER_TRIAL)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides; 'key=a,b' adds a grid axis")
    a = ap.parse_args(argv)
    if a.num_cpus is not None and a.num_cpus < 1:
        ap.error(f"--num-cpus = {a.num_cpus}: allowed an integer >= 1 (or leave it out)")
    if not a.cpus_per_trial > 0:
        ap.error(f"--cpus-per-trial = {a.cpus_per_trial}: allowed > 0")
    if a.address is None:  # a local Ray: a trial that needs more CPUs than it has waits forever
        local = a.num_cpus if a.num_cpus is not None else (os.cpu_count() or 1)
        if a.cpus_per_trial > local:
            ap.error(
                f"--cpus-per-trial = {a.cpus_per_trial}: allowed (0, {local}], the CPUs of the "
                f"local Ray ({'--num-cpus' if a.num_cpus is not None else 'this machine'})"
            )
    command = " ".join(["pacegym-sweep", *(sys.argv[1:] if argv is None else argv)])
    if a.out is None:
        a.out = Path("multirun") / "ray" / time.strftime("%Y-%m-%d_%H-%M-%S")
    with outdir.owned("--out", a.out, a.overwrite, command):
        best = run(
            a.experiment,
            a.overrides,
            a.tracking_uri,
            a.out,
            a.num_cpus,
            a.address,
            a.cpus_per_trial,
        )
        text = json.dumps(best, indent=2)
        (a.out / "best.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
