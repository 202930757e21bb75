"""Inventory forecasters: the protocol, too little history, accuracy vs seasonal-naive, env use."""

import numpy as np
import pytest

from pacegym.envs import ScenarioError, resolve
from pacegym.envs.core import PacingCore
from pacegym.envs.forecast import (
    SEASONS,
    Forecaster,
    ForecastError,
    HoltWinters,
    SeasonalNaive,
    mape_by_horizon,
)
from pacegym.envs.history import forecast_week, simulated_history
from pacegym.envs.scenarios import from_dict


def learned(kind="holt_winters", days=8, **extra):
    data = {"forecast": {"kind": kind, "history_days": days, **extra}}
    return from_dict(data, base=resolve("daily_budget"))


def test_forecasters_implement_the_protocol():
    assert isinstance(SeasonalNaive(), Forecaster)
    assert isinstance(HoltWinters(), Forecaster)
    y = np.tile(np.arange(1.0, 25.0), 3)
    np.testing.assert_array_equal(SeasonalNaive(24).fit(y).predict(30), y[np.arange(30) % 24])
    pred = HoltWinters(season=24, smooth=1).fit(y).predict(24)
    np.testing.assert_allclose(pred, y[:24], rtol=0.05)


def test_too_little_history_is_an_error():
    with pytest.raises(
        ForecastError,
        match=r"history has 100 periods; SeasonalNaive\(season=1440\) needs at least 1440",
    ):
        SeasonalNaive().fit(np.ones(100))
    with pytest.raises(ForecastError, match=r"HoltWinters\(season=1440\) needs at least 2880"):
        HoltWinters().fit(np.ones(2000))
    with pytest.raises(ForecastError, match=r"history\[3\] = -1\.0: allowed finite counts >= 0"):
        HoltWinters(season=2).fit(np.array([1.0, 2.0, 3.0, -1.0]))
    with pytest.raises(ForecastError, match="call fit"):
        HoltWinters().predict(3)
    with pytest.raises(
        ScenarioError, match=r"forecast\.history_days = 1 is out of range: allowed \[2, 31\]"
    ):
        learned(days=1)


def test_holt_winters_beats_seasonal_naive_on_noisy_simulated_history():
    y = simulated_history(
        learned(days=10), PacingCore
    )  # noise, surges, day-of-week: the core's traffic
    origins = [d * 1440 + off for d in (7, 8) for off in (0, 720)]
    res = mape_by_horizon(y, {"naive": SeasonalNaive(), "hw": HoltWinters()}, origins)
    assert np.mean(res["hw"]) < np.mean(res["naive"])
    assert min(res["hw"]) > 0


@pytest.mark.slow
def test_env_plans_from_a_learned_forecast():
    sc = learned()
    week = forecast_week(sc, PacingCore)
    assert week.shape == (7 * 1440,) and np.all(week >= 0)
    core = PacingCore(sc, 4)
    core.reset(np.arange(4), np.arange(4, dtype=np.uint64))
    truth = PacingCore("daily_budget", 4)
    truth.reset(np.arange(4), np.arange(4, dtype=np.uint64))
    assert np.all(np.diff(core.fc_cum[0]) >= 0) and core.fc_cum[0, -1] == pytest.approx(1.0)
    assert not np.allclose(core.fc_cum, truth.fc_cum)
    # the learned daily shape tracks the true one (forecast share of the day per 6 h)
    np.testing.assert_allclose(core.fc_cum[:, ::360], truth.fc_cum[:, ::360], atol=0.04)
    again = PacingCore(sc, 4)
    again.reset(np.arange(4), np.arange(4, dtype=np.uint64))
    np.testing.assert_array_equal(again.fc_cum, core.fc_cum)


def test_broadcast_profile_cannot_learn_a_per_minute_forecast():
    sc = from_dict({"forecast": {"kind": "seasonal_naive"}}, base=resolve("live_commerce"))
    with pytest.raises(
        ScenarioError, match=r"traffic\.profile = 'broadcast' is indexed by flight share"
    ):
        PacingCore(sc, 1)


def _weekday_weekend(weeks: int) -> np.ndarray:
    """``weeks`` weeks per minute: weekdays peak at 08:00 and 18:00, weekends at 14:00."""
    m = np.arange(1440) / 60.0
    weekday = 1.0 + 3.0 * (
        np.exp(-0.5 * ((m - 8) / 1.0) ** 2) + np.exp(-0.5 * ((m - 18) / 1.0) ** 2)
    )
    weekend = 1.0 + 3.0 * np.exp(-0.5 * ((m - 14) / 2.0) ** 2)
    return np.tile(np.concatenate([weekday] * 5 + [weekend] * 2), weeks)


@pytest.mark.parametrize("kind", ["seasonal_naive", "holt_winters"])
def test_a_weekly_season_learns_the_weekend_shape_a_daily_one_cannot(kind):
    from pacegym.envs.forecast import make_forecaster

    y = _weekday_weekend(3)
    history, week = y[: 14 * 1440], y[14 * 1440 : 21 * 1440]  # two weeks; the next one
    ahead = {s: make_forecaster(kind, s).fit(history).predict(7 * 1440) for s in SEASONS}
    err = {s: np.abs(f - week).sum() / week.sum() for s, f in ahead.items()}
    assert err["week"] < 0.05 < 0.25 < err["day"]


def test_a_weekly_season_needs_its_history():
    with pytest.raises(ScenarioError, match=r"forecast\.history_days = 10 .*\[14, 31\]"):
        resolve({"base": "daily_budget", "forecast": {"kind": "holt_winters", "season": "week",
                                                      "history_days": 10}})  # fmt: skip
    with pytest.raises(ScenarioError, match=r"forecast\.season = 'month'"):
        resolve({"base": "daily_budget", "forecast": {"season": "month"}})
    with pytest.raises(ScenarioError, match=r"forecast\.season = 'week' .*'perturbed'"):
        resolve({"base": "daily_budget", "forecast": {"season": "week"}})  # nothing to season
