"""``info["episode"]`` in every view: Gymnasium's ``RecordEpisodeStatistics`` layout, from
the wrapper (the default) or from the env made with ``episode_stats=True``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import RecordEpisodeStatistics
from gymnasium.wrappers.vector import RecordEpisodeStatistics as VectorStats

import pacegym  # noqa: F401  (registers the ids)

SHORT = {"base": "live_commerce", "time": {"flight_min": 5}}


def _episode(env: gym.Env, seed: int) -> tuple[list[float], dict]:
    env.reset(seed=seed)
    rewards, info, done = [], {}, False
    while not done:
        _, r, done, _, info = env.step(np.array([0.3], dtype=np.float32))
        rewards.append(r)
        assert done or "episode" not in info
    return rewards, info


def test_gymnasiums_wrappers_work_on_the_envs_as_made_by_default() -> None:
    """``RecordEpisodeStatistics(gym.make(id))`` (CleanRL's habit) and its vector form."""
    _, info = _episode(
        RecordEpisodeStatistics(gym.make("pacegym/LiveCommerce-v0", scenario=SHORT)), 1
    )
    assert info["episode"]["l"] > 0
    venv = VectorStats(
        gym.make_vec(
            "pacegym/LiveCommerce-v0",
            num_envs=2,
            vectorization_mode="vector_entry_point",
            scenario=SHORT,
        )
    )
    venv.reset(seed=0)
    for _ in range(40):
        _, _, term, _, info = venv.step(np.full((2, 1), 0.3, dtype=np.float32))
        if term.any():
            assert np.array_equal(info["_episode"], term) and (info["episode"]["l"][term] > 0).all()
            return
    pytest.fail("no episode ended")


def test_single_env_episode_is_the_sum_of_its_rewards() -> None:
    env = gym.make("pacegym/LiveCommerce-v0", scenario=SHORT, episode_stats=True)
    for seed in (0, 1):
        rewards, info = _episode(env, seed)
        ep = info["episode"]
        assert set(ep) == {"r", "l", "t"}
        assert ep["l"] == len(rewards) and ep["t"] >= 0.0
        assert ep["r"] == pytest.approx(sum(rewards), abs=1e-12)
        assert ep["r"] == pytest.approx(info["metrics"]["pacing_score_v2"], abs=1e-9)


def test_gymnasium_wrapper_agrees_under_another_key() -> None:
    env = RecordEpisodeStatistics(
        gym.make("pacegym/LiveCommerce-v0", scenario=SHORT, episode_stats=True), stats_key="stats"
    )
    _, info = _episode(env, 3)
    assert info["stats"]["l"] == info["episode"]["l"]
    assert info["stats"]["r"] == pytest.approx(info["episode"]["r"], abs=1e-12)


def test_vector_env_matches_the_single_env_and_gymnasiums_wrapper() -> None:
    n, seed = 3, 7
    venv = VectorStats(
        gym.make_vec(
            "pacegym/LiveCommerce-v0",
            num_envs=n,
            vectorization_mode="vector_entry_point",
            scenario=SHORT,
            episode_stats=True,
        ),
        stats_key="stats",
    )
    venv.reset(seed=seed)
    single = gym.make("pacegym/LiveCommerce-v0", scenario=SHORT, episode_stats=True)
    want = [_episode(single, seed + i)[1]["episode"] for i in range(n)]
    seen = np.zeros(n, dtype=bool)
    while not seen.all():
        _, _, term, _, info = venv.step(np.full((n, 1), 0.3, dtype=np.float32))
        if "episode" not in info:
            continue
        mask = info["_episode"]
        assert np.array_equal(mask, term)
        np.testing.assert_array_equal(info["episode"]["l"], info["stats"]["l"])
        np.testing.assert_allclose(info["episode"]["r"], info["stats"]["r"], atol=1e-12)
        for i in np.flatnonzero(mask & ~seen):
            assert info["episode"]["l"][i] == want[i]["l"]
            assert info["episode"]["r"][i] == pytest.approx(want[i]["r"], abs=1e-12)
        assert np.all(info["episode"]["r"][~mask] == 0.0)
        seen |= mask
