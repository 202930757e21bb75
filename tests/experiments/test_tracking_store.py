"""The local MLflow store: created and migrated by one process at a time."""

import subprocess
import sys

import pytest

from pacegym.experiments.tracking_store import TrackingError, ensure_store, store_lock

FIRST_RUN = """
import sys, mlflow
from pacegym.experiments.tracking_store import ensure_store
uri = sys.argv[1]
ensure_store(uri)
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("pacegym")
with mlflow.start_run():
    mlflow.log_metric("x", 1.0)
"""


@pytest.mark.slow
def test_first_runs_at_once_on_a_fresh_store_all_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FIRST_RUN, uri],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    import mlflow

    ensure_store(uri)  # and the store works afterwards
    runs = mlflow.MlflowClient(tracking_uri=uri).search_runs(
        [mlflow.MlflowClient(tracking_uri=uri).get_experiment_by_name("pacegym").experiment_id]
    )
    assert len(runs) == 3


def test_a_lock_held_too_long_is_refused_naming_the_store(tmp_path, monkeypatch):
    import pacegym.experiments.tracking_store as S

    lock = tmp_path / "mlflow.db.lock"
    monkeypatch.setattr(S, "STORE_LOCK_WAIT_S", 0.2)
    with store_lock(lock, "sqlite:///x.db"):
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import pacegym.experiments.tracking_store as S; S.STORE_LOCK_WAIT_S = 0.2\n"
                f"with S.store_lock(__import__('pathlib').Path({str(lock)!r}), 'sqlite:///x.db'):"
                " pass",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert other.returncode != 0 and "held the store's lock" in other.stderr
    with store_lock(lock, "sqlite:///x.db"):  # free again
        pass


def test_a_server_uri_takes_no_lock(tmp_path):
    with pytest.raises(TrackingError, match="unreachable"):
        ensure_store("http://127.0.0.1:9", timeout_s=0.5)
    assert list(tmp_path.iterdir()) == []
