"""Absurd logs never become scenarios; gaps are not zero traffic; --name cannot escape.

Counts beyond any scenario's reach are refused by the log reader (naming column and
row); fitted values go through the scenario validation (naming the scenario key);
missing minutes are skipped and reported; ``pacegym-calibrate --name`` is a plain
identifier that writes nothing before every check passed.
"""

import numpy as np
import pyarrow as pa
import pytest

from pacegym.envs.calibration import (
    CalibrationError,
    LogError,
    calibrate,
    gaps,
    load_yaml,
    parse_events,
    parse_minutes,
    write_scenario,
)
from pacegym.experiments import calibrate as cli

T0 = np.datetime64("2024-01-01T00:00", "m")  # a Monday
RATE = 60.0  # [requests/min]


def minute_log(days: int = 2, seed: int = 0, drop: slice | None = None, **over) -> pa.Table:
    """Per-minute aggregates of a flat Poisson campaign; impressions 2 min after serves."""
    r = np.random.default_rng(seed)
    m = days * 1440
    req = r.poisson(RATE, m).astype(float)
    srv = np.floor(req / 2)
    imp = np.r_[0.0, 0.0, srv[:-2]]
    cols = {
        "timestamp": pa.array((T0 + np.arange(m)).astype("datetime64[ms]")),
        "requests": req,
        "serves": srv,
        "impressions": imp,
        "cost": imp * 10.0,
    }
    for k, v in over.items():
        cols[k] = v(cols[k]) if callable(v) else v
    table = pa.table(cols)
    if drop is not None:
        keep = np.ones(m, dtype=bool)
        keep[drop] = False
        table = table.filter(pa.array(keep))
    return table


def with_row(value: float, row: int = 100):
    def put(x: np.ndarray) -> np.ndarray:
        x = x.copy()
        x[row] = value
        return x

    return put


@pytest.mark.parametrize("column", ["requests", "serves", "impressions"])
@pytest.mark.parametrize("value", [1e18, 1e300, 6.1e12])
def test_counts_beyond_any_scenario_are_refused_naming_column_and_row(column, value):
    with pytest.raises(LogError, match=rf"column '{column}', row 101: .* is too large"):
        parse_minutes(minute_log(**{column: with_row(value)}))


@pytest.mark.parametrize("cost", [1e300, 1.7e308])
def test_absurd_costs_fit_no_scenario(cost):
    counts = parse_minutes(minute_log(cost=with_row(cost)))
    with pytest.raises(CalibrationError, match=r"fitted money\.price = .* allowed \(0, 1e\+06\]"):
        calibrate(counts, max_lag_min=10)


def test_costs_summing_past_float_range_fit_no_scenario():
    counts = parse_minutes(minute_log(cost=lambda c: np.where(c > 0, 1e308, 0.0)))
    assert counts.cost == np.inf
    with pytest.raises(CalibrationError, match=r"money\.price = inf"):
        calibrate(counts, max_lag_min=10)


def test_a_normal_log_fits_and_its_scenario_is_valid():
    cal = calibrate(parse_minutes(minute_log()), max_lag_min=10)
    assert cal.gaps == ()
    assert cal.scenario.money.price == pytest.approx(10.0, rel=0.01)
    assert cal.scenario.traffic.base_rate == pytest.approx(RATE / 60.0, rel=0.03)


def test_missing_minutes_are_a_reported_gap_not_zero_traffic():
    gap = slice(1500, 2100)  # 10 h missing on day 2
    counts = parse_minutes(minute_log(days=3, drop=gap))
    assert gaps(counts) == [("0", int((T0 + 1500).astype(int)), 600)]
    assert not counts.valid[0, gap].any() and counts.valid[0, :1500].all()
    cal = calibrate(counts, max_lag_min=10)
    assert cal.gaps == tuple(gaps(counts))
    # read as zeros, 600 of 4320 minutes would pull the base rate down by 14%
    assert cal.scenario.traffic.base_rate == pytest.approx(RATE / 60.0, rel=0.03)


def test_a_silent_stretch_of_an_event_log_is_a_gap():
    minutes = np.r_[np.arange(0, 60), np.arange(90, 150)]  # 30 min without any event
    t = np.repeat((T0 + minutes).astype("datetime64[ms]"), 10)  # 10 requests a minute
    n = t.size
    table = pa.table(
        {
            "campaign_id": ["a"] * (n + 2),
            "event": ["request"] * n + ["serve", "impression"],
            "timestamp": pa.array(np.r_[t, t[:2]]),
        }
    )
    from pacegym.envs.calibration import event_minutes

    counts = event_minutes(parse_events(table))
    assert gaps(counts) == [("a", int((T0 + 60).astype(int)), 30)]
    # a quiet stretch too short for the campaign's rate to fill is traffic, not a gap
    short = pa.table(
        {
            "campaign_id": ["a"] * (n + 2),
            "event": ["request"] * n + ["serve", "impression"],
            "timestamp": pa.array(
                np.r_[np.repeat((T0 + np.r_[0:60, 70:130]).astype("datetime64[ms]"), 10), t[:2]]
            ),
        }
    )
    assert gaps(event_minutes(parse_events(short))) == []


def test_write_scenario_writes_the_pair_whole(tmp_path):
    cal = calibrate(parse_minutes(minute_log()), max_lag_min=10, trace_csv=str(tmp_path / "t.csv"))
    write_scenario(cal, tmp_path / "s.yaml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "t.csv"]  # no temp files
    assert load_yaml(tmp_path / "s.yaml").traffic.base_rate == cal.scenario.traffic.base_rate


@pytest.mark.parametrize(
    "name", ["../escape", "a/b", "/abs", "x.yaml", "", ".hidden", "a b", "é", "x" * 65, "-x"]
)
def test_name_is_a_plain_identifier_and_nothing_is_written(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "log.csv"
    log.write_text("not even read")
    with pytest.raises(LogError, match=r"--name = .* is not a plain name"):
        cli.main([str(log), f"--name={name}"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_a_shipped_name_or_an_existing_file_needs_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "log.csv"
    log.write_text("not even read")
    with pytest.raises(LogError, match=r"'calibrated_daily_budget', a scenario pacegym ships"):
        cli.main([str(log), "--name", "daily_budget"])
    conf = tmp_path / "conf" / "scenario"
    conf.mkdir(parents=True)
    mine = conf / "calibrated_mine.yaml"
    mine.write_text("name: calibrated_mine\n")
    with pytest.raises(LogError, match=r"calibrated_mine\.yaml' exists; .* --overwrite"):
        cli.main([str(log), "--name", "mine"])
    assert mine.read_text() == "name: calibrated_mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf", "log.csv"]  # no report dir
    # with --overwrite the checks pass and the (unreadable) log is what stops it
    with pytest.raises(LogError, match=r"log\.csv"):
        cli.main([str(log), "--name", "mine", "--overwrite"])
    assert mine.read_text() == "name: calibrated_mine\n"
