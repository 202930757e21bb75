"""PPO training throughput on the batched env (env-steps/s, end to end: rollouts + updates).

    python benchmarks/bench_train.py [--steps 131072] [--repeats 3]

Prints a markdown table: one row per configuration, the median over repeats of
env-steps (campaign-steps) per second of ``model.learn`` (PPO, MLP 64x64, the
``conf/agent/ppo.yaml`` hyperparameters, torch on 1 thread), plus the rollout-only rate
(actions from the policy, no updates) and a ``DummyVecEnv`` of single envs for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from pacegym.agents.algos import build_model, make_env
from pacegym.agents.settings import AgentSettings
from pacegym.envs.pacing_env import PacingEnv
from pacegym.experiments.config import CONF_DIR


def _agent(name: str = "ppo") -> AgentSettings:
    """``conf/agent/<name>.yaml`` as the train app composes it (defaults entries included)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", [f"agent={name}"])
    return AgentSettings.from_mapping(OmegaConf.to_container(cfg.agent, resolve=True))


def learn_rate(agent: AgentSettings, n_envs: int, steps: int) -> float:
    env, _ = make_env("live_commerce", agent, n_envs, 0)
    model = build_model(agent, env, 0)
    model.learn(n_envs * agent.hyperparams["n_steps"])  # warm-up (numba, torch)
    t = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return (model.num_timesteps - n_envs * agent.hyperparams["n_steps"]) / (time.perf_counter() - t)


def rollout_rate(agent: AgentSettings, n_envs: int, steps: int) -> float:
    env, _ = make_env("live_commerce", agent, n_envs, 0)
    model = build_model(agent, env, 0)
    obs = env.reset()
    t = time.perf_counter()
    done = 0
    while done < steps:
        a, _ = model.predict(obs)
        obs, *_ = env.step(a)
        done += n_envs
    return done / (time.perf_counter() - t)


def dummy_rate(agent: AgentSettings, n_envs: int, steps: int) -> float:
    env = VecNormalize(DummyVecEnv([PacingEnv for _ in range(n_envs)]))
    hp = {**agent.hyperparams, "n_steps": max(agent.hyperparams["n_steps"], 256)}
    hp["batch_size"] = min(hp["batch_size"], hp["n_steps"] * n_envs)
    model = PPO("MlpPolicy", env, seed=0, policy_kwargs={"net_arch": [64, 64]}, **hp)
    model.learn(hp["n_steps"] * n_envs)
    t = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return (model.num_timesteps - hp["n_steps"] * n_envs) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=131_072)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    agent = _agent("ppo")
    residual = _agent("ppo_residual")
    rows = [
        (
            "PPO learn, batched PacingVecEnv, 128 campaigns",
            lambda: learn_rate(agent, 128, args.steps),
        ),
        (
            "PPO learn, batched PacingVecEnv, 256 campaigns",
            lambda: learn_rate(agent, 256, args.steps),
        ),
        (
            "residual PPO learn (PID base), 256 campaigns",
            lambda: learn_rate(residual, 256, args.steps),
        ),
        (
            "PPO rollout only (no update), 256 campaigns",
            lambda: rollout_rate(agent, 256, args.steps),
        ),
        ("PPO learn, DummyVecEnv of 8 PacingEnv", lambda: dummy_rate(agent, 8, args.steps // 4)),
    ]
    print(f"{args.repeats} repeats, {args.steps:,} env-steps each, torch threads 1\n")
    print("| configuration | env-steps/s (median) | min | max |")
    print("|---|---:|---:|---:|")
    for name, fn in rows:
        vals = [fn() for _ in range(args.repeats)]
        print(
            f"| {name} | {statistics.median(vals):,.0f} | {min(vals):,.0f} | {max(vals):,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
