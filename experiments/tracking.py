"""MLflow tracking helpers shared by every pacegym app (train, evaluate, compare, pipeline).

Contract:

- Where runs go (``tracking_uri``, ``ensure_store``, ``find_run``, ``delete_run``):
  ``experiments.tracking_store``, whose names this module re-exports.
- ``use_experiment(cfg)``: the store and experiment every run of ``cfg`` goes to. The
  experiment is tagged ``mlflow.experimentKind = custom_model_development`` (earlier MLflow
  3 UIs open such an experiment on its runs). The 3.17 UI ignores the tag: a
  browser's sidebar switch "GenAI / Machine learning" (default GenAI) or the URL's
  ``workflowType=machine_learning`` picks the view; ``runs_url`` is a link with it, which
  ``start_run`` prints for a run on a server.
- ``start_run(cfg, run_name, tags=None, nested=False, run_id=None)``: a context manager
  yielding the active ``mlflow.ActiveRun``. Inside another active run of this process
  (the pipeline's parent run) it nests; otherwise it nests under
  ``cfg.tracking.parent_run_id`` or, in a Hydra multirun, under the sweep's parent run
  (``sweep_runs.MlflowStoreCallback``). Its name is ``cfg.tracking.run_name`` if set, else
  ``run_name`` followed by the job's overrides in a multirun (``lr=0.0003 seed=1``), so
  that sweep runs are told apart, or, for a run of its own, by its start time
  (``train ppo_residual 12-07 04:31:05``; `` #2`` after it should the experiment hold
  that name already). It logs the config as flat params (``experiments.tracking_params``:
  ``scenario.money.budget``, ...), the resolved config as ``config.yaml``, the scenario as
  a dataset input named after it (context ``training`` for a train run, else
  ``evaluation``), and tags ``scenario``, ``policy_kind``, ``git_commit`` (plus ``tags``). If the body raises, the run ends ``FAILED``
  (``KILLED`` on Ctrl-C) and the exception propagates: no half-written run is ever
  marked finished. Against a server (``http(s)://``) it bounds MLflow's HTTP retries for
  the run (``HTTP_BOUNDS``, unless the user set those variables), and a server that
  cannot be told the run's end status does not turn a finished job into a crash (a
  warning line instead). It always creates the run in the experiment ``use_experiment``
  returned (by id), never in MLflow's "Default". ``cfg`` is any mapping/DictConfig with an optional ``tracking``
  node (``uri``, ``experiment``, ``enabled``); with ``tracking.enabled: false`` it
  yields ``None`` and logs nothing.
- ``log_metrics(metrics, step=None, prefix="")`` and ``log_figure(fig, path)`` are
  no-ops when no run is active.
- Parent runs of sweeps (Hydra multiruns, Ray): ``experiments.sweep_runs``.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pacegym.experiments import tracking_params
from pacegym.experiments.tracking_names import (
    PARENT_FILE,
    RUNS_VIEW,
    _multirun_marker,
    multirun_parent,
    readable_name,
    runs_url,
    scenario_name,
    scenario_of,
)
from pacegym.experiments.tracking_params import MAX_PARAM_LEN, flatten, plain
from pacegym.experiments.tracking_store import (
    DEFAULT_EXPERIMENT,
    DEFAULT_URI,
    TrackingError,
    absolute_uri,
    config_value,
    delete_run,
    ensure_store,
    find_run,
    mlflow_module,
    tracking_enabled,
    tracking_uri,
)

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
"""The MLflow UI's workflow for the experiment: training runs (not GenAI traces)."""
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # [s] sleeps 1, 2 between the tries
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",  # [s]
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",  # [s] per try
}
"""MLflow's HTTP settings during a run against a server: a call to a dead server gives up
within about 35 s (MLflow's defaults retry for minutes). A variable the user set wins."""


def git_commit() -> str:
    """The working tree's HEAD commit (``unknown`` outside a git checkout)."""
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def use_experiment(cfg: Any) -> Any:
    """Point MLflow at ``cfg``'s store and experiment (created on first use, with its kind
    tag: the UI then opens on runs); returns the ``mlflow.entities.Experiment``. A job of a
    Hydra multirun uses the experiment its sweep created, by id (``PARENT_FILE``)."""
    mlflow = mlflow_module()
    uri = tracking_uri(cfg)
    ensure_store(uri)
    mlflow.set_tracking_uri(uri)
    exp_id = _multirun_marker().get("experiment_id")
    if exp_id is not None:
        exp = mlflow.set_experiment(experiment_id=str(exp_id))
    else:
        name = config_value(cfg, "tracking.experiment") or DEFAULT_EXPERIMENT
        client = mlflow.MlflowClient(uri)
        if client.get_experiment_by_name(name) is None:  # quietly: set_experiment logs INFO
            client.create_experiment(name)
        exp = mlflow.set_experiment(name)
    kind = exp.tags.get(EXPERIMENT_KIND_TAG, "")
    if not kind or kind.endswith("_inferred"):  # never overwrite a kind a user chose
        mlflow.MlflowClient(uri).set_experiment_tag(
            exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
        )
    return exp


def default_tags(cfg: Any, policy_kind: str | None = None) -> dict[str, str]:
    """Tags every run carries: scenario, policy kind, git commit."""
    scenario = scenario_name(cfg)
    kind = (
        policy_kind
        or config_value(cfg, "agent.algo")
        or config_value(cfg, "controller.kind")
        or "unknown"
    )
    return {"scenario": str(scenario), "policy_kind": str(kind), "git_commit": git_commit()}


@contextlib.contextmanager
def start_run(
    cfg: Any,
    run_name: str,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
    run_id: str | None = None,
    log_config: bool = True,
) -> Iterator[Any]:
    """Start (or, with ``run_id``, reopen) an MLflow run; FAILED/KILLED if the body raises.

    Nests under the active run of this process, else under ``tracking.parent_run_id`` or
    the multirun's parent (module docstring).
    """
    if not tracking_enabled(cfg):
        yield None
        return
    mlflow = mlflow_module()
    nested = nested or mlflow.active_run() is not None
    parent = own = None
    if nested:
        exp_id = mlflow.active_run().info.experiment_id
    else:
        exp_id = use_experiment(cfg).experiment_id
        if run_id is None:
            parent = config_value(cfg, "tracking.parent_run_id") or multirun_parent()
            own = None if parent else exp_id
    all_tags = {**default_tags(cfg), **dict(tags or {})}
    previous = _raise_on_sigterm() if not nested else None
    saved_env = _bound_http(tracking_uri(cfg)) if not nested else {}
    try:
        run = mlflow.start_run(
            run_id=run_id,
            experiment_id=None if run_id else exp_id,
            run_name=None if run_id else readable_name(cfg, run_name, own),
            nested=nested,
            parent_run_id=parent,
        )
    except BaseException:
        _restore(previous, saved_env)
        raise
    try:
        mlflow.set_tags(all_tags)
        if log_config and run_id is None:
            data = plain(cfg)
            if isinstance(data, Mapping):
                tracking_params.log_config(data)
                _log_scenarios(
                    cfg, "training" if all_tags.get("run_type") == "train" else "evaluation"
                )
        url = runs_url(tracking_uri(cfg), exp_id) if not nested else None
        if url:
            print(f"tracking: the experiment's runs at {url}", file=sys.stderr)
        yield run
    except KeyboardInterrupt:
        _end_run("KILLED")
        raise
    except BaseException:
        _end_run("FAILED")
        raise
    else:
        _end_run("FINISHED")
    finally:
        _restore(previous, saved_env)


def _log_scenarios(cfg: Any, context: str) -> None:
    """The run's scenario, and a generalist's ``train.scenarios``, as dataset inputs."""
    node = plain(config_value(cfg, "scenario"))
    if node:
        tracking_params.log_scenario_input(scenario_name(cfg), node, context)
    for name in config_value(cfg, "train.scenarios") or []:
        tracking_params.log_scenario_input(str(name), str(name), context)


def _end_run(status: str) -> None:
    """End the active run; a store that cannot be told (a server gone) gets a warning line,
    the job's own outcome stands."""
    import mlflow

    try:
        mlflow.end_run(status=status)
    except Exception as exc:  # end_run pops the run before it calls the store
        print(
            f"tracking: could not mark the MLflow run {status} ({type(exc).__name__}: "
            f"{_first_line(exc)}); the run's files are complete",
            file=sys.stderr,
        )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""


def _bound_http(uri: str) -> dict[str, str | None]:
    """Set ``HTTP_BOUNDS`` (those the user left unset) for a server URI; returns what to
    restore."""
    if not uri.startswith(("http://", "https://")):
        return {}
    saved = {k: os.environ.get(k) for k in HTTP_BOUNDS if k not in os.environ}
    os.environ.update({k: HTTP_BOUNDS[k] for k in saved})
    return saved


def _restore(previous: Any, saved_env: Mapping[str, str | None]) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _raise_on_sigterm() -> Any:
    """Turn SIGTERM (``kill``, job schedulers) into KeyboardInterrupt so the run ends KILLED."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, handler)


def active() -> bool:
    import mlflow

    return mlflow.active_run() is not None


def log_metrics(metrics: Mapping[str, float], step: int | None = None, prefix: str = "") -> None:
    """Log finite scalar metrics to the active run (no-op without one)."""
    import mlflow

    if mlflow.active_run() is None:
        return
    clean = {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and math.isfinite(float(v))
    }
    if clean:
        mlflow.log_metrics(clean, step=step)


def log_artifact(path: str | Path, artifact_path: str | None = None) -> None:
    """Log a file or a folder to the active run (no-op without one). A folder that holds
    the run's own local artifact store (an output folder ``hydra.run.dir=.``) is logged
    without the sub-folder that holds it: never the store into itself."""
    import mlflow

    if mlflow.active_run() is None:
        return
    p = Path(path)
    if p.is_dir():
        store = _local_artifacts()
        if store is None or not store.is_relative_to(p.resolve()):
            mlflow.log_artifacts(str(p), artifact_path)
            return
        for child in sorted(p.iterdir()):
            if not store.is_relative_to(child.resolve()):
                sub = "/".join(x for x in (artifact_path, child.name) if x)
                log_artifact(child, sub if child.is_dir() else artifact_path)
    elif p.exists():
        mlflow.log_artifact(str(p), artifact_path)


def _local_artifacts() -> Path | None:
    """The active run's artifact folder where it is on this machine, else None."""
    import mlflow

    uri = mlflow.get_artifact_uri()
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    elif "://" in uri:
        return None
    return Path(uri).resolve()


def log_figure(fig: Any, path: str) -> None:
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.log_figure(fig, path)


__all__ = [
    "DEFAULT_EXPERIMENT",
    "DEFAULT_URI",
    "EXPERIMENT_KIND",
    "HTTP_BOUNDS",
    "MAX_PARAM_LEN",
    "PARENT_FILE",
    "RUNS_VIEW",
    "TrackingError",
    "absolute_uri",
    "active",
    "default_tags",
    "delete_run",
    "ensure_store",
    "find_run",
    "flatten",
    "git_commit",
    "log_artifact",
    "log_figure",
    "log_metrics",
    "multirun_parent",
    "readable_name",
    "runs_url",
    "scenario_name",
    "scenario_of",
    "start_run",
    "tracking_enabled",
    "tracking_uri",
    "use_experiment",
]
