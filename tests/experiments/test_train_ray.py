"""The same train sweep on Ray Tune (local ``ray.init(num_cpus=2)``), tracked in one MLflow store."""

import mlflow
import pytest

pytest.importorskip("ray")

from pacegym.experiments.sweep_ray import run, search_space

TINY = [
    "train.total_timesteps=256",
    "train.n_envs=8",
    "train.eval_freq=0",
    "train.eval_episodes=4",
    "train.checkpoint_freq=0",
    "agent.hyperparams.n_steps=16",
    "agent.hyperparams.batch_size=64",
    "agent.hyperparams.n_epochs=1",
]


def test_search_space_from_the_experiment_file():
    space = search_space("sweep_ppo_live", ["agent.hyperparams.gamma=0.99,0.999", *TINY])
    assert space["agent.hyperparams.learning_rate"] == ["0.0001", "0.0003"]
    assert space["agent.hyperparams.gamma"] == ["0.99", "0.999"]
    assert "train.n_envs" not in space


@pytest.mark.slow
def test_ray_sweep_runs_and_logs_every_trial(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAY_DISABLE_USAGE_STATS", "1")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    best = run(
        "sweep_ppo_live",
        [*TINY, "agent.residual.scale_decades=1.0", "agent.hyperparams.learning_rate=1e-4,3e-4"],
        uri,
        tmp_path / "out",
        num_cpus=2,
        address=None,
    )
    assert best["trials"] == 2
    runs = mlflow.MlflowClient(uri).search_runs(
        [mlflow.MlflowClient(uri).get_experiment_by_name("pacegym").experiment_id]
    )
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    assert best["mlflow_run_id"] in {r.info.run_id for r in runs}
