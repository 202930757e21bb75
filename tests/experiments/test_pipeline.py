"""The end-to-end pipeline on a tiny budget: train, compare, export, all tracked under one
parent run."""

import json

import mlflow
import pytest
from hydra import compose, initialize_config_dir

from pacegym.envs.metrics import SCORE_KEY
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
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("pipeline", overrides)
        summary = pipeline(cfg, tmp_path / "run")
    board = json.loads((tmp_path / "run" / "compare" / "leaderboard.json").read_text())
    assert {r["name"] for r in board["rows"]} == {"pid_test", "ppo_residual", "oracle", "reference"}
    assert summary["winner"]["name"] == board["winner"]["name"]
    assert board["winner"]["type"] in ("agent", "baseline") and board["normalised"]
    assert summary["train"]["num_timesteps"] == 512
    assert (tmp_path / "run" / "pacer" / "manifest.json").is_file()
    runs = mlflow.search_runs(experiment_names=["pacegym"], output_format="list")
    by_type: dict[str, list] = {}
    for r in runs:
        by_type.setdefault(r.data.tags.get("run_type"), []).append(r)
    assert {t: len(v) for t, v in by_type.items()} == {
        "pipeline": 1,
        "train": 1,
        "compare": 1,
        "compare_entry": 4,
        "export": 1,
    }
    assert all(r.info.status == "FINISHED" for r in runs)
    (parent,) = by_type["pipeline"]
    assert summary["mlflow_run_id"] == parent.info.run_id
    assert parent.info.run_name.startswith("pipeline ppo_residual ")  # + its start time
    assert parent.data.tags["winner"] == board["winner"]["name"]
    assert parent.data.metrics[SCORE_KEY] == pytest.approx(board["winner"][SCORE_KEY])
    for step in ("train", "compare", "export"):  # every step is a child of the pipeline run
        assert by_type[step][0].data.tags["mlflow.parentRunId"] == parent.info.run_id
    compare_id = by_type["compare"][0].info.run_id
    assert all(e.data.tags["mlflow.parentRunId"] == compare_id for e in by_type["compare_entry"])
    export = by_type["export"][0]
    assert export.data.metrics[SCORE_KEY] == pytest.approx(board["winner"][SCORE_KEY])
    train = by_type["train"][0]
    assert train.info.run_name == "train ppo_residual"
    assert SCORE_KEY in train.data.metrics and "train/value_loss" in train.data.metrics
    exp = mlflow.get_experiment(parent.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


@pytest.mark.slow
def test_pipeline_on_a_suite_scenario_exports_with_metric_parity(tmp_path, monkeypatch):
    """A suite scenario's name (small_budget) is not a config name: the leaderboard keeps the
    whole scenario, so the export re-runs it and checks the metrics on the same seeds."""
    monkeypatch.chdir(tmp_path)
    overrides = [
        "tracking=off",
        "scenario=suite/small_budget",
        "pipeline.train=false",
        "compare.baselines=[pid_tuned,on_off_tuned]",
        "compare.episodes=8",
        "compare.n_boot=100",
        "compare.discover_agents=false",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("pipeline", overrides)
        pipeline(cfg, tmp_path / "run")
    board = json.loads((tmp_path / "run" / "compare" / "leaderboard.json").read_text())
    assert board["scenario"] == "small_budget"
    assert board["scenario_config"]["money"]["budget"] == 1000.0
    report = json.loads((tmp_path / "run" / "pacer" / "verification.json").read_text())
    assert report["metric_parity"]["checked"] and report["metric_parity"]["max_abs_diff"] < 1e-9
