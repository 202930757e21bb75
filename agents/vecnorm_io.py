"""A model's state beside its ``model.zip`` as plain arrays (npz, read without pickle).

``save_vecnormalize``/``load_vecnormalize``: a ``VecNormalize``'s statistics and settings
(``VECNORM_FILE``) onto a freshly built wrapper. ``runtime_arrays``/``read_runtime``: the
rollout state a checkpoint needs that ``model.zip`` only holds pickled (``load_model``'s
``runtime``). Every file is bounded and its npy headers checked before it is read
(``agents.export.runtime.manifest.npz_arrays``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from pacegym.agents.export.runtime.manifest import PacerError, npz_arrays
from pacegym.agents.model_io import (
    MAX_DATA_BYTES,
    MAX_MEMBER_BYTES,
    RUNTIME_KEYS,
    ModelFileError,
    file_error,
    parse_json,
)

VECNORM_FILE = "vecnormalize.npz"
"""Beside a model (model directory, checkpoint): the VecNormalize statistics, plain arrays."""


def save_vecnormalize(vecnorm: VecNormalize, path: str | Path) -> Path:
    """Write ``vecnorm``'s statistics and settings as plain arrays (npz, no pickle)."""
    out = Path(path)
    arrays: dict[str, Any] = {
        "obs_mean": vecnorm.obs_rms.mean,
        "obs_var": vecnorm.obs_rms.var,
        "obs_count": np.float64(vecnorm.obs_rms.count),
        "ret_mean": vecnorm.ret_rms.mean,
        "ret_var": vecnorm.ret_rms.var,
        "ret_count": np.float64(vecnorm.ret_rms.count),
        "settings": np.array(
            [vecnorm.clip_obs, vecnorm.clip_reward, vecnorm.gamma, vecnorm.epsilon]
        ),
        "flags": np.array([vecnorm.training, vecnorm.norm_obs, vecnorm.norm_reward]),
    }
    old = vecnorm.__dict__  # set by the first reset/step (getattr would ask the inner env)
    if old.get("old_obs") is not None and np.size(old["old_obs"]):
        arrays["old_obs"], arrays["old_reward"] = old["old_obs"], old["old_reward"]
    with open(out, "wb") as fh:
        np.savez(fh, **arrays)
    return out


def load_vecnormalize(path: str | Path, venv: VecEnv) -> VecNormalize:
    """A ``VecNormalize`` around ``venv`` with the statistics of ``save_vecnormalize``'s file."""
    p = Path(path)
    if p.suffix == ".pkl":
        raise ModelFileError(
            f"{p}: a pickled VecNormalize is never read: retrain, or convert it where it was"
            f" made (agents.vecnorm_io.save_vecnormalize(VecNormalize.load(...), '{VECNORM_FILE}'))"
        )
    try:
        a = npz_arrays(str(p), str(p), MAX_DATA_BYTES)
    except PacerError as e:
        raise ModelFileError(str(e)) from None
    n = venv.observation_space.shape
    need = {
        "obs_mean": n,
        "obs_var": n,
        "obs_count": (),
        "ret_mean": (),
        "ret_var": (),
        "ret_count": (),
        "settings": (4,),
        "flags": (3,),
    }
    for k, shape in need.items():
        if k not in a or a[k].shape != shape:
            got = a[k].shape if k in a else "missing"
            raise file_error(p, k, got, f"shape {shape} (the env's observation space)")
    clip_obs, clip_reward, gamma, eps = (float(v) for v in a["settings"])
    training, norm_obs, norm_reward = (bool(v) for v in a["flags"])
    vn = VecNormalize(venv, training, norm_obs, norm_reward, clip_obs, clip_reward, gamma, eps)
    vn.obs_rms.mean, vn.obs_rms.var = a["obs_mean"].copy(), a["obs_var"].copy()
    vn.obs_rms.count = float(a["obs_count"])
    vn.ret_rms.mean, vn.ret_rms.var = a["ret_mean"].copy(), a["ret_var"].copy()
    vn.ret_rms.count = float(a["ret_count"])
    if "old_obs" in a:
        vn.old_obs, vn.old_reward = a["old_obs"].copy(), a["old_reward"].copy()
    return vn


def runtime_arrays(model: BaseAlgorithm) -> dict[str, np.ndarray]:
    """The rollout state a checkpoint keeps as arrays (``RUNTIME_KEYS`` that are set)."""
    out = {
        k: np.asarray(getattr(model, k))
        for k in RUNTIME_KEYS
        if getattr(model, k, None) is not None
    }
    for key in ("ep_info_buffer", "ep_success_buffer"):
        buf = list(getattr(model, key, None) or [])
        out[key] = np.array(json.dumps(buf, default=float))
    return out


def read_runtime(path: str | Path) -> dict[str, Any]:
    """``runtime_arrays``'s file back (npz without pickle, bounded), for ``load_model``."""
    p = Path(path)
    try:
        a = npz_arrays(str(p), str(p), MAX_MEMBER_BYTES)
    except PacerError as e:
        raise ModelFileError(str(e)) from None
    out: dict[str, Any] = {k: a[k] for k in RUNTIME_KEYS if k in a}
    for key in ("ep_info_buffer", "ep_success_buffer"):
        if key in a:
            out[key] = parse_json(str(a[key]), p, key, 4)
    return out


__all__ = [
    "VECNORM_FILE",
    "load_vecnormalize",
    "read_runtime",
    "runtime_arrays",
    "save_vecnormalize",
]
