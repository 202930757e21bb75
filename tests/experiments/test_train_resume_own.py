"""A resume continues the run's OWN settings (agent, budget, evaluation), not the defaults;
a finished run says so (exit 0) instead of training on; messages and the MLflow run name
say which agent and that it is a resume. Real tiny SB3 runs."""

import fcntl
import json
import logging
import shutil

import mlflow
import pytest
import yaml
from hydra import compose, initialize_config_dir

from pacegym.agents.settings import AgentConfigError
from pacegym.errors import NothingToDo
from pacegym.experiments import train as train_app
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.train_resume import LOCK_FILE

TINY_PPO = [
    "agent=ppo",
    "agent.net_arch=[8]",
    "agent.hyperparams.n_steps=16",
    "agent.hyperparams.batch_size=64",
    "agent.hyperparams.n_epochs=1",
    "train.n_envs=8",
    "train.total_timesteps=256",
    "train.eval_freq=0",
    "train.eval_episodes=2",
    "train.checkpoint_freq=128",
    "train.progress_bar=false",
]


def _cfg(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides)


def _as_if_killed_at(run, step):
    """The run dir as a run killed after its checkpoint at ``step`` left it."""
    (run / "checkpoints" / "LATEST").write_text(f"step_{step}")
    for later in (run / "checkpoints").glob("step_*"):
        if int(later.name.removeprefix("step_")) > step:
            shutil.rmtree(later)
    for name in ("model", "last_model", "best_model", "train_result.json"):
        path = run / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


@pytest.mark.slow
def test_a_resume_without_flags_continues_the_runs_own_budget_and_settings(
    tmp_path, monkeypatch, caplog
):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = train_app.train(_cfg([*TINY_PPO, f"tracking.uri={store}"]), tmp_path / "a")
    assert first.num_timesteps == 256
    _as_if_killed_at(tmp_path / "a", 128)
    client = mlflow.MlflowClient(store)
    run_id = first.mlflow_run_id
    client.set_terminated(run_id, "KILLED")
    # a run another process still trains (or resumes) holds its lock: refused, nothing done
    with open(tmp_path / "a" / LOCK_FILE, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(AgentConfigError, match=r"in use by another pacegym-train process"):
            train_app.train(
                _cfg([f"train.resume={tmp_path / 'a'}", "tracking=off"]), tmp_path / "x"
            )
    assert not (tmp_path / "x").exists()
    # nothing but the resume (and the store) named: the defaults are ppo_residual,
    # 200,000 env-steps, 128 campaigns, 256 episodes per evaluation
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO):
        train_app._main(_cfg([f"train.resume={tmp_path / 'a'}", f"tracking.uri={store}"]))
    out = tmp_path / "outputs" / "train"
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert saved["agent"]["name"] == "ppo"
    kept = {k: saved["train"][k] for k in ("total_timesteps", "n_envs", "eval_episodes")}
    assert kept == {"total_timesteps": 256, "n_envs": 8, "eval_episodes": 2}
    result = json.loads((out / "train_result.json").read_text())
    assert result["num_timesteps"] == 256 and result["steps_this_run"] == 128
    assert result["mlflow_run_id"] == run_id  # the interrupted MLflow run, reopened
    assert client.get_run(run_id).info.run_name.endswith("(resumed)")
    assert "trained ppo:" in caplog.text and "trained ppo_residual" not in caplog.text
    # the resumed run has finished its budget: a second resume says so, trains nothing
    with pytest.raises(NothingToDo, match=r"the run finished \(256 env-steps"):
        train_app.train(_cfg([f"train.resume={out}", "tracking=off"]), tmp_path / "b")
    assert not (tmp_path / "b").exists()
    # a budget below the steps done is refused; a larger one trains on
    with pytest.raises(AgentConfigError, match=r"nothing to train"):
        train_app.train(
            _cfg([f"train.resume={out}", "tracking=off", "train.total_timesteps=128"]),
            tmp_path / "c",
        )
    more = train_app.train(
        _cfg([f"train.resume={out}", "tracking=off", "train.total_timesteps=384"]),
        tmp_path / "d",
    )
    assert more.num_timesteps == 384
    done = yaml.safe_load((tmp_path / "d" / "train_config.yaml").read_text())["train"]
    assert done["eval_episodes"] == 2 and done["checkpoint_freq"] == 128


@pytest.mark.slow
def test_a_finished_run_resumed_opens_a_run_named_as_a_resume(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = train_app.train(_cfg([*TINY_PPO, f"tracking.uri={store}"]), tmp_path / "a")
    more = train_app.train(
        _cfg(
            [f"train.resume={tmp_path / 'a'}", f"tracking.uri={store}", "train.total_timesteps=384"]
        ),
        tmp_path / "b",
    )
    client = mlflow.MlflowClient(store)
    new = client.get_run(more.mlflow_run_id)
    assert more.mlflow_run_id != first.mlflow_run_id
    assert new.info.run_name.startswith("resume ppo")
    assert new.data.tags["resumed_from_run_id"] == first.mlflow_run_id
