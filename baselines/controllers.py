"""Classical pacing controllers: on/off, proportional (LinkedIn) and exponential decay.

Every controller is batched (one row per campaign), numpy-only and rebuilt from
``kind`` + ``dataclasses.asdict(controller.config)`` (``baselines.build_controller``).
Each computes its own target from the observation:

- target share ``x* = cumulative_share(plan, time_elapsed, forecast_elapsed)`` of its
  own plan (``envs.plans``), independent of the scenario's reference plan; or, with
  ``plan = "observed"``, the reference plan itself as the observation reports it
  (``plan``: the advertiser's plan now, whatever its shape), so one parameter set
  follows every scenario's plan;
- spent share ``s = reported_spend + in_flight_weight x in_flight``: reported spend
  lags serving by the impression delay (75% within 15 min) and the reporting latency;
  ``in_flight`` is the expected spend already served but not yet counted, so
  ``in_flight_weight = 1`` tracks served spend (no lag), ``0`` the lagged report.

State: on/off is stateless. The proportional controllers are stateless too: they
read their previous throttle from the observation (``last_throttle``) and start
from ``p_start`` (or the forecast capacity) at ``time_elapsed == 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pacegym.envs.params import PlanParams
from pacegym.envs.plans import cumulative_share
from pacegym.envs.spaces import OBS_INDEX

PLAN_KINDS = ("uniform", "forecast", "exp_decay", "observed")
OWN_PLANS = ("uniform", "forecast", "exp_decay")
"""Plans a controller computes itself (``observed`` reads the observation's ``plan``)."""
START_MODES = ("fixed", "capacity")

_T = OBS_INDEX["time_elapsed"]
_REPORTED = OBS_INDEX["reported_spend"]
_IN_FLIGHT = OBS_INDEX["in_flight"]
_FORECAST = OBS_INDEX["forecast_elapsed"]
_CAPACITY = OBS_INDEX["capacity_log10"]
_LAST_P = OBS_INDEX["last_throttle"]
_RATE = OBS_INDEX["serving_rate"]
_EXHAUSTED = OBS_INDEX["exhausted"]
_PLAN = OBS_INDEX["plan"]


class ControllerConfigError(ValueError):
    """A controller parameter is invalid; the message names key, value and allowed range."""


def check_range(
    kind: str, key: str, value: float, low: float, high: float, *, low_open: bool = False
) -> None:
    """Raise ``ControllerConfigError`` naming ``controller.params.<key>`` unless ``value`` is
    an int or float (not a bool) in the interval; every interval is finite, so NaN and
    infinities are refused too."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        try:
            v = float(value)
        except OverflowError:  # an int beyond float range
            v = math.nan
        ok = (v > low if low_open else v >= low) and v <= high
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        text = repr(value).replace("\n", " ")  # one short line, however hostile the value
        text = text if len(text) <= 60 else text[:57] + "..."
        raise ControllerConfigError(
            f"controller.params.{key} = {text} is out of range for kind {kind!r}: "
            f"allowed {interval} (a finite number)"
        )


def check_choice(kind: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ControllerConfigError(
            f"controller.params.{key} = {value!r} is not allowed for kind {kind!r}: "
            f"allowed {list(allowed)}"
        )


@dataclass(frozen=True)
class PlanTracking:
    """Plan and spend-estimate parameters shared by every baseline (mixed into each config)."""

    plan: str = "uniform"  # uniform | forecast | exp_decay (its own) | observed (the env's)
    decay_rate: float = 1.5  # [1/flight] in [0, 50] exp_decay plan: density ~ exp(-rate x t)
    early_close: float = 0.0  # [share of flight] in [0, 0.9] finish the plan this early
    in_flight_weight: float = 0.0  # [-] in [0, 1] share of in-flight spend counted as spent

    def _check_plan(self, kind: str) -> None:
        check_choice(kind, "plan", self.plan, PLAN_KINDS)
        check_range(kind, "decay_rate", self.decay_rate, 0.0, 50.0)
        check_range(kind, "early_close", self.early_close, 0.0, 0.9)
        check_range(kind, "in_flight_weight", self.in_flight_weight, 0.0, 1.0)

    @property
    def plan_params(self) -> PlanParams:
        return PlanParams(kind=self.plan, decay_rate=self.decay_rate, early_close=self.early_close)


def plan_target(cfg: PlanTracking, obs: np.ndarray) -> np.ndarray:
    """Planned cumulative spend share now, ``(n,)``: the controller's own plan, or the
    observation's ``plan`` for ``plan = "observed"``."""
    if cfg.plan == "observed":
        return obs[:, _PLAN].astype(np.float64)
    return cumulative_share(cfg.plan_params, obs[:, _T], obs[:, _FORECAST])


def spent_share(cfg: PlanTracking, obs: np.ndarray) -> np.ndarray:
    """Estimated spend share ``reported + in_flight_weight x in_flight``, ``(n,)``."""
    return obs[:, _REPORTED].astype(np.float64) + cfg.in_flight_weight * obs[:, _IN_FLIGHT]


def plan_pace(cfg: PlanTracking, obs: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Planned spend rate now in uniform-pace units (1 for a uniform plan), ``(n,)``."""
    t = obs[:, _T].astype(np.float64)
    t0 = np.minimum(t, 1.0 - h)
    plan = cfg.plan_params
    return (cumulative_share(plan, t0 + h, t0 + h) - cumulative_share(plan, t0, t0)) / h


def capacity_throttle(obs: np.ndarray) -> np.ndarray:
    """Throttle that spends the budget left evenly on the forecast traffic left, in [1e-3, 1]."""
    return np.minimum(10.0 ** (-obs[:, _CAPACITY].astype(np.float64)), 1.0)


@dataclass(frozen=True)
class OnOffConfig(PlanTracking):
    """On/off: full throttle while the spend estimate is under plan, else zero."""

    def validate(self) -> None:
        self._check_plan("on_off")


class OnOffController:
    """Throttle 1 while ``spent < target``, else 0 (0 once the budget is reported spent).

    Stateless. With a lagged spend report it overshoots and then stops: the spikes the
    field reports.
    """

    kind: ClassVar[str] = "on_off"

    def __init__(self, config: OnOffConfig | None = None, name: str = "on/off") -> None:
        self.config = config or OnOffConfig()
        self.config.validate()
        self.name = name

    def reset(self, n: int) -> None:
        """Nothing to clear: on/off is stateless."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        on = spent_share(self.config, obs) < plan_target(self.config, obs)
        return np.where(on & (obs[:, _EXHAUSTED] < 0.5), 1.0, 0.0)


@dataclass(frozen=True)
class ProportionalConfig(PlanTracking):
    """LinkedIn's multiplicative throttle: p <- min(1, p (1 + r)) under plan, max(p_min, p (1 - r)) over.

    ``deadband`` [share of budget] leaves p unchanged while |target - spent| is within it.
    ``p_min`` is the floor the throttle never goes under (LinkedIn's rule goes to 0 and
    never comes back; a floor of ~1e-3 still answers a 100x surge).
    """

    rate: float = 0.1  # [-] in (0, 1] r, relative throttle change per update (every tick)
    p_start: float = 0.01  # [-] in [p_min, p_max] slow start: the first throttle
    start: str = "capacity"  # fixed: p_start | capacity: forecast capacity (capacity_log10)
    p_min: float = 1e-3  # [-] in [1e-4, 1] throttle floor
    p_max: float = 1.0  # [-] in [p_min, 1] throttle ceiling
    deadband: float = 0.0  # [share of budget] in [0, 1]
    pace_limit: float = 1.25  # [x plan pace] 0 (off) or in [1, 1e4]: cut p above this pace

    def validate(self, kind: str = "proportional") -> None:
        self._check_plan(kind)
        check_range(kind, "rate", self.rate, 0.0, 1.0, low_open=True)
        check_range(kind, "p_min", self.p_min, 1e-4, 1.0)
        check_range(kind, "p_max", self.p_max, self.p_min, 1.0)
        check_range(kind, "p_start", self.p_start, self.p_min, self.p_max)
        check_choice(kind, "start", self.start, START_MODES)
        check_range(kind, "deadband", self.deadband, 0.0, 1.0)
        if self.pace_limit != 0.0:
            check_range(kind, "pace_limit", self.pace_limit, 1.0, 1e4)
            if self.plan == "observed":
                raise ControllerConfigError(
                    f"controller.params.pace_limit = {self.pace_limit!r} is not allowed for "
                    f"kind {kind!r} with plan 'observed' (it has no pace to limit against): "
                    "allowed 0 (off)"
                )


def proportional_step(cfg: ProportionalConfig, obs: np.ndarray) -> np.ndarray:
    """One multiplicative update from the observed last throttle (stateless)."""
    last = obs[:, _LAST_P].astype(np.float64)
    p = last
    err = plan_target(cfg, obs) - spent_share(cfg, obs)
    up = np.minimum(p * (1.0 + cfg.rate), cfg.p_max)
    down = p * (1.0 - cfg.rate)
    p = np.where(err > cfg.deadband, up, np.where(err < -cfg.deadband, down, p))
    if cfg.pace_limit > 0.0:
        # surge guard: served spend shows a surge at once (reported spend ~15 min later)
        # [x uniform pace]; the limit is relative to the plan's own pace now
        rate = obs[:, _RATE].astype(np.float64)
        limit = cfg.pace_limit * plan_pace(cfg, obs)
        cut = last * limit / np.maximum(rate, 1e-12)
        p = np.where(rate > limit, np.minimum(p, cut), p)
    p = np.clip(p, cfg.p_min, cfg.p_max)
    if cfg.start == "capacity":
        first = capacity_throttle(obs)
    else:
        first = np.full(p.shape, cfg.p_start)
    p = np.where(obs[:, _T] <= 0.0, np.clip(first, cfg.p_min, cfg.p_max), p)
    return np.where(obs[:, _EXHAUSTED] < 0.5, p, 0.0)


class ProportionalController:
    """Proportional (multiplicative) throttle tracking the controller's plan.

    Stateless: the previous throttle is ``obs[:, last_throttle]``; the first step of a
    flight uses ``p_start`` (``start = fixed``) or the forecast capacity.
    """

    kind: ClassVar[str] = "proportional"

    def __init__(
        self, config: ProportionalConfig | None = None, name: str = "proportional"
    ) -> None:
        self.config = config or ProportionalConfig()
        self.config.validate(self.kind)
        self.name = name

    def reset(self, n: int) -> None:
        """Nothing to clear: the state is the observed last throttle."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        return proportional_step(self.config, obs)


@dataclass(frozen=True)
class ExpDecayConfig(ProportionalConfig):
    """The exponential-decay plan (front-loaded) tracked by the proportional throttle.

    Same fields as ``ProportionalConfig``; ``plan`` must be ``exp_decay`` and
    ``decay_rate`` > 0 sets the front-loading (the seed's live-commerce fix).
    """

    plan: str = "exp_decay"
    decay_rate: float = 2.0  # [1/flight] in (0, 50] the seed's fix: ~60% less post-end waste

    def validate(self, kind: str = "exp_decay") -> None:
        super().validate(kind)
        check_choice(kind, "plan", self.plan, ("exp_decay",))
        check_range(kind, "decay_rate", self.decay_rate, 0.0, 50.0, low_open=True)


class ExpDecayController(ProportionalController):
    """Proportional throttle on an exponential-decay plan (stateless, as proportional)."""

    kind: ClassVar[str] = "exp_decay"

    def __init__(self, config: ExpDecayConfig | None = None, name: str = "exp-decay") -> None:
        super().__init__(config or ExpDecayConfig(), name)
