"""pacegym-simulate-logs -> pacegym-calibrate end to end, and calibrated scenarios in Hydra."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir

from pacegym.envs.calibration import LogError, load_yaml
from pacegym.envs.core import PacingCore
from pacegym.envs.scenarios import resolve
from pacegym.experiments import calibrate, simulate_logs
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.hydra_app import scenario_dict

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_simulate_logs_then_calibrate(tmp_path, capsys):
    logs = tmp_path / "logs"
    simulate_logs.main(
        [
            "--days",
            "2",
            "--campaigns",
            "1",
            "--seed",
            "3",
            "--format",
            "parquet",
            "--out",
            str(logs),
        ]
    )
    events, minutes = logs / "daily_budget_events.parquet", logs / "daily_budget_minutes.parquet"
    assert events.is_file() and minutes.is_file()
    for log, method in ((events, "joined"), (minutes, "deconvolved")):
        conf, rep = tmp_path / f"conf_{method}", tmp_path / f"report_{method}"
        calibrate.main([str(log), "--name", "t", "--conf-dir", str(conf), "--report-dir", str(rep)])
        fit = json.loads((rep / "fit.json").read_text())
        assert fit["goodness"]["delay_method"] == method
        assert (rep / "traffic.png").stat().st_size > 0 and (rep / "delay.png").is_file()
        assert "Inventory forecast" in (rep / "report.md").read_text()
        sc = load_yaml(conf / "calibrated_t.yaml")
        assert sc.name == "calibrated_t" and sc.traffic.profile == "trace"
        assert Path(sc.traffic.trace_csv).is_absolute()  # outside the repo: absolute path
        core = PacingCore(sc, 1)
        core.reset(np.zeros(1, np.int64), np.zeros(1, np.uint64))
        core.step(np.ones(1))
    assert "calibrated_t.yaml" in capsys.readouterr().out


def test_a_bad_log_raises_the_log_error_naming_the_file(tmp_path):
    """The console reports it in one line with exit code 2 (tests/test_battery.py)."""
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,requests,serves,impressions\n2024-01-01 00:00,1,-2,0\n")
    report = tmp_path / "report"
    with pytest.raises(LogError, match=r"^LOG = '.*bad\.csv': .*column 'serves', row 1: -2\.0"):
        calibrate.main([str(path), "--conf-dir", str(tmp_path), "--report-dir", str(report)])
    assert not report.exists()  # the report folder is made only once the log is fitted


CALIBRATED = sorted(p.stem for p in (CONF_DIR / "scenario").glob("calibrated_*.yaml"))


@pytest.mark.parametrize("name", CALIBRATED)
def test_calibrated_scenarios_compose_and_run_from_any_directory(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # traffic.trace_csv is relative to the scenario file
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="compare", overrides=[f"scenario={name}"])
    sc = resolve(scenario_dict(cfg))
    assert sc == load_yaml(CONF_DIR / "scenario" / f"{name}.yaml") == resolve(name)
    assert Path(sc.traffic.trace_csv).is_absolute()
    assert yaml.safe_load((CONF_DIR / "scenario" / f"{name}.yaml").read_text())["name"] == name
    core = PacingCore(sc, 2)
    core.reset(np.arange(2), np.arange(2, dtype=np.uint64))
    core.step(np.ones(2))


@pytest.mark.slow
def test_a_calibrated_scenario_is_taken_by_name_from_its_directory(tmp_path, monkeypatch, capsys):
    """The docs' promise (docs/apps.md): after pacegym-calibrate, every command of that directory takes
    scenario=calibrated_<name> (the CLI, gym.make, the Hydra apps)."""
    import gymnasium as gym

    from pacegym.experiments import simulate

    monkeypatch.chdir(tmp_path)
    simulate_logs.main(["--days", "2", "--campaigns", "1", "--seed", "5", "--out", "logs"])
    calibrate.main(["logs/daily_budget_minutes.csv", "--name", "mine", "--no-plots"])
    written = tmp_path / "conf" / "scenario" / "calibrated_mine.yaml"
    assert written.is_file() and (written.parent / "calibrated_mine_trace.csv").is_file()
    capsys.readouterr()
    simulate.main(["--scenario", "calibrated_mine", "--episodes", "2"])
    assert capsys.readouterr().out.startswith("calibrated_mine, fixed throttle")
    env = gym.make("pacegym/DailyBudget-v0", scenario="calibrated_mine")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert env.unwrapped.scenario == load_yaml(written)
    from pacegym.experiments.evaluate_config import register

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=["scenario=calibrated_mine"])
    assert resolve(scenario_dict(cfg)) == load_yaml(written)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["2024-01-01 00:00,10,5,3", "2024-01-01 00:00,10,5,3"],
            r"row 2: campaign '0' at 2024-01-01T00:00 again \(first at row 1\)",
        ),
        (["2024-01-01 00:00,10,5,3", "2024-01-01 00:01,10,5,9"], r"column 'impressions', row 2"),
        (["2024-01-01 00:00,10,12,3"], r"column 'serves', row 1: 12 > requests = 10"),
    ],
)
def test_a_per_minute_log_that_no_ad_server_writes_is_refused_naming_the_row(
    rows, message, tmp_path
):
    log = tmp_path / "m.csv"
    log.write_text("timestamp,requests,serves,impressions\n" + "\n".join(rows) + "\n")
    with pytest.raises(LogError, match=rf"^LOG = '.*m\.csv': {message}"):
        calibrate.main(
            [str(log), "--conf-dir", str(tmp_path / "c"), "--report-dir", str(tmp_path / "r")]
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_value_scenario_logs_calibrate_the_value_section(tmp_path, capsys):
    """simulate-logs on value_channels writes channel rows and value events; calibrate finds
    the events beside the minute log and fits the value section (issue 22)."""
    logs = tmp_path / "logs"
    sim = ["--scenario", "value_channels", "--days", "2", "--campaigns", "4", "--seed", "3"]
    simulate_logs.main([*sim, "--form", "minutes", "--format", "parquet", "--out", str(logs)])
    minutes = logs / "value_channels_minutes.parquet"
    assert (logs / "value_channels_value_events.parquet").is_file()
    conf, rep = tmp_path / "conf", tmp_path / "report"
    args = ["--base", "value_channels", "--name", "v", "--no-plots"]
    calibrate.main([str(minutes), *args, "--conf-dir", str(conf), "--report-dir", str(rep)])
    sc, true = load_yaml(conf / "calibrated_v.yaml"), resolve("value_channels")
    assert [c.name for c in sc.value.channels] == ["search", "display", "social"]
    assert abs(sc.value.conversion_quantile_s / true.value.conversion_quantile_s - 1) < 0.3
    core = PacingCore(sc, 2)  # the calibrated value scenario runs
    core.reset(np.arange(2), np.zeros(2, np.uint64))
    core.step(np.ones((2, len(core.segments))))
    fitted = json.loads((rep / "fit.json").read_text())["fitted"]
    assert fitted["value_channels"] == ["search", "display", "social"]
    assert "conversion_sigma" in capsys.readouterr().out
