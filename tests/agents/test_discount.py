"""``train.discount: flight``: every flight sees its end over the same share of its length."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer

from pacegym.agents.algos import build_model, make_env
from pacegym.agents.discount import FlightDiscountBuffer, flight_scales
from pacegym.agents.settings import AgentConfigError, AgentSettings, TrainSettings
from pacegym.agents.training import validate
from pacegym.envs.params import bounds
from pacegym.envs.scenarios import resolve

OBS = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
ACT = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)


def _filled(buf, rng):
    for _ in range(buf.buffer_size):
        buf.add(
            rng.normal(size=(buf.n_envs, 2)).astype(np.float32),
            rng.normal(size=(buf.n_envs, 1)).astype(np.float32),
            rng.normal(size=buf.n_envs).astype(np.float32),
            (rng.random(buf.n_envs) < 0.1).astype(np.float32),
            torch.as_tensor(rng.normal(size=buf.n_envs).astype(np.float32)),
            torch.zeros(buf.n_envs),
        )
    return buf


def test_each_env_is_discounted_as_sb3_would_with_its_own_gamma():
    scales = [1.0, 0.25, 1.0 / 72.0]
    buf = FlightDiscountBuffer(32, OBS, ACT, gamma=0.99, gae_lambda=0.9, n_envs=3, scales=scales)
    _filled(buf, np.random.default_rng(0))
    last = torch.as_tensor(np.array([0.5, -1.0, 2.0], dtype=np.float32))
    dones = np.array([False, True, False])
    buf.compute_returns_and_advantage(last, dones)
    for i, s in enumerate(scales):
        one = RolloutBuffer(32, OBS, ACT, gamma=0.99**s, gae_lambda=0.9, n_envs=1)
        one.rewards[:, 0] = buf.rewards[:, i]
        one.values[:, 0] = buf.values[:, i]
        one.episode_starts[:, 0] = buf.episode_starts[:, i]
        one.compute_returns_and_advantage(last[i : i + 1], dones[i : i + 1])
        np.testing.assert_allclose(buf.advantages[:, i], one.advantages[:, 0], rtol=2e-5)
        np.testing.assert_allclose(buf.returns[:, i], one.returns[:, 0], rtol=2e-5)
    with pytest.raises(ValueError, match="one finite number > 0 per env"):
        FlightDiscountBuffer(4, OBS, ACT, n_envs=3, scales=[1.0, 0.0, 1.0])


def test_scales_follow_each_blocks_flight_length():
    scs = [resolve("live_commerce"), resolve("daily_budget"), resolve("multi_day_flight")]
    s = flight_scales(scs, 6)
    ticks = [np.mean(bounds(sc.time.flight_min)) * 60 / sc.time.tick_s for sc in scs]
    assert bounds(scs[0].time.flight_min)[0] < bounds(scs[0].time.flight_min)[1]  # a range
    assert s == pytest.approx([240 / t for t in ticks for _ in range(2)])
    assert s[2] == pytest.approx(240 / 5760) and s[4] == pytest.approx(240 / 17280)


def test_the_model_discounts_per_campaign_and_off_policy_algos_are_refused():
    agent = AgentSettings(net_arch=[8], hyperparams={"n_steps": 16, "batch_size": 32})
    scs = ["live_commerce", "daily_budget"]
    env, _ = make_env(scs, agent, 4, 0)
    scales = flight_scales([resolve(s) for s in scs], 4)
    model = build_model(agent, env, 0, discount_scales=scales)
    gamma = model.rollout_buffer.gamma
    np.testing.assert_allclose(gamma, 0.99 ** np.asarray(scales), rtol=1e-6)
    assert gamma[2] > gamma[0]  # the daily flight looks further ahead in ticks
    sac = AgentSettings(algo="sac", policy="MlpPolicy", hyperparams={})
    with pytest.raises(AgentConfigError, match=r"train\.discount = 'flight': agent\.algo = 'sac'"):
        validate("live_commerce", sac, TrainSettings(discount="flight", n_envs=2))
    with pytest.raises(AgentConfigError, match=r"train\.discount = 'x'"):
        TrainSettings(discount="x")
