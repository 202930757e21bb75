"""pacegym-calibrate fits traffic.departures: a trace scenario's twin (--twin), and from a log
(--departures)."""

import numpy as np
import pytest
import yaml

from pacegym.envs.calibration import CalibrationError, load_yaml
from pacegym.envs.core import PacingCore
from pacegym.experiments import calibrate, simulate_logs


@pytest.mark.slow  # end to end: the app fits a twin of a trace (~5 s)
def test_twin_writes_a_scenario_with_departures_that_runs(tmp_path, capsys):
    conf = tmp_path / "conf"
    calibrate.main(["--twin", "traces/amzn_daily", "--name", "a", "--conf-dir", str(conf)])
    out = capsys.readouterr().out
    assert "| trace |" in out and "| twin |" in out
    raw = yaml.safe_load((conf / "calibrated_a.yaml").read_text())
    assert raw["traffic"]["trace_csv"] == "calibrated_a_trace.csv"  # beside the YAML
    sc = load_yaml(conf / "calibrated_a.yaml")
    assert sc.name == "calibrated_a" and sc.traffic.departures.on
    assert sc.traffic.departures.slow_sd > 0 and sc.forecast.kind == "perturbed"
    core = PacingCore(sc, 2)
    core.reset(np.arange(2), np.arange(2, dtype=np.uint64))
    core.step(np.ones(2))


def test_twin_needs_a_trace_scenario_and_excludes_a_log(tmp_path):
    with pytest.raises(CalibrationError, match="--twin = 'daily_budget'"):
        calibrate.main(["--twin", "daily_budget", "--conf-dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        calibrate.main(["log.csv", "--twin", "traces/amzn_daily"])
    with pytest.raises(SystemExit):
        calibrate.main([])


def test_departures_from_a_log(tmp_path):
    logs = tmp_path / "logs"
    args = ["--scenario", "suite/realistic_daily", "--days", "6", "--campaigns", "2"]
    simulate_logs.main([*args, "--form", "minutes", "--seed", "4", "--out", str(logs)])
    log = logs / "realistic_daily_minutes.csv"
    conf = tmp_path / "conf"
    args = [str(log), "--name", "r", "--departures", "--no-plots", "--conf-dir", str(conf)]
    calibrate.main([*args, "--report-dir", str(tmp_path / "rep")])
    dep = load_yaml(conf / "calibrated_r.yaml").traffic.departures
    assert dep.on and 0.05 < dep.slow_sd + dep.hour_sd < 0.6
