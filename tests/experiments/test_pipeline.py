"""The end-to-end pipeline on a tiny budget: train, compare, export hook, all tracked."""

import json

import mlflow
import pytest
from hydra import compose, initialize_config_dir

from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.pipeline import pipeline


@pytest.mark.slow
def test_pipeline_tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    pid = tmp_path / "pid_test.yaml"
    pid.write_text("kind: pid\nname: pid_test\nparams: {}\n")
    overrides = [
        f"tracking.uri={uri}",
        "train.total_timesteps=512",
        "train.n_envs=16",
        "train.eval_freq=0",
        "train.eval_episodes=8",
        "train.checkpoint_freq=0",
        "train.progress_bar=false",
        "agent.hyperparams.n_steps=16",
        "agent.hyperparams.batch_size=128",
        f"compare.baselines=[{pid}]",
        "compare.episodes=8",
        "compare.n_boot=100",
        "pipeline.export=false",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("pipeline", overrides)
        summary = pipeline(cfg, tmp_path / "run")
    board = json.loads((tmp_path / "run" / "compare" / "leaderboard.json").read_text())
    assert {r["name"] for r in board["rows"]} == {"pid_test", "ppo_residual"}
    assert summary["winner"]["name"] == board["winner"]["name"]
    assert summary["train"]["num_timesteps"] == 512
    runs = mlflow.search_runs(experiment_names=["pacegym"], output_format="list")
    types = sorted(r.data.tags.get("run_type") for r in runs)
    assert types == ["compare", "compare_entry", "compare_entry", "train"]
    assert all(r.info.status == "FINISHED" for r in runs)
