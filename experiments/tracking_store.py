"""Where pacegym's MLflow runs go: the store's URI, its check, and finding or deleting a run.

- ``tracking_uri(cfg)``: ``cfg.tracking.uri`` if set, else ``$MLFLOW_TRACKING_URI``, else
  ``sqlite:///mlflow.db`` (a file in the working directory; artifacts under ``./mlruns``).
  A relative sqlite path is made absolute against the working directory, so that jobs
  that run elsewhere (Ray trials in their own directories) write to the store the user
  meant.
- ``ensure_store(uri)``: fails fast (``TrackingError``) when a server is unreachable and
  creates or migrates a sqlite store under a file lock beside it (``<db>.lock``), one
  process at a time, so parallel first runs on a fresh store never race on its tables.
- ``find_run(cfg, run_id)``: the run in ``cfg``'s store, or None (deleted, another store);
  ``delete_run(cfg, run_id)`` deletes one (a run opened for a job that then failed on a
  user error).

``cfg`` is any mapping/DictConfig with an optional ``tracking`` node (``uri``,
``experiment``, ``enabled``, ``optional``: ``tracking_enabled`` is false where MLflow is
not installed). The runs themselves: ``experiments.tracking``.
"""

from __future__ import annotations

import contextlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "pacegym"


class TrackingError(RuntimeError):
    """The tracking store is unreachable or misconfigured (raised before any work starts)."""


def config_value(cfg: Any, dotted: str, default: Any = None) -> Any:
    """``cfg``'s value at ``dotted`` (``"tracking.uri"``), ``default`` where it is absent,
    unset or None (``cfg``: any mapping or DictConfig, or None)."""
    node = cfg
    for part in dotted.split("."):
        if node is None:
            return default
        try:
            # .get: a DictConfig's unset value (``???``) reads as absent, not as an error
            node = node.get(part) if isinstance(node, Mapping) or hasattr(node, "keys") else None
        except (KeyError, AttributeError):
            return default
        if node is None:
            return default
    return node


def tracking_uri(cfg: Any = None) -> str:
    """The tracking URI: config, then ``$MLFLOW_TRACKING_URI``, then ``sqlite:///mlflow.db``
    (a relative sqlite path made absolute against the working directory)."""
    uri = config_value(cfg, "tracking.uri") or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    return absolute_uri(str(uri))


def absolute_uri(uri: str) -> str:
    """``sqlite:///rel/path.db`` -> ``sqlite:////abs/path.db`` (cwd); other URIs unchanged."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = Path(uri[len(prefix) :]).expanduser()
        if not path.is_absolute() and str(path) != ":memory:":
            return prefix + str(path.resolve())
    return uri


def tracking_enabled(cfg: Any = None) -> bool:
    """``tracking.enabled``, and MLflow installed where ``tracking.optional`` (an app that
    tracks by default but runs without the ``train`` extra: pacegym-evaluate)."""
    if not config_value(cfg, "tracking.enabled", True):
        return False
    return not config_value(cfg, "tracking.optional", False) or bool(find_spec("mlflow"))


def mlflow_module() -> Any:
    """The mlflow module, or a one-line ``TrackingError`` saying how to get it or go without."""
    try:
        import mlflow
    except ImportError as exc:
        raise TrackingError(
            "tracking needs MLflow (module 'mlflow' is not installed): pip install "
            "'pacegym[train]', or run without tracking: tracking=off"
        ) from exc
    return mlflow


def ensure_store(uri: str, timeout_s: float = 5.0) -> None:
    """Check a server answers ``/health`` (or create the sqlite store) before any work starts."""
    mlflow = mlflow_module()

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
    lock = None
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :]).expanduser().resolve()
        db.parent.mkdir(parents=True, exist_ok=True)
        lock = db.with_name(db.name + ".lock")
    # creating or migrating a sqlite store is not safe from two processes at once (a
    # half-migrated store fails every later run): one process at a time, under a file lock
    with store_lock(lock, uri):
        try:
            mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception as exc:
            raise TrackingError(f"tracking.uri = {uri!r}: cannot open the store ({exc})") from exc


STORE_LOCK_WAIT_S = 300.0
"""[s] longest wait for another process creating or migrating the same sqlite store."""


@contextlib.contextmanager
def store_lock(path: Path | None, uri: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a file beside the sqlite store) while inside; no
    lock for ``None`` (a server or another database) or where ``fcntl`` is missing
    (Windows). Raises ``TrackingError`` after ``STORE_LOCK_WAIT_S``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks; single jobs only
        fcntl = None  # type: ignore[assignment]
    if path is None or fcntl is None:
        yield
        return
    with path.open("a") as f:
        deadline = time.monotonic() + STORE_LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TrackingError(
                        f"tracking.uri = {uri!r}: another process has held the store's lock "
                        f"{str(path)!r} for over {STORE_LOCK_WAIT_S:g} s; allowed: wait, or "
                        "remove the lock file if no pacegym job is running"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def find_run(cfg: Any, run_id: str) -> Any:
    """The ``mlflow.entities.Run`` ``run_id`` in ``cfg``'s store, or None when it is not
    there (deleted, or logged to another store)."""
    mlflow = mlflow_module()
    client = mlflow.MlflowClient(tracking_uri(cfg))
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return None
    return None if run.info.lifecycle_stage == "deleted" else run


def delete_run(cfg: Any, run_id: str) -> None:
    """Delete ``run_id`` from ``cfg``'s store (a run opened for a job that failed on a user
    error, before it logged anything)."""
    mlflow_module().MlflowClient(tracking_uri(cfg)).delete_run(run_id)
