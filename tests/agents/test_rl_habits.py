"""What an RL user expects of a training run: SB3-style progress lines off a terminal,
TensorBoard event files beside MLflow (``train.tensorboard``), a clear refusal without the
``tensorboard`` package, and SB3's episode statistics from ``PacingVecEnv``."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import yaml

from pacegym import progress
from pacegym.agents.settings import AgentConfigError, AgentSettings, TrainSettings
from pacegym.agents.training import train_agent, validate
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.experiments.config import CONF_DIR

SHORT = {"base": "live_commerce", "time": {"flight_min": 5}}  # 20 ticks: episodes end


def _settings(**train: object) -> tuple[AgentSettings, TrainSettings]:
    agent = yaml.safe_load((CONF_DIR / "agent" / "ppo.yaml").read_text())
    agent["hyperparams"].update(n_steps=16, batch_size=64, n_epochs=1)
    base = {"n_envs": 8, "seed": 0, "eval_freq": 0, "eval_episodes": 2, "checkpoint_freq": 0}
    return AgentSettings.from_mapping(agent), TrainSettings.from_mapping({**base, **train})


def test_off_a_terminal_training_prints_sb3_style_lines(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.0)
    agent, train = _settings(total_timesteps=384, progress_bar=True)
    train_agent(SHORT, agent, train, tmp_path)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("train: ")]
    assert len(lines) == 3, lines  # one per rollout of 8 x 16 env-steps
    assert lines[0].startswith("train: 128/384 env-steps (33%) | elapsed ")
    for key in ("eta", "fps", "ep_rew_mean", "ep_len_mean"):
        assert f"| {key} " in lines[-1]
    assert "| value_loss " in lines[-1] and "| approx_kl " in lines[-1]  # the last update's


def test_short_runs_off_a_terminal_print_no_lines(tmp_path, capsys):
    agent, train = _settings(total_timesteps=128, progress_bar=True)
    train_agent(SHORT, agent, train, tmp_path)
    assert "train: " not in capsys.readouterr().err


def test_tensorboard_gets_sb3s_scalars_and_pacegyms(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    agent, train = _settings(total_timesteps=256, tensorboard=True, progress_bar=False)
    train_agent(SHORT, agent, train, tmp_path)
    tags = {}
    for d in sorted((tmp_path / "tensorboard").iterdir()):
        acc = EventAccumulator(str(d))
        acc.Reload()
        tags[d.name] = set(acc.Tags()["scalars"])
    ours = tags.pop("pacegym")
    assert {"train/ep_return", "train/pacing_score_v2", "eval/pacing_score_v2"} <= ours
    (sb3,) = tags.values()  # SB3's own run folder (PPO_<n>)
    assert {"rollout/ep_rew_mean", "time/fps"} <= sb3


def test_tensorboard_without_its_package_is_refused_before_training(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    agent, train = _settings(total_timesteps=128, tensorboard=True)
    with pytest.raises(
        AgentConfigError, match=r"train\.tensorboard = true needs the 'tensorboard'"
    ):
        validate("live_commerce", agent, train)


def test_sb3_view_episode_statistics_follow_gymnasium():
    env = PacingVecEnv(SHORT, n_envs=2, seed=0)
    env.reset()
    rewards = np.zeros(2)
    for _ in range(20):
        _, r, dones, infos = env.step(np.zeros((2, 1), dtype=np.float32))
        rewards += r
    assert dones.all()
    for i, info in enumerate(infos):
        assert set(info["episode"]) == {"r", "l", "t"} and info["episode"]["l"] == 20
        assert info["episode"]["r"] == pytest.approx(rewards[i], abs=1e-6)
