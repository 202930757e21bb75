"""MLflow tracking helpers shared by every pacegym app (train, evaluate, compare, pipeline).

Contract:

- ``tracking_uri(cfg)``: ``cfg.tracking.uri`` if set, else ``$MLFLOW_TRACKING_URI``, else
  ``sqlite:///mlflow.db`` (a file in the working directory; artifacts under ``./mlruns``).
- ``ensure_store(uri)``: fails fast (``TrackingError``) when a server is unreachable and
  creates a fresh sqlite store once, so parallel jobs never race on table creation.
- ``start_run(cfg, run_name, tags=None, nested=False, run_id=None)``: a context manager
  yielding the active ``mlflow.ActiveRun``. It logs the flattened config as params,
  the resolved config as ``config.yaml``, and tags ``scenario``, ``policy_kind``,
  ``git_commit`` (plus ``tags``). If the body raises, the run ends ``FAILED``
  (``KILLED`` on Ctrl-C) and the exception propagates: no half-written run is ever
  marked finished. ``cfg`` is any mapping/DictConfig with an optional ``tracking``
  node (``uri``, ``experiment``, ``enabled``); with ``tracking.enabled: false`` it
  yields ``None`` and logs nothing.
- ``log_metrics(metrics, step=None, prefix="")`` and ``log_figure(fig, path)`` are
  no-ops when no run is active.
- ``MlflowStoreCallback``: a Hydra callback that calls ``ensure_store`` once in the
  parent process before a multirun's jobs start (``conf/hydra/callbacks``).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "pacegym"
MAX_PARAM_LEN = 6000  # [chars] MLflow 3 param value limit is 6000


class TrackingError(RuntimeError):
    """The tracking store is unreachable or misconfigured (raised before any work starts)."""


def _get(cfg: Any, dotted: str, default: Any = None) -> Any:
    node = cfg
    for part in dotted.split("."):
        if node is None:
            return default
        try:
            node = node[part] if isinstance(node, Mapping) or hasattr(node, "keys") else None
        except (KeyError, AttributeError):
            return default
        if node is None:
            return default
    return node


def _plain(cfg: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, DictConfig | ListConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with hydra
        pass
    return cfg


def tracking_uri(cfg: Any = None) -> str:
    """The tracking URI: config, then ``$MLFLOW_TRACKING_URI``, then ``sqlite:///mlflow.db``."""
    return _get(cfg, "tracking.uri") or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def tracking_enabled(cfg: Any = None) -> bool:
    return bool(_get(cfg, "tracking.enabled", True))


def ensure_store(uri: str, timeout_s: float = 5.0) -> None:
    """Check a server answers ``/health`` (or create the sqlite store) before any work starts."""
    import mlflow

    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                if resp.status != 200:
                    raise TrackingError(f"tracking.uri = {uri!r}: /health answered {resp.status}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TrackingError(
                f"tracking.uri = {uri!r} is unreachable ({exc}); start the server "
                "(`mlflow server --host 127.0.0.1 --port 5000`), fix tracking.uri / "
                "MLFLOW_TRACKING_URI, or use the local store tracking.uri=sqlite:///mlflow.db"
            ) from exc
        return
    if not uri.startswith(("sqlite:", "postgresql", "mysql", "mssql", "databricks", "file:")):
        raise TrackingError(
            f"tracking.uri = {uri!r}: expected http(s)://host:port, sqlite:///path.db "
            "or another MLflow database URI"
        )
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).expanduser().resolve().parent.mkdir(
            parents=True, exist_ok=True
        )
    try:
        mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as exc:
        raise TrackingError(f"tracking.uri = {uri!r}: cannot open the store ({exc})") from exc


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


def default_tags(cfg: Any, policy_kind: str | None = None) -> dict[str, str]:
    """Tags every run carries: scenario, policy kind, git commit."""
    scenario = _get(cfg, "scenario.name") or _get(cfg, "scenario") or "unknown"
    kind = policy_kind or _get(cfg, "agent.algo") or _get(cfg, "controller.kind") or "unknown"
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
    """Start (or, with ``run_id``, reopen) an MLflow run; FAILED/KILLED if the body raises."""
    if not tracking_enabled(cfg):
        yield None
        return
    import mlflow

    uri = tracking_uri(cfg)
    if not nested:
        ensure_store(uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(_get(cfg, "tracking.experiment") or DEFAULT_EXPERIMENT)
    all_tags = {**default_tags(cfg), **dict(tags or {})}
    previous = _raise_on_sigterm() if not nested else None
    run = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name, nested=nested)
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
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


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


class MlflowStoreCallback(Callback):
    """Hydra callback: create/check the tracking store once before a multirun's jobs start."""

    def on_multirun_start(self, config: Any, **_: Any) -> None:
        if tracking_enabled(config):
            ensure_store(tracking_uri(config))

    def on_run_start(self, config: Any, **_: Any) -> None:
        if tracking_enabled(config):
            ensure_store(tracking_uri(config))
