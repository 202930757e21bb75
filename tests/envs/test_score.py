"""The env's reward is the score: per-step terms whose episode sum is ``pacing_score_v2``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import pacegym
from pacegym.envs import SCORE_KEY, ScenarioError, from_dict, resolve
from pacegym.envs.core import PacingCore
from pacegym.envs.params import ScoreParams


def _policy(rng: np.random.Generator, n: int) -> np.ndarray:
    """A mix of policies that exercise every term: full throttle (bursts, early finish,
    over budget and post-end waste), off, and random throttles."""
    a = rng.uniform(-1.0, 1.0, n)
    a[::3] = 1.0
    a[1::5] = -1.0
    return a.astype(np.float32)


@pytest.mark.parametrize("env_id", sorted(pacegym.ENV_IDS))
def test_episode_reward_equals_the_score_for_every_registered_id(env_id):
    env = gym.make(env_id)
    rng = np.random.default_rng(7)
    for seed in (0, 1):
        env.reset(seed=seed)
        total, done, info = 0.0, False, {}
        while not done:
            _, r, done, _, info = env.step(_policy(rng, env.action_space.shape[0]))
            total += r
        assert total == pytest.approx(info["metrics"][SCORE_KEY], abs=1e-9)


@pytest.mark.parametrize("env_id", sorted(pacegym.ENV_IDS))
def test_vector_env_rewards_sum_to_each_episodes_score(env_id):
    n = 6
    venv = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")
    venv.reset(seed=11)
    rng = np.random.default_rng(3)
    totals, seen = np.zeros(n), {}
    while len(seen) < n:
        width = venv.single_action_space.shape[0]
        _, r, term, trunc, info = venv.step(_policy(rng, n * width).reshape(n, width))
        totals += r
        for i in np.flatnonzero(term | trunc):
            if i not in seen:
                seen[i] = (totals[i], info["metrics"][SCORE_KEY][i])
            totals[i] = 0.0
    for i, (total, score) in seen.items():
        assert total == pytest.approx(score, abs=1e-9), i
    venv.close()


def test_terms_charge_waste_when_served_not_only_at_the_end():
    """Full throttle near the end: expected post-end waste is charged as it is served."""
    core = PacingCore({"base": "live_commerce", "time": {"flight_min": 60.0}}, 2)
    core.reset(np.arange(2), np.arange(2, dtype=np.uint64))
    ft = int(core.flight_ticks[0])
    waste_before_end = np.zeros(2)
    t = 0
    while not core.done.all():
        th = np.full(2, 0.0 if t < ft - 40 else 1.0)
        res = core.step(th)
        if t < ft - 1:
            waste_before_end += res.terms[:, 1]
        t += 1
    m = core.metrics()
    assert np.all(waste_before_end < 0)  # charged before the drain step
    assert np.all(-waste_before_end <= m["wasted_post_end"] * 1.5 + 1e-12)


def test_spending_a_days_budget_early_costs_about_the_budget_it_moved():
    """Uniform plan, hourly windows, no tolerance: spending everything in the first
    15.1 of 24 hours moves ~37% of the budget off plan."""
    sc = {
        "base": "daily_budget",
        "traffic": {"surge_rate_per_h": 0.0, "noise_sd": 0.0},
        "forecast": {"noise_sd": 0.0},
        "plan": {"kind": "uniform"},
        "score": {"granularity_min": 60.0, "tolerance": 0.0, "burst_tolerance": 10.0},
    }
    core = PacingCore(sc, 1)
    core.reset(np.arange(1), np.arange(1, dtype=np.uint64))
    ft = int(core.flight_ticks[0])
    budget = core.par[0, 0]
    # a throttle that spends budget / (0.63 x flight) per tick at the mean rate
    while not core.done.all():
        t = core.ist[0, 0]
        obs = core.obs[0]
        reported = obs[3]
        target = min((t + 1) / (0.63 * ft), 1.0)
        core.step(np.array([1.0 if reported < target else 0.0]))
    m = core.metrics()
    assert budget > 0 and m["delivery"][0] > 0.97
    assert 0.30 < m["misplaced"][0] < 0.45


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("waste", -1.0, r"\[0, 100\]"),
        ("misplaced", float("nan"), r"\[0, 100\]"),
        ("granularity_min", 0.0, r"\(0, 525600\]"),
        ("tolerance", 11.0, r"\[0, 10\]"),
        ("burst_tolerance", -0.5, r"\[0, 100\]"),
    ],
)
def test_bad_score_settings_are_refused_by_name(key, value, allowed):
    with pytest.raises(ScenarioError, match=rf"score\.{key} = .*allowed {allowed}"):
        from_dict({"score": {key: value}}, base=resolve("live_commerce"))


def test_reward_section_is_gone_with_a_pointer_to_score():
    with pytest.raises(ScenarioError, match="the env's reward is the score"):
        from_dict({"reward": {"billable": 1.0}})


def test_window_slots():
    assert ScoreParams(granularity_min=60.0).window_slots(60.0) == 60
    assert ScoreParams(granularity_min=0.5).window_slots(60.0) == 1
