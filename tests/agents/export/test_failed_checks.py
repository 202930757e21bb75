"""An artifact that fails its checks is neither published nor registered (pacegym-export,
pacegym-pipeline): ``out_dir`` stays as it was, the command ends in one line, exit 1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pacegym.agents.export.verify import metric_means
from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments.export import run_export
from pacegym.experiments.export_report import ExportChecksFailed, exit_on_failed_checks

from .conftest import SCENARIO
from .export_checks import export_cfg, run_export_cli

PARAMS = {"kp": 15.0, "ki": 40.0}


@pytest.fixture(scope="module")
def pid_means() -> dict[str, float]:
    from pacegym.baselines.factory import build_controller

    return metric_means(build_controller("pid", **PARAMS), SCENARIO, 8, 0)


def _leaderboard(path: Path, metrics: dict[str, float], shift: float = 0.0) -> Path:
    """A leaderboard whose winner is the PID above; ``shift`` falsifies its score, so the
    export's metric check (the pacer re-run on the same seeds) fails."""
    rows = {k: {"mean": v + (shift if k == SCORE_KEY else 0.0)} for k, v in metrics.items()}
    winner = {"name": "pid_tuned", "kind": "pid", "run_id": None, "params": PARAMS}
    board = {"scenario": SCENARIO, "seed": 0, "episodes": 8, "winner": winner}
    board["rows"] = [{"name": "pid_tuned", "kind": "pid", "metrics": rows}]
    path.write_text(json.dumps(board))
    return path


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_failed_check_publishes_nothing_and_creates_no_folder(tmp_path, pid_means):
    bad = _leaderboard(tmp_path / "bad.json", pid_means, shift=0.5)
    before = sorted(os.listdir(tmp_path))
    out = tmp_path / "new" / "deeper" / "art"
    cfg = export_cfg([f"source.leaderboard={bad}", f"out_dir={out}"])
    with pytest.raises(ExportChecksFailed, match=r"metric parity: max \|diff\| 0\.5") as err:
        run_export(cfg)
    assert f"nothing published at '{out}'" in str(err.value)
    assert sorted(os.listdir(tmp_path)) == before  # no artifact, no parents, no temp folder


def test_a_failed_check_keeps_the_previous_artifact(tmp_path, pid_means):
    good = _leaderboard(tmp_path / "good.json", pid_means)
    bad = _leaderboard(tmp_path / "bad.json", pid_means, shift=0.5)
    out = tmp_path / "art"
    common = [f"out_dir={out}", "overwrite=true"]
    report = run_export(export_cfg([f"source.leaderboard={good}", *common]))
    assert report["checks"] == {"passed": True, "failures": []}
    assert json.loads((out / "verification.json").read_text())["checks"]["passed"] is True
    published = _tree(out)
    with pytest.raises(ExportChecksFailed):
        run_export(export_cfg([f"source.leaderboard={bad}", *common]))
    assert _tree(out) == published
    assert sorted(os.listdir(tmp_path)) == ["art", "bad.json", "good.json"]


@pytest.mark.slow
def test_the_cli_ends_in_one_line_registers_nothing_and_fails_its_run(tmp_path, pid_means):
    import mlflow

    bad = _leaderboard(tmp_path / "bad.json", pid_means, shift=0.5)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = tmp_path / "art"
    args = [f"source.leaderboard={bad}", f"out_dir={out}", f"hydra.run.dir={tmp_path}/h"]
    args += ["register.enabled=true", "register.name=never", f"tracking.uri={uri}"]
    r = run_export_cli(args, tmp_path, MLFLOW_DISABLE_TELEMETRY="true")
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("pacegym-export: export checks FAILED: metric parity")
    assert "Traceback" not in r.stderr and not out.exists()
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("pacegym").experiment_id])
    assert run.info.status == "FAILED"
    rejected = {a.path for a in client.list_artifacts(run.info.run_id, "rejected_pacer")}
    assert {"rejected_pacer/manifest.json", "rejected_pacer/verification.json"} <= rejected
    assert client.list_artifacts(run.info.run_id, "pacer") == []
    assert client.search_registered_models() == []


def test_the_pipeline_ends_on_a_failed_export_in_one_line(monkeypatch, capsys):
    from pacegym.experiments import pipeline

    def failing(cfg):
        raise ExportChecksFailed(Path("run/pacer"), ["action parity: max error 1 > 1e-05"])

    monkeypatch.setattr(pipeline, "pipeline", failing)
    with pytest.raises(SystemExit) as done:
        pipeline._main(None)  # the function pacegym-pipeline's Hydra app runs
    assert done.value.code == 1
    assert capsys.readouterr().err == (
        "pacegym-pipeline: export checks FAILED: action parity: max error 1 > 1e-05;"
        " nothing published at 'run/pacer'\n"
    )


def test_exit_on_failed_checks_passes_other_results_and_errors_through():
    assert exit_on_failed_checks("p", lambda x: x + 1, 1) == 2
    with pytest.raises(ValueError, match="x = 1"):
        exit_on_failed_checks("p", lambda: (_ for _ in ()).throw(ValueError("x = 1")))
