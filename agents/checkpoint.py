"""Checkpoints that resume an interrupted run exactly where it stopped; nothing in them
is unpickled.

Layout (one folder per checkpoint, ``LATEST`` written last so a crash mid-save
leaves the previous checkpoint as the latest)::

    <run_dir>/checkpoints/step_<num_timesteps>/
        model.zip           SB3 model: weights, optimiser, step count (read without
                            unpickling: ``agents.model_io.load_model``)
        rollout.npz         the model's last observation, episode starts and episode
                            statistics as plain arrays (what model.zip only has pickled)
        vecnormalize.npz    running observation/return statistics, plain arrays
        replay_buffer.npz   off-policy algorithms only: the replay buffer's arrays
                            (``agents.replay_io``)
        state.npz           env state as named plain arrays: the core's state arrays and
                            random streams, the episode counters, the residual base's
                            state, VecNormalize's returns, the RNG states
                            (``agents.env_state``)
        state.json          the run's scenarios and ``n_envs``, the env and RNG scalars,
                            the step count and bookkeeping (``extra``)
    <run_dir>/checkpoints/LATEST     name of the newest complete checkpoint

A resume builds the training env from the run's own config (``agents.training``: refused
unless the scenarios and ``n_envs`` match ``state.json``), then overwrites its arrays with
``state.npz``'s, each name, shape and dtype checked first (one line naming the array).
Every file is read bounded and without pickle (npz members' headers first, no object
arrays). A checkpoint of an older pacegym (``state.pkl``, ``replay_buffer.pkl``,
``vecnormalize.pkl``) is refused in one line naming the file: start the run again.

Checkpoints are taken between rollouts (after a policy update, before the next
collection), so a resumed run makes the same updates as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from pacegym.agents.algos import ALGOS
from pacegym.agents.env_state import (
    env_arrays,
    env_scalars,
    layers,
    load_env_state,
    rng_arrays,
    rng_scalars,
    set_rng,
)
from pacegym.agents.export.runtime.manifest import PacerError, npz_arrays
from pacegym.agents.model_io import MAX_DATA_BYTES, load_model, parse_json
from pacegym.agents.replay_io import REPLAY_FILE, load_replay_buffer, save_replay_buffer
from pacegym.agents.settings import AgentConfigError
from pacegym.agents.vecnorm_io import (
    VECNORM_FILE,
    load_vecnormalize,
    read_runtime,
    runtime_arrays,
    save_vecnormalize,
)
from pacegym.envs.scenarios import to_dict
from pacegym.envs.snapshot import SnapshotError

LATEST = "LATEST"
ROLLOUT_FILE = "rollout.npz"
STATE_FILE = "state.json"
ARRAYS_FILE = "state.npz"
FORMAT = "pacegym-checkpoint/2"
"""``state.json``'s ``format``: the layout of the module docstring."""
PICKLED = ("state.pkl", "replay_buffer.pkl", "vecnormalize.pkl")
"""Files of an older pacegym's checkpoint: pickles, never read."""
SLACK_BYTES = 1 << 16
"""[bytes] what ``state.npz`` may hold beyond the arrays the run's env expects."""
AGENT_KEY = "agent_settings"
"""In a checkpoint's bookkeeping (``state["extra"]``): the ``AgentSettings`` it trained, as a
dict (``agents.training.check_resume`` refuses a resume with other settings)."""


class CheckpointError(AgentConfigError):
    """A checkpoint refused before anything in it is used (one line: the file, the array)."""


def plain(value: Any) -> Any:
    """``value`` as its JSON round trip (tuples become lists): how a checkpoint compares."""
    return json.loads(json.dumps(value))


def save_checkpoint(
    run_dir: str | Path, model: BaseAlgorithm, extra: Mapping[str, Any] | None = None
) -> Path:
    """Save everything needed to resume ``model``'s training; returns the checkpoint folder."""
    root = Path(run_dir) / "checkpoints"
    out = root / f"step_{model.num_timesteps}"
    out.mkdir(parents=True, exist_ok=True)
    env = model.get_env()
    assert env is not None
    vecnorm, _, pacing = layers(env)
    model.save(out / "model.zip")
    np.savez(out / ROLLOUT_FILE, **runtime_arrays(model))
    if vecnorm is not None:
        save_vecnormalize(vecnorm, out / VECNORM_FILE)
    if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        save_replay_buffer(model.replay_buffer, out / REPLAY_FILE)
    with open(out / ARRAYS_FILE, "wb") as fh:
        np.savez(fh, **env_arrays(env), **rng_arrays(model))
    state = {
        "format": FORMAT,
        "num_timesteps": int(model.num_timesteps),
        "n_envs": int(pacing.num_envs),
        "scenarios": [to_dict(s) for s in pacing.scenarios],
        "env": env_scalars(env),
        "rng": rng_scalars(),
        "extra": dict(extra or {}),
    }
    (out / STATE_FILE).write_text(json.dumps(state, default=float))
    (root / LATEST).write_text(out.name)
    return out


def _is_checkpoint(path: Path) -> bool:
    return any((path / name).is_file() for name in (STATE_FILE, *PICKLED[:1]))


def latest_checkpoint(path: str | Path) -> Path:
    """The newest complete checkpoint under a run dir, its ``checkpoints/`` or a checkpoint
    (an older pacegym's too: ``read_state`` refuses it)."""
    p = Path(path)
    if _is_checkpoint(p):
        return p
    for root in (p / "checkpoints", p):
        marker = root / LATEST
        if marker.is_file():
            ckpt = root / marker.read_text().strip()
            if _is_checkpoint(ckpt):
                return ckpt
    raise FileNotFoundError(
        f"train.resume = {str(path)!r}: no checkpoint found (expected <run_dir>/checkpoints/"
        "LATEST written by pacegym-train, or a checkpoints/step_<n> folder)"
    )


def refuse_pickles(ckpt: str | Path) -> None:
    """Raise ``CheckpointError`` naming the first pickled file (``PICKLED``) in ``ckpt``."""
    c = Path(ckpt)
    for name in PICKLED:
        if (c / name).exists():
            raise CheckpointError(
                f"train.resume = {str(c)!r}: {c / name} is a pickled checkpoint file of an "
                "older pacegym: never read; start the run again"
            )


def read_state(ckpt: str | Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint (bounded, checked); ``CheckpointError`` otherwise."""
    c = Path(ckpt)
    refuse_pickles(c)
    p = c / STATE_FILE
    key = f"train.resume = {str(c)!r}: {p}"
    if not p.is_file() or p.stat().st_size > MAX_DATA_BYTES:
        raise CheckpointError(f"{key}: allowed a state file of at most {MAX_DATA_BYTES} bytes")
    try:
        state = parse_json(p.read_bytes(), p, "state")
    except AgentConfigError as e:
        raise CheckpointError(f"train.resume = {str(c)!r}: {e}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{key}: format = {got!r}: allowed {FORMAT!r}; start the run again")
    if not isinstance(state.get("extra"), dict) or not isinstance(state.get("num_timesteps"), int):
        raise CheckpointError(f"{key}: allowed 'extra' (object) and 'num_timesteps' (integer)")
    return state


def read_arrays(ckpt: str | Path, env: VecEnv, model: BaseAlgorithm) -> dict[str, np.ndarray]:
    """``state.npz`` of a checkpoint, read without pickle and bounded by what ``env`` and
    ``model`` hold; ``CheckpointError`` otherwise."""
    p = Path(ckpt) / ARRAYS_FILE
    want = {**env_arrays(env), **rng_arrays(model)}
    limit = sum(a.nbytes for a in want.values()) + SLACK_BYTES
    try:
        return npz_arrays(str(p), str(p), limit)
    except (PacerError, OSError) as e:
        raise CheckpointError(f"train.resume = {str(Path(ckpt))!r}: {e}") from None


def load_checkpoint(
    ckpt: str | Path,
    algo_cls: type[BaseAlgorithm],
    env: VecEnv,
    device: str = "cpu",
    hyperparams: Mapping[str, Any] | None = None,
) -> tuple[BaseAlgorithm, VecEnv, dict[str, Any]]:
    """Load model, normalisation, replay buffer, env and RNG state; returns (model, env, state).

    ``env`` is a fresh training env built from the run's own config (its VecNormalize, if
    any, is replaced by the saved one); ``hyperparams``: the agent's (``train_freq``).
    Raises ``CheckpointError`` (one line naming the file, and the array) for an older
    pacegym's checkpoint or a file that does not fit the run's env and model.
    """
    c = Path(ckpt)
    state = read_state(c)
    if not (c / ROLLOUT_FILE).is_file():
        raise CheckpointError(f"train.resume = {str(c)!r}: {c / ROLLOUT_FILE} is missing")
    vecnorm, _, _ = layers(env)
    if vecnorm is not None and (c / VECNORM_FILE).is_file():
        env = load_vecnormalize(c / VECNORM_FILE, vecnorm.venv)
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
    arrays = read_arrays(c, env, model)
    try:
        load_env_state(env, arrays, state.get("env") or {}, str(c / ARRAYS_FILE))
        if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
            load_replay_buffer(model.replay_buffer, c / REPLAY_FILE)
        set_rng(model, arrays, state.get("rng") or {}, str(c / ARRAYS_FILE))
    except SnapshotError as e:
        raise CheckpointError(f"train.resume = {str(c)!r}: {e}") from None
    return model, env, state
