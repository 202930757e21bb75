"""pacegym-train against a failing tracking store: training never depends on it, a job that
fails before training leaves no run, resumes never reopen a finished run or repeat steps."""

import json
import subprocess
import sys
import time

import mlflow
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pacegym.agents.checkpoint import latest_checkpoint
from pacegym.agents.settings import AgentConfigError
from pacegym.experiments import tracking
from pacegym.experiments import train as train_app
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.sweep_runs import MlflowStoreCallback
from pacegym.experiments.tracking_guard import BUFFER_FILE, STATUS_FILE, TrackingGuard

TINY = [
    "agent=ppo",
    "agent.net_arch=[8]",
    "agent.hyperparams.n_steps=16",
    "agent.hyperparams.batch_size=64",
    "agent.hyperparams.n_epochs=1",
    "train.n_envs=8",
    "train.total_timesteps=128",
    "train.eval_freq=0",
    "train.eval_episodes=2",
    "train.checkpoint_freq=0",
    "train.progress_bar=false",
]
SERVER = """
import os, sys
root = sys.argv[1]
os.environ["_MLFLOW_SERVER_FILE_STORE"] = f"sqlite:///{root}/server.db"
os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = f"{root}/artifacts"
os.environ["_MLFLOW_SERVER_SERVE_ARTIFACTS"] = "false"
from mlflow.server import app
from werkzeug.serving import make_server
srv = make_server("127.0.0.1", 0, app, threaded=True)
print(srv.server_port, flush=True)
srv.serve_forever()
"""


def _cfg(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides)


def _runs(store):
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    exp = client.get_experiment_by_name("pacegym")
    return [] if exp is None else client.search_runs([exp.experiment_id])


@pytest.mark.slow
def test_a_job_failing_before_training_leaves_no_run_and_no_files(tmp_path, monkeypatch):
    store = tmp_path / "mlflow.db"
    cfg = _cfg([*TINY, f"tracking.uri=sqlite:///{store}"])

    def fail(*args, **kwargs):
        raise AgentConfigError("agent.x = 1: allowed [0, 0]")

    monkeypatch.setattr(train_app, "train_agent", fail)
    with pytest.raises(AgentConfigError, match=r"agent\.x"):
        train_app.train(cfg, tmp_path / "run")
    assert _runs(store) == []  # opened, then deleted: no FAILED run in the table
    assert not (tmp_path / "run").exists()


def test_the_guard_buffers_and_says_so_once(tmp_path, capsys, monkeypatch):
    guard = TrackingGuard(tmp_path)
    calls = []

    def dead(metrics, step=None, prefix=""):
        calls.append(step)
        raise ConnectionError("Connection refused\nsecond line")

    monkeypatch.setattr(tracking, "log_metrics", dead)
    guard.log_metrics({"a": 1.0}, 8)
    guard.log_metrics({"a": 2.0, "b": float("nan")}, 16)
    guard.call(dead, {})
    assert calls == [8]  # one try; later calls never wait on the server again
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tracking: the MLflow store failed at step 8")
    assert (tmp_path / STATUS_FILE).read_text().strip() == err[0] == guard.reason
    rows = [json.loads(x) for x in (tmp_path / BUFFER_FILE).read_text().splitlines()]
    assert rows == [{"step": 8, "metrics": {"a": 1.0}}, {"step": 16, "metrics": {"a": 2.0}}]


@pytest.mark.slow
def test_multirun_jobs_get_the_sweeps_experiment_by_id(tmp_path):
    store = tmp_path / "mlflow.db"
    config = OmegaConf.create(
        {
            "tracking": {"uri": f"sqlite:///{store}", "experiment": "mine"},
            "hydra": {
                "sweep": {"dir": str(tmp_path / "sweep")},
                "overrides": {"task": ["train.seed=0,1"]},
                "job": {"name": "train"},
                "sweeper": {"params": {}},
            },
        }
    )
    MlflowStoreCallback().on_multirun_start(config)
    marker = json.loads((tmp_path / "sweep" / tracking.PARENT_FILE).read_text())
    exp = mlflow.MlflowClient(f"sqlite:///{store}").get_experiment_by_name("mine")
    assert marker["experiment_id"] == exp.experiment_id != "0"


@pytest.mark.slow
def test_training_survives_a_tracking_server_that_dies(tmp_path, monkeypatch, capsys):
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = int(proc.stdout.readline())
        run = tmp_path / "run"
        cfg = _cfg([*TINY, "train.total_timesteps=512", f"tracking.uri=http://127.0.0.1:{port}"])
        steps = []
        real = TrackingGuard.log_metrics

        def kill_after_first(self, metrics, step=None, prefix=""):
            if len(steps) == 1:
                proc.kill()  # the server dies mid-training
                proc.wait()
            steps.append(step)
            return real(self, metrics, step, prefix)

        monkeypatch.setattr(TrackingGuard, "log_metrics", kill_after_first)
        t0 = time.perf_counter()
        result = train_app.train(cfg, run)
        wall = time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()
    assert wall < 60, wall
    assert result.num_timesteps == 512
    assert (run / "model" / "model.zip").is_file()
    assert latest_checkpoint(run).name == "step_512"
    status = (run / STATUS_FILE).read_text().strip()
    assert "\n" not in status and "training continues" in status
    assert capsys.readouterr().err.count("tracking: the MLflow store failed") == 1
    buffered = [json.loads(x)["step"] for x in (run / BUFFER_FILE).read_text().splitlines()]
    assert 512 in buffered and len(buffered) >= 3
    assert json.loads((run / "train_result.json").read_text())["tracking"] == status


@pytest.mark.slow
def test_resumes_never_reopen_a_finished_run_nor_repeat_steps(tmp_path):
    store = tmp_path / "mlflow.db"
    base = [*TINY, f"tracking.uri=sqlite:///{store}"]
    train_app.train(_cfg(base), tmp_path / "a")
    (first,) = _runs(store)
    assert first.info.status == "FINISHED"
    # a finished run is continued in a new run, never reopened
    more = train_app.train(
        _cfg([*base, f"train.resume={tmp_path / 'a'}", "train.total_timesteps=256"]), tmp_path / "b"
    )
    assert more.num_timesteps == 256
    new = [r for r in _runs(store) if r.info.run_id != first.info.run_id]
    assert len(new) == 1 and new[0].data.tags["resumed_from_run_id"] == first.info.run_id
    assert (
        mlflow.MlflowClient(f"sqlite:///{store}").get_run(first.info.run_id).info.status
        == "FINISHED"
    )
    # an interrupted run is reopened; a second resume from the same checkpoint is refused
    mlflow.MlflowClient(f"sqlite:///{store}").set_terminated(first.info.run_id, "KILLED")
    resumed = [*base, f"train.resume={tmp_path / 'a'}", "train.total_timesteps=256"]
    train_app.train(_cfg(resumed), tmp_path / "c")
    assert len(_runs(store)) == 2  # logged into the interrupted run
    mlflow.MlflowClient(f"sqlite:///{store}").set_terminated(first.info.run_id, "KILLED")
    with pytest.raises(AgentConfigError, match=r"was resumed since this checkpoint, into .*/c"):
        train_app.train(_cfg(resumed), tmp_path / "d")
    assert not (tmp_path / "d").exists()
    # a budget already reached: refused before any run is opened
    with pytest.raises(AgentConfigError, match=r"nothing to train"):
        train_app.train(_cfg([*base, f"train.resume={tmp_path / 'c'}"]), tmp_path / "e")
    assert len(_runs(store)) == 2 and not (tmp_path / "e").exists()
