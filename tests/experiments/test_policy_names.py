"""One way to name a policy in every app (``experiments.policies``): ``pacegym-evaluate``
with ``agent=<model dir>`` and ``controller=<tuned set>`` runs the same policies as
``pacegym-compare`` on the same seeds, metric for metric; a tuned set is the scenario's
own or refused; a scenario file by path keeps its own name."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from pacegym.envs.metrics import METRIC_KEYS
from pacegym.envs.scenarios import resolve
from pacegym.experiments import policies
from pacegym.experiments.app_args import FILE_FOLDER, rewrite
from pacegym.experiments.config import CONF_DIR

BIN = Path(sys.executable).parent
TINY_TRAIN = [
    "tracking=off",
    "scenario=daily_budget",
    "train.total_timesteps=256",
    "train.n_envs=16",
    "train.eval_freq=256",
    "train.eval_episodes=4",
    "train.checkpoint_freq=256",
    "train.progress_bar=false",
    "agent=ppo_residual",
    "agent.hyperparams.n_steps=16",
    "agent.hyperparams.batch_size=128",
    "agent.hyperparams.n_epochs=1",
]


def _cfg(app, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=app, overrides=overrides)


def test_a_tuned_set_is_the_scenarios_own_or_its_stand_ins():
    daily = policies.controller_file("pid_tuned", "daily_budget")
    assert daily.parent.name == "daily_budget"
    assert policies.controller_file("pid_tuned", "live_commerce").parent.name == "controller"
    assert policies.controller_file("pid_tuned", "long_delay_tail").parent.name == "long_delay_tail"
    assert policies.controller_file("live_commerce/pid_tuned", "x").parent.name == "controller"
    assert policies.controller_file("pid", "mine").name == "pid.yaml"


def test_a_tuned_set_of_no_scenario_is_refused_naming_those_with_one():
    with pytest.raises(ValueError) as e:
        policies.controller_file("pid_tuned", "mine")
    msg = str(e.value)
    assert msg.startswith("controller = 'pid_tuned': no pid_tuned tuned for scenario 'mine'")
    assert "'daily_budget'" in msg and "'live_commerce'" in msg and "\n" not in msg
    with pytest.raises(ValueError, match=r"^compare.baselines entry 'nowhere_\*' matches no"):
        policies.controller_files(["nowhere_*"], "daily_budget", key="compare.baselines")


def test_an_agent_entry_is_a_model_dir_or_refused(tmp_path):
    cfg = _cfg("compare", ["tracking=off"])
    with pytest.raises(ValueError, match=r"^agent = '.*': not a model dir"):
        policies.agent_dir(str(tmp_path), cfg)
    with pytest.raises(ValueError, match=r"^agent = 'models:/x/1': an MLflow run id .*tracking"):
        policies.agent_dir("models:/x/1", cfg)


def test_a_scenario_file_without_a_name_is_named_by_its_stem(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: live_commerce\nmoney: {budget: 500.0}\n")
    assert resolve(str(path)).name == "mine"
    assert resolve("traces/train/fb_daily").name == "fb_daily"  # a twin says its name


def test_paths_and_agent_become_hydra_spellings(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: live_commerce\n")
    args, linked = rewrite([f"scenario={path}", "agent=runs/m", "seed=1"], "evaluate", tmp_path)
    assert linked and args == [
        f"scenario={FILE_FOLDER}/mine",
        "agents=['runs/m']",
        "seed=1",
        "~controller",
    ]
    assert (tmp_path / "scenario" / FILE_FOLDER / "mine.yaml").resolve() == path.resolve()
    args, _ = rewrite(["agent=a,b", "controller=pid"], "evaluate", tmp_path)
    assert args == ["agents=['a'],['b']", "controller=pid"]
    assert rewrite(["agent=a"], "train", tmp_path)[0] == ["agent=a"]  # a group there
    with pytest.raises(ValueError, match=r"^scenario = 'nope.yaml': no such file"):
        rewrite(["scenario=nope.yaml"], "compare", tmp_path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from pacegym.experiments.train import train

    out = tmp_path_factory.mktemp("train")
    return train(_cfg("train", TINY_TRAIN), out / "run").model_dir


@pytest.mark.slow
def test_evaluate_runs_what_compare_runs_on_the_same_seeds(model_dir, tmp_path, monkeypatch):
    from pacegym.experiments.compare import compare

    monkeypatch.chdir(tmp_path)
    seeds = ["scenario=daily_budget"]
    doc = compare(
        _cfg(
            "compare",
            [
                *seeds,
                "tracking=off",
                "compare.baselines=[pid_tuned]",
                f"compare.agents=[{model_dir}]",
                "compare.discover_agents=false",
                "compare.oracle=false",
                "compare.episodes=8",
                "compare.seed=5",
                "compare.n_boot=50",
            ],
        ),
        tmp_path / "compare",
    )
    out = tmp_path / "evaluate"
    argv = [
        str(BIN / "pacegym-evaluate"),
        *seeds,
        "controller=pid_tuned",
        f"agent={model_dir}",
        "episodes=8",
        "seed=5",
        "n_boot=50",
        "oracle=false",
        "plots=false",
        f"hydra.run.dir={out}",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {r["name"]: r for r in doc["rows"]}
    assert set(metrics) == set(rows) and len(rows) == 2
    for name, row in rows.items():
        assert {k: metrics[name][k] for k in METRIC_KEYS} == {k: row[k] for k in METRIC_KEYS}
    pid = policies.controller_file("pid_tuned", "daily_budget")
    assert metrics["pid (tuned)"]["source"] == str(pid) == rows["pid (tuned)"]["source"]["config"]
    agent = next(n for n in rows if n != "pid (tuned)")
    assert metrics[agent]["source"] == str(Path(model_dir).resolve())
    assert f"pid (tuned): {pid}" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_scenario_path_is_labelled_by_its_own_name_in_compare(tmp_path):
    """``scenario=<path>`` in a Hydra app: the leaderboard and the MLflow tags say ``mine``
    (the file's stem), not its base's name; a tuned set of its base must be named."""
    import mlflow

    path = tmp_path / "elsewhere" / "mine.yaml"
    path.parent.mkdir()
    path.write_text("base: live_commerce\nmoney: {budget: 500.0}\n")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = [
        str(BIN / "pacegym-compare"),
        f"scenario={path}",
        f"tracking.uri={store}",
        "compare.episodes=8",  # >= stats.min_episodes: with nan intervals the bar chart fails
        "compare.n_boot=20",
        "compare.oracle=false",
        "compare.discover_agents=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert refused.returncode == 2
    assert "'*_tuned' matches no controller config of scenario 'mine'" in refused.stderr
    assert "scenarios with one: ['amzn_daily'" in refused.stderr
    argv.append("compare.baselines=[live_commerce/pid_tuned]")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert doc["scenario"] == "mine" and doc["scenario_config"]["money"]["budget"] == 500.0
    runs = mlflow.MlflowClient(store).search_runs(
        [e.experiment_id for e in mlflow.MlflowClient(store).search_experiments()]
    )
    assert runs and {r.data.tags["scenario"] for r in runs} == {"mine"}


def test_a_run_id_or_registered_version_names_its_train_runs_model(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = _cfg("compare", [f"tracking.uri={store}"])
    client = mlflow.MlflowClient(store)
    exp = client.create_experiment("x")
    md = tmp_path / "model"
    md.mkdir()
    (md / "agent.json").write_text("{}")
    train = client.create_run(exp, tags={"run_type": "train", "model_dir": str(md)})
    pacer = client.create_run(exp, tags={"run_type": "export", "source_run_id": "abc"})
    client.create_registered_model("m")
    for run in (train, pacer):
        client.create_model_version("m", f"runs:/{run.info.run_id}/model", run.info.run_id)
    assert policies.agent_dir(train.info.run_id, cfg) == (md, train.info.run_id)
    assert policies.agent_dir("models:/m/1", cfg) == (md, train.info.run_id)
    with pytest.raises(ValueError, match=r"^agent = 'models:/m/2': run .* 'export' run"):
        policies.agent_dir("models:/m/2", cfg)
    with pytest.raises(ValueError, match=r"^agent = 'models:/m': allowed models:/<name>/<version>"):
        policies.agent_dir("models:/m", cfg)
