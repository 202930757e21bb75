"""The value world (``envs.params_value``, ``envs.value``, ``envs.kernel_value``): the volume
world kept bit for bit, the reward paying the score, every view agreeing, and value that a
value-aware throttle can buy."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from pacegym.envs import METRIC_KEYS
from pacegym.envs.core import PacingCore
from pacegym.envs.metrics import VALUE_KEYS
from pacegym.envs.pacing_env import PacingEnv
from pacegym.envs.params import ScenarioError
from pacegym.envs.scenarios import from_dict, resolve
from pacegym.envs.spaces import N_OBS, SEGMENT_FEATURES
from pacegym.envs.value import layer_factors, segment_tables
from pacegym.envs.vector import PacingVectorEnv

ONE_CHANNEL = {"channels": [{"name": "all", "ctr": 0.02, "cvr": 0.05}]}
SHORT = {"time": {"flight_min": 120.0, "start_minute": 600.0}}


def _run(core: PacingCore, seeds: np.ndarray, policy) -> tuple[np.ndarray, dict]:
    """Episodes of every row under ``policy(obs) -> throttles``; (reward sums, metrics)."""
    rows = np.arange(core.n)
    core.reset(rows, seeds)
    total = np.zeros(core.n)
    obs = core.obs.copy()
    while not core.done.all():
        res = core.step(policy(obs))
        total += res.reward
        obs = res.obs.copy()
    return total, core.metrics()


def _half(obs: np.ndarray) -> np.ndarray:
    return np.full(obs.shape[0], 0.5)


@pytest.mark.parametrize("base", ["live_commerce", "daily_budget"])
def test_one_uniform_channel_reproduces_the_volume_world_bit_for_bit(base):
    volume = resolve({"base": base, **SHORT})
    value = resolve({"base": base, **SHORT, "value": ONE_CHANNEL})
    seeds = np.arange(6, dtype=np.uint64) + 11
    r0, m0 = _run(PacingCore(volume, 6), seeds, _half)
    r1, m1 = _run(PacingCore(value, 6), seeds, _half)
    for k in METRIC_KEYS:
        np.testing.assert_array_equal(m0[k], m1[k], err_msg=k)
    np.testing.assert_array_equal(r0, r1)
    np.testing.assert_allclose(m1["value_excess"], 0.0, atol=1e-12)


def test_the_reward_sums_to_the_score_with_value_priced():
    core = PacingCore("value_channels", 4)
    rng = np.random.default_rng(3)

    def policy(obs):
        return rng.uniform(0.0, 1.0, (obs.shape[0], core.n_segments))

    total, m = _run(core, np.arange(4, dtype=np.uint64), policy)
    assert core.scenario.score.value > 0
    assert np.all(np.abs(m["value_excess"]) > 1e-4)
    np.testing.assert_allclose(total, m["pacing_score_v2"], rtol=0, atol=1e-9)
    for k in VALUE_KEYS:
        assert k in m


def test_single_env_vector_env_and_core_agree():
    seed = 5
    env = gym.make("pacegym/ValueChannels-v0")
    obs, _ = env.reset(seed=seed)
    n_seg = env.action_space.shape[0]
    assert n_seg == 12 and obs.shape == (N_OBS + len(SEGMENT_FEATURES) * n_seg,)
    assert env.observation_space.contains(obs)
    actions = np.linspace(-1.0, 1.0, n_seg, dtype=np.float32)
    single = 0.0
    done = False
    while not done:
        obs, r, done, _, info = env.step(actions)
        single += r
    venv = PacingVectorEnv(2, scenario="value_channels")
    venv.reset(seed=[seed, seed])
    vec = np.zeros(2)
    finished = np.zeros(2, dtype=bool)
    while not finished.all():
        _, vr, term, _, _ = venv.step(np.tile(actions, (2, 1)))
        vec += np.where(finished, 0.0, vr)
        finished |= term
    assert vec[0] == pytest.approx(single, abs=1e-12) and vec[1] == vec[0]
    assert info["metrics"]["pacing_score_v2"] == pytest.approx(single, abs=1e-9)


def test_value_aware_throttle_buys_more_value_per_spend():
    core = PacingCore("value_channels", 6)
    k = 1 + 3 * np.arange(core.n_segments)  # the value-per-price column of each segment

    def best_third(obs):
        rel = obs[:, N_OBS + k]
        cut = np.quantile(rel, 2.0 / 3.0, axis=1, keepdims=True)
        return np.where(rel >= cut, 1.0, 0.0)

    def flat(obs):
        return np.full(obs.shape[0], 1.0)

    seeds = np.arange(6, dtype=np.uint64)
    _, aware = _run(core, seeds, best_third)
    _, blind = _run(core, seeds, flat)
    assert np.mean(aware["value_relative"]) > 1.2 * np.mean(blind["value_relative"])
    assert np.all(aware["value_excess"] > blind["value_excess"])


def test_clicks_and_conversions_follow_the_rates():
    core = PacingCore({"base": "value_channels", "money": {"budget": 1e9}}, 8)
    _, m = _run(core, np.arange(8, dtype=np.uint64), lambda o: np.full(o.shape[0], 1.0))
    tab = core.tables
    assert tab is not None
    assert 0 < m["conversions"].sum() < m["clicks"].sum()
    assert np.all(m["conversions_realised"] <= m["conversions"])
    assert np.mean(m["ecpc"]) > 0 and np.mean(m["ecpa"]) > np.mean(m["ecpc"])


def test_segment_tables_and_layers():
    sc = resolve("value_channels")
    tab = segment_tables(sc.value)
    assert tab.n == 12 and tab.names[0] == "search/0"
    np.testing.assert_allclose(tab.share.sum(axis=1), 1.0)
    g = layer_factors(sc.value)
    assert np.all(np.diff(g) > 0) and g.mean() == pytest.approx(1.0)
    vpp = tab.pred / tab.price_x[None, :]
    assert np.quantile(vpp, 0.9) > 3.0 * np.quantile(vpp, 0.1)  # cells differ 3-5x and more


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"channels": [{"name": "a", "ctr": [0.1] * 25}]}, "value.channels[0].ctr"),
        ({"channels": [{"name": "a", "colour": 1}]}, "value.channels[0].colour"),
        ({"channels": [{"name": "a", "cvr": 1.5}]}, "value.channels[0].cvr[0]"),
        ({"channels": [{"name": "a"}, {"name": "a"}]}, "distinct names"),
        ({"channels": [{"name": "a"}], "layers": 17}, "value.layers"),
        ({"channels": [{"name": f"c{i}"} for i in range(5)], "layers": 16}, "segments"),
        ({"channels": "search"}, "value.channels"),
    ],
)
def test_bad_value_sections_are_refused_by_key(value, needle):
    with pytest.raises(ScenarioError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        from_dict({"value": value})


def test_a_throttle_of_the_wrong_shape_is_refused():
    core = PacingCore("value_channels", 2)
    core.reset(np.arange(2), np.arange(2, dtype=np.uint64))
    with pytest.raises(ValueError, match="one per segment"):
        core.step(np.ones((2, 3)))
    env = PacingEnv("value_channels")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected shape \(12,\)"):
        env.step(np.zeros(1, dtype=np.float32))
