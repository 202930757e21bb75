"""Scenario parameters: frozen dataclasses with units, validated on construction.

Any field typed ``Value`` may be a number or a range ``(low, high)``; a range is
sampled uniformly per campaign and per episode (domain randomisation). Fields
that fix array shapes (tick, slot, maximum delay) must be numbers.

Every validation error names the config key, the value and the allowed range,
e.g. ``money.budget = -5.0 is out of range: allowed (0, 1e+12] [currency]``.

Every number is finite and inside a documented, finite range (the field comments give
the range and the unit): NaN, infinities, booleans and numbers too large for a float are
refused by ``check`` before any work starts, whatever the interval. The combined
resource limits (ticks per episode here, expected requests per tick and memory per core
in ``envs.core``) are checked where their inputs meet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pacegym.envs.checks import (
    ScenarioError,
    Value,
    _short,
    bounds,
    check,
    check_whole,
    is_range,
)
from pacegym.envs.params_demand import (
    DAY_SETS,
    MAX_NOISE_TAU_S,
    MAX_TRACE_DAYS,
    ForecastParams,
    TrafficParams,
)

__all__ = [  # the sections, their limits and the check vocabulary, importable from here
    "DAY_SETS",
    "MAX_EPISODE_TICKS",
    "MAX_NOISE_TAU_S",
    "MAX_PRICE",
    "MAX_TRACE_DAYS",
    "DelayParams",
    "ForecastParams",
    "MoneyParams",
    "PlanParams",
    "ScenarioError",
    "ScenarioParams",
    "ScoreParams",
    "ServingParams",
    "TimeParams",
    "TrafficParams",
    "Value",
    "bounds",
    "check",
    "check_whole",
    "is_range",
]

MAX_EPISODE_TICKS = 10_000_000
"""[ticks] longest episode (``time.flight_min`` high end / ``time.tick_s``): a 31-day
flight at 1 s ticks is 2.7e6; more is a config mistake that would run for days."""


@dataclass(frozen=True)
class TimeParams:
    """Clock of the simulation."""

    tick_s: float = 15.0  # [s] in [0.001, 86400] controller period, one env step
    slot_s: float = 60.0  # [s] in [0.001, 86400] spend-plan slot; a whole number of ticks
    flight_min: Value = 90.0  # [min] in [slot_s / 60, 44640] flight length, whole slots
    start_minute: Value = 1200.0  # [min after midnight] in [0, 1440) flight start time of day
    start_day: Value = 0  # [day, 0 = Monday] in 0..MAX_TRACE_DAYS a whole day; a range draws one

    def __post_init__(self) -> None:
        check("time.tick_s", self.tick_s, 1e-3, 86400.0, unit="s", allow_range=False)
        check("time.slot_s", self.slot_s, 1e-3, 86400.0, unit="s", allow_range=False)
        if self.tick_s > self.slot_s:
            raise ScenarioError(
                f"time.tick_s = {self.tick_s} is longer than a plan slot: allowed (0, "
                f"time.slot_s = {self.slot_s}] [s]"
            )
        ratio = self.slot_s / self.tick_s
        if abs(ratio - round(ratio)) > 1e-9:
            raise ScenarioError(
                f"time.slot_s = {self.slot_s} must be a whole multiple of time.tick_s = "
                f"{self.tick_s} [s]"
            )
        check("time.flight_min", self.flight_min, 0.0, 60.0 * 24 * 31, low_open=True, unit="min")
        if bounds(self.flight_min)[0] < self.slot_s / 60.0:
            raise ScenarioError(
                f"time.flight_min = {_short(self.flight_min)} is shorter than one plan slot: "
                f"allowed >= time.slot_s / 60 = {self.slot_s / 60.0:g} [min]"
            )
        check("time.start_minute", self.start_minute, 0.0, 1440.0, high_open=True, unit="min")
        check("time.start_day", self.start_day, 0, MAX_TRACE_DAYS, unit="day")
        for end in bounds(self.start_day):
            check_whole("time.start_day", end, "day")
        ticks = bounds(self.flight_min)[1] * 60.0 / self.tick_s
        if ticks > MAX_EPISODE_TICKS:
            raise ScenarioError(
                f"time.flight_min = {_short(self.flight_min)} at time.tick_s = {self.tick_s:g} "
                f"makes {ticks:.3g} ticks per episode: allowed <= {MAX_EPISODE_TICKS:.0e} "
                "ticks (a longer tick or a shorter flight)"
            )

    @property
    def ticks_per_slot(self) -> int:
        return round(self.slot_s / self.tick_s)

    @property
    def max_flight_ticks(self) -> int:
        return self.max_slots * self.ticks_per_slot

    @property
    def max_slots(self) -> int:
        return max(1, round(bounds(self.flight_min)[1] * 60.0 / self.slot_s))


@dataclass(frozen=True)
class ServingParams:
    """Throttled serving."""

    fill_rate: Value = 0.5  # [-] in [0, 1] probability an admitted request is won and served

    def __post_init__(self) -> None:
        check("serving.fill_rate", self.fill_rate, 0.0, 1.0)


@dataclass(frozen=True)
class DelayParams:
    """Serve-to-count delay, render probability and spend-reporting latency.

    The delay family is scaled so that ``quantile`` of rendered impressions are
    counted within ``quantile_s`` (after truncation at ``max_delay_s``).
    """

    family: str = "lognormal"  # lognormal | exponential | empirical
    quantile_s: Value = 900.0  # [s] in (0, max_delay_s) the typical delay
    quantile: Value = 0.75  # [-] in (0, 1) share counted within quantile_s
    sigma: Value = 1.2  # [-] in (0, 10] log-sd (lognormal only)
    max_delay_s: float = 7200.0  # [s] in (0, 604800] nothing is counted later than this
    render_prob: Value = 0.97  # [-] in [0, 1] probability a served ad is ever counted
    report_latency_s: Value = (15.0, 60.0)  # [s] in [0, 3600] lag of reported spend
    cdf_points: tuple[
        tuple[float, float], ...
    ] = ()  # empirical: (delay [s] in [0, max_delay_s], CDF)

    def __post_init__(self) -> None:
        if self.family not in ("lognormal", "exponential", "empirical"):
            raise ScenarioError(
                f"delay.family = {self.family!r}: allowed 'lognormal', 'exponential', 'empirical'"
            )
        check(
            "delay.max_delay_s",
            self.max_delay_s,
            0.0,
            7 * 86400.0,
            low_open=True,
            unit="s",
            allow_range=False,
        )
        check("delay.quantile_s", self.quantile_s, 0.0, 7 * 86400.0, low_open=True, unit="s")
        if bounds(self.quantile_s)[1] >= self.max_delay_s:
            raise ScenarioError(
                f"delay.max_delay_s = {self.max_delay_s} is below the typical delay "
                f"delay.quantile_s = {self.quantile_s}: allowed max_delay_s > quantile_s [s]"
            )
        check("delay.quantile", self.quantile, 0.0, 1.0, low_open=True, high_open=True)
        check("delay.sigma", self.sigma, 0.0, 10.0, low_open=True)
        check("delay.render_prob", self.render_prob, 0.0, 1.0)
        check("delay.report_latency_s", self.report_latency_s, 0.0, 3600.0, unit="s")
        if self.family == "empirical":
            if len(self.cdf_points) < 2:
                raise ScenarioError("delay.cdf_points needs at least 2 (delay_s, cdf) pairs")
            last_d, last_c = -math.inf, 0.0
            for i, point in enumerate(self.cdf_points):
                if not is_range(point):
                    raise ScenarioError(
                        f"delay.cdf_points[{i}] = {_short(point)}: allowed a (delay_s, cdf) pair"
                    )
                d, c = point
                check(
                    f"delay.cdf_points[{i}][0]",
                    d,
                    0.0,
                    self.max_delay_s,
                    unit="s",
                    allow_range=False,
                )
                check(f"delay.cdf_points[{i}][1]", c, last_c, 1.0, allow_range=False)
                if d <= last_d:
                    raise ScenarioError(f"delay.cdf_points[{i}] delays must increase, got {d}")
                last_d, last_c = d, c


MAX_PRICE = 1e6
"""[currency/impression] highest price or media cost of one impression (a thousand
impressions at 1e9 of any currency is no ad market)."""


@dataclass(frozen=True)
class MoneyParams:
    """Budget and prices."""

    budget: Value = 50_000.0  # [currency] in (0, 1e12] flight budget
    price: float = 10.0  # [currency/impression] in (0, 1e6] billed to the advertiser
    media_cost: float = 8.0  # [currency/impression] in [0, 1e6] paid to the publisher

    def __post_init__(self) -> None:
        check("money.budget", self.budget, 0.0, 1e12, low_open=True, unit="currency")
        check(
            "money.price",
            self.price,
            0.0,
            MAX_PRICE,
            low_open=True,
            unit="currency/impression",
            allow_range=False,
        )
        check(
            "money.media_cost",
            self.media_cost,
            0.0,
            MAX_PRICE,
            unit="currency/impression",
            allow_range=False,
        )


@dataclass(frozen=True)
class PlanParams:
    """Spend plan as a cumulative share of budget (see ``envs.plans``)."""

    kind: str = "uniform"  # uniform | forecast | exp_decay
    decay_rate: float = 1.5  # [1/flight] in [0, 50] exp_decay: density ~ exp(-rate x elapsed)
    half_life: float | None = None  # [share of flight] in (0, 100] alternative: ln2 / rate
    basis: str = "time"  # time | forecast: axis along which the plan shape is laid
    early_close: float = 0.0  # [share of flight] in [0, 0.9] finish the budget this early

    def __post_init__(self) -> None:
        if self.kind not in ("uniform", "forecast", "exp_decay"):
            raise ScenarioError(
                f"plan.kind = {self.kind!r}: allowed 'uniform', 'forecast', 'exp_decay'"
            )
        if self.basis not in ("time", "forecast"):
            raise ScenarioError(f"plan.basis = {self.basis!r}: allowed 'time', 'forecast'")
        check("plan.decay_rate", self.decay_rate, 0.0, 50.0, allow_range=False)
        if self.half_life is not None:
            check("plan.half_life", self.half_life, 0.0, 100.0, low_open=True, allow_range=False)
        check("plan.early_close", self.early_close, 0.0, 0.9, allow_range=False)

    @property
    def rate(self) -> float:
        """Decay rate [1/flight]; ``half_life`` wins when given."""
        if self.half_life is not None:
            return math.log(2.0) / self.half_life
        return self.decay_rate


@dataclass(frozen=True)
class ScoreParams:
    """The advertiser's reading of a flight: weights and windows of the score.

    ``pacing_score_v2 = delivery - waste x wasted - misplaced x (spend above
    (1 + tolerance) x plan per window of granularity_min) - burst x (spend above
    (1 + burst_tolerance) x plan per plan slot)``, every term a share of the budget
    (``envs.metrics``, docs/objective.md). The env's reward pays the same terms step by
    step with these weights. ``tracking`` and ``spike`` weight only the old
    ``pacing_score_v1``.
    """

    waste: float = 1.0  # [-] in [0, 100] weight of wasted media cost (post-end + over budget)
    misplaced: float = 1.0  # [-] in [0, 100] weight of spend above the plan per window
    burst: float = 1.0  # [-] in [0, 100] weight of spend above the plan per plan slot
    granularity_min: float = 10.0  # [min] in (0, 525600] window held to the plan
    tolerance: float = 0.2  # [share of the window's plan] in [0, 10] allowed above it
    burst_tolerance: float = 1.0  # [share of the slot's plan] in [0, 100] allowed above it
    tracking: float = 0.02  # [-] in [0, 100] pacing_score_v1 only: weight of tracking_error
    spike: float = 0.01  # [-] in [0, 100] pacing_score_v1 only: weight of spike_ratio - 1

    def __post_init__(self) -> None:
        for key in ("waste", "misplaced", "burst", "tracking", "spike"):
            check(f"score.{key}", getattr(self, key), 0.0, 100.0, allow_range=False)
        check(
            "score.granularity_min",
            self.granularity_min,
            0.0,
            525_600.0,
            low_open=True,
            unit="min",
            allow_range=False,
        )
        check("score.tolerance", self.tolerance, 0.0, 10.0, allow_range=False)
        check("score.burst_tolerance", self.burst_tolerance, 0.0, 100.0, allow_range=False)

    def window_slots(self, slot_s: float) -> int:
        """Plan slots per scoring window (at least one)."""
        return max(1, round(self.granularity_min * 60.0 / slot_s))


@dataclass(frozen=True)
class ScenarioParams:
    """One campaign type with every parameter of the world."""

    name: str = "live_commerce"
    time: TimeParams = field(default_factory=TimeParams)
    traffic: TrafficParams = field(default_factory=TrafficParams)
    forecast: ForecastParams = field(default_factory=ForecastParams)
    serving: ServingParams = field(default_factory=ServingParams)
    delay: DelayParams = field(default_factory=DelayParams)
    money: MoneyParams = field(default_factory=MoneyParams)
    plan: PlanParams = field(default_factory=PlanParams)
    score: ScoreParams = field(default_factory=ScoreParams)

    def __post_init__(self) -> None:
        tr, fc = self.traffic, self.forecast
        if tr.days != "all" and bounds(self.time.start_day) != (0.0, 0.0):
            raise ScenarioError(
                f"time.start_day = {_short(self.time.start_day)} and traffic.days = {tr.days!r} both "
                "pick the start days: leave time.start_day at 0 when traffic.days is set"
            )
        if fc.fit_on == "trace" and tr.profile != "trace":
            raise ScenarioError(
                f"forecast.fit_on = 'trace' needs a recorded trace: allowed with traffic.profile "
                f"= 'trace' (got {tr.profile!r})"
            )

    @property
    def max_delay_ticks(self) -> int:
        """Ring-buffer length: delays are whole ticks in [0, max_delay_ticks)."""
        return max(1, math.ceil(self.delay.max_delay_s / self.time.tick_s))
