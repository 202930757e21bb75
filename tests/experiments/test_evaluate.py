"""pacegym-evaluate: config groups compose, validation is clear, metrics.json is complete."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pacegym.baselines.controllers import ControllerConfigError
from pacegym.envs.metrics import METRIC_KEYS
from pacegym.envs.params import ScenarioError
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.evaluate import evaluate
from pacegym.experiments.evaluate_config import build_all

CONTROLLER_FILES = sorted(p.stem for p in (Path(CONF_DIR) / "controller").glob("*.yaml"))
TINY = ["scenario.time.flight_min=[10.0,15.0]", "episodes=6", "n_boot=50", "plot_episodes=3"]


def cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="evaluate", overrides=list(overrides))


@pytest.mark.parametrize("controller", CONTROLLER_FILES)
def test_every_controller_file_composes_and_builds(controller):
    c = cfg(f"controller={controller}", "oracle=false")
    scenario, controllers = build_all(c)
    assert scenario.name == "live_commerce" and len(controllers) == 1
    assert controllers[0].kind == c.controller.kind
    with_yardsticks = [k.kind for k in build_all(cfg(f"controller={controller}"))[1]]
    assert sorted(with_yardsticks) == sorted({c.controller.kind, "reference", "oracle"})


@pytest.mark.parametrize("scenario", ["live_commerce", "daily_budget", "multi_day_flight"])
def test_scenario_group_composes(scenario):
    assert build_all(cfg(f"scenario={scenario}"))[0].name == scenario


def test_seed_experiment_composes_three_controllers():
    c = cfg("experiment=seed_live_commerce")
    _, controllers = build_all(c)
    kinds = ["proportional", "exp_decay", "on_off", "reference", "oracle"]
    assert [k.kind for k in controllers] == kinds
    assert c.episodes == 1000 and c.baseline == controllers[0].name


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (["episodes=0"], ValueError, "episodes = 0"),
        (["controller.kind=bang_bang"], ControllerConfigError, "allowed"),
        (["controller.params.rate=3.0"], ControllerConfigError, r"controller\.params\.rate"),
        (["+controller.params.gain=1"], ControllerConfigError, r"params\.gain"),
        (["scenario.money.budget=-1"], ScenarioError, r"money\.budget"),
        (["baseline=nobody"], ControllerConfigError, "baseline"),
    ],
)
def test_bad_config_is_rejected_before_running(overrides, error, match):
    with pytest.raises(error, match=match):
        build_all(cfg(*overrides))


def test_schema_rejects_unknown_top_level_keys():
    with pytest.raises(Exception, match="episdes"):
        cfg("episdes=3")


@pytest.mark.slow
def test_evaluate_writes_metrics_comparison_and_plots(tmp_path, monkeypatch):
    work = tmp_path / "work"  # tracked by default: the store goes in the working directory
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    c = cfg("experiment=seed_live_commerce", *TINY)
    results = evaluate(c, tmp_path)
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data == results and len(data) == 5
    for agg in data.values():
        for k in (*METRIC_KEYS, "normalised", "regret"):
            assert isinstance(agg[k], float)
            lo, hi = agg[f"{k}_ci"]
            assert lo <= agg[k] + 1e-12 and agg[k] <= hi + 1e-12
    assert data["oracle"]["normalised"] == 100.0 and data["reference"]["normalised"] == 0.0
    assert data["oracle"]["oracle_failures_excluded"] == 0
    comp = json.loads((tmp_path / "comparison.json").read_text())
    assert len(comp["differences"]) == 4
    assert (tmp_path / "evaluation.png").stat().st_size > 10_000
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{work}/mlflow.db")
    exp = client.get_experiment_by_name("pacegym")
    runs = client.search_runs([exp.experiment_id], "tags.run_type = 'evaluate'")
    (run,) = runs
    assert run.info.run_name.startswith("evaluate live_commerce ")
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["live_commerce"]
    assert run.data.params["scenario.time.flight_min"] == "[10.0, 15.0]"
    children = client.search_runs(
        [exp.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert len(children) == 5


def test_evaluate_untracked_with_tracking_off_or_without_mlflow(tmp_path, monkeypatch):
    from pacegym.experiments import tracking_store

    monkeypatch.chdir(tmp_path)
    assert tracking_store.tracking_enabled(cfg())  # the default: tracked
    assert not tracking_store.tracking_enabled(cfg("tracking=off"))
    monkeypatch.setattr(tracking_store, "find_spec", lambda name: None)  # the base install
    assert not tracking_store.tracking_enabled(cfg())
    assert tracking_store.tracking_enabled({"tracking": {}})  # other apps still require it
    evaluate(cfg("controller=pid", "oracle=false", "plots=false", *TINY), tmp_path / "out")
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_console_command_end_to_end(tmp_path):
    exe = Path(sys.executable).parent / "pacegym-evaluate"
    out = tmp_path / "run"
    args = [str(exe), "controller=pid", *TINY, "plots=false", f"hydra.run.dir={out}"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "metrics.json").read_text())
    assert list(data) == ["PID", "reference", "oracle"] and set(METRIC_KEYS) <= set(data["PID"])
    assert 0.0 <= data["PID"]["normalised"] <= 100.0  # this tiny flight: PID and reference both 1
    assert "| PID |" in proc.stdout
    assert OmegaConf.load(out / ".hydra" / "config.yaml").controller.kind == "pid"


@pytest.mark.slow
def test_console_command_finds_the_working_dirs_conf_and_writes_outputs_evaluate(tmp_path):
    """./conf joins every app's search path (experiments.hydra_app) and the run dir comes
    from conf/hydra/app/pacegym.yaml: outputs/<app>/<time> in the working directory."""
    (tmp_path / "conf" / "scenario").mkdir(parents=True)
    (tmp_path / "conf" / "scenario" / "mine.yaml").write_text("name: mine\nbase: daily_budget\n")
    exe = Path(sys.executable).parent / "pacegym-evaluate"
    args = [str(exe), "scenario=mine", "controller=pid", "episodes=2", "plots=false"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (metrics,) = tmp_path.glob("outputs/evaluate/*/metrics.json")
    assert "mine: 2 episodes" in proc.stdout and "PID" in json.loads(metrics.read_text())
