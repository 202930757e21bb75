"""Agent configs that cannot train fail before any training, naming the key."""

import pytest

from pacegym.agents.algos import AgentConfigError, build_model, check_agent, make_env
from pacegym.agents.settings import AgentSettings

BASE = {"name": "x", "algo": "ppo", "policy": "MlpPolicy", "net_arch": [8], "hyperparams": {}}


def _agent(**change) -> AgentSettings:
    return AgentSettings.from_mapping({**BASE, **change})


@pytest.mark.parametrize("algo", ["ppo", "sac", "td3", "recurrent_ppo"])
def test_supported_algorithms_build(algo):
    on_policy = algo in ("ppo", "recurrent_ppo")
    agent = _agent(
        algo=algo,
        policy="MlpLstmPolicy" if algo == "recurrent_ppo" else "MlpPolicy",
        hyperparams={"n_steps": 8, "batch_size": 16} if on_policy else {},
    )
    env, _ = make_env("live_commerce", agent, 2, 0)
    assert build_model(agent, env, 0).num_timesteps == 0


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"algo": "dqn"}, "action spaces"),
        ({"algo": "nope"}, "agent.algo"),
        ({"policy": "CnnPolicyX"}, "agent.policy"),
        ({"hyperparams": {"learnig_rate": 1e-3}}, "agent.hyperparams.learnig_rate"),
    ],
)
def test_bad_agent_configs_name_the_key(change, match):
    with pytest.raises(AgentConfigError, match=match):
        check_agent(_agent(**change))


def test_bad_hyperparameter_value_fails_at_build():
    agent = _agent(hyperparams={"n_steps": 8, "batch_size": 1})
    env, _ = make_env("live_commerce", agent, 2, 0)
    with pytest.raises(AgentConfigError, match="agent 'x'"):
        build_model(agent, env, 0)
