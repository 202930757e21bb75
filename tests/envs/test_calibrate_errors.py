"""Bad logs get a clear error naming the column, the row and the value; never a silent fit."""

import numpy as np
import pyarrow as pa
import pytest

from pacegym.envs.calibration import (
    LogError,
    calibrate,
    fit_joined,
    fit_traffic,
    parse_events,
    parse_minutes,
    read_log,
)


def events(**over):
    cols = {
        "campaign_id": ["a", "a", "a", "a"],
        "event": ["request", "serve", "impression", "request"],
        "timestamp": [
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:01",
            "2024-01-01T00:05:00",
            "2024-01-01T00:06:00",
        ],
        "cost": [0.0, 0.0, 10.0, 0.0],
        "serve_id": pa.array([None, 7, 7, None], pa.int64()),
    }
    cols.update(over)
    return pa.table({k: v for k, v in cols.items() if v is not None})


def minutes(**over):
    cols = {
        "timestamp": ["2024-01-01T00:00:00", "2024-01-01T00:01:00", "2024-01-01T00:02:00"],
        "requests": [10, 12, 9],
        "serves": [5, 6, 4],
        "impressions": [0, 3, 5],
    }
    cols.update(over)
    return pa.table(cols)


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(LogError, match=r"missing column\(s\) \['timestamp'\]"):
        parse_events(events(timestamp=None))
    with pytest.raises(LogError, match=r"missing column\(s\) \['serves'\]"):
        parse_minutes(pa.table({"timestamp": ["2024-01-01"], "requests": [1], "impressions": [0]}))
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(LogError, match=r"found columns \['a', 'b'\]"):
        read_log(path)


def test_unparseable_timestamp_names_the_row(tmp_path):
    ts = ["2024-01-01T00:00:00", "2024-01-01T00:00:01", "yesterday", "2024-01-01T00:06:00"]
    with pytest.raises(
        LogError, match=r"column 'timestamp', row 3: 'yesterday' is not a timestamp"
    ):
        parse_events(events(timestamp=ts))
    path = tmp_path / "log.csv"
    path.write_text(
        "timestamp,requests,serves,impressions\n2024-01-01 00:00,1,1,0\n2024-13-45,1,1,0\n"
    )
    with pytest.raises(LogError, match=r"row 2: '2024-13-45' is not a timestamp"):
        read_log(path)


def test_negative_counts_name_column_and_row():
    with pytest.raises(LogError, match=r"column 'serves', row 2: -6\.0 is missing, negative"):
        parse_minutes(minutes(serves=[5, -6, 4]))
    with pytest.raises(LogError, match=r"column 'cost', row 3: -10\.0"):
        parse_events(events(cost=[0.0, 0.0, -10.0, 0.0]))


def test_unknown_event_names_the_row():
    with pytest.raises(LogError, match=r"column 'event', row 2: 'click' is not an event"):
        parse_events(events(event=["request", "click", "impression", "request"]))


def test_impressions_without_serves():
    # an impression whose serve id is not in the log
    log = parse_events(events(serve_id=pa.array([None, 7, 8, None], pa.int64())))
    with pytest.raises(LogError, match=r"column 'serve_id', row 3: impression of serve id 8"):
        fit_joined(log)
    # an impression before any serve of its campaign (not joined)
    ev = events(
        serve_id=None,
        timestamp=[
            "2024-01-01T00:00:00",
            "2024-01-01T00:09:00",
            "2024-01-01T00:05:00",
            "2024-01-01T00:10:00",
        ],
    )
    with pytest.raises(LogError, match=r"row 3: impression of campaign 'a' .* before any serve"):
        calibrate(parse_events(ev))
    with pytest.raises(LogError, match=r"row 1: impressions = 2 .* before any serve"):
        parse_minutes(minutes(serves=[0, 6, 4], impressions=[2, 3, 5]))


def test_impression_before_its_serve():
    ev = events(
        timestamp=[
            "2024-01-01T00:00:00",
            "2024-01-01T00:04:00",
            "2024-01-01T00:03:00",
            "2024-01-01T00:06:00",
        ]
    )
    with pytest.raises(LogError, match=r"row 3: impression counted 60\.000 s before its serve"):
        fit_joined(parse_events(ev))


def test_too_little_history_for_the_traffic_fit():
    with pytest.raises(LogError, match=r"needs every minute of the day covered"):
        fit_traffic(parse_minutes(minutes()))


def test_epoch_seconds_and_missing_values():
    log = parse_minutes(minutes(timestamp=[1704067200, 1704067260, 1704067320]))
    assert log.start_minute == 1704067200 // 60
    with pytest.raises(LogError, match=r"column 'requests', row 2: nan is missing"):
        parse_minutes(minutes(requests=pa.array([10, None, 9], pa.int64())))
    assert np.all(log.valid)
