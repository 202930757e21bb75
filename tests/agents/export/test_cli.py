"""pacegym-export end to end: leaderboard winner -> artifact -> verification -> MLflow registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from pacegym.agents.export.runtime import load_pacer
from pacegym.agents.export.verify import metric_means
from pacegym.agents.policy import SB3Controller
from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments.export import ExportConfigError, check_report, run_export

from .conftest import SCENARIO
from .export_checks import run_export_cli

CONF = str(Path(__file__).resolve().parents[3] / "conf")


def _cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="export", overrides=overrides)


def _leaderboard(path: Path, winner: dict, metrics: dict) -> Path:
    board = {
        "scenario": SCENARIO,
        "seed": 0,
        "episodes": 8,
        "rows": [
            {
                "name": winner["name"],
                "kind": winner["kind"],
                "metrics": {k: {"mean": v} for k, v in metrics.items()},
            }
        ],
        "winner": winner,
    }
    path.write_text(json.dumps(board))
    return path


@pytest.mark.slow
def test_baseline_winner_from_leaderboard_cli(tmp_path):
    from pacegym.baselines.factory import build_controller

    params = {"kp": 15.0, "ki": 40.0}
    metrics = metric_means(build_controller("pid", **params), SCENARIO, 8, 0)
    lb = _leaderboard(
        tmp_path / "leaderboard.json",
        {"name": "pid_tuned", "kind": "pid", "run_id": None, "params": params},
        metrics,
    )
    out = tmp_path / "art"
    args = [f"source.leaderboard={lb}", f"out_dir={out}", f"hydra.run.dir={tmp_path}/h"]
    r = run_export_cli(args, tmp_path, MLFLOW_TRACKING_URI="")
    assert r.returncode == 0, r.stderr
    import mlflow  # tracked by default in the working directory's store, like the other apps

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("pacegym").experiment_id])
    assert run.info.run_name.startswith("export pid_tuned ") and run.info.status == "FINISHED"
    assert run.data.tags["run_type"] == "export" and run.data.tags["policy_kind"] == "pid"
    assert run.data.metrics[SCORE_KEY] == pytest.approx(metrics[SCORE_KEY])
    assert run.data.metrics["metric_parity_max_abs_diff"] == 0.0
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "pacer")}
    assert {"pacer/manifest.json", "pacer/verification.json", "pacer/pacer.py"} <= arts
    report = json.loads((out / "verification.json").read_text())
    assert report["metric_parity"]["max_abs_diff"] == 0.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["policy"]["controller"] == {
        "kind": "pid",
        "name": "pid_tuned",
        "params": {**manifest["policy"]["controller"]["params"], **params},
    }
    assert manifest["chosen_on"]["metrics"][SCORE_KEY] == pytest.approx(metrics[SCORE_KEY])
    assert load_pacer(out).name == "pid_tuned"


def test_exactly_one_source_required(tmp_path):
    cfg = _cfg(["source.run_id=abc", f"out_dir={tmp_path}/a"])  # leaderboard is set too
    with pytest.raises(ExportConfigError, match="exactly one of"):
        run_export(cfg)


@pytest.mark.slow
def test_learned_winner_from_mlflow_run_registered(tmp_path, ppo_model, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)  # a sqlite store keeps its artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        _learned_winner(tmp_path, ppo_model, uri)
    finally:
        mlflow.set_tracking_uri(previous)


def _learned_winner(tmp_path, ppo_model, uri):
    import mlflow

    model, norm = ppo_model
    files = tmp_path / "run_files"
    files.mkdir()
    model.save(files / "model.zip")
    (files / "vecnormalize.json").write_text(
        json.dumps({k: norm[k] for k in ("mean", "var", "epsilon")} | {"clip_obs": norm["clip"]})
    )
    mlflow.set_experiment("train")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(files))
    metrics = metric_means(SB3Controller(model, norm), SCENARIO, 8, 0)
    lb = _leaderboard(
        tmp_path / "lb.json",
        {"name": "ppo-small", "kind": "ppo", "run_id": run.info.run_id},
        metrics,
    )
    cfg = _cfg(
        [
            f"source.leaderboard={lb}",
            f"out_dir={tmp_path}/art",
            "register.enabled=true",
            "register.name=pacer-test",
            f"tracking.uri={uri}",
        ]
    )
    report = run_export(cfg)
    assert check_report(report) == []
    assert report["action_parity"]["max_abs_error"] <= 1e-5
    assert report["metric_parity"]["max_abs_diff"] <= 1e-9
    manifest = json.loads((tmp_path / "art" / "manifest.json").read_text())
    assert manifest["source"]["run_id"] == run.info.run_id
    assert manifest["onnx"]["file"] == "policy.onnx"

    served = mlflow.pyfunc.load_model(report["registered"]["model_uri"])
    assert report["registered"]["model_uri"] == "models:/pacer-test/1"
    client = mlflow.MlflowClient(uri)
    registered = client.get_registered_model("pacer-test")
    version = client.get_model_version("pacer-test", "1")
    for entry in (registered, version):
        assert "ppo-small" in entry.description and "live_commerce" in entry.description
        assert entry.tags["source_run_id"] == run.info.run_id
        assert float(entry.tags[f"metric.{SCORE_KEY}"]) == pytest.approx(metrics[SCORE_KEY])
    export_run = client.get_run(version.run_id)
    assert export_run.data.tags["run_type"] == "export"
    assert export_run.info.run_name.startswith("export ppo-small ")
    assert export_run.data.metrics["action_parity_max_abs_error"] <= 1e-5
    pacer = load_pacer(tmp_path / "art")
    x = np.zeros((3, 14), np.float32)
    x[:, 1], x[:, 2], x[:, 12] = 1.0, 4.7, -4.0
    import pandas as pd

    df = pd.DataFrame({n: x[:, i] for i, n in enumerate(pacer.features)})
    np.testing.assert_array_equal(np.asarray(served.predict(df)), pacer(x))
    assert served.metadata.signature.inputs.input_names() == list(pacer.features)
