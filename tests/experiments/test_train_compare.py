"""Tiny end-to-end train and compare against a temporary MLflow store, read back; failure modes."""

import json
from pathlib import Path

import mlflow
import pytest
from hydra import compose, initialize_config_dir

from pacegym.agents.algos import AgentConfigError
from pacegym.envs.metrics import METRIC_KEYS, SCORE_KEY
from pacegym.experiments import train as train_app
from pacegym.experiments.compare import compare
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.tracking import TrackingError, start_run
from pacegym.experiments.train import train

TINY = [
    "train.total_timesteps=512",
    "train.n_envs=16",
    "train.eval_freq=256",
    "train.eval_episodes=8",
    "train.checkpoint_freq=256",
    "train.progress_bar=false",
    "agent.hyperparams.n_steps=16",
    "agent.hyperparams.batch_size=128",
    "agent.hyperparams.n_epochs=1",
]


def _cfg(app, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=app, overrides=overrides)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # artifacts of a sqlite store go to ./mlruns
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    yield uri
    mlflow.end_run()


def _controller_yaml(tmp_path: Path, kind: str) -> str:
    p = tmp_path / f"{kind}_test.yaml"
    p.write_text(f"kind: {kind}\nname: {kind}_test\nparams: {{}}\n")
    return str(p)


@pytest.mark.slow
def test_train_then_compare_logs_runs_metrics_and_artifacts(tmp_path, store):
    cfg = _cfg("train", [*TINY, "agent=ppo_residual", f"tracking.uri={store}"])
    res = train(cfg, tmp_path / "train")
    assert res.num_timesteps == 512 and (res.model_dir / "agent.json").is_file()
    client = mlflow.MlflowClient(store)
    run = client.get_run(res.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["run_type"] == "train" and run.data.tags["scenario"] == "live_commerce"
    assert run.data.tags["policy_kind"] == "ppo" and "git_commit" in run.data.tags
    assert run.data.params["train.total_timesteps"] == "512"
    assert f"final/{SCORE_KEY}" in run.data.metrics
    assert len(client.get_metric_history(run.info.run_id, f"eval/{SCORE_KEY}")) == 2
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "model", "plots", "eval_history.csv"} <= arts
    assert {a.path for a in client.list_artifacts(run.info.run_id, "model")} >= {
        "model/model.zip",
        "model/agent.json",
        "model/vecnormalize.npz",
    }

    baselines = [_controller_yaml(tmp_path, "pid"), _controller_yaml(tmp_path, "proportional")]
    ccfg = _cfg(
        "compare",
        [
            f"tracking.uri={store}",
            f"compare.baselines=[{','.join(baselines)}]",
            "compare.episodes=16",
            "compare.n_boot=200",
            "compare.discover_agents=true",  # finds the train run above through MLflow
            "compare.oracle=false",  # the yardsticks: tests/experiments/test_benchmark.py
        ],
    )
    doc = compare(ccfg, tmp_path / "compare")
    on_disk = json.loads((tmp_path / "compare" / "leaderboard.json").read_text())
    assert on_disk == json.loads(json.dumps(doc))
    assert [r["rank"] for r in doc["rows"]] == [1, 2, 3]
    assert {r["type"] for r in doc["rows"]} == {"agent", "baseline"}
    scores = [r[SCORE_KEY] for r in doc["rows"]]
    assert scores == sorted(scores, reverse=True)
    top = doc["rows"][0]
    agent_wins = top["type"] == "agent" and top["diff_vs_best_baseline_ci"][0] > 0
    expected = top if top["type"] == "baseline" or agent_wins else doc["rows"][1]
    assert doc["winner"]["name"] == expected["name"] and "winner_reason" in doc["winner"]
    for r in doc["rows"]:
        for k in METRIC_KEYS:
            lo, hi = r[f"{k}_ci"]
            assert lo <= r[k] <= hi
        assert r["diff_vs_best_baseline_ci"][0] <= r["diff_vs_best_baseline"]
        assert (
            client.get_run(r["mlflow_run_id"]).data.tags["mlflow.parentRunId"]
            == doc["mlflow_run_id"]
        )
    agent_row = next(r for r in doc["rows"] if r["type"] == "agent")
    assert agent_row["run_id"] == res.mlflow_run_id
    assert agent_row["source"]["residual"]["base"]["kind"] == "pid"
    best = next(r for r in doc["rows"] if r["name"] == doc["best_baseline"])
    assert best["diff_vs_best_baseline"] == 0.0
    parent = client.get_run(doc["mlflow_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.tags["winner"] == doc["winner"]["name"]
    assert {"leaderboard.json", "leaderboard.md", "plots"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id)
    }


def test_unreachable_server_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = _cfg("train", [*TINY, "tracking.uri=http://127.0.0.1:9"])
    with pytest.raises(TrackingError, match="unreachable"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_config_error_fails_before_any_run(tmp_path, store):
    cfg = _cfg("train", [*TINY, "agent.algo=dqn", f"tracking.uri={store}"])
    with pytest.raises(AgentConfigError, match="action spaces"):
        train(cfg, tmp_path / "run")
    assert mlflow.MlflowClient(store).search_experiments(max_results=5)[0].name == "Default"


@pytest.mark.slow
def test_crash_during_training_marks_the_run_failed(tmp_path, store, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(train_app, "train_agent", boom)
    cfg = _cfg("train", [*TINY, f"tracking.uri={store}"])
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, tmp_path / "run")
    runs = mlflow.search_runs(experiment_names=["pacegym"], output_format="list")
    assert [r.info.status for r in runs] == ["FAILED"]


@pytest.mark.slow
def test_start_run_marks_killed_on_interrupt(tmp_path, store):
    cfg = {"tracking": {"uri": store, "experiment": "t"}, "scenario": {"name": "s"}}
    with pytest.raises(KeyboardInterrupt), start_run(cfg, "x") as run:
        run_id = run.info.run_id
        raise KeyboardInterrupt
    assert mlflow.MlflowClient(store).get_run(run_id).info.status == "KILLED"


def test_compare_unknown_baseline_names_the_key(tmp_path, store):
    cfg = _cfg("compare", [f"tracking.uri={store}", "compare.baselines=[nope_*]"])
    with pytest.raises(ValueError, match=r"compare\.baselines"):
        compare(cfg, tmp_path / "c")
