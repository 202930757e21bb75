"""Run a ``pacegym-train`` sweep on Ray Tune (one machine or a cluster), tracked in MLflow.

    python -m pacegym.experiments.sweep_ray --experiment sweep_ppo_live --num-cpus 2 \
        --tracking-uri http://mlflow-host:5000 [--address auto] [override ...]

The search space is the experiment's ``hydra.sweeper.params`` (the same file that
``pacegym-train -m`` sweeps with joblib): every ``key: a,b,c`` becomes
``tune.grid_search([a, b, c])``. Each trial composes the train config with its
overrides and runs ``experiments.train.train`` in its own run dir under
``--out``; every trial is an MLflow run on ``--tracking-uri`` (a server shared by all
nodes; a sqlite file only works when every trial runs on this machine). The store is
checked/created once in the driver before trials start. Each trial reports the
held-out ``pacing_score_v2`` (``SCORE_KEY``); the best trial's overrides are printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.tracking import DEFAULT_URI, ensure_store

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

    overrides = list(config["base_overrides"]) + [f"{k}={v}" for k, v in config["params"].items()]
    with initialize_config_dir(config_dir=config["conf_dir"], version_base="1.3"):
        cfg = compose("train", overrides)
    name = "_".join(f"{k.split('.')[-1]}={v}" for k, v in config["params"].items())
    result = train(cfg, Path(config["out"]) / name)
    tune.report(
        {
            SCORE_KEY: float(result.eval.get(SCORE_KEY, float("nan"))),
            "env_steps": result.num_timesteps,
            "steps_per_s": result.steps_per_s,
            "mlflow_run_id": result.mlflow_run_id or "",
        }
    )


def run(
    experiment: str,
    overrides: list[str],
    tracking_uri: str,
    out: Path,
    num_cpus: int | None,
    address: str | None,
    cpus_per_trial: float = CPUS_PER_TRIAL,
) -> dict[str, Any]:
    """Run the sweep; returns the best trial's params and score."""
    import ray
    from ray import tune

    ensure_store(tracking_uri)  # once, before any trial: no race on a fresh sqlite store
    space = search_space(experiment, overrides)
    base = [
        f"experiment={experiment}",
        f"tracking.uri={tracking_uri}",
        "train.progress_bar=false",
        *_fixed(overrides),
    ]
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False)
    try:
        param_space = {
            "params": {k: tune.grid_search(v) for k, v in space.items()},
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
        best = results.get_best_result()
        errors = [str(r.error) for r in results if r.error is not None]
        if errors:
            raise RuntimeError(f"{len(errors)} Ray trial(s) failed; first: {errors[0]}")
        return {
            "params": best.config["params"],
            SCORE_KEY: best.metrics[SCORE_KEY],
            "mlflow_run_id": best.metrics.get("mlflow_run_id"),
            "trials": len(results),
        }
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--experiment", default=EXPERIMENT)
    ap.add_argument("--tracking-uri", default=DEFAULT_URI)
    ap.add_argument("--out", type=Path, default=Path("multirun/ray"))
    ap.add_argument("--num-cpus", type=int, default=None, help="local Ray only")
    ap.add_argument("--address", default=None, help="an existing Ray cluster, e.g. auto")
    ap.add_argument("--cpus-per-trial", type=float, default=CPUS_PER_TRIAL)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides; 'key=a,b' adds a grid axis")
    a = ap.parse_args(argv)
    best = run(
        a.experiment, a.overrides, a.tracking_uri, a.out, a.num_cpus, a.address, a.cpus_per_trial
    )
    print(json.dumps(best, indent=2))


if __name__ == "__main__":
    main()
