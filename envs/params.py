"""Scenario parameters: frozen dataclasses with units, validated on construction.

A setting declared ``may_range`` (typed ``Value``) may be a number or a range ``(low,
high)``: a real one is sampled uniformly per campaign and per episode (domain
randomisation, ``envs.layout.RANDOMIZABLE``), ``time.start_day`` draws a whole day. Every
other setting is one number (some fix array shapes: tick, slot, maximum delay).

Every validation error names the config key, the value and the allowed range,
e.g. ``money.budget = -5.0 is out of range: allowed (0, 1e+12] [currency]``.

Every number is finite and inside a finite range declared once on its field (``setting``,
``envs.checks``: the interval, the unit, whole or not, may be a range); ``check_section``
refuses NaN, infinities, booleans and numbers too large for a float before any work
starts, whatever the interval. Checks across fields follow it by hand. The combined
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
    check_section,
    is_range,
    setting,
    whole_multiple,
)
from pacegym.envs.params_demand import (
    DAY_SETS,
    MAX_NOISE_TAU_S,
    MAX_TRACE_DAYS,
    ForecastParams,
    TrafficParams,
)
from pacegym.envs.params_value import ValueParams

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
    "ValueParams",
    "bounds",
    "check",
    "check_section",
    "is_range",
    "setting",
]

MAX_EPISODE_TICKS = 10_000_000
"""[ticks] longest episode (``time.flight_min`` high end / ``time.tick_s``): a 31-day
flight at 1 s ticks is 2.7e6; more is a config mistake that would run for days."""


@dataclass(frozen=True)
class TimeParams:
    """Clock of the simulation."""

    # controller period, one env step
    tick_s: float = setting(15.0, 1e-3, 86400.0, unit="s")
    # spend-plan slot: a whole number of ticks
    slot_s: float = setting(60.0, 1e-3, 86400.0, unit="s")
    # flight length: at least one slot (time.slot_s / 60), whole slots
    flight_min: Value = setting(90.0, 0.0, 44640.0, low_open=True, unit="min", may_range=True)
    # flight start: minutes after midnight
    start_minute: Value = setting(1200.0, 0.0, 1440.0, high_open=True, unit="min", may_range=True)
    # flight start day, 0 = Monday; a range draws a whole day per episode
    start_day: Value = setting(0, 0, MAX_TRACE_DAYS, integer=True, unit="day", may_range=True)

    def __post_init__(self) -> None:
        check_section(self, "time")
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
        if bounds(self.flight_min)[0] < self.slot_s / 60.0:
            raise ScenarioError(
                f"time.flight_min = {_short(self.flight_min)} is shorter than one plan slot: "
                f"allowed >= time.slot_s / 60 = {self.slot_s / 60.0:g} [min]"
            )
        if not is_range(self.flight_min):  # a range is drawn, then rounded, per episode
            slot = f"plan slots (time.slot_s = {self.slot_s:g} s)"
            whole_multiple("time.flight_min", self.flight_min, self.slot_s / 60.0, slot, "min")
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

    # probability an admitted request is won and served
    fill_rate: Value = setting(0.5, 0.0, 1.0, may_range=True)

    def __post_init__(self) -> None:
        check_section(self, "serving")


DELAY_SAMPLERS = ("impression", "binned")
"""``delay.sampler``: ``impression`` draws one delay per served impression (the reference);
``binned`` draws a tick's counts per delay bin at once (``envs.delay_bins``), the same
distribution at a cost bounded by the number of bins."""


@dataclass(frozen=True)
class DelayParams:
    """Serve-to-count delay, render probability and spend-reporting latency.

    The delay family is scaled so that ``quantile`` of rendered impressions are
    counted within ``quantile_s`` (after truncation at ``max_delay_s``).
    """

    family: str = "lognormal"  # lognormal | exponential | empirical
    # the typical delay; below max_delay_s
    quantile_s: Value = setting(900.0, 0.0, 604800.0, low_open=True, unit="s", may_range=True)
    # share counted within quantile_s
    quantile: Value = setting(0.75, 0.0, 1.0, low_open=True, high_open=True, may_range=True)
    sigma: Value = setting(1.2, 0.0, 10.0, low_open=True, may_range=True)  # log-sd (lognormal)
    # nothing is counted later than this
    max_delay_s: float = setting(7200.0, 0.0, 604800.0, low_open=True, unit="s")
    # probability a served ad is ever counted
    render_prob: Value = setting(0.97, 0.0, 1.0, may_range=True)
    # lag of reported spend
    report_latency_s: Value = setting((15.0, 60.0), 0.0, 3600.0, unit="s", may_range=True)
    # empirical: (delay [s] in [0, max_delay_s], CDF) pairs, both increasing
    cdf_points: tuple[tuple[float, float], ...] = ()
    # impression | binned: how a tick's served impressions are spread over the delay ledger
    sampler: str = "impression"

    def __post_init__(self) -> None:
        check_section(self, "delay")
        if self.family not in ("lognormal", "exponential", "empirical"):
            raise ScenarioError(
                f"delay.family = {self.family!r}: allowed 'lognormal', 'exponential', 'empirical'"
            )
        if self.sampler not in DELAY_SAMPLERS:
            raise ScenarioError(
                f"delay.sampler = {self.sampler!r}: allowed " + ", ".join(map(repr, DELAY_SAMPLERS))
            )
        if bounds(self.quantile_s)[1] >= self.max_delay_s:
            raise ScenarioError(
                f"delay.max_delay_s = {self.max_delay_s} is below the typical delay "
                f"delay.quantile_s = {self.quantile_s}: allowed max_delay_s > quantile_s [s]"
            )
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
                check(f"delay.cdf_points[{i}][0]", d, 0.0, self.max_delay_s, unit="s")
                check(f"delay.cdf_points[{i}][1]", c, last_c, 1.0)
                if d <= last_d:
                    raise ScenarioError(f"delay.cdf_points[{i}] delays must increase, got {d}")
                last_d, last_c = d, c


MAX_PRICE = 1e6
"""[currency/impression] highest price or media cost of one impression (a thousand
impressions at 1e9 of any currency is no ad market)."""


@dataclass(frozen=True)
class MoneyParams:
    """Budget and prices."""

    # flight budget
    budget: Value = setting(50_000.0, 0.0, 1e12, low_open=True, unit="currency", may_range=True)
    # billed to the advertiser
    price: float = setting(10.0, 0.0, MAX_PRICE, low_open=True, unit="currency/impression")
    # paid to the publisher
    media_cost: float = setting(8.0, 0.0, MAX_PRICE, unit="currency/impression")

    def __post_init__(self) -> None:
        check_section(self, "money")


@dataclass(frozen=True)
class PlanParams:
    """Spend plan as a cumulative share of budget (see ``envs.plans``)."""

    kind: str = "uniform"  # uniform | forecast | exp_decay
    # exp_decay: density ~ exp(-rate x elapsed)
    decay_rate: float = setting(1.5, 0.0, 50.0, unit="1/flight")
    # alternative to decay_rate: ln2 / rate
    half_life: float | None = setting(None, 0.0, 100.0, low_open=True, unit="share of flight")
    basis: str = "time"  # time | forecast: axis along which the plan shape is laid
    # finish the budget this early
    early_close: float = setting(0.0, 0.0, 0.9, unit="share of flight")

    def __post_init__(self) -> None:
        check_section(self, "plan")
        if self.kind not in ("uniform", "forecast", "exp_decay"):
            raise ScenarioError(
                f"plan.kind = {self.kind!r}: allowed 'uniform', 'forecast', 'exp_decay'"
            )
        if self.basis not in ("time", "forecast"):
            raise ScenarioError(f"plan.basis = {self.basis!r}: allowed 'time', 'forecast'")

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
    (1 + burst_tolerance) x plan per plan slot) + value x value_excess``, every term a
    share of the budget (``envs.metrics``, docs/objective.md; ``value_excess`` is 0 in the
    volume world, where every request is worth the same). The env's reward pays the same terms step by
    step with these weights. ``tracking`` and ``spike`` weight only the old
    ``pacing_score_v1``.
    """

    # weight of wasted media cost (post-end + over budget)
    waste: float = setting(1.0, 0.0, 100.0)
    misplaced: float = setting(1.0, 0.0, 100.0)  # weight of spend above the plan per window
    burst: float = setting(1.0, 0.0, 100.0)  # weight of spend above the plan per plan slot
    # window held to the plan
    granularity_min: float = setting(10.0, 0.0, 525_600.0, low_open=True, unit="min")
    # allowed above the window's plan
    tolerance: float = setting(0.2, 0.0, 10.0, unit="share of the window's plan")
    # allowed above the slot's plan
    burst_tolerance: float = setting(1.0, 0.0, 100.0, unit="share of the slot's plan")
    tracking: float = setting(0.02, 0.0, 100.0)  # pacing_score_v1 only: weight of tracking_error
    spike: float = setting(0.01, 0.0, 100.0)  # pacing_score_v1 only: weight of spike_ratio - 1
    # weight of the value the billed spend buys beyond the flight's average (value scenarios)
    value: float = setting(0.0, 0.0, 100.0)

    def __post_init__(self) -> None:
        check_section(self, "score")

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
    value: ValueParams = field(default_factory=ValueParams)

    def __post_init__(self) -> None:
        tr, fc = self.traffic, self.forecast
        if tr.days != "all" and bounds(self.time.start_day) != (0.0, 0.0):
            raise ScenarioError(
                f"time.start_day = {_short(self.time.start_day)} and traffic.days = {tr.days!r} both "
                "pick the start days: leave time.start_day at 0 when traffic.days is set"
            )
        if self.value.on and self.delay.sampler != "impression":
            raise ScenarioError(
                f"delay.sampler = {self.delay.sampler!r} with value.channels: allowed "
                "'impression' (the segment path files each impression with its price and value)"
            )
        slot_s, tick_s = self.time.slot_s, self.time.tick_s
        slots = f"plan slots (time.slot_s = {slot_s:g} s)"
        whole_multiple(
            "score.granularity_min", self.score.granularity_min, slot_s / 60, slots, "min"
        )
        latency = self.delay.report_latency_s
        if not is_range(latency):  # a range is drawn, then rounded, per episode
            ticks = f"ticks (time.tick_s = {tick_s:g} s)"
            whole_multiple("delay.report_latency_s", latency, tick_s, ticks, "s")
        if fc.fit_on == "trace" and tr.profile != "trace":
            raise ScenarioError(
                f"forecast.fit_on = 'trace' needs a recorded trace: allowed with traffic.profile "
                f"= 'trace' (got {tr.profile!r})"
            )

    @property
    def max_delay_ticks(self) -> int:
        """Ring-buffer length: delays are whole ticks in [0, max_delay_ticks)."""
        return max(1, math.ceil(self.delay.max_delay_s / self.time.tick_s))
