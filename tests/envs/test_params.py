"""Bad input gets an error naming the key, the value and the allowed range."""

import numpy as np
import pytest

from pacegym.envs import ScenarioError, resolve
from pacegym.envs.core import PacingCore
from pacegym.envs.pacing_env import PacingEnv


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"money": {"budget": -5.0}}, r"money\.budget = -5\.0 is out of range: allowed \(0, "),
        ({"money": {"budget": [100.0, -1.0]}}, r"money\.budget = -1\.0 is out of range"),
        ({"time": {"tick_s": 120.0}}, r"time\.tick_s = 120\.0 is longer than a plan slot"),
        ({"time": {"tick_s": 25.0}}, r"time\.slot_s = 60\.0 must be a whole multiple"),
        (
            {"serving": {"fill_rate": 1.5}},
            r"serving\.fill_rate = 1\.5 is out of range: allowed \[0, 1\]",
        ),
        (
            {"delay": {"render_prob": -0.1}},
            r"delay\.render_prob = -0\.1 is out of range: allowed \[0, 1\]",
        ),
        (
            {"delay": {"sampler": "bins"}},
            r"delay\.sampler = 'bins': allowed 'impression', 'binned'$",
        ),
        (
            {"delay": {"max_delay_s": 600.0}},
            r"delay\.max_delay_s = 600\.0 is below the typical delay",
        ),
        (
            {"delay": {"max_delay_s": [600.0, 7200.0]}},
            r"delay\.max_delay_s = \[600\.0, 7200\.0\] is a range, but .* not randomisable: allowed a single number in \(0, 604800\] \[s\]",
        ),
        ({"traffic": {"surge_probs": [0.5, 0.2]}}, r"traffic\.surge_probs .* sums to 0\.7"),
        ({"traffic": {"base_rate": float("nan")}}, r"traffic\.base_rate = nan is out of range"),
        ({"traffic": {"bogus": 1}}, r"scenario\.traffic\.bogus is not a parameter: allowed \["),
        ({"bogus": {}}, r"scenario\.bogus is not a scenario section"),
        ({"money": {"budget": [5.0, 1.0]}}, r"money\.budget = \[5\.0, 1\.0\] is an empty range"),
    ],
)
def test_invalid_scenarios_name_key_value_and_range(overrides, pattern):
    with pytest.raises(ScenarioError, match=pattern):
        resolve({"base": "live_commerce", **overrides})


def test_unknown_preset():
    with pytest.raises(
        ScenarioError,
        match=r"scenario = 'nope': not a preset, a scenario file name or a path .*'live_commerce'",
    ):
        PacingEnv("nope")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("minute,count\n0,5\n", r"missing column 'requests'"),
        ("requests\n5\n\n", None),
        ("requests\n5\n-3\n", r"line 3: requests = -3 is out of range"),
        ("requests\n5\nabc\n", r"line 3: requests is missing or not a number"),
        ("requests\n5\n,\n", None),
    ],
)
def test_trace_csv_errors_name_the_row(tmp_path, content, pattern):
    path = tmp_path / "trace.csv"
    path.write_text(content)
    scenario = {"base": "daily_budget", "traffic": {"profile": "trace", "trace_csv": str(path)}}
    if pattern is None:
        if content.endswith(",\n"):
            with pytest.raises(ScenarioError, match="missing or not a number"):
                PacingCore(scenario, 1)
        else:
            PacingCore(scenario, 1)  # blank lines are skipped by the CSV reader
        return
    with pytest.raises(ScenarioError, match=pattern):
        PacingCore(scenario, 1)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"SECRET=hunter2\nX=1\n", r"missing column 'requests' \(its header has 1 other column\)$"),
        (b"requests\nhunter2\n", r"line 2: requests is missing or not a number"),
        (b"requests\n\xff\xfe5\n", r"not UTF-8 text \(byte \d+\)"),
    ],
)
def test_trace_csv_errors_never_quote_the_file(tmp_path, content, pattern):
    """A trace path may point at any file (a system file, the process environment): the
    error names the key, the path and what is wrong, never the file's content."""
    path = tmp_path / "trace.csv"
    path.write_bytes(content)
    scenario = {"base": "daily_budget", "traffic": {"profile": "trace", "trace_csv": str(path)}}
    with pytest.raises(ScenarioError, match=pattern) as err:
        PacingCore(scenario, 1)
    assert "hunter2" not in str(err.value) and "SECRET" not in str(err.value)
    assert "\n" not in str(err.value)


def test_trace_replay_sets_the_traffic_shape(tmp_path):
    path = tmp_path / "trace.csv"
    counts = np.where(np.arange(1440) < 720, 1.0, 3.0)  # afternoon has 3x the traffic
    path.write_text("requests\n" + "\n".join(str(c) for c in counts) + "\n")
    scenario = {
        "base": "daily_budget",
        "traffic": {
            "profile": "trace",
            "trace_csv": str(path),
            "noise_sd": 0.0,
            "surge_rate_per_h": 0.0,
            "base_rate": 5.0,
        },
    }
    core = PacingCore(scenario, 4)
    core.reset(np.arange(4), np.arange(4, dtype=np.uint64))
    morning = 0
    for t in range(core.flight_ticks[0]):
        core.step(np.zeros(4))
        if t == 2879:
            morning = core.ist[:, 9].sum()
    afternoon = core.ist[:, 9].sum() - morning
    assert afternoon / morning == pytest.approx(3.0, rel=0.03)


def test_ranges_are_sampled_per_campaign_and_episode():
    scenario = {"base": "live_commerce", "money": {"budget": [1000.0, 2000.0]}}
    core = PacingCore(scenario, 200)
    core.reset(np.arange(200), np.arange(200, dtype=np.uint64))
    budgets = core.par[:, 0]
    assert budgets.min() >= 1000.0 and budgets.max() <= 2000.0
    assert budgets.std() > 200.0
    flights = core.flight_ticks
    assert flights.min() >= 60 * 4 and flights.max() <= 120 * 4 and len(set(flights)) > 10
