"""``agent.features``: the columns a policy reads, the same in training, serving and export."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.agents.algos import build_model, make_env
from pacegym.agents.features import SelectFeatures, feature_index, feature_names
from pacegym.agents.policy import load_controller, save_model
from pacegym.agents.residual import ResidualVecEnv
from pacegym.agents.settings import AgentConfigError, AgentSettings, ResidualSettings
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.baselines.harness import run_episodes
from pacegym.envs.spaces import OBS_INDEX, OBS_NAMES

SCALE_FREE = [n for n in OBS_NAMES if n != "budget_log10"]
PID = {"kind": "pid", "name": "pid", "params": {}}


def test_default_is_every_column_in_order():
    assert feature_names([]) == list(OBS_NAMES)
    assert list(feature_index([])) == list(range(len(OBS_NAMES)))
    assert list(feature_index(["plan", "time_elapsed"])) == [
        OBS_INDEX["plan"],
        OBS_INDEX["time_elapsed"],
    ]


@pytest.mark.parametrize(
    ("features", "match"),
    [
        (["budget"], r"agent\.features\[0\] = 'budget': not an observation feature"),
        (["plan", "plan"], r"agent\.features\[1\] = 'plan': listed twice"),
    ],
)
def test_unknown_or_repeated_features_are_refused_by_key(features, match):
    with pytest.raises(AgentConfigError, match=match):
        AgentSettings(features=features)


def test_select_features_env_hands_out_the_columns_terminal_ones_too():
    n = 3
    full = PacingVecEnv("live_commerce", n, seed=4)
    sel = SelectFeatures(PacingVecEnv("live_commerce", n, seed=4), SCALE_FREE)
    assert sel.observation_space.shape == (len(SCALE_FREE),)
    idx = feature_index(SCALE_FREE)
    a, b = full.reset(), sel.reset()
    np.testing.assert_array_equal(a[:, idx], b)
    act = np.full((n, 1), 0.2, dtype=np.float32)
    ended = False
    for _ in range(600):  # past the end of a 60-120 min flight: the autoreset happens
        a, _, done_a, info_a = full.step(act)
        b, _, done_b, info_b = sel.step(act)
        np.testing.assert_array_equal(a[:, idx], b)
        np.testing.assert_array_equal(done_a, done_b)
        ended = ended or bool(done_b.any())
        for i in np.flatnonzero(done_b):
            term = info_b[i]["terminal_observation"]
            np.testing.assert_array_equal(term, info_a[i]["terminal_observation"][idx])
    assert ended


def test_residual_env_selects_before_appending_the_base():
    env = ResidualVecEnv(PacingVecEnv("live_commerce", 2, seed=0), PID, 1.0, SCALE_FREE)
    obs = env.reset()
    assert obs.shape == (2, len(SCALE_FREE) + 1)
    raw = env.pacing.core.obs
    np.testing.assert_array_equal(obs[:, :-1], raw[:, feature_index(SCALE_FREE)])


@pytest.mark.slow
@pytest.mark.parametrize("residual", [False, True], ids=["plain", "residual"])
def test_a_saved_model_reads_the_same_columns_it_trained_on(tmp_path, residual):
    agent = AgentSettings(
        name="tiny",
        net_arch=[8],
        hyperparams={"n_steps": 8, "batch_size": 32},
        features=SCALE_FREE,
        residual=ResidualSettings(enabled=residual, base=PID if residual else {}),
    )
    env, _ = make_env("live_commerce", agent, 4, 0)
    model = build_model(agent, env, 0)
    model.learn(64)
    save_model(tmp_path / "m", model, agent, env, "live_commerce")
    ctrl = load_controller(tmp_path / "m")
    assert ctrl.features == SCALE_FREE
    width = len(SCALE_FREE) + (1 if residual else 0)
    assert model.observation_space.shape == (width,)
    a = run_episodes(ctrl, "suite/small_budget", 3, seed=2)
    b = run_episodes(load_controller(tmp_path / "m"), "suite/small_budget", 3, seed=2)
    np.testing.assert_array_equal(a.metrics["pacing_score_v2"], b.metrics["pacing_score_v2"])


def test_scale_free_input_does_not_change_with_the_budget():
    """Scaling budget and traffic by 10^4 moves budget_log10 by 4; the scale-free columns
    move only through counting noise (far fewer impressions at the small scale)."""
    small = PacingVecEnv("suite/small_budget", 64, seed=7)
    large = PacingVecEnv(
        {"base": "live_commerce", "money": {"budget": 5e7}, "traffic": {"base_rate": 8000.0}},
        64,
        seed=7,
    )
    a, b = small.reset(), large.reset()
    assert np.allclose(
        b[:, OBS_INDEX["budget_log10"]] - a[:, OBS_INDEX["budget_log10"]], 4.7, atol=0.1
    )
    for name in ("time_elapsed", "plan", "capacity_log10"):
        assert abs(a[:, OBS_INDEX[name]].mean() - b[:, OBS_INDEX[name]].mean()) < 0.35


def test_flight_reward_scale_weighs_every_tick_alike_and_leaves_metrics():
    from pacegym.agents.vec_env import REFERENCE_TICKS

    scs = ["live_commerce", "daily_budget"]
    plain = PacingVecEnv(scs, 4, seed=3)
    scaled = PacingVecEnv(scs, 4, seed=3, reward_scale="flight")
    plain.reset(), scaled.reset()
    ticks = scaled.core.flight_ticks
    assert ticks[2] == 5760 and ticks[0] < 600  # a daily and a live-commerce flight
    act = np.full((4, 1), 0.3, dtype=np.float32)
    for _ in range(30):
        _, r0, _, _ = plain.step(act)
        _, r1, _, _ = scaled.step(act)
        np.testing.assert_allclose(r1, r0 * ticks / REFERENCE_TICKS, rtol=1e-6)
    with pytest.raises(ValueError, match="reward_scale"):
        PacingVecEnv("live_commerce", 1, reward_scale="episode")
    with pytest.raises(AgentConfigError, match=r"train\.reward_scale = 'x'"):
        from pacegym.agents.settings import TrainSettings

        TrainSettings(reward_scale="x")
