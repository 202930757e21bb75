"""The training bar counts the whole run: it starts at a resumed run's step count and never
passes the budget, although PPO finishes its last rollout past it."""

import yaml

from pacegym.agents import callbacks
from pacegym.agents.settings import AgentSettings, TrainSettings
from pacegym.agents.training import train_agent
from pacegym.experiments.config import CONF_DIR


class _Bar:
    def __init__(self, total, desc, unit, initial=0, enabled=True):
        self.total, self.n, self.initial, self.closed = total, initial, initial, False
        self.updates = []
        BARS.append(self)

    def update(self, k):
        self.n += k
        self.updates.append(k)

    def close(self):
        self.closed = True


BARS: list[_Bar] = []


def test_bar_starts_at_the_resumed_step_and_stops_at_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(callbacks, "bar", _Bar)
    agent = yaml.safe_load((CONF_DIR / "agent" / "ppo.yaml").read_text())
    agent["hyperparams"].update(n_steps=16, batch_size=64, n_epochs=1)
    train = {
        "n_envs": 8,
        "seed": 0,
        "eval_freq": 0,
        "eval_episodes": 2,
        "checkpoint_freq": 0,
        "progress_bar": True,
        "total_timesteps": 200,  # rollouts of 8 x 16 = 128 env-steps: SB3 runs to 256
    }
    first = train_agent(
        "live_commerce",
        AgentSettings.from_mapping(agent),
        TrainSettings.from_mapping(train),
        tmp_path,
    )
    assert first.num_timesteps == 256
    bar = BARS[-1]
    assert (bar.total, bar.initial, bar.n, bar.closed) == (200, 0, 200, True)  # not 256/200
    more = {**train, "total_timesteps": 512, "resume": str(tmp_path)}
    second = train_agent(
        "live_commerce",
        AgentSettings.from_mapping(agent),
        TrainSettings.from_mapping(more),
        tmp_path / "more",
    )
    assert second.num_timesteps == 512
    bar = BARS[-1]
    assert (bar.total, bar.initial, bar.n) == (512, 256, 512)  # continues, not from zero
