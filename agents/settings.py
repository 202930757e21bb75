"""Training and agent settings: the one source of their keys, types, defaults and ranges.

``TrainSettings`` (config node ``train``) and ``AgentSettings`` (node ``agent``, with
``ResidualSettings`` and ``DistillSettings``) are what ``agents.training`` and
``agents.algos`` read; nothing else declares a default for these keys.
``experiments.config`` registers these classes with Hydra's ConfigStore as the schemas of
the ``train`` and ``agent`` nodes, so YAML under ``conf/`` only sets values.

Contract: constructing a settings object checks every field's type and range, and
``from_mapping`` (plain mappings from Python callers, or a composed config's container)
also rejects unknown keys; both raise ``AgentConfigError`` with one line naming the key
(``train.eval_episodes``), the value, and the allowed range or keys. Every numeric field is
declared once with its closed or half-open interval (``envs.checks.setting``): a float
must be finite and inside it (NaN, inf and 1e308 are refused by name, never trained on). Numeric
``agent.hyperparams`` are checked the same way: the known ones against
``HYPERPARAM_RANGES`` (``learning_rate`` in (0, 1], ``gamma`` in [0, 1], ...), any other
float (at any depth, ``policy_kwargs`` included) must be finite. Checks that need the
algorithm (its name, policy alias, hyperparameter names) are ``agents.algos.check_agent``.
Algorithm hyperparameters that ``agent.hyperparams`` leaves out take the SB3 constructor's
own defaults. Nothing here imports torch or SB3.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pacegym.baselines.stats import min_episodes
from pacegym.envs.checks import Allowed, allowed_of, check_section, setting

SELECT = ("best", "last")
"""``train.select``: the best model on the validation seeds, or the last one."""
REWARD_SCALES = ("none", "flight", "normalised")
"""``train.reward_scale``: the env's reward as is; times the campaign's flight ticks /
``agents.vec_env.REFERENCE_TICKS`` (every tick of every flight length weighs alike); or
that times its scenario's weight in normalised points, with the model selected on the mean
normalised score (``baselines.weighting``)."""
DISCOUNTS = ("constant", "flight")
"""``train.discount``: SB3's one ``gamma`` per env-step, or ``gamma ** (240 / flight ticks)``
per campaign, one horizon in shares of every flight (``agents.discount``; PPO and A2C)."""


class AgentConfigError(ValueError):
    """A training or agent config that cannot train (names the key, the value, what is allowed)."""


SEED_MAX = 2**32 - 1
"""The largest seed: numpy's and SB3's ``set_random_seed`` take seeds below 2**32."""
FINITE = Allowed(-1e300, 1e300)
"""Any other float hyperparameter: finite (no NaN, no inf)."""

HYPERPARAM_RANGES: dict[str, Allowed] = {
    "learning_rate": Allowed(0.0, 1.0, low_open=True),
    "gamma": Allowed(0.0, 1.0),
    "gae_lambda": Allowed(0.0, 1.0),
    "clip_range": Allowed(0.0, 1.0, low_open=True),  # PPO's ratio clip 1 +- clip_range
    "clip_range_vf": Allowed(0.0, 1e6, low_open=True),  # None: no value clipping
    "ent_coef": Allowed(0.0, 100.0),  # SAC also takes "auto" / "auto_0.1"
    "vf_coef": Allowed(0.0, 100.0),
    "max_grad_norm": Allowed(0.0, 1e6, low_open=True),
    "target_kl": Allowed(0.0, 1e3, low_open=True),  # None: no early stop
    "tau": Allowed(0.0, 1.0, low_open=True),
    "target_policy_noise": Allowed(0.0, 10.0),
    "target_noise_clip": Allowed(0.0, 10.0),
    "rms_prop_eps": Allowed(0.0, 1.0, low_open=True),
    "n_steps": Allowed(1, 10_000_000, integer=True),
    "batch_size": Allowed(1, 10_000_000, integer=True),
    "n_epochs": Allowed(1, 10_000, integer=True),
    "buffer_size": Allowed(1, 1_000_000_000, integer=True),
    "learning_starts": Allowed(0, 1e12, integer=True),
    "train_freq": Allowed(1, 10_000_000, integer=True),  # or [n, "step" | "episode"]
    "gradient_steps": Allowed(-1, 1_000_000, integer=True),  # -1: as many as env-steps
    "policy_delay": Allowed(1, 10_000, integer=True),
    "sde_sample_freq": Allowed(-1, 1_000_000, integer=True),
    "stats_window_size": Allowed(1, 1_000_000, integer=True),
    "policy_kwargs.log_std_init": Allowed(-20.0, 2.0),  # [log std] of the Gaussian policy
}
"""``agent.hyperparams.<key>`` (dotted below ``policy_kwargs``) -> allowed values when the
value is a number (strings, lists and None go to the SB3 constructor, checked by
``agents.training.validate``)."""


@dataclass(frozen=True)
class ResidualSettings:
    """``agent.residual``: a learned correction of a classical controller (``agents.residual``)."""

    SECTION: ClassVar[str] = "agent.residual"

    enabled: bool = False
    base: dict[str, Any] = field(default_factory=dict)  # a controller config: kind, name, params
    # |log10 correction| of the base throttle at |a| = 1; the export's runtime loads (0, 10]
    scale_decades: float = setting(1.0, 0.0, 10.0, low_open=True, unit="decades")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class DistillSettings:
    """``agent.distill``: imitate a teacher controller before RL (``agents.distill``, DAgger)."""

    SECTION: ClassVar[str] = "agent.distill"

    enabled: bool = False
    teacher: dict[str, Any] = field(default_factory=dict)  # a controller config: kind, params
    # a second controller config; {}: none. Each training scenario imitates one of the two,
    # chosen on round 0's episodes (agents.distill.choose_teachers)
    alternative: dict[str, Any] = field(default_factory=dict)
    require_lead: bool = True  # the teacher only with a paired 95% CI lead; false: by the mean
    rounds: int = setting(3, 1, 100, integer=True)  # round 0 teacher-driven, then the student
    episodes: int = setting(8, 1, 100_000, integer=True, unit="episodes")  # a scenario a round
    epochs: int = setting(20, 1, 10_000, integer=True)  # passes over the data after each round
    batch_size: int = setting(4096, 1, 1e8, integer=True, unit="rows")
    learning_rate: float = setting(1e-3, 0.0, 1.0, low_open=True)  # Adam
    seed: int = setting(500_000, 0, SEED_MAX, integer=True)  # round r: seed + r * episodes

    def __post_init__(self) -> None:
        check_fields(self)
        need = min_episodes()  # fewer: no interval, so the teacher would never be chosen
        if self.enabled and self.alternative and self.require_lead and self.episodes < need:
            raise AgentConfigError(
                f"agent.distill.episodes = {self.episodes}: with an alternative and require_lead"
                f", allowed an integer in [{need}, 100000] (a paired 95% interval's episodes)"
            )
        if self.enabled and not self.teacher.get("kind"):
            raise AgentConfigError(
                f"agent.distill.teacher = {self.teacher!r}: needs a controller config with "
                "'kind' when agent.distill.enabled (e.g. the contents of conf/controller/"
                "mpc_value.yaml)"
            )


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
    clip_obs: float = setting(10.0, 0.0, 1e6, low_open=True, unit="std")  # of normalised obs
    # the observation columns the policy reads, by name (envs.spaces.OBS_NAMES); []: all.
    # Leaving out budget_log10 makes the input scale-free (shares, ratios, log-ratios only)
    features: list[str] = field(default_factory=list)
    residual: ResidualSettings = field(default_factory=ResidualSettings)
    # value scenarios: append the realised-value feedback per channel (agents.feedback)
    feedback: bool = False
    # value scenarios: one policy for every segment count up to this (agents.features,
    # runtime.segment_pad: padded slots and a mask column each); 0: the scenario's own count
    max_segments: int = setting(0, 0, 4096, integer=True, unit="segments")
    distill: DistillSettings = field(default_factory=DistillSettings)

    NET_ARCH_RANGE: ClassVar[Allowed] = Allowed(1, 65_536, integer=True)  # [units] per layer

    def __post_init__(self) -> None:
        check_fields(self)
        for i, units in enumerate(self.net_arch):
            if units not in self.NET_ARCH_RANGE:
                raise AgentConfigError(
                    f"agent.net_arch[{i}] = {units!r}: allowed {self.NET_ARCH_RANGE}"
                )
        check_hyperparams(self.hyperparams)
        check_features(self.features)
        if self.max_segments and self.feedback:
            raise AgentConfigError(
                f"agent.max_segments = {self.max_segments} with agent.feedback = true: the "
                "feedback columns are not padded (max_channels is not built); allowed "
                "agent.max_segments = 0 with feedback"
            )

    @property
    def normalized(self) -> bool:
        """Whether the training env is wrapped in ``VecNormalize``."""
        return self.normalize_obs or self.normalize_reward

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> AgentSettings:
        """Settings from a plain mapping (missing keys: the defaults above)."""
        return from_mapping(cls, data)


DEVICE = re.compile(r"cpu|cuda|cuda:\d{1,3}|mps|auto")
"""The torch devices ``train.device`` may name (SB3's ``auto`` picks one)."""


@dataclass(frozen=True)
class TrainSettings:
    """``train``: budget, batched env, held-out evaluation, checkpoints (``agents.training``)."""

    SECTION: ClassVar[str] = "train"

    # campaign-steps over all campaigns
    total_timesteps: int = setting(200_000, 1, 1e12, integer=True, unit="env-steps")
    # stepped per call of the batched env
    n_envs: int = setting(128, 1, 65_536, integer=True, unit="campaigns")
    # training campaign i draws its episode seeds from seed + i
    seed: int = setting(0, 0, SEED_MAX, integer=True)
    device: str = "cpu"  # torch device of the model: cpu, cuda, cuda:<n>, mps or auto
    torch_threads: int = setting(1, 1, 1024, integer=True, unit="threads")  # torch intra-op
    # between held-out evaluations; 0: only at the end
    eval_freq: int = setting(50_000, 0, 1e12, integer=True, unit="env-steps")
    eval_episodes: int = setting(256, 1, 1_000_000, integer=True, unit="episodes")  # per eval
    # validation seeds (model selection)
    eval_seed: int = setting(1_000_000, 0, SEED_MAX, integer=True)
    # between checkpoints; 0: only at the end
    checkpoint_freq: int = setting(50_000, 0, 1e12, integer=True, unit="env-steps")
    select: str = "best"  # which model becomes <run_dir>/model: one of SELECT
    max_minutes: float = setting(0.0, 0.0, 1e6, unit="min")  # wall-clock budget; 0: none
    progress_bar: bool = True  # a bar with ETA; off a terminal, SB3-style lines per 30 s
    # TensorBoard event files in <run_dir>/tensorboard (SB3's scalars and pacegym's train/eval)
    tensorboard: bool = False
    resume: str | None = None  # a run dir or checkpoint to continue from
    randomize: dict[str, Any] = field(default_factory=dict)  # {"traffic.base_rate": [4, 16]}
    # domain randomisation over scenarios: the campaigns are split evenly over these (names
    # or paths, envs.mixture.CoreMixture); []: the run's scenario alone
    scenarios: list[str] = field(default_factory=list)
    # [decades] per scale-like key (envs.mixture.JITTERABLE): each scenario's value v becomes
    # the per-episode range [v / 10**d, v * 10**d]; {"traffic.base_rate": 0.3}
    jitter: dict[str, Any] = field(default_factory=dict)
    # training reward: "none" (the env's: the score's per-tick terms), "flight" (times the
    # flight's ticks / 240, so a 3-day flight's ticks weigh as much as a 1-hour flight's) or
    # "normalised" (flight, times 1 / (1 - the reference's score) of the campaign's scenario,
    # and the model selected on the mean normalised score: baselines.weighting)
    reward_scale: str = "none"
    # discount: "constant" (gamma per env-step) or "flight" (gamma ** (240 / flight ticks) per
    # campaign: every flight length sees its end alike; agents.discount, PPO and A2C)
    discount: str = "constant"

    def __post_init__(self) -> None:
        check_fields(self)
        if self.select not in SELECT:
            raise AgentConfigError(f"train.select = {self.select!r}: allowed {list(SELECT)}")
        if self.reward_scale not in REWARD_SCALES:
            raise AgentConfigError(
                f"train.reward_scale = {self.reward_scale!r}: allowed {list(REWARD_SCALES)}"
            )
        if self.discount not in DISCOUNTS:
            raise AgentConfigError(f"train.discount = {self.discount!r}: allowed {list(DISCOUNTS)}")
        if not DEVICE.fullmatch(str(self.device)):
            raise AgentConfigError(
                f"train.device = {self.device!r}: allowed cpu, cuda, cuda:<n>, mps or auto"
            )

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
    """Raise ``AgentConfigError`` unless every field of ``obj`` has its annotated type and,
    for a numeric field, lies in its declared interval (``setting``; else: finite).

    A whole number given for a ``float`` field is stored as a float (what the YAML
    ``1`` means for ``scale_decades``), and a numpy integer as an ``int``, so equal
    settings compare equal and serialise as JSON.
    """
    cls = type(obj)
    section = cls.SECTION
    for f in dataclasses.fields(cls):
        key, hint, value = f.name, _hints(cls)[f.name], getattr(obj, f.name)
        if not _is_instance(value, hint):
            raise AgentConfigError(f"{section}.{key} = {value!r}: allowed {_type_name(hint)}")
        if hint in (int, float) and allowed_of(f) is None:
            FINITE.check_short(f"{section}.{key}", value, AgentConfigError)
    check_section(obj, section, error=AgentConfigError, short=True)
    for key, hint in _hints(cls).items():
        if hint in (int, float) and type(getattr(obj, key)) is not hint:
            object.__setattr__(obj, key, hint(getattr(obj, key)))


def check_features(features: Sequence[str]) -> None:
    """Raise ``AgentConfigError`` unless ``agent.features`` names distinct observation columns."""
    from pacegym.envs.spaces import OBS_NAMES  # numpy-light; the settings stay torch-free

    for i, name in enumerate(features):
        if name not in OBS_NAMES:
            raise AgentConfigError(
                f"agent.features[{i}] = {name!r}: not an observation feature; allowed "
                f"{list(OBS_NAMES)}"
            )
        if name in features[:i]:
            raise AgentConfigError(f"agent.features[{i}] = {name!r}: listed twice")


def check_hyperparams(hyperparams: Mapping[str, Any], prefix: str = "") -> None:
    """Raise ``AgentConfigError`` for a numeric ``agent.hyperparams`` value outside its
    ``HYPERPARAM_RANGES`` entry, a non-integer for a count, or any non-finite float
    (at any depth); other values are left to the algorithm's constructor."""
    for key, value in hyperparams.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            check_hyperparams(value, f"{dotted}.")
            continue
        if isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if _is_number(item) and item not in FINITE:
                    raise AgentConfigError(
                        f"agent.hyperparams.{dotted}[{i}] = {item!r}: allowed {FINITE}"
                    )
            continue
        if not _is_number(value):
            continue
        rng = HYPERPARAM_RANGES.get(dotted, FINITE)
        whole = isinstance(value, numbers.Integral)
        if value not in rng or (rng.integer and not whole):
            raise AgentConfigError(f"agent.hyperparams.{dotted} = {value!r}: allowed {rng}")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


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
