"""Every output folder is its run's own and never a protected folder (``pacegym.outdir``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pacegym import outdir
from pacegym.experiments import evaluate, simulate_logs
from pacegym.outdir import MARKER, OutputDirError

TINY_EVAL = ["controller=pid", "episodes=2", "plots=false", "oracle=false", "tracking=off"]


@pytest.mark.parametrize("where", ["/", "~", "package", "package/conf/scenario"])
def test_the_root_the_home_folder_and_the_package_are_protected(where, tmp_path):
    pkg = outdir.package_dirs()[0]
    path = {"package": str(pkg), "package/conf/scenario": str(pkg / "x")}.get(where, where)
    with pytest.raises(OutputDirError, match=rf"^--out = {path!r}: refusing to write there"):
        outdir.claim("--out", path, True, "test")
    assert outdir.protected(tmp_path / "mine") is None


def test_the_working_directory_is_protected_only_for_a_folder_replaced_whole(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert outdir.protected(".") is None
    assert "working directory" in outdir.protected(".", whole=True)
    assert "working directory" in outdir.protected("..", whole=True)


def test_one_run_per_folder_and_an_earlier_run_replaced_whole_only_with_overwrite(tmp_path):
    run = tmp_path / "run"
    first = outdir.claim("--out", run, False, "first")
    (run / "a.png").write_text("1")
    with pytest.raises(OutputDirError, match="has not finished"):  # a second run, at once
        outdir.claim("--out", run, True, "second")
    outdir.finish(first)
    assert json.loads((run / MARKER).read_text())["files"] == ["a.png"]
    with pytest.raises(OutputDirError, match=r"earlier run .*pass --overwrite"):
        outdir.claim("--out", run, False, "second")
    second = outdir.claim("--out", run, True, "second")
    assert sorted(p.name for p in run.iterdir()) == [MARKER]  # no stale file of the first
    (run / "b.png").write_text("2")
    outdir.abandon(second)  # refused: the first run is put back as it was
    assert sorted(p.name for p in run.iterdir()) == [MARKER, "a.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    (run / "mine.txt").write_text("the user's")
    with pytest.raises(OutputDirError, match=r"did not write \(\['mine.txt'\]\)"):
        outdir.claim("--out", run, True, "third")


def test_a_refused_run_removes_the_folders_it_made_and_keeps_an_empty_one(tmp_path):
    with (
        pytest.raises(ValueError, match=r"^x = 1"),
        outdir.owned("--out", tmp_path / "a" / "b", False, "t"),
    ):
        raise ValueError("x = 1: allowed 2")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "e").mkdir()
    with pytest.raises(SystemExit), outdir.owned("--out", tmp_path / "e", False, "test"):
        (tmp_path / "e" / "half.csv").write_text("")
        raise SystemExit(2)
    assert [p.name for p in tmp_path.iterdir()] == ["e"] and not any((tmp_path / "e").iterdir())


def test_simulate_logs_never_replaces_a_file_it_did_not_write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--days", "1", "--campaigns", "1", "--form", "minutes", "--out", "lg"]
    simulate_logs.main(args)
    csv = tmp_path / "lg" / "daily_budget_minutes.csv"
    before = csv.read_bytes()
    with pytest.raises(OutputDirError, match=r"^--out = 'lg' holds the results of an earlier"):
        simulate_logs.main([*args, "--seed", "1"])
    assert csv.read_bytes() == before
    simulate_logs.main([*args, "--seed", "1", "--overwrite"])
    assert csv.read_bytes() != before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "daily_budget_minutes.csv").write_text("mine")
    with pytest.raises(OutputDirError, match="no pacegym run wrote"):
        simulate_logs.main([*args[:-1], "other", "--overwrite"])
    assert (tmp_path / "other" / "daily_budget_minutes.csv").read_text() == "mine"


def _evaluate(argv: list[str], monkeypatch) -> int:
    monkeypatch.setattr(sys, "argv", ["pacegym-evaluate", *argv])
    try:
        evaluate.main()
    except SystemExit as e:
        return int(e.code)
    return 0


def test_a_hydra_app_refuses_another_runs_folder_and_replaces_it_whole(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    run = [*TINY_EVAL, "hydra.run.dir=r"]
    assert _evaluate(run, monkeypatch) == 0
    metrics = (tmp_path / "r" / "metrics.json").read_text()
    (tmp_path / "r" / "metrics.json").write_text(metrics)  # same bytes, a later time
    capsys.readouterr()
    assert _evaluate([*run, "episodes=3"], monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pacegym-evaluate: error: hydra.run.dir = 'r' holds the results")
    assert "overwrite=true" in err and len(err.splitlines()) == 1
    assert (tmp_path / "r" / "metrics.json").read_text() == metrics
    assert _evaluate([*run, "episodes=3", "overwrite=true"], monkeypatch) == 0
    owner = json.loads((tmp_path / "r" / MARKER).read_text())
    assert owner["finished"] and "metrics.json" in owner["files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # the earlier run dropped
    assert _evaluate(["hydra.run.dir=/", *TINY_EVAL], monkeypatch) == 2
    assert "hydra.run.dir = '/': refusing" in capsys.readouterr().err
    assert Path(tmp_path / "r").is_dir()
