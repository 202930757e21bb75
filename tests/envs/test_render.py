"""Rendering: rgb_array frames that show spend against plan, ansi status, human, RecordVideo,
the vector env's grid, and no effect on trajectories."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pacegym
from pacegym.envs.pacing_env import PacingEnv
from pacegym.envs.render import COLORS, OFF_THROTTLE, RENDER_MODES, throttle_display
from pacegym.envs.vector import PacingVectorEnv

SHORT = {"base": "live_commerce", "time": {"flight_min": 5.0}}  # 20 ticks
FULL = np.ones(1, dtype=np.float32)  # action 1: full throttle


def _blue_pixels(frame: np.ndarray) -> int:
    """Pixels of the 'counted' line's colour (tab:blue), the spend drawn so far."""
    import matplotlib.colors as mc

    rgb = np.array(mc.to_rgb(COLORS["counted"])) * 255
    return int((np.abs(frame.astype(float) - rgb).sum(axis=2) < 30).sum())


@pytest.mark.parametrize("env_id", list(pacegym.ENV_IDS))
def test_metadata_lists_the_modes_and_the_checker_passes_with_rendering(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    assert env.metadata["render_modes"] == list(RENDER_MODES) == ["human", "rgb_array", "ansi"]
    assert env.metadata["render_fps"] > 0
    check_env(env.unwrapped)  # includes Gymnasium's render checks


def test_rgb_array_frames_show_spend_growing_against_the_plan():
    env = gym.make("pacegym/LiveCommerce-v0", render_mode="rgb_array")
    env.reset(seed=3)
    first = env.render()
    assert first.shape == (400, 640, 3) and first.dtype == np.uint8
    for _ in range(40):  # 10 minutes at full throttle: spend rises well above zero
        env.step(FULL)
    later = env.render()
    assert later.shape == first.shape
    assert np.abs(later.astype(int) - first.astype(int)).sum() > 0
    assert _blue_pixels(later) > _blue_pixels(first) + 50  # the counted-spend line grew
    assert env.unwrapped._renderer.traces[0].counted[-1] > 0.0


def test_episode_end_and_drain_are_drawn():
    env = PacingEnv(SHORT, render_mode="rgb_array")
    env.reset(seed=0)
    for _ in range(19):
        env.step(FULL)
    before_end = env.render()
    _, _, terminated, _, _ = env.step(FULL)
    assert terminated
    end = env.render()
    tr = env._renderer.traces[0]
    assert tr.done and len(tr.minutes) == 21  # reset + 20 ticks
    assert tr.counted[-1] >= tr.counted[-2]  # the drain counted after the end
    assert np.abs(end.astype(int) - before_end.astype(int)).sum() > 0


def test_ansi_is_one_status_line():
    env = gym.make("pacegym/LiveCommerce-v0", render_mode="ansi")
    env.reset(seed=0)
    env.step(np.array([-1.0], dtype=np.float32))  # stop serving
    line = env.render()
    assert isinstance(line, str) and "\n" not in line
    assert "counted" in line and "plan" in line and "throttle  off" in line


def test_human_mode_draws_every_step(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")  # no display in CI; pyplot's pause is the only window call
    import matplotlib.pyplot as plt

    calls = []
    monkeypatch.setattr(plt, "pause", lambda s: calls.append(s))
    env = PacingEnv(SHORT, render_mode="human")
    env.reset(seed=0)
    env.step(FULL)
    env.step(FULL)
    assert len(calls) == 3  # reset + two steps
    env.close()


def test_render_without_a_mode_or_before_reset():
    env = PacingEnv("live_commerce")
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
    with pytest.raises(RuntimeError, match="call reset"):
        PacingEnv("live_commerce", render_mode="rgb_array").render()
    with pytest.raises(ValueError, match=r"render_mode = 'video': allowed \['human'"):
        PacingEnv("live_commerce", render_mode="video")


def test_rendering_does_not_change_the_trajectory():
    plain, drawn = PacingEnv("live_commerce"), PacingEnv("live_commerce", render_mode="ansi")
    a, _ = plain.reset(seed=11)
    b, _ = drawn.reset(seed=11)
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    for _ in range(60):
        act = rng.uniform(-1, 1, size=1).astype(np.float32)
        ra, rb = plain.step(act), drawn.step(act)
        np.testing.assert_array_equal(ra[0], rb[0])
        assert ra[1] == rb[1]


@pytest.mark.slow
def test_record_video_writes_a_file(tmp_path):
    pytest.importorskip("moviepy")
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(
        gym.make("pacegym/DailyBudget-v0", scenario=SHORT, render_mode="rgb_array"),
        str(tmp_path / "videos"),
        episode_trigger=lambda ep: True,
    )
    env.reset(seed=0)
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(env.action_space.sample())
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


def test_vector_env_renders_campaign_zero_or_a_grid_and_follows_autoreset():
    one = PacingVectorEnv(4, SHORT, render_mode="rgb_array")
    one.reset(seed=0)
    assert one.render().shape == (400, 640, 3)
    grid = gym.make_vec(
        "pacegym/LiveCommerce-v0",
        num_envs=6,
        vectorization_mode="vector_entry_point",
        scenario=SHORT,
        render_mode="rgb_array",
        render_campaigns=4,
    )
    grid.reset(seed=0)
    frame = grid.render()
    assert frame.ndim == 3 and frame.shape[0] > 400 and frame.shape[1] > 640
    env = grid.unwrapped
    for _ in range(21):  # 20 ticks end the episodes; the next step autoresets them
        grid.step(np.ones((6, 1), dtype=np.float32))
    assert [len(t.minutes) for t in env._renderer.traces] == [1, 1, 1, 1]
    text = PacingVectorEnv(3, SHORT, render_mode="ansi", render_campaigns=3)
    text.reset(seed=0)
    assert len(text.render().splitlines()) == 3


def test_off_throttle_has_its_own_band():
    shown = throttle_display(np.array([0.0, 1e-6, 1e-4, 0.5, np.nan]))
    assert shown[0] == OFF_THROTTLE < 1e-4  # "off" is not drawn at the smallest throttle
    assert shown[1] == shown[2] == 1e-4 and shown[3] == 0.5 and np.isnan(shown[4])


def test_sb3_make_vec_env_renders_without_falling_back():
    """SB3's make_vec_env asks for render_mode="rgb_array" first (it used to fall back with a
    warning); its VecEnv.render tiles the campaigns' frames."""
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env("pacegym/LiveCommerce-v0", n_envs=2, seed=0)
    assert venv.get_attr("render_mode") == ["rgb_array", "rgb_array"]
    venv.reset()
    venv.step(np.zeros((2, 1), dtype=np.float32))
    tiled = venv.render()
    assert tiled.ndim == 3 and tiled.shape[2] == 3
    assert tiled.shape[0] * tiled.shape[1] >= 2 * 400 * 640  # both frames
    venv.close()
