"""Checkpoints that resume an interrupted run exactly where it stopped.

Layout (one folder per checkpoint, ``LATEST`` written last so a crash mid-save
leaves the previous checkpoint as the latest)::

    <run_dir>/checkpoints/step_<num_timesteps>/
        model.zip           SB3 model: weights, optimiser, step count (read without
                            unpickling: ``agents.model_io.load_model``)
        rollout.npz         the model's last observation, episode starts and episode
                            statistics as plain arrays (what model.zip only has pickled)
        vecnormalize.npz    running observation/return statistics, plain arrays
        replay_buffer.pkl   off-policy algorithms only (SB3's pickle)
        state.pkl           env state (every campaign's random streams and buffers),
                            residual base controller state, VecNormalize returns,
                            RNG states (python, numpy global, torch, action space),
                            MLflow run id and extra bookkeeping
    <run_dir>/checkpoints/LATEST     name of the newest complete checkpoint

``state.pkl`` and ``replay_buffer.pkl`` are pickles (the env's object graph, with its
numba kernels and the base controller's objects, has no plain-data form yet): a checkpoint
is local state of one's own run, written by ``pacegym-train``; ``train.resume`` unpickles
them, so never resume from a folder someone else could write. Nothing else that loads a
model (compare, evaluate, benchmark, export) reads them.

Checkpoints are taken between rollouts (after a policy update, before the next
collection), so a resumed run makes the same updates as an uninterrupted one.
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from pacegym.agents.algos import ALGOS
from pacegym.agents.features import SelectFeatures
from pacegym.agents.model_io import load_model
from pacegym.agents.residual import ResidualVecEnv
from pacegym.agents.settings import AgentConfigError
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.agents.vecnorm_io import (
    VECNORM_FILE,
    load_vecnormalize,
    read_runtime,
    runtime_arrays,
    save_vecnormalize,
)

LATEST = "LATEST"
ROLLOUT_FILE = "rollout.npz"
AGENT_KEY = "agent_settings"
"""In a checkpoint's bookkeeping (``state["extra"]``): the ``AgentSettings`` it trained, as a
dict (``agents.training.check_resume`` refuses a resume with other settings)."""


def _layers(env: VecEnv) -> tuple[VecNormalize | None, ResidualVecEnv | None, PacingVecEnv]:
    vecnorm = env if isinstance(env, VecNormalize) else None
    inner = env.venv if vecnorm is not None else env
    residual = inner if isinstance(inner, ResidualVecEnv) else None
    pacing = residual.pacing if residual is not None else inner
    if isinstance(pacing, SelectFeatures):  # agent.features without a residual
        pacing = pacing.venv
    if not isinstance(pacing, PacingVecEnv):
        raise TypeError(f"expected a PacingVecEnv inside the training env, got {type(pacing)}")
    return vecnorm, residual, pacing


def rng_state(model: BaseAlgorithm) -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "action_space": model.action_space.np_random.bit_generator.state,
    }


def set_rng_state(model: BaseAlgorithm, state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    model.action_space.np_random.bit_generator.state = state["action_space"]


def save_checkpoint(
    run_dir: str | Path, model: BaseAlgorithm, extra: Mapping[str, Any] | None = None
) -> Path:
    """Save everything needed to resume ``model``'s training; returns the checkpoint folder."""
    root = Path(run_dir) / "checkpoints"
    out = root / f"step_{model.num_timesteps}"
    out.mkdir(parents=True, exist_ok=True)
    env = model.get_env()
    assert env is not None
    vecnorm, residual, pacing = _layers(env)
    model.save(out / "model.zip")
    np.savez(out / ROLLOUT_FILE, **runtime_arrays(model))
    if vecnorm is not None:
        save_vecnormalize(vecnorm, out / VECNORM_FILE)
    if isinstance(model, OffPolicyAlgorithm):
        model.save_replay_buffer(out / "replay_buffer.pkl")
    state = {
        "pacing": pacing,
        "residual": None
        if residual is None
        else {"base": residual.base, "b": residual._b, "actions": residual._actions},
        "vecnorm_returns": None if vecnorm is None else vecnorm.returns.copy(),
        "rng": rng_state(model),
        "num_timesteps": int(model.num_timesteps),
        "extra": dict(extra or {}),
    }
    with open(out / "state.pkl", "wb") as fh:
        pickle.dump(state, fh)
    (root / LATEST).write_text(out.name)
    return out


def latest_checkpoint(path: str | Path) -> Path:
    """The newest complete checkpoint under a run dir, its ``checkpoints/`` or a checkpoint."""
    p = Path(path)
    if (p / "state.pkl").is_file():
        return p
    for root in (p / "checkpoints", p):
        marker = root / LATEST
        if marker.is_file():
            ckpt = root / marker.read_text().strip()
            if (ckpt / "state.pkl").is_file():
                return ckpt
    raise FileNotFoundError(
        f"train.resume = {str(path)!r}: no checkpoint found (expected <run_dir>/checkpoints/"
        "LATEST written by pacegym-train, or a checkpoints/step_<n> folder)"
    )


def read_state(ckpt: str | Path) -> dict[str, Any]:
    with open(Path(ckpt) / "state.pkl", "rb") as fh:
        return pickle.load(fh)


def restore_env(env: VecEnv, state: Mapping[str, Any]) -> None:
    """Put a freshly built training env (same config) into the checkpoint's state."""
    vecnorm, residual, pacing = _layers(env)
    saved: PacingVecEnv = state["pacing"]
    if saved.num_envs != pacing.num_envs:
        raise ValueError(
            f"train.n_envs = {pacing.num_envs} differs from the checkpoint's {saved.num_envs}: "
            "resume with the same n_envs"
        )
    pacing.__dict__.update(saved.__dict__)
    pacing._needs_reset = False  # a checkpoint is taken mid-training, after the first reset
    if residual is not None and state.get("residual"):
        residual.base = state["residual"]["base"]
        residual._resetter.controller = residual.base
        residual._b = state["residual"]["b"]
        residual._actions = state["residual"]["actions"]
    if vecnorm is not None and state.get("vecnorm_returns") is not None:
        vecnorm.returns = state["vecnorm_returns"].copy()


def load_checkpoint(
    ckpt: str | Path,
    algo_cls: type[BaseAlgorithm],
    env: VecEnv,
    device: str = "cpu",
    hyperparams: Mapping[str, Any] | None = None,
) -> tuple[BaseAlgorithm, VecEnv, dict[str, Any]]:
    """Load model, normalisation, replay buffer, env and RNG state; returns (model, env, state).

    ``env`` is a fresh training env built from the same config (its VecNormalize, if any,
    is replaced by the saved one); ``hyperparams``: the agent's (``train_freq``).
    """
    c = Path(ckpt)
    if (c / "vecnormalize.pkl").is_file() or not (c / ROLLOUT_FILE).is_file():
        raise AgentConfigError(
            f"train.resume = {str(c)!r}: a checkpoint of an older pacegym (pickled model state"
            f" and VecNormalize): not read; start the run again"
        )
    state = read_state(c)
    vecnorm, _, _ = _layers(env)
    if vecnorm is not None and (c / VECNORM_FILE).is_file():
        env = load_vecnormalize(c / VECNORM_FILE, vecnorm.venv)
    restore_env(env, state)
    algo = {cls: name for name, cls in ALGOS.items()}[algo_cls]
    # force_reset=False keeps the saved last observation: no extra env reset on resume
    model = load_model(
        c / "model.zip",
        algo,
        env=env,
        hyperparams=hyperparams,
        runtime=read_runtime(c / ROLLOUT_FILE),
        device=device,
        force_reset=False,
    )
    if isinstance(model, OffPolicyAlgorithm) and (c / "replay_buffer.pkl").is_file():
        model.load_replay_buffer(c / "replay_buffer.pkl")
    set_rng_state(model, state["rng"])
    return model, env, state
