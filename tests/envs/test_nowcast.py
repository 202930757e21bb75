"""The intraday forecast (nowcast): the level of the traffic seen corrects the forecast left,
informs the observation's capacity, and never moves the plan, the reward or the traffic."""

import dataclasses

import numpy as np
import pytest

from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore
from pacegym.envs.nowcast import NOWCAST_CLIP, level, nowcast_windows, update_seen
from pacegym.envs.params import ScenarioError
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import OBS_INDEX

from .traces import replayed

DAY = 1440


@pytest.fixture
def doubling_trace(tmp_path):
    """15 days of a daily shape; the 15th (day 14) at twice the level of the 14 before."""
    m = np.arange(15 * DAY)
    shape = 1.0 + 0.5 * np.sin(2 * np.pi * (m % DAY) / DAY)
    shape[14 * DAY :] *= 2.0
    path = tmp_path / "doubling.csv"
    path.write_text("requests\n" + "\n".join(f"{v:.6f}" for v in shape) + "\n")
    return str(path)


def _scenario(trace: str, nowcast: str):
    return resolve(
        {
            "base": "daily_budget",
            "time": {"start_day": 14, "start_minute": 0.0},
            "traffic": replayed(trace),
            "forecast": {
                "kind": "seasonal_naive",
                "fit_on": "trace",
                "noise_sd": 0.0,
                "nowcast": nowcast,
            },
        }
    )


def _run(sc, ticks: int, n: int = 4):
    core = PacingCore(sc, n)
    core.reset(np.arange(n), np.arange(n, dtype=np.uint64))
    obs = []
    for _ in range(ticks):
        obs.append(core.step(np.full(n, 0.05)).obs.copy())
    return core, np.array(obs)


def test_the_nowcast_sees_a_day_above_its_forecast_and_changes_only_capacity(doubling_trace):
    ticks = 4 * 60 * 6  # six hours
    off, obs_off = _run(_scenario(doubling_trace, "none"), ticks)
    on, obs_on = _run(_scenario(doubling_trace, "smoothing"), ticks)
    # the plan, the forecast share, the traffic and the spend are the same
    for name in ("plan", "forecast_elapsed", "reported_spend", "served_spend", "plan_error"):
        k = OBS_INDEX[name]
        np.testing.assert_array_equal(obs_on[:, :, k], obs_off[:, :, k])
    np.testing.assert_array_equal(on.ist, off.ist)
    np.testing.assert_array_equal(on.plan_cum, off.plan_cum)
    # the level: requests seen / forecast, about 2 after a few time constants
    r = [level(on.fst[b, K.F_NC_SEEN], on.fst[b, K.F_NC_EXPECTED]) for b in range(on.n)]
    np.testing.assert_allclose(r, 2.0, rtol=0.1)  # Poisson: ~15 requests a tick
    # so the forecast left, and the capacity, read higher with the nowcast
    cap = OBS_INDEX["capacity_log10"]
    assert np.all(obs_on[-1, :, cap] > obs_off[-1, :, cap] + 0.05)


def test_the_kernel_level_is_the_offline_update(doubling_trace):
    sc = _scenario(doubling_trace, "smoothing")
    core = PacingCore(sc, 1)
    core.reset(np.zeros(1, np.int64), np.zeros(1, np.uint64))
    seen = expected = 0.0
    last = 0
    tps = core.tps
    for t in range(400):
        s = t // tps
        exp_tick = (core.fc_cum[0, s + 1] - core.fc_cum[0, s]) * core.par[0, K.P_FC_TOTAL] / tps
        core.step(np.zeros(1))
        req = core.ist[0, K.I_REQUESTS] - last
        last = core.ist[0, K.I_REQUESTS]
        seen = update_seen.py_func(seen, float(req), exp_tick, core.nc_alpha)
        expected += core.nc_alpha * (exp_tick - expected)
    assert core.fst[0, K.F_NC_SEEN] == pytest.approx(seen, rel=1e-12)
    assert core.fst[0, K.F_NC_EXPECTED] == pytest.approx(expected, rel=1e-12)


def test_nowcast_windows_recover_a_constant_departure_and_cap_a_surge():
    ahead = np.full(DAY, 10.0)
    origins = np.array([120, 600])
    horizons = np.array([60, -1])
    act, fc, now = nowcast_windows(ahead * 1.5, ahead, origins, horizons, 15.0, 120.0)
    np.testing.assert_allclose(fc, act / 1.5)
    # the level is 1.5 by then; the departure decays over the hour ahead
    damped = (10.0 * (1.0 + 0.5 * np.exp(-np.arange(60) / 120.0))).sum()
    np.testing.assert_allclose(now[:, 0], damped, rtol=1e-3)
    assert np.all(np.abs(now - act) < np.abs(fc - act))
    # a 100x minute just before the origin counts at most NOWCAST_CLIP x
    spike = ahead.copy()
    spike[115:120] *= 100.0
    _, _, now_spike = nowcast_windows(spike, ahead, origins[:1], horizons[:1], 15.0, 120.0)
    assert now_spike[0, 0] <= 60 * 10.0 * NOWCAST_CLIP


@pytest.mark.parametrize(
    ("forecast", "key"),
    [
        ({"nowcast": "kalman"}, "forecast.nowcast"),
        ({"nowcast_tau_min": 0.0}, "forecast.nowcast_tau_min"),
        ({"nowcast_decay_min": -1.0}, "forecast.nowcast_decay_min"),
        ({"nowcast_tau_min": float("nan")}, "forecast.nowcast_tau_min"),
    ],
)
def test_bad_nowcast_settings_name_their_key(forecast, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        resolve({"base": "daily_budget", "forecast": forecast})


def test_the_nowcast_needs_memory_only_when_on():
    sc = resolve("daily_budget")
    on = dataclasses.replace(sc, forecast=dataclasses.replace(sc.forecast, nowcast="smoothing"))
    assert PacingCore(sc, 2).nc_cum.shape == (2, 1)
    assert PacingCore(on, 2).nc_cum.shape == (2, sc.time.max_slots + 1)
