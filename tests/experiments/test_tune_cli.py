"""``pacegym-tune``: writes its run folder, promotes only what is better on held-out seeds."""

from __future__ import annotations

import json

import pytest
import yaml

from pacegym.experiments import tune as app
from pacegym.resources import tuned_config, tuned_config_name

SMALL = ["--kinds", "on_off", "--trials", "2", "--train-episodes", "8", "--test-episodes", "16"]


def test_not_better_is_not_promoted_and_force_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    promote = tmp_path / "conf" / "controller"
    # a curated incumbent that the search cannot beat with 2 trials: the tuned set itself
    app.main(["--scenario", "daily_budget", *SMALL, "--out", "run1", "--force"])
    target = promote / "daily_budget" / "on_off_tuned.yaml"
    assert target.is_file() and tuned_config("on_off", "daily_budget") == target.resolve()
    before = target.read_text()
    assert "# Tuned by: pacegym-tune --scenario daily_budget" in before
    app.main(["--scenario", "daily_budget", *SMALL, "--out", "run2", "--seed", "1"])
    report = json.loads((tmp_path / "run2" / "report.json").read_text())
    entry = report["kinds"]["on_off"]
    assert entry["incumbent"] == str(target.resolve())
    if entry["difference"][1] <= 0.0:  # not significantly better: the curated file stays
        assert entry["promoted"] is None and target.read_text() == before
    assert yaml.safe_load((tmp_path / "run2" / "on_off_tuned.yaml").read_text())["kind"] == "on_off"


def test_live_commerce_set_is_top_level_and_others_per_scenario():
    assert tuned_config_name("pid", "live_commerce") == "pid_tuned"
    assert tuned_config_name("pid", "daily_budget") == "daily_budget/pid_tuned"


def test_bad_arguments_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in (["--trials", "0"], ["--scenario", "nope"]):
        with pytest.raises(SystemExit) as e:
            app.main(argv)
        assert e.value.code == 2
    assert "--trials = 0: allowed [1, inf)" in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists()


def test_compare_picks_the_scenarios_own_tuned_set():
    from pacegym.experiments.compare import find_baselines

    daily = find_baselines(["*_tuned"], "daily_budget")
    assert {p.parent.name for p in daily} == {"daily_budget"} and len(daily) == 4
    live = find_baselines(["*_tuned"], "live_commerce")
    assert {p.parent.name for p in live} == {"controller"} and len(live) == 4
    # a scenario without its own set (nor a suite's stand-in) is refused, never given the
    # set tuned for another scenario; naming one's set is explicit
    with pytest.raises(ValueError, match=r"^compare.baselines entry = 'pid_tuned': no pid_tuned"):
        find_baselines(["pid_tuned"], "calibrated_daily_budget")
    assert find_baselines(["live_commerce/pid_tuned"], "calibrated_daily_budget") == [
        p for p in live if p.stem == "pid_tuned"
    ]


def test_one_set_for_several_scenarios_with_a_pinned_parameter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["--scenario", "live_commerce", "suite/small_budget", "--name", "both"]
    app.main([*argv, *SMALL, "--fix", "plan=observed", "--out", "run", "--force"])
    target = tmp_path / "conf" / "controller" / "both" / "on_off_tuned.yaml"
    data = yaml.safe_load(target.read_text())
    assert data["params"]["plan"] == "observed"
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["scenarios"] == ["live_commerce", "small_budget"]
    assert report["fix"] == {"plan": "observed"}
    assert "on scenario live_commerce, small_budget" in target.read_text()


def test_several_scenarios_share_the_episodes_evenly():
    from pacegym.baselines.tune import rollout

    both = rollout("pid", {}, ["live_commerce", "daily_budget"], 6, 0)
    alone = rollout("pid", {}, "daily_budget", 3, 0)
    assert len(both.metrics["pacing_score_v2"]) == 6
    assert list(both.metrics["pacing_score_v2"][3:]) == list(alone.metrics["pacing_score_v2"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenario", "live_commerce", "daily_budget"], "--name = None: 2 scenarios need a name"),
        (["--name", "../x"], "--name = '../x': allowed a plain identifier"),
        (["--fix", "plan"], "--fix = 'plan': allowed KEY=VALUE"),
        (["--fix", "plan=nowhere"], "--fix = 'plan=nowhere' for on_off"),
        (["--fix", "colour=red"], "--fix = 'colour=red' for on_off"),
    ],
)
def test_bad_scenario_sets_and_fixes_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        app.main([*argv, *SMALL])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "conf").exists()


def test_the_normalised_objective_weighs_each_scenario_in_its_own_points(tmp_path, monkeypatch):
    import numpy as np

    from pacegym.baselines.tune import rollout
    from pacegym.baselines.weighting import normalised, reference_scores
    from pacegym.envs.scenarios import resolve

    scs = ["suite/surge_storm", "daily_budget"]
    ref = reference_scores([resolve(s) for s in scs], 4, 0)
    roll = rollout("pid", {}, scs, 4, 0, ref)
    score = roll.metrics["pacing_score_v2"]
    np.testing.assert_allclose(
        roll.metrics["normalised"],
        np.concatenate([normalised(score[:2], ref[0]), normalised(score[2:], ref[1])]),
    )
    monkeypatch.chdir(tmp_path)
    argv = ["--scenario", *scs, "--name", "both", "--objective", "normalised"]
    app.main([*argv, *SMALL, "--out", "run", "--no-promote"])
    entry = json.loads((tmp_path / "run" / "report.json").read_text())["kinds"]["on_off"]
    assert entry["score_key"] == "normalised"
    params = entry["params"]
    test_ref = reference_scores([resolve(s) for s in scs], 16, 0)
    again = rollout("on_off", params, scs, 16, 0, test_ref)
    assert entry["test"]["normalised"] == pytest.approx(float(again.metrics["normalised"].mean()))
    assert (
        "held-out normalised (16 episodes" in (tmp_path / "run" / "on_off_tuned.yaml").read_text()
    )
    with pytest.raises(ValueError, match=r"objective = 'x': allowed \['score', 'normalised'\]"):
        app.tune("pid", scs, 1, 2, 100, 2, 0, objective="x")


def test_a_set_tuned_on_a_training_twin_is_the_one_its_test_scenario_runs(tmp_path, monkeypatch):
    from pacegym.envs.scenarios import resolve
    from pacegym.experiments.compare import find_baselines
    from pacegym.experiments.suites import stand_in

    monkeypatch.chdir(tmp_path)
    assert stand_in("taxi_daily") == "daily_budget" and stand_in("daily_budget") is None
    # a test scenario, its training twin (the same name) and a suite entry borrowing sets
    conf = tmp_path / "conf"
    (conf / "scenario" / "mine" / "train").mkdir(parents=True)
    (conf / "suite").mkdir()
    (conf / "scenario" / "mine" / "day.yaml").write_text(
        "base: daily_budget\nname: my_day\ntime: {flight_min: 120.0}\n"
    )
    (conf / "scenario" / "mine" / "train" / "day.yaml").write_text(
        "base: mine/day\nname: my_day\n"  # a twin says its test scenario's name
    )
    (conf / "suite" / "mine.yaml").write_text(
        "suite:\n  - {scenario: mine/day, baselines_from: daily_budget}\n"
    )
    name = resolve("mine/day").name
    assert resolve("mine/train/day").name == name and stand_in(name) == "daily_budget"
    small = ["--kinds", "on_off", "--trials", "1", "--train-episodes", "2", "--test-episodes", "2"]
    app.main(["--scenario", "mine/train/day", *small, "--out", "run", "--force"])
    entry = json.loads((tmp_path / "run" / "report.json").read_text())["kinds"]["on_off"]
    # the incumbent is the set the test scenario ran, not the live-commerce one
    assert entry["incumbent"] == str(tuned_config("on_off", "daily_budget"))
    target = (conf / "controller" / name / "on_off_tuned.yaml").resolve()
    assert entry["promoted"] is not None and target.is_file()
    assert "incumbent controller config daily_budget/on_off_tuned" in target.read_text()
    # kind by kind: its own on/off set, the stand-in's other sets
    found = {p.stem: p for p in find_baselines(["*_tuned"], name, stand_in=stand_in(name))}
    assert found["on_off_tuned"] == target
    assert found["pid_tuned"] == tuned_config("pid", "daily_budget")
    assert len(found) == 4


def test_start_from_enqueues_the_presets_set_as_the_first_trial(tmp_path, monkeypatch, capsys):
    """One trial: the search returns the --start-from set itself (never worse on training)."""
    monkeypatch.chdir(tmp_path)
    one = ["--kinds", "on_off", "--trials", "1", "--train-episodes", "8", "--test-episodes", "8"]
    app.main(
        [
            "--scenario",
            "suite/small_budget",
            "--start-from",
            "daily_budget",
            *one,
            "--out",
            "run",
            "--no-promote",
        ]
    )
    tuned = yaml.safe_load((tmp_path / "run" / "on_off_tuned.yaml").read_text())["params"]
    start = yaml.safe_load(tuned_config("on_off", "daily_budget").read_text())["params"]
    assert {k: tuned[k] for k in start} == start
    assert "on_off: first trial" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        app.main([*SMALL, "--start-from", "nowhere"])
    assert e.value.code == 2
    assert "--start-from: 'nowhere' has no tuned sets" in capsys.readouterr().err
