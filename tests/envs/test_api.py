import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import pacegym.envs as envs
from pacegym.envs.pacing_env import PacingEnv
from pacegym.envs.vector import PacingVectorEnv

IDS = sorted(envs.ENV_IDS)


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_check_env(env_id):
    env = gym.make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_check_env(env_id):
    sb3_check_env(PacingEnv(envs.ENV_IDS[env_id]), warn=True)


def test_make_with_module_prefix():
    env = gym.make("envs:pacegym/LiveCommerce-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (len(envs.OBS_NAMES),)


@pytest.mark.parametrize("env_id", IDS)
def test_make_vec_uses_native_vector_env(env_id):
    venv = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    assert isinstance(venv, PacingVectorEnv)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, venv.single_observation_space.shape[0])
    assert venv.single_observation_space.shape[0] == len(envs.OBS_NAMES) + 3 * (
        venv.single_action_space.shape[0] if venv.single_action_space.shape[0] > 1 else 0
    )
    obs, _rew, _term, _trunc, info = venv.step(venv.action_space.sample())
    assert venv.observation_space.contains(obs)
    assert set(info["reward_terms"]) == {"delivery", "waste", "misplaced", "burst", "value"}


def test_episode_end_carries_metrics_and_reward_terms():
    env = gym.make("pacegym/LiveCommerce-v0")
    env.reset(seed=3)
    done, info, total = False, {}, 0.0
    while not done:
        _, r, done, trunc, info = env.step(np.array([0.0], dtype=np.float32))
        total += r
        assert not trunc
    assert set(info["metrics"]) == set(envs.METRIC_KEYS)
    assert 0.0 < info["metrics"]["delivery"] <= 1.0
    # the reward is the score: its episode sum is the episode's pacing_score_v2
    assert total == pytest.approx(info["metrics"][envs.SCORE_KEY], abs=1e-9)
    with pytest.raises(RuntimeError, match="call reset"):
        env.unwrapped.step(np.array([0.0], dtype=np.float32))


def test_reward_is_weighted_sum_of_named_terms():
    scenario = {
        "base": "live_commerce",
        "score": {"waste": 0.5, "misplaced": 3.0, "burst": 2.0},
    }
    env = PacingEnv(scenario)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(50):
        _, r, _, _, info = env.step(rng.uniform(-1, 1, size=1).astype(np.float32))
        t = info["reward_terms"]
        expected = t["delivery"] + 0.5 * t["waste"] + 3.0 * t["misplaced"] + 2.0 * t["burst"]
        assert r == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_stops_serving_and_is_reported(bad):
    env = PacingEnv()
    env.reset(seed=0)
    for _ in range(5):
        env.step(np.array([1.0], dtype=np.float32))
    served_before = env.core.ist[0, envs.kernel.I_SERVED]
    obs, r, _, _, info = env.step(np.array([bad], dtype=np.float32))
    assert info["invalid_actions"] == 1
    assert info["throttle"] == 0.0
    assert env.core.ist[0, envs.kernel.I_SERVED] == served_before
    assert np.all(np.isfinite(obs)) and np.isfinite(r)


def test_action_mapping_spans_four_decades():
    a = np.array([-1.0, -0.999, 0.0, 1.0, 5.0, -7.0])
    p, invalid = envs.action_to_throttle(a)
    assert p[0] == 0.0 and p[-1] == 0.0
    assert p[1] == pytest.approx(10 ** (2 * (-1.999)))
    assert p[2] == pytest.approx(0.01)
    assert p[3] == 1.0 and p[4] == 1.0
    assert not invalid.any()
    back = envs.throttle_to_action(p[1:4])
    np.testing.assert_allclose(back, a[1:4], atol=1e-12)
