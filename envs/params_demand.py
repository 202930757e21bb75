"""Demand and what is known of it: the traffic a campaign meets (``TrafficParams``) and the
inventory forecast it is planned on (``ForecastParams``); sections of ``ScenarioParams``
(``envs.params``, whose docstring states the conventions)."""

from __future__ import annotations

from dataclasses import dataclass

from pacegym.envs.checks import ScenarioError, Value, _short, check, check_section, setting
from pacegym.envs.forecast import SEASONS
from pacegym.envs.params_departures import OFF, DepartureParams, as_departures

MAX_TRACE_DAYS = 2 * 366
"""[days] longest trace (``traffic.trace_csv``) and latest ``time.start_day``: two years."""

MAX_NOISE_TAU_S = 1e7
"""[s] longest noise correlation time and mean surge duration (~116 days: longer is the
same as forever over any flight)."""


NOWCAST_KINDS = ("none", "smoothing", "linear")
"""``forecast.nowcast``: off, one smoothed level (``envs.nowcast``), or a linear model of
several (``envs.nowcast_linear``); the index is the kernels' code."""

DAY_SETS = ("all", "train", "test")
"""``traffic.days``: every day ``time.start_day`` allows, or a trace's days before
``traffic.split_day`` (tuning, training) or from it on (test; see ``envs.calendar``)."""


@dataclass(frozen=True)
class TrafficParams:
    """Eligible ad requests: Poisson on base x profile x day-of-week x noise x surges."""

    # at profile level 1
    base_rate: Value = setting(8.0, 0.0, 1e7, unit="requests/s", may_range=True)
    profile: str = "broadcast"  # broadcast | intraday | trace
    trace_csv: str | None = None  # per-minute CSV (column `requests`), profile = trace / mean
    # the trace's first test day (trace only)
    split_day: int | None = setting(None, 1, MAX_TRACE_DAYS, integer=True, unit="day")
    days: str = "all"  # all | train | test: days a flight starts on (train/test: see split_day)
    # Mon..Sun traffic multipliers
    dow_factors: tuple[float, ...] = setting(
        (1.0, 1.0, 1.0, 1.0, 1.05, 1.15, 1.1), 0.0, 100.0, low_open=True, unit="x", each=True
    )
    # stationary sd of the log-rate AR(1) noise
    noise_sd: Value = setting(0.15, 0.0, 3.0, may_range=True)
    # correlation time of the noise
    noise_tau_s: Value = setting(
        600.0, 0.0, MAX_NOISE_TAU_S, low_open=True, unit="s", may_range=True
    )
    # surge starts per hour
    surge_rate_per_h: Value = setting(0.5, 0.0, 3600.0, unit="1/h", may_range=True)
    # traffic multipliers of a surge
    surge_factors: tuple[float, ...] = setting((10.0, 100.0), 1.0, 1e4, unit="x", each=True)
    # their probabilities, summing to 1
    surge_probs: tuple[float, ...] = setting((0.8, 0.2), 0.0, 1.0, each=True)
    # mean surge duration (exponential)
    surge_mean_s: Value = setting(
        120.0, 0.0, MAX_NOISE_TAU_S, low_open=True, unit="s", may_range=True
    )
    departures: DepartureParams = OFF  # lasting departures (envs.params_departures)

    def __post_init__(self) -> None:
        object.__setattr__(self, "departures", as_departures(self.departures))  # from a mapping
        check_section(self, "traffic")
        if self.profile not in ("broadcast", "intraday", "trace"):
            raise ScenarioError(
                f"traffic.profile = {self.profile!r}: allowed 'broadcast', 'intraday', 'trace'"
            )
        if self.profile == "trace" and not self.trace_csv:
            raise ScenarioError("traffic.profile = 'trace' needs traffic.trace_csv (a CSV path)")
        if self.split_day is not None and self.profile != "trace":
            raise ScenarioError(
                f"traffic.split_day = {self.split_day} splits a recorded trace: allowed only "
                f"with traffic.profile = 'trace' (got {self.profile!r})"
            )
        if self.days not in DAY_SETS:
            raise ScenarioError(
                f"traffic.days = {_short(self.days)}: allowed " + ", ".join(map(repr, DAY_SETS))
            )
        if self.days != "all" and self.split_day is None:
            raise ScenarioError(
                f"traffic.days = {self.days!r} needs traffic.split_day (the trace's first test day)"
            )
        if len(self.dow_factors) != 7:
            raise ScenarioError(
                f"traffic.dow_factors has {len(self.dow_factors)} values: allowed exactly 7"
            )
        if len(self.surge_factors) != len(self.surge_probs) or not self.surge_factors:
            raise ScenarioError(
                "traffic.surge_factors and traffic.surge_probs must be non-empty and of equal "
                f"length, got {len(self.surge_factors)} and {len(self.surge_probs)}"
            )
        if abs(sum(self.surge_probs) - 1.0) > 1e-6:
            raise ScenarioError(
                f"traffic.surge_probs = {list(self.surge_probs)} sums to {sum(self.surge_probs):g}: "
                "allowed sum 1"
            )


@dataclass(frozen=True)
class ForecastParams:
    """Inventory forecast of remaining traffic per plan slot.

    ``perturbed``: the true expected profile x bias x log-normal noise. A data-driven
    kind (``seasonal_naive``, ``holt_winters``; see ``envs.forecast``) replaces the true
    profile; bias and noise still apply on top. It is trained on ``history_days`` days of
    the scenario's own simulated traffic (seed ``history_seed``; ``fit_on = simulated``) or,
    on a recorded trace (``fit_on = trace``), walk-forward on the ``history_days`` trace days
    before each flight's start day, never on the flight's own days (``envs.calendar``).
    """

    kind: str = "perturbed"  # perturbed | seasonal_naive | holt_winters
    # multiplicative bias of the forecast
    bias: Value = setting(1.0, 0.0, 100.0, low_open=True, unit="x", may_range=True)
    # log-sd of the per-slot forecast error
    noise_sd: Value = setting(0.1, 0.0, 3.0, may_range=True)
    # training history (at least 2 for holt_winters)
    history_days: int = setting(14, 1, 31, integer=True, unit="days")
    season: str = "day"  # day | week: a daily shape (x day-of-week factors) or a weekly one
    history_seed: int = setting(0, 0, 2**63 - 1, integer=True)  # seed of the simulated history
    fit_on: str = "simulated"  # simulated | trace (walk-forward on the days before the flight)
    nowcast: str = "none"  # none | smoothing | linear: corrected by the traffic seen (envs.nowcast)
    # time constant of the traffic-seen level
    nowcast_tau_min: float = setting(15.0, 0.0, 1440.0, low_open=True, unit="min")
    # decay of a departure over the horizon
    nowcast_decay_min: float = setting(120.0, 0.0, 1e5, low_open=True, unit="min")

    def __post_init__(self) -> None:
        check_section(self, "forecast")
        kinds = ("perturbed", "seasonal_naive", "holt_winters")
        if self.fit_on not in ("simulated", "trace"):
            raise ScenarioError(
                f"forecast.fit_on = {_short(self.fit_on)}: allowed 'simulated', 'trace'"
            )
        if self.nowcast not in NOWCAST_KINDS:
            raise ScenarioError(
                f"forecast.nowcast = {_short(self.nowcast)}: allowed "
                + ", ".join(map(repr, NOWCAST_KINDS))
            )
        if self.nowcast == "linear" and self.fit_on != "trace":
            raise ScenarioError(
                "forecast.nowcast = 'linear' is fitted on a trace's days before the flight: "
                f"allowed with forecast.fit_on = 'trace' (got {_short(self.fit_on)})"
            )
        if self.fit_on == "trace" and self.kind == "perturbed":
            raise ScenarioError(
                "forecast.fit_on = 'trace' fits a learned forecaster: allowed with forecast.kind "
                "'seasonal_naive' or 'holt_winters' (got 'perturbed')"
            )
        if self.kind not in kinds:
            raise ScenarioError(
                f"forecast.kind = {self.kind!r}: allowed " + ", ".join(repr(k) for k in kinds)
            )
        if self.season not in SEASONS:
            raise ScenarioError(
                f"forecast.season = {_short(self.season)}: allowed " + ", ".join(map(repr, SEASONS))
            )
        if self.season != "day" and self.kind == "perturbed":
            raise ScenarioError(
                f"forecast.season = {self.season!r} is the season of a learned forecast: allowed "
                "with forecast.kind 'seasonal_naive' or 'holt_winters' (got 'perturbed')"
            )
        days = 7 if self.season == "week" else 1  # days per season; Holt-Winters needs two
        need = days * (2 if self.kind == "holt_winters" else 1)
        if self.kind != "perturbed" and self.history_days < need:
            check("forecast.history_days", self.history_days, need, 31, unit="days")
