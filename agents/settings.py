"""Training and agent settings: the one source of their keys, types, defaults and ranges.

``TrainSettings`` (config node ``train``) and ``AgentSettings`` (node ``agent``, with
``ResidualSettings``) are what ``agents.training`` and
``agents.algos`` read; nothing else declares a default for these keys.
``experiments.config`` registers these classes with Hydra's ConfigStore as the schemas of
the ``train`` and ``agent`` nodes, so YAML under ``conf/`` only sets values.

Contract: constructing a settings object checks every field's type and range, and
``from_mapping`` (plain mappings from Python callers, or a composed config's container)
also rejects unknown keys; both raise ``AgentConfigError`` with one line naming the key
(``train.eval_episodes``), the value, and the allowed range or keys. Checks that need the
algorithm (its name, policy alias, hyperparameter names) are ``agents.algos.check_agent``.
Algorithm hyperparameters that ``agent.hyperparams`` leaves out take the SB3 constructor's
own defaults. Nothing here imports torch or SB3.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

SELECT = ("best", "last")
"""``train.select``: the best model on the validation seeds, or the last one."""


class AgentConfigError(ValueError):
    """A training or agent config that cannot train (names the key, the value, what is allowed)."""


@dataclass(frozen=True)
class ResidualSettings:
    """``agent.residual``: a learned correction of a classical controller (``agents.residual``)."""

    SECTION: ClassVar[str] = "agent.residual"

    enabled: bool = False
    base: dict[str, Any] = field(default_factory=dict)  # a controller config: kind, name, params
    scale_decades: float = 1.0  # [decades] |log10 correction| of the base throttle at |a| = 1

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class AgentSettings:
    """``agent``: the algorithm, its network, its env wrappers (``agents.algos``)."""

    SECTION: ClassVar[str] = "agent"

    name: str = "ppo"  # label in MLflow, agent.json and the leaderboard
    algo: str = "ppo"  # a key of agents.algos.ALGOS: ppo | sac | td3 | recurrent_ppo | a2c | ddpg
    policy: str = "MlpPolicy"  # SB3 policy alias (MlpLstmPolicy for recurrent_ppo)
    net_arch: list[int] = field(default_factory=lambda: [64, 64])  # [units] per layer; []: SB3's
    hyperparams: dict[str, Any] = field(default_factory=dict)  # algorithm constructor kwargs
    normalize_obs: bool = True  # VecNormalize observations; statistics saved with the model
    normalize_reward: bool = False  # VecNormalize returns (training reward only)
    clip_obs: float = 10.0  # [std] clip of normalised observations; > 0
    residual: ResidualSettings = field(default_factory=ResidualSettings)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.clip_obs <= 0:
            raise AgentConfigError(f"agent.clip_obs = {self.clip_obs}: allowed > 0")

    @property
    def normalized(self) -> bool:
        """Whether the training env is wrapped in ``VecNormalize``."""
        return self.normalize_obs or self.normalize_reward

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> AgentSettings:
        """Settings from a plain mapping (missing keys: the defaults above)."""
        return from_mapping(cls, data)


@dataclass(frozen=True)
class TrainSettings:
    """``train``: budget, batched env, held-out evaluation, checkpoints (``agents.training``)."""

    SECTION: ClassVar[str] = "train"

    total_timesteps: int = 200_000  # [env-steps] campaign-steps over all campaigns; >= 1
    n_envs: int = 128  # [campaigns] stepped per call of the batched env; >= 1
    seed: int = 0  # training campaign i draws its episode seeds from seed + i; >= 0
    device: str = "cpu"  # torch device of the model
    torch_threads: int = 1  # [threads] torch intra-op threads; >= 1
    eval_freq: int = 50_000  # [env-steps] between held-out evaluations; 0: only at the end
    eval_episodes: int = 256  # [episodes] per evaluation; >= 1
    eval_seed: int = 1_000_000  # validation seeds (model selection); disjoint from training/test
    checkpoint_freq: int = 50_000  # [env-steps] between checkpoints; 0: only at the end
    select: str = "best"  # which model becomes <run_dir>/model: one of SELECT
    max_minutes: float = 0.0  # [min] wall-clock budget; 0: none
    progress_bar: bool = True  # SB3's progress bar (tqdm, rich)
    resume: str | None = None  # a run dir or checkpoint to continue from
    randomize: dict[str, Any] = field(default_factory=dict)  # {"traffic.base_rate": [4, 16]}

    _AT_LEAST: ClassVar[dict[str, float]] = {
        "total_timesteps": 1,
        "n_envs": 1,
        "seed": 0,
        "torch_threads": 1,
        "eval_freq": 0,
        "eval_episodes": 1,
        "eval_seed": 0,
        "checkpoint_freq": 0,
        "max_minutes": 0.0,
    }

    def __post_init__(self) -> None:
        check_fields(self)
        for key, low in self._AT_LEAST.items():
            value = getattr(self, key)
            if value < low:
                raise AgentConfigError(f"train.{key} = {value}: allowed >= {low}")
        if self.select not in SELECT:
            raise AgentConfigError(f"train.select = {self.select!r}: allowed {list(SELECT)}")

    @property
    def max_seconds(self) -> float:
        """[s] the wall-clock budget; 0: none."""
        return 60.0 * self.max_minutes

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> TrainSettings:
        """Settings from a plain mapping (missing keys: the defaults above)."""
        return from_mapping(cls, data)


S = TypeVar("S")


def from_mapping(cls: type[S], data: Mapping[str, Any] | None) -> S:
    """An instance of the settings class ``cls`` from a (nested) mapping.

    Unknown keys raise ``AgentConfigError`` naming the key, its value and the allowed
    keys; nested settings (``agent.residual``) are built from nested mappings.
    """
    data = dict(data or {})
    section = cls.SECTION  # type: ignore[attr-defined]
    hints = _hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in hints:
            raise AgentConfigError(
                f"{section}.{key} = {value!r}: unknown key; allowed {sorted(allowed)}"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            kwargs[key] = from_mapping(hint, value)
        else:
            kwargs[key] = _plain(value)
    return cls(**kwargs)


def check_fields(obj: Any) -> None:
    """Raise ``AgentConfigError`` unless every field of ``obj`` has its annotated type.

    A whole number given for a ``float`` field is stored as a float (what the YAML
    ``1`` means for ``scale_decades``), and a numpy integer as an ``int``, so equal
    settings compare equal and serialise as JSON.
    """
    section = type(obj).SECTION
    for key, hint in _hints(type(obj)).items():
        value = getattr(obj, key)
        if not _is_instance(value, hint):
            raise AgentConfigError(f"{section}.{key} = {value!r}: allowed {_type_name(hint)}")
        if hint in (int, float) and type(value) is not hint:
            object.__setattr__(obj, key, hint(value))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Field name -> resolved annotation (this module uses postponed annotations)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _is_instance(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_is_instance(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is not None:
        return str(hint).replace("typing.", "")
    return getattr(hint, "__name__", str(hint))


def _plain(value: Any) -> Any:
    """Nested mappings as dicts and sequences as lists (a composed config's containers)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value
