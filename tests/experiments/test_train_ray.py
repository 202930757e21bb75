"""The same train sweep on Ray Tune (local ``ray.init(num_cpus=2)``), tracked in one MLflow store."""

import json

import mlflow
import pytest

pytest.importorskip("ray")

from pacegym.experiments.sweep_ray import main, search_space
from tests.experiments.tiny import TINY_TRAIN


def test_search_space_from_the_experiment_file():
    space = search_space("sweep_ppo_live", ["agent.hyperparams.gamma=0.99,0.999", *TINY_TRAIN])
    assert space["agent.hyperparams.learning_rate"] == ["0.0001", "0.0003"]
    assert space["agent.hyperparams.gamma"] == ["0.99", "0.999"]
    assert "train.n_envs" not in space


@pytest.mark.slow
def test_ray_sweep_with_default_tracking_lands_in_the_local_store_under_one_parent(
    tmp_path, monkeypatch
):
    """``python -m pacegym.experiments.sweep_ray`` without --tracking-uri: every trial is a
    child of one parent run in ./mlflow.db of the working directory, although Ray runs each
    trial in a directory of its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("RAY_DISABLE_USAGE_STATS", "1")
    main(
        [
            "--experiment",
            "sweep_ppo_live",
            "--num-cpus",
            "2",
            "--out",
            str(tmp_path / "out"),
            *TINY_TRAIN,
            "agent.residual.scale_decades=1.0",
            "agent.hyperparams.learning_rate=1e-4,3e-4",
        ]
    )
    best = json.loads((tmp_path / "out" / "best.json").read_text())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert best["tracking_uri"] == uri and best["trials"] == 2
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("pacegym")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("run_type") == "sweep"]
    trials = [r for r in runs if r.data.tags.get("run_type") == "train"]
    assert len(parents) == 1 and len(trials) == 2 and len(runs) == 3
    parent = parents[0]
    assert parent.info.run_id == best["mlflow_parent_run_id"]
    assert parent.info.status == "FINISHED" and parent.data.metrics["children"] == 2
    assert all(t.data.tags["mlflow.parentRunId"] == parent.info.run_id for t in trials)
    assert all(t.info.status == "FINISHED" for t in trials)
    names = sorted(t.info.run_name for t in trials)  # told apart by their parameters
    assert names == [
        "sweep_ppo_live learning_rate=0.0001",
        "sweep_ppo_live learning_rate=0.0003",
    ]
    assert best["mlflow_run_id"] in {t.info.run_id for t in trials}
    assert parent.data.tags["best_run_id"] in {t.info.run_id for t in trials}
    assert not list((tmp_path / "out").rglob("mlflow.db"))  # no per-trial stores
