"""The same train sweep on Ray Tune (local ``ray.init(num_cpus=2)``), tracked in one MLflow store."""

import json
from pathlib import Path

import mlflow
import pytest

pytest.importorskip("ray")

from pacegym.experiments.sweep_ray import main
from pacegym.experiments.sweep_runs import STOPPED_TAG
from pacegym.experiments.sweep_space import Axis, domains, override, search_space
from tests.experiments.tiny import TINY_TRAIN


def test_search_space_from_the_experiment_file_is_typed():
    space = search_space("sweep_ppo_live", ["agent.hyperparams.gamma=0.99,0.999", *TINY_TRAIN])
    assert space["agent.hyperparams.learning_rate"].values == (1e-4, 3e-4)
    assert space["agent.hyperparams.gamma"].values == (0.99, 0.999)
    assert "train.n_envs" not in space
    space = search_space("sweep_ppo_asha", ["train.seed=0,1"])
    assert space["agent.hyperparams.learning_rate"] == Axis(low=3e-5, high=1e-3, log=True)
    assert space["agent.residual.scale_decades"] == Axis(low=0.25, high=1.5)
    assert space["train.seed"].values == (0, 1)


def test_ray_domains_keep_numbers_numbers():
    from ray.tune.search.sample import Categorical, Float

    space = {"a": Axis(values=(1e-4, 3e-4)), "b": Axis(low=1e-5, high=1e-3, log=True)}
    grid = domains(space, "grid")
    assert grid["a"] == {"grid_search": [1e-4, 3e-4]} and isinstance(grid["b"], Float)
    assert isinstance(domains(space, "optuna")["a"], Categorical)
    assert override("x.y", 1e-4) == "x.y=0.0001" and override("x.y", True) == "x.y=true"
    assert override("x", "it's") == "x='it\\'s'"


SWEEP_ENTRY = "from pacegym.cli import sweep; sweep()"
ASHA_TRAIN = [  # 4 evaluations of 128 env-steps, a checkpoint at each
    "train.total_timesteps=512",
    "train.n_envs=8",
    "train.eval_freq=128",
    "train.checkpoint_freq=128",
    "train.eval_episodes=4",
    "agent.hyperparams.n_steps=16",
    "agent.hyperparams.batch_size=64",
    "agent.hyperparams.n_epochs=1",
]


@pytest.mark.slow  # ~2 min on 2 shared cores: 8 trials
def test_asha_sweep_of_8_samples_stops_trials_early_all_in_mlflow_under_one_parent(
    tmp_path, monkeypatch
):
    """``pacegym-sweep --search optuna --num-samples 8 --scheduler asha``: every trial
    reports each evaluation (with a checkpoint) and ASHA stops the trailing ones; every
    trial is a child of one parent run with its intermediate ``eval/*`` metrics."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("RAY_DISABLE_USAGE_STATS", "1")
    out = tmp_path / "out"
    main(
        [
            *("--experiment", "sweep_ppo_asha", "--search", "optuna", "--num-samples", "8"),
            *("--scheduler", "asha", "--reduction-factor", "4", "--num-cpus", "2"),
            *("--out", str(out), *ASHA_TRAIN),
        ]
    )
    best = json.loads((out / "best.json").read_text())
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("pacegym").experiment_id])
    parents = [r for r in runs if r.data.tags.get("run_type") == "sweep"]
    trials = [r for r in runs if r.data.tags.get("run_type") == "train"]
    assert len(parents) == 1 and len(trials) == 8 and len(runs) == 9
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.info.run_id == best["mlflow_parent_run_id"]
    assert all(t.data.tags["mlflow.parentRunId"] == parent.info.run_id for t in trials)
    stopped = [t for t in trials if t.data.tags.get(STOPPED_TAG) == "true"]
    finished = [t for t in trials if t.info.status == "FINISHED"]
    assert stopped and finished and len(stopped) + len(finished) == 8
    assert all(t.info.status == "KILLED" for t in stopped)
    done = {t.info.run_id for t in finished}
    for t in trials:  # the intermediate metrics: one point per evaluation reported
        steps = [m.step for m in client.get_metric_history(t.info.run_id, "eval/pacing_score_v2")]
        assert steps == sorted(steps) and steps[0] == 128
        assert len(steps) == 4 if t.info.run_id in done else 1 <= len(steps) < 4
    assert best["stopped_early"] == len(stopped) and best["trials"] == 8
    assert best["mlflow_run_id"] in {t.info.run_id for t in finished}
    lr = best["params"]["agent.hyperparams.learning_rate"]
    assert isinstance(lr, float) and 3e-5 <= lr <= 1e-3  # typed, not a string
    # one folder per trial, directly in --out: Ray's results and checkpoints, the train run
    folders = [p for p in out.iterdir() if (p / "params.json").is_file()]
    assert len(folders) == 8 and all(list(p.glob("checkpoint_*")) for p in folders)
    assert sum((p / "model").is_dir() for p in folders) == len(finished)


# A grid sweep tracked by default (no --tracking-uri: every trial a FINISHED child of one
# parent in the working directory's ./mlflow.db, named by its parameters, no per-trial
# store, best.json naming them) is the doc-check's `python -m pacegym.experiments.sweep_ray
# --experiment sweep_ppo_live --num-cpus 2` (docs/apps.md, tests/docs_check.py:
# _check_default_tracked_sweep): one Ray sweep fewer than a test of its own here.


@pytest.mark.slow  # ~2-3 min on 2 shared cores
def test_an_interrupted_sweep_resumes_from_its_ray_checkpoint_into_the_same_runs(tmp_path):
    """Ctrl-C (SIGINT) after a trial reported a checkpoint: one line to continue, the folder
    left unfinished; ``--resume`` restores the Tuner, the trial continues from its Ray
    checkpoint in the same MLflow child run, and the parent ends FINISHED."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "RAY_DISABLE_USAGE_STATS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    script = Path(sys.executable).with_name("pacegym-sweep")  # Ctrl-C's one line: pacegym.cli
    entry = [str(script)] if script.is_file() else [sys.executable, "-c", SWEEP_ENTRY]
    sweep = [*entry, "--num-cpus", "2"]
    budget = [*(o for o in ASHA_TRAIN if "total_timesteps" not in o), "train.total_timesteps=1024"]
    first = subprocess.Popen(
        [*sweep, "--experiment", "sweep_ppo_asha", "--search", "random", "--out", "out", *budget],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 400
    while not list(tmp_path.glob("out/*/checkpoint_000001")) and time.monotonic() < deadline:
        assert first.poll() is None, first.stderr.read()[-3000:]
        time.sleep(0.5)
    first.send_signal(signal.SIGINT)
    err = first.communicate(timeout=300)[1]
    assert first.returncode == 130, err[-3000:]
    assert f"continue with: pacegym-sweep --resume --out {tmp_path / 'out'}" in err
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("pacegym").experiment_id
    assert {r.info.status for r in client.search_runs([exp])} == {"KILLED"}
    second = subprocess.run(
        [*sweep, "--resume", "--out", "out"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert second.returncode == 0, second.stderr[-3000:]
    runs = client.search_runs([exp])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    child = next(r for r in runs if r.data.tags.get("run_type") == "train")
    steps = [m.step for m in client.get_metric_history(child.info.run_id, "eval/pacing_score_v2")]
    assert (
        steps[0] == 128 and steps[-1] == 1024 and sorted(set(steps)) == list(range(128, 1025, 128))
    )
    assert json.loads((tmp_path / "out" / "best.json").read_text())["children_finished"] == 1
