"""An interrupted run resumed from its checkpoint equals the uninterrupted run."""

from dataclasses import replace

import pytest
import torch

from pacegym.agents.algos import algo_class
from pacegym.agents.checkpoint import latest_checkpoint, read_state
from pacegym.agents.settings import AgentSettings, TrainSettings
from pacegym.agents.training import train_agent

HP = {
    "ppo": {"n_steps": 16, "batch_size": 64, "n_epochs": 2},
    "sac": {"learning_starts": 64, "batch_size": 64, "buffer_size": 5000, "train_freq": 4},
}


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_resume_continues_step_count_and_rng_state(tmp_path, algo):
    agent = AgentSettings(
        name=algo,
        algo=algo,
        net_arch=[16],
        hyperparams=HP[algo],
        normalize_obs=True,
        normalize_reward=True,
    )
    base = TrainSettings(
        n_envs=8, seed=3, eval_freq=0, eval_episodes=4, checkpoint_freq=128, progress_bar=False
    )
    full = train_agent(
        "live_commerce", agent, replace(base, total_timesteps=512), tmp_path / "full"
    )
    cut = train_agent("live_commerce", agent, replace(base, total_timesteps=256), tmp_path / "cut")
    ckpt = latest_checkpoint(tmp_path / "cut")
    assert read_state(ckpt)["num_timesteps"] == 256
    resumed = train_agent(
        "live_commerce",
        agent,
        replace(base, total_timesteps=512, resume=str(tmp_path / "cut")),
        tmp_path / "resumed",
    )
    assert cut.num_timesteps == 256
    assert resumed.num_timesteps == full.num_timesteps == 512
    assert resumed.steps_this_run == 256 and resumed.resumed_from == str(ckpt)
    cls = algo_class(algo)
    a = cls.load(full.last_model_dir / "model.zip").policy.state_dict()
    b = cls.load(resumed.last_model_dir / "model.zip").policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_without_checkpoint_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train\.resume"):
        latest_checkpoint(tmp_path)
