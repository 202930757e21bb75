"""MLflow 3 records of pacegym runs: flat params, unique readable names, the scenario as a
dataset input, checkpoints and the selected model as LoggedModels with their metrics."""

from __future__ import annotations

import mlflow
import pytest

from pacegym.experiments import tracking
from pacegym.experiments.tracking_params import MAX_PARAM_LEN, flatten


def test_flatten_makes_dotted_keys_and_indexes_lists_of_sections():
    data = {
        "scenario": {"money": {"budget": 5.0}, "channels": [{"share": 0.4}, {"share": 0.6}]},
        "agent": {"net_arch": [64, 64], "residual": {}},
    }
    assert flatten(data) == {
        "scenario.money.budget": 5.0,
        "scenario.channels.0.share": 0.4,
        "scenario.channels.1.share": 0.6,
        "agent.net_arch": "[64, 64]",
        "agent.residual": "{}",
    }


def _store(tmp_path):
    return {"tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"}}


def test_runs_of_their_own_get_unique_readable_names_and_flat_params(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("pacegym.experiments.tracking_names._stamp", lambda: "12-07 04:31:05")
    cfg = {
        **_store(tmp_path),
        "scenario": {"name": "mine", "money": {"budget": 7}, "note": "x" * 7000},
    }
    names = []
    for _ in range(3):
        with tracking.start_run(cfg, "train ppo", {"run_type": "train"}) as run:
            names.append(run.info.run_name)
    first = "train ppo 12-07 04:31:05"
    assert names == [first, f"{first} #2", f"{first} #3"]
    got = mlflow.MlflowClient(cfg["tracking"]["uri"]).get_run(run.info.run_id)
    assert got.data.params["scenario.money.budget"] == "7"
    assert len(got.data.params["scenario.note"]) == MAX_PARAM_LEN  # cut to MLflow's limit
    (inp,) = got.inputs.dataset_inputs
    assert inp.dataset.name == "mine"
    assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "training"
    exp = mlflow.MlflowClient(cfg["tracking"]["uri"]).get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_runs_url_opens_the_machine_learning_runs_view():
    url = tracking.runs_url("http://127.0.0.1:5000/", "3")
    assert url == "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"
    assert tracking.runs_url("sqlite:///mlflow.db", "3") is None


@pytest.mark.slow
def test_train_logs_each_checkpoint_and_the_model_as_logged_models(tmp_path, monkeypatch):
    from pacegym.experiments import train as train_app
    from tests.experiments.test_train_tracking import TINY, _cfg

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    short = [t for t in TINY if "freq" not in t and "total_timesteps" not in t]
    cfg = _cfg(
        [
            *short,
            "train.total_timesteps=256",
            "train.eval_freq=128",
            "train.checkpoint_freq=128",
            f"tracking.uri={uri}",
        ]
    )
    train_app.train(cfg, tmp_path / "run")
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("pacegym").experiment_id])
    models = {
        m.name: m for m in client.search_logged_models([run.info.experiment_id], max_results=50)
    }
    assert set(models) == {"ppo-step-128", "ppo-step-256", "ppo"}
    outputs = {o.model_id: o.step for o in run.outputs.model_outputs}
    for name, step in (("ppo-step-128", 128), ("ppo-step-256", 256), ("ppo", 256)):
        m = models[name]
        assert m.source_run_id == run.info.run_id and str(m.status) == "READY"
        assert outputs[m.model_id] == step and m.tags["pacegym.step"] == str(step)
        files = {a.path for a in client.list_logged_model_artifacts(m.model_id)}
        assert "model.zip" in files and "replay_buffer.npz" not in files
    ckpt = {x.key: x for x in models["ppo-step-128"].metrics}
    assert ckpt["eval/pacing_score_v2"].step == 128
    assert ckpt["eval/pacing_score_v2"].model_id == models["ppo-step-128"].model_id
    final = {x.key for x in models["ppo"].metrics}
    assert {"final/pacing_score_v2", "pacing_score_v2"} <= final
    # each evaluation logged once: the checkpoint's metrics are the run's curve
    history = client.get_metric_history(run.info.run_id, "eval/pacing_score_v2")
    assert [h.step for h in history] == [128, 256]


def test_a_sweep_parent_is_tagged_with_its_scenario_or_the_swept_ones():
    from hydra import compose, initialize_config_dir

    from pacegym.experiments.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", ["experiment=sweep_ppo_live"], return_hydra_config=True)
    assert tracking.default_tags(cfg, "sweep")["scenario"] == "live_commerce"
    swept = {"hydra": {"overrides": {"task": ["scenario=daily_budget,live_commerce"]}}}
    assert tracking.scenario_name(swept) == "daily_budget,live_commerce"
    assert tracking.scenario_of("train", ["experiment=sweep_ppo_live"]) == "live_commerce"
