"""``hyperparams/*.yml``: RL Zoo's format (one entry per registered id, the Zoo's own keys
plus the algorithm's constructor arguments) and the values of ``conf/agent/<algo>.yaml``
(one source of the tuned values: a change there must be made here too)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml
from stable_baselines3 import PPO, SAC

from pacegym import ENV_IDS
from pacegym.experiments.config import CONF_DIR

ROOT = Path(__file__).resolve().parents[2]
ZOO_KEYS = {"n_envs", "n_timesteps", "policy", "normalize", "policy_kwargs"}
"""Keys RL Zoo reads itself (the rest go to the algorithm's constructor)."""
PER_ENV = {"n_steps"}
"""Constructor arguments that differ on purpose: the Zoo steps fewer campaigns at once."""


@pytest.mark.parametrize(("algo", "cls"), [("ppo", PPO), ("sac", SAC)])
def test_zoo_file_matches_the_agent_config(algo, cls):
    zoo = yaml.safe_load((ROOT / "hyperparams" / f"{algo}.yml").read_text())
    assert set(zoo) == set(ENV_IDS)
    ours = yaml.safe_load((CONF_DIR / "agent" / f"{algo}.yaml").read_text())["hyperparams"]
    args = set(inspect.signature(cls).parameters)
    for env_id, hp in zoo.items():
        assert set(hp) - ZOO_KEYS <= args, env_id
        assert {k: hp[k] for k in ours if k not in PER_ENV} == {
            k: v for k, v in ours.items() if k not in PER_ENV
        }, env_id
