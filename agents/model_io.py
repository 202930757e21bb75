"""Load an SB3 ``model.zip`` without unpickling anything in it; VecNormalize statistics as npz.

An SB3 zip holds ``data`` (JSON; a value that is not JSON is cloudpickled into it, marked
``":serialized:"``, with its plain attributes beside), ``*.pth`` (torch state dicts) and
text files. ``load_model`` is the one way this project loads a model (compare, evaluate,
benchmark, export, resume):

- the zip's size, every member's declared size and the ``data`` JSON's nesting are bounded
  (``MAX_MODEL_BYTES``, ``MAX_MEMBER_BYTES``, ``MAX_DATA_BYTES``, ``MAX_JSON_DEPTH``) before
  anything is read in full;
- every ``":serialized:"`` entry is rebuilt from plain data (``rebuild``: spaces from the env
  or the entry's shape/bounds, schedules from their printed constants, classes only from
  ``ALLOWED_CLASSES`` by name, the rollout state from the checkpoint's ``runtime`` arrays)
  and handed to SB3's ``load(custom_objects=...)``, whose ``json_to_data`` never calls
  cloudpickle for a key in ``custom_objects`` (stable-baselines3 2.x ``save_util``); an
  entry no rule rebuilds is refused, naming the key;
- the weights are read by SB3's ``load_from_zip_file`` through ``torch.load(...,
  weights_only=True)`` (tensors and plain containers only).
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit
from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule, LinearSchedule
from stable_baselines3.common.vec_env import VecEnv

from pacegym.agents.algos import ALGOS, constructor_default
from pacegym.agents.settings import AgentConfigError

MAX_MODEL_BYTES = 1 << 30  # [bytes] a model.zip on disk
MAX_MEMBER_BYTES = 1 << 30  # [bytes] all its members, uncompressed (as declared)
MAX_DATA_BYTES = 1 << 24  # [bytes] its ``data`` JSON
MAX_JSON_DEPTH = 64  # nesting of the ``data`` JSON
MAX_SPACE_SIZE = 1 << 16  # [numbers] an observation or action space, all dimensions
MAX_BUFFER_SIZE = 1 << 28  # [numbers] a rollout or replay buffer: steps x envs x space
MAX_LAYER_WIDTH = 1 << 14  # [units] a layer of ``policy_kwargs.net_arch``
MAX_LAYERS = 64  # layers of ``policy_kwargs.net_arch`` (each of pi, vf, qf)
RUNTIME_KEYS = ("_last_obs", "_last_episode_starts", "_last_original_obs")
"""Pickled rollout state of a model zip; a checkpoint keeps it as arrays (``runtime``)."""


class ModelFileError(AgentConfigError):
    """A model or statistics file refused before anything in it runs (one line: file, key)."""


def _classes() -> dict[str, type]:
    import torch
    from sb3_contrib.common.recurrent.buffers import (
        RecurrentDictRolloutBuffer,
        RecurrentRolloutBuffer,
    )
    from stable_baselines3.common import buffers, torch_layers

    from pacegym.agents.discount import FlightDiscountBuffer

    found: list[type] = [c for algo in ALGOS.values() for c in algo.policy_aliases.values()]
    found += [buffers.RolloutBuffer, buffers.DictRolloutBuffer, buffers.ReplayBuffer]
    found += [buffers.DictReplayBuffer, RecurrentRolloutBuffer, RecurrentDictRolloutBuffer]
    found += [FlightDiscountBuffer, torch_layers.FlattenExtractor, torch_layers.CombinedExtractor]
    found += [torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.SGD]
    nn = torch.nn
    found += [nn.Tanh, nn.ReLU, nn.ELU, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Identity]
    return {f"{c.__module__}.{c.__qualname__}": c for c in found}


ALLOWED_CLASSES: dict[str, type] = _classes()
"""The classes a model file may name (by ``module.qualname``): the algorithms' policies,
SB3's and this project's buffers, torch optimisers and activations. Nothing else is built."""


def file_error(path: Path, key: str, value: Any, allowed: str) -> ModelFileError:
    shown = str(value) if len(str(value)) <= 60 else str(value)[:57] + "..."
    return ModelFileError(f"{path}: {key} = {shown}: allowed {allowed}")


def _class(path: Path, key: str, entry: Mapping[str, Any]) -> type:
    """A class entry (``__module__`` and its ``__init__``'s owner) among ``ALLOWED_CLASSES``."""
    m = re.fullmatch(r"<function ([\w.]+)\.__init__ at 0x[0-9a-f]+>", str(entry.get("__init__")))
    owner = m.group(1) if m else ""
    for cls in ALLOWED_CLASSES.values():
        if (
            cls.__module__ == entry.get("__module__")
            and cls.__init__.__qualname__ == f"{owner}.__init__"
        ):
            return cls
    raise file_error(
        path,
        f"data.{key}",
        f"{entry.get('__module__')}.{owner}",
        "a policy, buffer, "
        "optimiser or activation class of stable-baselines3, sb3-contrib, torch or pacegym",
    )


def _named_class(path: Path, key: str, text: str) -> type:
    m = re.fullmatch(r"<class '([\w.]+)'>", text)
    if m and m.group(1) in ALLOWED_CLASSES:
        return ALLOWED_CLASSES[m.group(1)]
    raise file_error(path, f"data.{key}", text, f"one of {sorted(ALLOWED_CLASSES)}")


def _schedule(path: Path, key: str, entry: Mapping[str, Any]) -> FloatSchedule:
    text = str(entry.get("value_schedule"))
    num = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    if m := re.fullmatch(rf"ConstantSchedule\(val={num}\)", text):
        return FloatSchedule(ConstantSchedule(float(m.group(1))))
    if m := re.fullmatch(rf"LinearSchedule\(start={num}, end={num}, end_fraction={num}\)", text):
        return FloatSchedule(LinearSchedule(*(float(g) for g in m.groups())))
    raise file_error(
        path, f"data.{key}", text, "ConstantSchedule(val=<number>) or LinearSchedule(...)"
    )


def _bounds(text: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """A printed bound array (``[-1. 1.]``) as float64, None when it does not parse whole."""
    try:
        values = [float(v) for v in str(text).strip("[]").split()]
    except ValueError:
        return None
    return np.array(values).reshape(shape) if len(values) == int(np.prod(shape)) else None


def _box(path: Path, key: str, entry: Mapping[str, Any]) -> Any:
    import gymnasium as gym

    shape = entry.get("_shape")
    dtype = entry.get("dtype")
    ok_shape = (
        isinstance(shape, list)
        and 0 < len(shape) <= 3
        and all(isinstance(n, int) and 0 < n <= 1 << 16 for n in shape)
        and math.prod(shape) <= MAX_SPACE_SIZE
    )
    if (
        "box.Box" not in str(entry.get(":type:"))
        or not ok_shape
        or dtype not in ("float32", "float64")
    ):
        raise file_error(
            path, f"data.{key}", entry.get(":type:"), "a gymnasium Box of float32/float64"
        )
    shp = tuple(shape)
    low, high = _bounds(entry.get("low"), shp), _bounds(entry.get("high"), shp)
    low = np.full(shp, -np.inf) if low is None else low
    high = np.full(shp, np.inf) if high is None else high
    return gym.spaces.Box(low.astype(dtype), high.astype(dtype), shp, np.dtype(dtype))


def _plain_dict(path: Path, key: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A dict pickled for holding classes (``policy_kwargs``): its plain items, classes by name."""
    out: dict[str, Any] = {}
    for k, v in entry.items():
        if k.startswith(":"):
            continue
        out[k] = _named_class(path, f"{key}.{k}", v) if str(v).startswith("<class ") else v
    return out


def _train_freq(cls: type[BaseAlgorithm], hyperparams: Mapping[str, Any]) -> TrainFreq:
    tf = hyperparams.get("train_freq", constructor_default(cls, "train_freq"))
    freq, unit = (tf, "step") if isinstance(tf, int) else (int(tf[0]), str(tf[1]))
    return TrainFreq(int(freq), TrainFrequencyUnit(unit))


def rebuild(
    path: Path,
    data: Mapping[str, Any],
    cls: type[BaseAlgorithm],
    env: VecEnv | None = None,
    policy: str | None = None,
    hyperparams: Mapping[str, Any] | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``custom_objects`` for every ``":serialized:"`` key of a model zip's ``data``."""
    out: dict[str, Any] = {}
    rt = dict(runtime or {})
    for key, entry in data.items():
        if not (isinstance(entry, dict) and ":serialized:" in entry):
            continue
        kind = str(entry.get(":type:"))
        if key == "policy_class" and policy is not None:
            if policy not in cls.policy_aliases:
                raise file_error(
                    path, "agent.policy", policy, f"one of {sorted(cls.policy_aliases)}"
                )
            out[key] = cls.policy_aliases[policy]
        elif key in ("observation_space", "action_space"):
            out[key] = getattr(env, key) if env is not None else _box(path, key, entry)
        elif kind.endswith("Schedule'>"):
            out[key] = _schedule(path, key, entry)
        elif key in RUNTIME_KEYS:
            out[key] = rt.get(key)
        elif key in ("ep_info_buffer", "ep_success_buffer"):
            size = data.get("_stats_window_size", 100)
            out[key] = deque(rt.get(key) or [], maxlen=size if isinstance(size, int) else 100)
        elif key == "train_freq":
            out[key] = _train_freq(cls, hyperparams or {})
        elif kind in ("<class 'abc.ABCMeta'>", "<class 'type'>"):
            out[key] = _class(path, key, entry)
        elif kind == "<class 'dict'>":
            out[key] = _plain_dict(path, key, entry)
        else:
            raise file_error(
                path, f"data.{key}", kind, "plain JSON (a pickled object is never read)"
            )
    return out


def read_zip(path: Path) -> bytes:
    """The bytes of a model zip, read once: its size checked with ``stat`` first, every
    member's declared size and their sum (what reading inflates to) bounded."""
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found (expected an SB3 model.zip)")
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise file_error(path, "size", f"{size} bytes", f"at most {MAX_MODEL_BYTES} bytes")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_MODEL_BYTES + 1)
    if len(raw) > MAX_MODEL_BYTES:  # grew after the check
        raise file_error(path, "size", "growing", f"at most {MAX_MODEL_BYTES} bytes")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            total = 0
            for info in z.infolist():
                total += info.file_size
                if total > MAX_MEMBER_BYTES:
                    raise file_error(
                        path,
                        info.filename,
                        f"{info.file_size} bytes uncompressed",
                        f"at most {MAX_MEMBER_BYTES} bytes for all members",
                    )
    except zipfile.BadZipFile:
        raise ModelFileError(f"{path}: not a zip file (expected an SB3 model.zip)") from None
    return raw


def read_data(path: Path, raw: bytes | None = None) -> dict[str, Any]:
    """The ``data`` JSON of a model zip (``raw``: its bytes from ``read_zip``), every size and
    the nesting bounded first."""
    with zipfile.ZipFile(io.BytesIO(read_zip(path) if raw is None else raw)) as z:
        if "data" not in z.namelist():
            raise file_error(path, "data", "missing", "an SB3 model zip with a data entry")
        size = z.getinfo("data").file_size
        if size > MAX_DATA_BYTES:
            raise file_error(path, "data", f"{size} bytes", f"at most {MAX_DATA_BYTES} bytes")
        return parse_json(z.read("data"), path, "data")


def parse_json(raw: bytes | str, path: Path, key: str, depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON text to a value, nesting at most ``depth``; one-line ``ModelFileError`` otherwise."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise file_error(path, key, "JSON nested too deeply", f"at most {depth} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise file_error(path, key, f"not valid JSON ({type(e).__name__})", "JSON") from None
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > depth:
            raise file_error(path, key, f"JSON nested {d} levels", f"at most {depth} levels")
        if isinstance(v, dict | list):
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return value


def _whole(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def check_sizes(path: Path, data: Mapping[str, Any]) -> None:
    """Refuse sizes that would allocate without bound before SB3 builds anything: the
    buffers (``n_steps`` or ``buffer_size`` x ``n_envs`` x the observation) and the layers
    of ``policy_kwargs.net_arch`` (``MAX_BUFFER_SIZE``, ``MAX_LAYER_WIDTH``, ``MAX_LAYERS``)."""
    obs = data.get("observation_space")
    shape = obs.get("_shape") if isinstance(obs, dict) else None
    width = math.prod(shape) if isinstance(shape, list) and all(map(_whole, shape)) else 1
    envs = _whole(data.get("n_envs", 1))
    for key in ("n_steps", "buffer_size"):
        steps = _whole(data.get(key, 1))
        if steps * max(envs, 1) * max(width, 1) > MAX_BUFFER_SIZE:
            raise file_error(
                path,
                f"data.{key}",
                f"{steps} x n_envs {envs} x {width} observations",
                f"at most {MAX_BUFFER_SIZE} numbers in a buffer",
            )
    kwargs = data.get("policy_kwargs")
    arch = kwargs.get("net_arch") if isinstance(kwargs, dict) else None
    nets = arch.values() if isinstance(arch, dict) else [arch] if arch is not None else []
    for net in nets:
        layers = net if isinstance(net, list) else [net]
        if len(layers) > MAX_LAYERS or any(
            not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= MAX_LAYER_WIDTH
            for n in layers
        ):
            raise file_error(
                path,
                "data.policy_kwargs.net_arch",
                arch,
                f"at most {MAX_LAYERS} layers of 1 to {MAX_LAYER_WIDTH} units",
            )


def load_model(
    path: str | Path,
    algo: str,
    *,
    env: VecEnv | None = None,
    policy: str | None = None,
    hyperparams: Mapping[str, Any] | None = None,
    runtime: Mapping[str, Any] | None = None,
    device: str = "cpu",
    **kwargs: Any,
) -> BaseAlgorithm:
    """The SB3 model of ``path`` (``algo``: a key of ``agents.algos.ALGOS``), no pickle read.

    ``env``: the env to continue on (its spaces replace the file's); ``policy``: the policy
    alias (``agent.json``'s ``policy``); ``hyperparams``: the agent's (``train_freq``);
    ``runtime``: the checkpoint's rollout state (``RUNTIME_KEYS``, episode buffers), else
    those start empty. ``kwargs`` go to SB3's ``load`` (``force_reset``).
    """
    p = Path(path)
    if algo not in ALGOS:
        raise file_error(p, "agent.algo", algo, f"one of {sorted(ALGOS)}")
    cls = ALGOS[algo]
    raw = read_zip(p)
    data = read_data(p, raw)
    if not isinstance(data, dict):
        raise file_error(p, "data", type(data).__name__, "a JSON object")
    check_sizes(p, data)
    custom = rebuild(p, data, cls, env, policy, hyperparams, runtime)
    try:
        # the very bytes checked above: the file is not opened again
        return cls.load(io.BytesIO(raw), env=env, device=device, custom_objects=custom, **kwargs)
    except (KeyError, RuntimeError, ValueError, AssertionError, TypeError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise file_error(p, "weights", type(e).__name__, f"a {cls.__name__} model") from None


__all__ = [
    "ALLOWED_CLASSES",
    "MAX_DATA_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_MEMBER_BYTES",
    "MAX_MODEL_BYTES",
    "ModelFileError",
    "file_error",
    "load_model",
    "parse_json",
    "read_data",
    "read_zip",
    "rebuild",
]
