"""Per-minute traces: rows start Monday 00:00, time.start_day moves into them, long traces replay."""

import numpy as np
import pytest

from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore
from pacegym.envs.scenarios import resolve
from pacegym.envs.traffic import profile_minute

from .traces import replayed

DAY_RATES = (10.0, 100.0, 1000.0)  # [requests/min] on trace days 0, 1, 2


@pytest.fixture
def three_day_trace(tmp_path):
    req = np.repeat(DAY_RATES, 1440)
    path = tmp_path / "three_days.csv"
    path.write_text("requests\n" + "\n".join(f"{r:g}" for r in req) + "\n")
    return str(path)


def _requests_per_day(trace: str, start_day: int, days: int) -> np.ndarray:
    sc = resolve(
        {
            "base": "daily_budget",
            "traffic": replayed(trace),
            "time": {"start_day": start_day, "start_minute": 0.0, "flight_min": days * 1440.0},
            "money": {"budget": 1e12},
        }
    )
    core = PacingCore(sc, 1)
    core.reset(np.zeros(1, np.int64), np.zeros(1, np.uint64))
    ticks_per_day = round(1440 * 60 / sc.time.tick_s)
    out, last = [], 0
    for _ in range(days):
        for _ in range(ticks_per_day):
            core.step(np.ones(1))
        out.append(core.ist[0, K.I_REQUESTS] - last)
        last = core.ist[0, K.I_REQUESTS]
    return np.array(out, dtype=float)


@pytest.mark.parametrize("start_day", [0, 1, 2, 3])
def test_start_day_selects_the_trace_day(three_day_trace, start_day):
    (got,) = _requests_per_day(three_day_trace, start_day, 1)
    # base rate x profile (trace / its mean): day d's share of the mean, Poisson noise only
    expected = DAY_RATES[start_day % 3] / np.mean(DAY_RATES)
    mean_day = _requests_per_day(three_day_trace, 0, 3).mean()
    assert got / mean_day == pytest.approx(expected, rel=0.05)


def test_a_multi_day_flight_replays_every_trace_day_in_order(three_day_trace):
    per_day = _requests_per_day(three_day_trace, 1, 3)  # days 1, 2, then 0 (wrapped)
    assert per_day[1] / per_day[0] == pytest.approx(10.0, rel=0.05)
    assert per_day[0] / per_day[2] == pytest.approx(10.0, rel=0.05)


def test_a_one_day_profile_is_the_same_on_every_start_day():
    idx = [profile_minute(d, 1234.5, 1440) for d in range(7)]
    assert idx == [1234] * 7
    assert profile_minute(2, 10.0, 3 * 1440) == 2 * 1440 + 10
    assert profile_minute(3, 10.0, 3 * 1440) == 10  # wraps after the trace's last day


def test_a_trace_read_again_unchanged_is_not_parsed_again(tmp_path, monkeypatch):
    """``read_trace`` keeps parsed files: the same counts without a second parse, an array of
    its own each call, and a file changed on disk read again."""
    import os

    from pacegym.envs import traffic

    path = tmp_path / "t.csv"
    path.write_text("requests\n1\n2\n3\n")
    parses = []
    real = traffic._read_counts
    monkeypatch.setattr(traffic, "_read_counts", lambda p, s: parses.append(s) or real(p, s))
    a = traffic.read_trace(path)
    a[0] = 99.0  # the caller's own array: the cached counts are untouched
    b = traffic.read_trace(str(path))
    assert b.tolist() == [1.0, 2.0, 3.0] and len(parses) == 1
    path.write_text("requests\n4\n5\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert traffic.read_trace(path).tolist() == [4.0, 5.0] and len(parses) == 2
    path.write_text("requests\nx\n")  # a bad file is refused every time, never cached
    with pytest.raises(traffic.ScenarioError, match="line 2: requests is missing"):
        traffic.read_trace(path)
