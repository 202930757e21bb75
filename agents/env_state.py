"""A training env's state and the process's random state as plain arrays plus JSON scalars.

What a checkpoint's ``state.npz`` holds (names, all plain numeric arrays):

==========================  ===============================================================
``core.<name>``             the core's state arrays (``envs.snapshot.state_dict``)
``pacing.seeder``           ``(n, 6)`` uint64: each campaign's episode-seed stream (PCG64)
``pacing.ep_return/len``    ``(n,)``: the running episodes' returns and lengths
``pacing.weight``           ``(n,)``: per-campaign reward weights (``reward_scale``
                            ``normalised`` only)
``residual.b``              ``(n,)``: the base throttle the next step composes with
``residual.base.<attr>``    the residual base controller's arrays (its PID state), and
                            ``residual.base.<obj>.<attr>`` for an object it holds (its rule)
``vecnorm.returns``         ``(n,)``: VecNormalize's discounted returns
``feedback.<block>.<name>`` the feedback columns' state (``agent.feedback``,
                            ``agents.feedback.ChannelFeedback.arrays``), ``feedback.last``
``rng.python``              ``(625,)`` int64: ``random``'s Mersenne Twister words and index
``rng.numpy``               ``(624,)`` uint32: ``np.random``'s global Mersenne Twister
``rng.torch``               uint8: ``torch.get_rng_state()``
``rng.action_space``        ``(6,)`` uint64: the action space's PCG64 (as ``pacing.seeder``)
==========================  ===============================================================

``env_scalars``/``rng_scalars`` hold the rest (JSON): the episode seeds still to apply,
the reward scale, the generators' cached Gaussians. A resume builds the env from the run's
own config, then ``load_env_state`` checks every name, shape and dtype against that env
(``envs.snapshot.check_arrays``, one-line ``SnapshotError`` naming the array) before it
overwrites anything.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from pacegym.agents.features import SegmentMask, SelectFeatures
from pacegym.agents.feedback import FeedbackVecEnv
from pacegym.agents.residual import ResidualVecEnv
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.envs.snapshot import (
    SnapshotError,
    check_arrays,
    generator_state,
    load_state_dict,
    set_generator_state,
    state_dict,
)


def layers(env: VecEnv) -> tuple[VecNormalize | None, ResidualVecEnv | None, PacingVecEnv]:
    """The training env's VecNormalize (or None), residual view (or None) and core view."""
    vecnorm = env if isinstance(env, VecNormalize) else None
    inner = env.venv if vecnorm is not None else env
    if isinstance(inner, SegmentMask):  # agent.max_segments: stateless (counts fixed)
        inner = inner.venv
    if isinstance(inner, FeedbackVecEnv):  # agent.feedback: its state saved beside
        inner = inner.venv
    residual = inner if isinstance(inner, ResidualVecEnv) else None
    pacing = residual.pacing if residual is not None else inner
    if isinstance(pacing, SelectFeatures):  # agent.features without a residual
        pacing = pacing.venv
    if not isinstance(pacing, PacingVecEnv):
        raise TypeError(f"expected a PacingVecEnv inside the training env, got {type(pacing)}")
    return vecnorm, residual, pacing


def controller_arrays(ctrl: Any) -> dict[str, np.ndarray]:
    """A controller's array attributes, and those of the objects it holds (one level)."""
    out: dict[str, np.ndarray] = {}
    for key, value in vars(ctrl).items():
        if isinstance(value, np.ndarray):
            out[key] = value
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            out.update(
                {f"{key}.{k}": v for k, v in vars(value).items() if isinstance(v, np.ndarray)}
            )
    return out


def _set_path(obj: Any, path: str, value: np.ndarray) -> None:
    *owners, last = path.split(".")
    for name in owners:
        obj = getattr(obj, name)
    setattr(obj, last, value.copy())


def env_arrays(env: VecEnv) -> dict[str, np.ndarray]:
    """The env-state arrays of a training env (live arrays; the module docstring's table)."""
    vecnorm, residual, pacing = layers(env)
    out = {f"core.{k}": v for k, v in state_dict(pacing.core).items()}
    out["pacing.seeder"] = np.stack([generator_state(g) for g in pacing._seeder.rngs])
    out["pacing.ep_return"] = pacing._ep_return
    out["pacing.ep_len"] = pacing._ep_len
    if pacing._weight is not None:
        out["pacing.weight"] = pacing._weight
    if residual is not None:
        out["residual.b"] = residual._b
        base = controller_arrays(residual.base)
        out.update({f"residual.base.{k}": v for k, v in base.items()})
    if vecnorm is not None:
        out["vecnorm.returns"] = vecnorm.returns
    fb = feedback_layer(env)
    if fb is not None:
        out.update({f"feedback.{k}": v for k, v in fb.feedback.arrays().items()})
        out["feedback.last"] = fb._last
    return out


def feedback_layer(env: VecEnv) -> FeedbackVecEnv | None:
    """The training env's feedback view (``agent.feedback``), or None."""
    inner = env.venv if isinstance(env, VecNormalize) else env
    return inner if isinstance(inner, FeedbackVecEnv) else None


def env_scalars(env: VecEnv) -> dict[str, Any]:
    """The env state that is not an array: seeds not yet applied, the reward scale."""
    _, _, pacing = layers(env)
    return {"seeds": list(pacing._seeds), "reward_scale": pacing.reward_scale}


def load_env_state(
    env: VecEnv, arrays: Mapping[str, np.ndarray], scalars: Mapping[str, Any], where: str
) -> None:
    """Overwrite a freshly built training env (the run's own config) with saved state.

    Every env array of ``arrays`` is checked against ``env_arrays(env)`` (after the base
    controller is reset to the batch size) before anything is written; ``SnapshotError``
    (one line naming the array, or the scalar) otherwise.
    """
    _, residual, pacing = layers(env)
    if residual is not None:
        residual.base.reset(residual.num_envs)
    live = env_arrays(env)
    saved = {k: v for k, v in arrays.items() if not k.startswith("rng.")}
    check_arrays(saved, live, where)
    if scalars.get("reward_scale") != pacing.reward_scale:
        raise SnapshotError(
            f"{where}: reward_scale = {scalars.get('reward_scale')!r} differs from the run's "
            f"env ({pacing.reward_scale!r}): start the run again"
        )
    seeds = scalars.get("seeds")
    if not isinstance(seeds, list) or len(seeds) != pacing.num_envs:
        raise SnapshotError(f"{where}: seeds = {seeds!r}: allowed {pacing.num_envs} entries")
    load_state_dict(pacing.core, {k[5:]: v for k, v in saved.items() if k.startswith("core.")})
    for gen, packed in zip(pacing._seeder.rngs, saved["pacing.seeder"], strict=True):
        set_generator_state(gen, packed)
    pacing._seeds = [None if s is None else int(s) for s in seeds]
    pacing._needs_reset = False  # a checkpoint is taken mid-training, after the first reset
    for name in ("pacing.ep_return", "pacing.ep_len", "pacing.weight", "vecnorm.returns"):
        if name in live:
            np.copyto(live[name], saved[name])
    for name in live:
        if name.startswith("feedback."):
            np.copyto(live[name], saved[name])
    if residual is not None:
        residual._b = saved["residual.b"].copy()
        for key in live:
            if key.startswith("residual.base."):
                _set_path(residual.base, key[len("residual.base.") :], saved[key])


def rng_arrays(model: BaseAlgorithm) -> dict[str, np.ndarray]:
    """The process's and the action space's random state (the module docstring's table)."""
    _, words, _ = random.getstate()
    _, keys, _, _, _ = np.random.get_state()
    return {
        "rng.python": np.asarray(words, dtype=np.int64),
        "rng.numpy": np.asarray(keys, dtype=np.uint32),
        "rng.torch": torch.get_rng_state().numpy().copy(),
        "rng.action_space": generator_state(model.action_space.np_random),
    }


def rng_scalars() -> dict[str, Any]:
    """The scalars beside ``rng_arrays``: versions, positions and cached Gaussians."""
    version, _, gauss = random.getstate()
    _, _, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [int(version), gauss],
        "numpy": [int(pos), int(has_gauss), float(cached)],
    }


def set_rng(
    model: BaseAlgorithm, arrays: Mapping[str, np.ndarray], scalars: Mapping[str, Any], where: str
) -> None:
    """Put ``rng_arrays``/``rng_scalars`` back; checked first (``SnapshotError``)."""
    saved = {k: v for k, v in arrays.items() if k.startswith("rng.")}
    check_arrays(saved, rng_arrays(model), where)
    try:
        version, gauss = scalars["python"]
        pos, has_gauss, cached = scalars["numpy"]
        words = tuple(int(w) for w in saved["rng.python"])
        random.setstate((int(version), words, None if gauss is None else float(gauss)))
        np.random.set_state(
            ("MT19937", saved["rng.numpy"], int(pos), int(has_gauss), float(cached))
        )
    except (KeyError, TypeError, ValueError) as e:
        raise SnapshotError(f"{where}: rng state not valid ({type(e).__name__})") from None
    torch.set_rng_state(torch.from_numpy(saved["rng.torch"].copy()))
    set_generator_state(model.action_space.np_random, saved["rng.action_space"])
