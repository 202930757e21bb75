"""An interrupted run resumed from its checkpoint equals the uninterrupted run."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from pacegym.agents.algos import algo_class, make_env
from pacegym.agents.checkpoint import latest_checkpoint, load_checkpoint, read_state
from pacegym.agents.discount import flight_scales
from pacegym.agents.settings import (
    AgentConfigError,
    AgentSettings,
    ResidualSettings,
    TrainSettings,
)
from pacegym.agents.training import train_agent, validate
from pacegym.envs.scenarios import resolve

HP = {
    "ppo": {"n_steps": 16, "batch_size": 64, "n_epochs": 2},
    "sac": {"learning_starts": 64, "batch_size": 64, "buffer_size": 5000, "train_freq": 4},
}


@pytest.mark.slow
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
    agent = AgentSettings(net_arch=[8])
    with pytest.raises(AgentConfigError, match=r"^train\.resume = .*: no checkpoint found"):
        train_agent("live_commerce", agent, TrainSettings(resume=str(tmp_path)), tmp_path / "new")
    assert not (tmp_path / "new").exists()


TINY_AGENT = AgentSettings(name="ppo", net_arch=[8], hyperparams=HP["ppo"] | {"n_epochs": 1})
TINY_TRAIN = TrainSettings(
    total_timesteps=128,
    n_envs=8,
    eval_freq=0,
    eval_episodes=2,
    checkpoint_freq=0,
    progress_bar=False,
)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("resume") / "run"
    train_agent("live_commerce", TINY_AGENT, TINY_TRAIN, run)
    return run


@pytest.mark.parametrize(
    ("scenario", "agent", "train", "match"),
    [
        (
            "daily_budget",
            TINY_AGENT,
            {"total_timesteps": 512},
            r"scenario 'daily_budget' .* differs from the checkpoint's 'live_commerce'",
        ),
        (
            "live_commerce",
            replace(TINY_AGENT, net_arch=[16]),
            {"total_timesteps": 512},
            r"agent\.net_arch = \[16\] differs from the checkpoint's \[8\]",
        ),
        (
            "live_commerce",
            replace(TINY_AGENT, algo="sac", hyperparams={}),
            {"total_timesteps": 512},
            r"agent\.algo = 'sac' differs from the checkpoint's 'ppo'",
        ),
        (
            "live_commerce",
            TINY_AGENT,
            {"total_timesteps": 512, "randomize": {"traffic.base_rate": [4.0, 16.0]}},
            r"scenario 'live_commerce' \(with train\.randomize, train\.scenarios, train\.jitter\) "
            "differs",
        ),
        (
            "live_commerce",
            TINY_AGENT,
            {"total_timesteps": 512, "n_envs": 4},
            r"train\.n_envs = 4 differs from the checkpoint's 8",
        ),
        (
            "live_commerce",
            TINY_AGENT,
            {"total_timesteps": 128},
            r"the run already reached 128 env-steps .*allowed train\.total_timesteps > 128",
        ),
    ],
    ids=["scenario", "net_arch", "algo", "randomize", "n_envs", "finished"],
)
def test_a_resume_that_does_not_match_its_checkpoint_is_refused_before_any_work(
    finished_run, tmp_path, scenario, agent, train, match
):
    settings = replace(TINY_TRAIN, resume=str(finished_run), **train)
    for call in (
        lambda: validate(scenario, agent, settings),
        lambda: train_agent(scenario, agent, settings, tmp_path / "resumed"),
    ):
        with pytest.raises(AgentConfigError, match=rf"^train\.resume = '.*': {match}") as info:
            call()
        assert "\n" not in str(info.value)
    assert not (tmp_path / "resumed").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("reward_scale", "discount"), [("flight", "constant"), ("normalised", "flight")]
)
def test_a_domain_randomised_residual_run_resumes_exactly(tmp_path, reward_scale, discount):
    """train.scenarios, train.jitter, agent.features, the flight-scaled (or normalised)
    reward and the per-flight discount: the checkpoint holds the mixture's cores, and the
    resumed run equals the uninterrupted one."""
    agent = AgentSettings(
        name="gen",
        net_arch=[16],
        hyperparams=HP["ppo"],
        normalize_reward=True,
        features=["time_elapsed", "plan", "plan_error", "reported_spend", "in_flight"],
        residual=ResidualSettings(
            enabled=True, base={"kind": "pid", "params": {"plan": "observed"}}
        ),
    )
    base = TrainSettings(
        n_envs=8,
        seed=5,
        eval_freq=0,
        eval_episodes=4,
        checkpoint_freq=128,
        progress_bar=False,
        scenarios=["live_commerce", "suite/small_budget"],
        jitter={"traffic.base_rate": 0.3},
        reward_scale=reward_scale,
        discount=discount,
    )
    full = train_agent("live_commerce", agent, replace(base, total_timesteps=512), tmp_path / "f")
    train_agent("live_commerce", agent, replace(base, total_timesteps=256), tmp_path / "c")
    resumed = train_agent(
        "live_commerce",
        agent,
        replace(base, total_timesteps=512, resume=str(tmp_path / "c")),
        tmp_path / "r",
    )
    a = algo_class("ppo").load(full.last_model_dir / "model.zip").policy.state_dict()
    b = algo_class("ppo").load(resumed.last_model_dir / "model.zip").policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    if discount == "flight":  # the resumed model still discounts per flight
        env, _ = make_env(base.scenarios, agent, 8, 5, "flight", [1.0, 1.0])
        ckpt = latest_checkpoint(str(tmp_path / "r"))
        model, _, _ = load_checkpoint(ckpt, algo_class("ppo"), env, "cpu")
        scales = flight_scales([resolve(s) for s in base.scenarios], 8)
        np.testing.assert_allclose(model.rollout_buffer.gamma, 0.99 ** np.array(scales), 1e-6)
        assert model.rollout_buffer.gamma[0] > 0.99  # 90-minute flights: past 1 hour
    other = replace(
        base, total_timesteps=512, resume=str(tmp_path / "c"), scenarios=["live_commerce"]
    )
    with pytest.raises(AgentConfigError, match=r"differs from the checkpoint's"):
        validate("live_commerce", agent, other)
