"""MLflow tracking helpers shared by every pacegym app (train, evaluate, compare, pipeline).

Contract:

- Where runs go (``tracking_uri``, ``ensure_store``, ``find_run``, ``delete_run``):
  ``experiments.tracking_store``, whose names this module re-exports.
- ``use_experiment(cfg)``: the store and experiment every run of ``cfg`` goes to. The
  experiment is tagged ``mlflow.experimentKind = custom_model_development``, so that the
  MLflow UI opens on its training runs, not on an empty GenAI traces page.
- ``start_run(cfg, run_name, tags=None, nested=False, run_id=None)``: a context manager
  yielding the active ``mlflow.ActiveRun``. Inside another active run of this process
  (the pipeline's parent run) it nests; otherwise it nests under
  ``cfg.tracking.parent_run_id`` or, in a Hydra multirun, under the sweep's parent run
  (``sweep_runs.MlflowStoreCallback``). Its name is ``cfg.tracking.run_name`` if set, else
  ``run_name`` followed by the job's overrides in a multirun (``lr=0.0003 seed=1``), so
  that sweep runs are told apart. It logs the flattened config as params,
  the resolved config as ``config.yaml``, and tags ``scenario``, ``policy_kind``,
  ``git_commit`` (plus ``tags``). If the body raises, the run ends ``FAILED``
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
import json
import math
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

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

MAX_PARAM_LEN = 6000  # [chars] MLflow 3 param value limit is 6000
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
"""The MLflow UI's workflow for the experiment: training runs (not GenAI traces)."""
PARENT_FILE = ".mlflow_parent_run.json"
"""In a Hydra multirun's sweep dir: ``{"run_id": parent run, "experiment_id": its experiment,
"sweep_keys": [...]}``, the parent its jobs nest under, the experiment they file their runs
in (created once, before the jobs start), and the keys the sweep varies (the jobs' names)."""
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # [s] sleeps 1, 2 between the tries
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",  # [s]
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",  # [s] per try
}
"""MLflow's HTTP settings during a run against a server: a call to a dead server gives up
within about 35 s (MLflow's defaults retry for minutes). A variable the user set wins."""


def _plain(cfg: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        from pacegym.experiments.scenario_schema import without_missing

        if isinstance(cfg, DictConfig | ListConfig):  # the keys nothing set left out
            return without_missing(OmegaConf.to_container(cfg, resolve=True))
    except ImportError:  # pragma: no cover - omegaconf ships with hydra
        pass
    return cfg


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": "[1, 2]"}`` (lists kept as text)."""
    out: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for k, v in data.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            out.update(flatten(v, key) if isinstance(v, Mapping) and v else {key: v})
    else:
        out[prefix] = data
    return {k: (str(v) if isinstance(v, list | tuple | dict) else v) for k, v in out.items()}


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


def _multirun_marker() -> dict[str, Any]:
    """In a Hydra multirun job: the sweep's ``PARENT_FILE`` (written by
    ``sweep_runs.MlflowStoreCallback``), else ``{}``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return {}
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return {}
    marker = Path(hc.sweep.dir) / PARENT_FILE
    return json.loads(marker.read_text()) if marker.is_file() else {}


def multirun_parent() -> str | None:
    """In a Hydra multirun job: the sweep's parent run id, else None."""
    return _multirun_marker().get("run_id")


def readable_name(cfg: Any, base: str) -> str:
    """``cfg.tracking.run_name``, else ``base`` plus, in a Hydra multirun, the job's values of
    the keys the sweep varies (``train ppo lr=0.0003 seed=1``): a sweep's runs differ."""
    explicit = config_value(cfg, "tracking.run_name")
    if explicit:
        return str(explicit)
    keys = set(_multirun_marker().get("sweep_keys", []))
    if not keys:
        return base
    from hydra.core.hydra_config import HydraConfig

    parts = []
    for override in HydraConfig.get().overrides.task:
        key, _, value = str(override).partition("=")
        if key.lstrip("+~") in keys:
            parts.append(f"{key.lstrip('+~').split('.')[-1]}={value}")
    return " ".join([base, *parts])


def scenario_name(cfg: Any) -> str:
    """The name of ``cfg``'s scenario: its ``scenario.name``, else (a file that takes its name
    from its ``base:``, a ``traces/train/`` twin) the resolved scenario's; ``unknown``."""
    name = config_value(cfg, "scenario.name")
    node = config_value(cfg, "scenario")
    if name or not node:
        return str(name or "unknown")
    if isinstance(node, str):
        return node
    from pacegym.envs.scenarios import resolve

    try:
        return resolve(_plain(node)).name
    except (ValueError, TypeError, OSError):  # an invalid scenario: the app refuses it itself
        return "unknown"


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
    parent = None
    if nested:
        exp_id = mlflow.active_run().info.experiment_id
    else:
        exp_id = use_experiment(cfg).experiment_id
        if run_id is None:
            parent = config_value(cfg, "tracking.parent_run_id") or multirun_parent()
    all_tags = {**default_tags(cfg), **dict(tags or {})}
    previous = _raise_on_sigterm() if not nested else None
    saved_env = _bound_http(tracking_uri(cfg)) if not nested else {}
    try:
        run = mlflow.start_run(
            run_id=run_id,
            experiment_id=None if run_id else exp_id,
            run_name=None if run_id else readable_name(cfg, run_name),
            nested=nested,
            parent_run_id=parent,
        )
    except BaseException:
        _restore(previous, saved_env)
        raise
    try:
        mlflow.set_tags(all_tags)
        if log_config and run_id is None:
            plain = _plain(cfg)
            params = flatten(plain) if isinstance(plain, Mapping) else {}
            items = [(k, str(v)[:MAX_PARAM_LEN]) for k, v in params.items()]
            for i in range(0, len(items), 100):  # MLflow batches hold at most 100 params
                mlflow.log_params(dict(items[i : i + 100]))
            if isinstance(plain, Mapping):
                mlflow.log_dict(dict(plain), "config.yaml")
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
    import mlflow

    if mlflow.active_run() is None:
        return
    p = Path(path)
    if p.is_dir():
        mlflow.log_artifacts(str(p), artifact_path)
    elif p.exists():
        mlflow.log_artifact(str(p), artifact_path)


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
    "start_run",
    "tracking_enabled",
    "tracking_uri",
    "use_experiment",
]
