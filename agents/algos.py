"""Algorithm registry and construction of the training env and SB3 model from settings.

Everything here reads an ``agents.settings.AgentSettings`` (keys, types and defaults
are declared there): ``algo`` one of ``ALGOS``, ``policy`` (SB3 policy alias),
``net_arch``, ``hyperparams`` (keyword arguments of the algorithm's constructor; one
left out takes the constructor's default), ``normalize_obs``/``normalize_reward``/
``clip_obs`` (VecNormalize), ``residual`` (``enabled``, ``base``, ``scale_decades``).
Every check here runs before any training time is spent.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
from sb3_contrib import RecurrentPPO
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from pacegym.agents.discount import DISCOUNT_ALGOS, FlightDiscountBuffer
from pacegym.agents.features import SegmentMask, SelectFeatures, segment_pad
from pacegym.agents.feedback import FeedbackVecEnv
from pacegym.agents.residual import ResidualVecEnv
from pacegym.agents.settings import AgentConfigError, AgentSettings
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.envs.pacing_env import action_space

ALGOS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "sac": SAC,
    "td3": TD3,
    "recurrent_ppo": RecurrentPPO,
    "a2c": A2C,
    "ddpg": DDPG,
    "dqn": DQN,
}
OFF_POLICY = {"sac", "td3", "ddpg", "dqn"}
_ALL = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
ACTION_SPACES: dict[str, tuple[type[gym.Space], ...]] = {
    "ppo": _ALL,
    "a2c": _ALL,
    "recurrent_ppo": _ALL,
    "sac": (gym.spaces.Box,),
    "td3": (gym.spaces.Box,),
    "ddpg": (gym.spaces.Box,),
    "dqn": (gym.spaces.Discrete,),
}
"""Action spaces each algorithm supports (SB3 checks this only inside the constructor)."""


__all__ = [
    "ACTION_SPACES",
    "ALGOS",
    "OFF_POLICY",
    "AgentConfigError",
    "algo_class",
    "build_model",
    "check_agent",
    "constructor_default",
    "is_recurrent",
    "make_env",
    "space_shape",
    "wrap_env",
]


def algo_class(algo: str) -> type[BaseAlgorithm]:
    if algo not in ALGOS:
        raise AgentConfigError(f"agent.algo = {algo!r}: allowed {sorted(ALGOS)}")
    return ALGOS[algo]


def constructor_default(cls: type[BaseAlgorithm], name: str) -> Any:
    """The default of argument ``name`` of ``cls``'s constructor (SB3 is its one source)."""
    return inspect.signature(cls.__init__).parameters[name].default


def check_agent(agent: AgentSettings) -> type[BaseAlgorithm]:
    """Validate algorithm, action space, policy alias and hyperparameter names."""
    algo = agent.algo
    cls = algo_class(algo)
    spaces = ACTION_SPACES[algo]
    if not isinstance(action_space(), spaces):
        raise AgentConfigError(
            f"agent.algo = {algo!r} supports action spaces "
            f"{[s.__name__ for s in spaces]}, but pacegym's action is a continuous "
            f"{action_space()}: use one of ppo, sac, td3, recurrent_ppo, a2c, ddpg"
        )
    policy = agent.policy
    if policy not in cls.policy_aliases:
        raise AgentConfigError(
            f"agent.policy = {policy!r} for {algo}: allowed {sorted(cls.policy_aliases)}"
        )
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "policy", "env"}
    for key in agent.hyperparams:
        if key not in allowed:
            raise AgentConfigError(
                f"agent.hyperparams.{key} is not a {cls.__name__} argument: allowed {sorted(allowed)}"
            )
    return cls


def make_env(
    scenario: Any,
    agent: AgentSettings,
    n_envs: int,
    seed: int,
    reward_scale: str = "none",
    scenario_weights: Sequence[float] | None = None,
) -> tuple[VecEnv, PacingVecEnv]:
    """The (possibly residual, normalised) training env and its inner ``PacingVecEnv``.

    ``reward_scale`` is ``train.reward_scale``: ``"normalised"`` is the env's ``"flight"``
    with ``scenario_weights`` (``baselines.weighting.scenario_weights``, required then).
    """
    if reward_scale == "normalised":
        if scenario_weights is None:
            raise ValueError("reward_scale = 'normalised' needs scenario_weights")
        reward_scale = "flight"
    pacing = PacingVecEnv(
        scenario,
        n_envs=n_envs,
        seed=seed,
        reward_scale=reward_scale,
        scenario_weights=scenario_weights,
        max_segments=agent.max_segments or None,
    )
    return wrap_env(pacing, agent), pacing


def wrap_env(pacing: PacingVecEnv, agent: AgentSettings) -> VecEnv:
    """``pacing`` wrapped as ``agent`` says: residual on its base (or ``agent.features``
    selected), the feedback columns (``agent.feedback``), the padded layout's mask
    (``agent.max_segments``, ``agents.features.SegmentMask``), then ``VecNormalize``.

    The return normalisation discounts with the algorithm's own ``gamma`` (the
    constructor's default when ``agent.hyperparams`` leaves it out).
    """
    env: VecEnv = pacing
    res = agent.residual
    if res.enabled:
        env = ResidualVecEnv(pacing, res.base, res.scale_decades, agent.features)
    elif agent.features:
        env = SelectFeatures(pacing, agent.features)
    if agent.feedback:
        env = FeedbackVecEnv(env, pacing)
    if pacing.segment_counts is not None:  # agent.max_segments: the mask columns last
        pad = segment_pad(agent.features, agent.max_segments, res.enabled)
        env = SegmentMask(env, pad, pacing.segment_counts)
    if agent.normalized:
        gamma = agent.hyperparams.get("gamma", constructor_default(algo_class(agent.algo), "gamma"))
        env = VecNormalize(
            env,
            norm_obs=agent.normalize_obs,
            norm_reward=agent.normalize_reward,
            clip_obs=agent.clip_obs,
            gamma=float(gamma),
        )
    return env


def build_model(
    agent: AgentSettings,
    env: VecEnv,
    seed: int,
    device: str = "cpu",
    discount_scales: Sequence[float] | None = None,
) -> BaseAlgorithm:
    """A fresh SB3 model; constructor errors become ``AgentConfigError`` naming the agent.

    ``discount_scales`` (one per env; ``agents.discount.flight_scales``) discounts env ``i``
    by ``gamma ** scales[i]`` (``train.discount: flight``; PPO and A2C only).
    """
    cls = check_agent(agent)
    hp = dict(agent.hyperparams)
    if discount_scales is not None:
        if agent.algo not in DISCOUNT_ALGOS:
            raise AgentConfigError(
                f"train.discount = 'flight': agent.algo = {agent.algo!r} has no rollout "
                f"buffer to discount; allowed with {list(DISCOUNT_ALGOS)}"
            )
        hp["rollout_buffer_class"] = FlightDiscountBuffer
        hp["rollout_buffer_kwargs"] = {"scales": list(discount_scales)}
    policy_kwargs = dict(hp.pop("policy_kwargs", None) or {})
    if agent.net_arch:
        policy_kwargs.setdefault("net_arch", list(agent.net_arch))
    try:
        return cls(
            agent.policy,
            env,
            seed=seed,
            device=device,
            policy_kwargs=policy_kwargs,
            verbose=0,
            **hp,
        )
    except (AssertionError, TypeError, ValueError) as exc:
        raise AgentConfigError(f"agent {agent.name!r} ({agent.algo}): {exc}") from exc


def is_recurrent(model: BaseAlgorithm) -> bool:
    return isinstance(model, RecurrentPPO)


def space_shape(space: gym.Space) -> tuple[int, ...]:
    return tuple(space.shape or ())
