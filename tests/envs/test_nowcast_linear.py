"""The linear nowcast: fitted walk-forward on the days before the flight (never on its own),
it learns how a departure from the forecast persists, moves only the capacity, and the
single env, the vector env and the core agree."""

import dataclasses

import numpy as np
import pytest

from pacegym.envs.core import PacingCore
from pacegym.envs.nowcast import window_totals
from pacegym.envs.nowcast_fit import fit_linear
from pacegym.envs.nowcast_linear import N_LINEAR, linear_level, linear_origin_levels
from pacegym.envs.pacing_env import PacingEnv
from pacegym.envs.params import ScenarioError
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import OBS_INDEX
from pacegym.envs.vector import PacingVectorEnv

from .traces import replayed

DAY = 1440
N_DAYS = 36


def _levels_trace(seed: int) -> np.ndarray:
    """``N_DAYS`` days of a daily shape; each day from 08:00 on at a level of its own
    (0.5-2x), held to midnight: a departure that, once seen, persists for hours. Day 34
    from 08:00 is at 2.5x day 33's level."""
    rng = np.random.default_rng(seed)
    m = np.arange(N_DAYS * DAY)
    shape = 1.0 + 0.5 * np.sin(2 * np.pi * (m % DAY) / DAY)
    levels = np.exp(rng.uniform(np.log(0.5), np.log(2.0), N_DAYS))
    levels[34] = 2.5 * levels[33]
    for d in range(N_DAYS):
        shape[d * DAY + 480 : (d + 1) * DAY] *= levels[d]
    return shape


@pytest.fixture
def levels_csv(tmp_path):
    path = tmp_path / "levels.csv"
    path.write_text("requests\n" + "\n".join(f"{v:.6f}" for v in _levels_trace(0)) + "\n")
    return str(path)


def _scenario(trace: str, nowcast: str, start_day: int = 34):
    return resolve(
        {
            "base": "daily_budget",
            "time": {"start_day": start_day, "start_minute": 0.0},
            "traffic": replayed(trace),
            "forecast": {
                "kind": "seasonal_naive",
                "fit_on": "trace",
                "noise_sd": 0.0,
                "history_days": 7,
                "nowcast": nowcast,
            },
        }
    )


def test_the_weights_of_a_day_never_see_that_day_or_later(levels_csv, tmp_path):
    sc = _scenario(levels_csv, "linear", start_day=30)
    before = PacingCore(sc, 1).nc_wtab.copy()
    changed = _levels_trace(0)
    changed[30 * DAY :] *= 3.0  # the flight's day and everything after it
    path = tmp_path / "changed.csv"
    path.write_text("requests\n" + "\n".join(f"{v:.6f}" for v in changed) + "\n")
    after = PacingCore(_scenario(str(path), "linear", start_day=30), 1).nc_wtab
    # equal but for rounding: the trace is scaled by its mean (ratios only are fitted)
    np.testing.assert_allclose(before, after, rtol=1e-8, atol=1e-12)
    changed[29 * DAY : 30 * DAY] *= 3.0  # the day before it is in the history: it counts
    path.write_text("requests\n" + "\n".join(f"{v:.6f}" for v in changed) + "\n")
    moved = PacingCore(_scenario(str(path), "linear", start_day=30), 1).nc_wtab
    assert np.abs(before - moved).max() > 1e-4


def test_a_fitted_model_predicts_a_persistent_departure():
    trace = _levels_trace(1)
    flat = np.tile((1.0 + 0.5 * np.sin(2 * np.pi * np.arange(DAY) / DAY)), 20)
    days = [(trace[d * DAY : (d + 1) * DAY], flat[d * DAY : (d + 1) * DAY]) for d in range(20)]
    w = fit_linear(days, 120.0)[None, :]
    assert w.shape == (1, N_LINEAR)
    day = flat[:DAY] * np.where(np.arange(DAY) >= 480, 2.0, 1.0)  # 2x from 08:00
    origins = np.array([720])
    levels = linear_origin_levels(day, flat[:DAY], origins, w)
    assert 1.6 < levels[0] < 2.6
    act, ahead, now = window_totals(day, flat[:DAY], origins, np.array([60]), levels, 120.0)
    assert abs(now[0, 0] - act[0, 0]) < 0.25 * abs(ahead[0, 0] - act[0, 0])


def test_no_history_to_learn_from_leaves_the_forecast_as_it_is():
    w = fit_linear([], 120.0)
    assert np.array_equal(w, np.zeros(N_LINEAR))
    ew = np.array([[3.0] * 7 + [1.0] * 7])
    assert linear_level.py_func(ew, w[None, :], 0, 600.0, 1.5) == 1.0


def test_the_linear_nowcast_moves_only_the_capacity(levels_csv):
    ticks = 4 * 60 * 14  # to 14:00 of a day at its own level since 08:00
    n = 3
    runs = {}
    for kind in ("none", "linear"):
        core = PacingCore(_scenario(levels_csv, kind), n)
        core.reset(np.arange(n), np.arange(n, dtype=np.uint64))
        obs = [core.step(np.full(n, 0.05)).obs.copy() for _ in range(ticks)]
        runs[kind] = (core, np.array(obs))
    (off, obs_off), (on, obs_on) = runs["none"], runs["linear"]
    for name in ("plan", "forecast_elapsed", "reported_spend", "served_spend", "plan_error"):
        k = OBS_INDEX[name]
        np.testing.assert_array_equal(obs_on[:, :, k], obs_off[:, :, k])
    np.testing.assert_array_equal(on.ist, off.ist)
    # the day runs at 2.5x its forecast (seasonal naive: yesterday) since 08:00, so the
    # forecast left, and the capacity, read higher with the nowcast
    cap = OBS_INDEX["capacity_log10"]
    assert np.all(obs_on[-1, :, cap] > obs_off[-1, :, cap] + 0.05)


def test_single_env_and_vector_env_agree_with_the_linear_nowcast(levels_csv):
    sc = _scenario(levels_csv, "linear", start_day=30)
    sc = dataclasses.replace(sc, time=dataclasses.replace(sc.time, start_day=(28, 34)))
    n, seed = 3, 5
    venv = PacingVectorEnv(n, sc)
    vobs, _ = venv.reset(seed=seed)
    singles = [PacingEnv(sc) for _ in range(n)]
    sobs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(singles)])
    np.testing.assert_array_equal(vobs, sobs)
    acts = np.random.default_rng(3).uniform(-1, 1, size=(300, n, 1)).astype(np.float32)
    for a in acts:
        vobs, vrew, *_ = venv.step(a)
        for i, e in enumerate(singles):
            obs, r, *_ = e.step(a[i])
            np.testing.assert_array_equal(vobs[i], obs)
            assert vrew[i] == r


@pytest.mark.parametrize(
    ("forecast", "match"),
    [
        ({"nowcast": "linear"}, r"forecast\.nowcast = 'linear'.*forecast\.fit_on = 'trace'"),
        ({"nowcast": "linear", "fit_on": "trace", "kind": "seasonal_naive"}, None),
    ],
)
def test_the_linear_nowcast_needs_a_trace_and_twice_the_history(levels_csv, forecast, match):
    if match is not None:
        with pytest.raises(ScenarioError, match=match):
            resolve({"base": "daily_budget", "forecast": forecast})
        return
    with pytest.raises(ScenarioError, match=r"time\.start_day = 10.*allowed >= 14"):
        PacingCore(_scenario(levels_csv, "linear", start_day=10), 1)
