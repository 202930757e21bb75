"""A Hydra multirun of pacegym-train: one parent run, a child per job, told apart by name."""

import os
import subprocess
import sys

import mlflow
import pytest

from tests.experiments.tiny import TINY_TRAIN


@pytest.mark.slow
def test_multirun_jobs_nest_under_one_parent_in_the_local_store(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pacegym.experiments.train",
            "-m",
            "train.seed=0,1",
            *TINY_TRAIN,
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("pacegym").experiment_id])
    (parent,) = [x for x in runs if x.data.tags.get("run_type") == "sweep"]
    jobs = [x for x in runs if x.data.tags.get("run_type") == "train"]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "train sweep sweep"
    assert sorted(j.info.run_name for j in jobs) == [
        "train ppo_residual seed=0",
        "train ppo_residual seed=1",
    ]
    assert all(j.data.tags["mlflow.parentRunId"] == parent.info.run_id for j in jobs)
    assert parent.data.tags["best_run_id"] in {j.info.run_id for j in jobs}
    for job in (0, 1):  # Hydra's per-job log file holds the app's messages
        assert "trained ppo_residual" in (tmp_path / "sweep" / str(job) / "train.log").read_text()
