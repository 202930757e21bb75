"""Demand and what is known of it: the traffic a campaign meets (``TrafficParams``) and the
inventory forecast it is planned on (``ForecastParams``); sections of ``ScenarioParams``
(``envs.params``, whose docstring states the conventions)."""

from __future__ import annotations

from dataclasses import dataclass

from pacegym.envs.checks import ScenarioError, Value, _short, check, check_whole
from pacegym.envs.params_departures import OFF, DepartureParams, as_departures

MAX_TRACE_DAYS = 2 * 366
"""[days] longest trace (``traffic.trace_csv``) and latest ``time.start_day``: two years."""

MAX_NOISE_TAU_S = 1e7
"""[s] longest noise correlation time and mean surge duration (~116 days: longer is the
same as forever over any flight)."""


DAY_SETS = ("all", "train", "test")
"""``traffic.days``: every day ``time.start_day`` allows, or a trace's days before
``traffic.split_day`` (tuning, training) or from it on (test; see ``envs.calendar``)."""


@dataclass(frozen=True)
class TrafficParams:
    """Eligible ad requests: Poisson on base x profile x day-of-week x noise x surges."""

    base_rate: Value = 8.0  # [requests/s] in [0, 1e7] at profile level 1
    profile: str = "broadcast"  # broadcast | intraday | trace
    trace_csv: str | None = None  # per-minute CSV (column `requests`), profile = trace / mean
    split_day: int | None = None  # [trace day] in 1..MAX_TRACE_DAYS first test day (trace only)
    days: str = "all"  # all | train | test: days a flight starts on (train/test: see split_day)
    dow_factors: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.05, 1.15, 1.1)  # [x] (0, 100] Mon..Sun
    noise_sd: Value = 0.15  # [-] in [0, 3] stationary sd of the log-rate AR(1) noise
    noise_tau_s: Value = 600.0  # [s] in (0, 1e7] correlation time of the noise
    surge_rate_per_h: Value = 0.5  # [1/h] in [0, 3600] surge starts per hour
    surge_factors: tuple[float, ...] = (10.0, 100.0)  # [x] in [1, 1e4] traffic multipliers
    surge_probs: tuple[float, ...] = (0.8, 0.2)  # [-] in [0, 1], summing to 1
    surge_mean_s: Value = 120.0  # [s] in (0, 1e7] mean surge duration (exponential)
    departures: DepartureParams = OFF  # lasting departures (envs.params_departures)

    def __post_init__(self) -> None:
        object.__setattr__(self, "departures", as_departures(self.departures))  # from a mapping
        check("traffic.base_rate", self.base_rate, 0.0, 1e7, unit="requests/s")
        if self.profile not in ("broadcast", "intraday", "trace"):
            raise ScenarioError(
                f"traffic.profile = {self.profile!r}: allowed 'broadcast', 'intraday', 'trace'"
            )
        if self.profile == "trace" and not self.trace_csv:
            raise ScenarioError("traffic.profile = 'trace' needs traffic.trace_csv (a CSV path)")
        if self.split_day is not None:
            check(
                "traffic.split_day",
                self.split_day,
                1,
                MAX_TRACE_DAYS,
                unit="day",
                allow_range=False,
            )
            check_whole("traffic.split_day", self.split_day, "day")
            if self.profile != "trace":
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
        for i, f in enumerate(self.dow_factors):
            check(
                f"traffic.dow_factors[{i}]",
                f,
                0.0,
                100.0,
                low_open=True,
                unit="x",
                allow_range=False,
            )
        check("traffic.noise_sd", self.noise_sd, 0.0, 3.0)
        check(
            "traffic.noise_tau_s", self.noise_tau_s, 0.0, MAX_NOISE_TAU_S, low_open=True, unit="s"
        )
        check("traffic.surge_rate_per_h", self.surge_rate_per_h, 0.0, 3600.0, unit="1/h")
        check(
            "traffic.surge_mean_s", self.surge_mean_s, 0.0, MAX_NOISE_TAU_S, low_open=True, unit="s"
        )
        if len(self.surge_factors) != len(self.surge_probs) or not self.surge_factors:
            raise ScenarioError(
                "traffic.surge_factors and traffic.surge_probs must be non-empty and of equal "
                f"length, got {len(self.surge_factors)} and {len(self.surge_probs)}"
            )
        for i, f in enumerate(self.surge_factors):
            check(f"traffic.surge_factors[{i}]", f, 1.0, 1e4, unit="x", allow_range=False)
        for i, p in enumerate(self.surge_probs):
            check(f"traffic.surge_probs[{i}]", p, 0.0, 1.0, allow_range=False)
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
    bias: Value = 1.0  # [x] in (0, 100] multiplicative bias of the forecast
    noise_sd: Value = 0.1  # [-] in [0, 3] log-sd of the per-slot forecast error
    history_days: int = 14  # [days] in 1..31 (2..31 for holt_winters) training history
    history_seed: int = 0  # [-] in 0..2^63-1 seed of the simulated history
    fit_on: str = "simulated"  # simulated | trace (walk-forward on the days before the flight)
    nowcast: str = "none"  # none | smoothing: corrected by the traffic seen (envs.nowcast)
    nowcast_tau_min: float = 15.0  # [min] in (0, 1440] time constant of the traffic-seen level
    nowcast_decay_min: float = 120.0  # [min] in (0, 100000] decay of a departure over the horizon

    def __post_init__(self) -> None:
        kinds = ("perturbed", "seasonal_naive", "holt_winters")
        if self.fit_on not in ("simulated", "trace"):
            raise ScenarioError(
                f"forecast.fit_on = {_short(self.fit_on)}: allowed 'simulated', 'trace'"
            )
        if self.nowcast not in ("none", "smoothing"):
            raise ScenarioError(
                f"forecast.nowcast = {_short(self.nowcast)}: allowed 'none', 'smoothing'"
            )
        check(
            "forecast.nowcast_tau_min",
            self.nowcast_tau_min,
            0.0,
            1440.0,
            low_open=True,
            unit="min",
            allow_range=False,
        )
        check(
            "forecast.nowcast_decay_min",
            self.nowcast_decay_min,
            0.0,
            1e5,
            low_open=True,
            unit="min",
            allow_range=False,
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
        check("forecast.bias", self.bias, 0.0, 100.0, low_open=True, unit="x")
        check("forecast.noise_sd", self.noise_sd, 0.0, 3.0)
        need = 2 if self.kind == "holt_winters" else 1
        check("forecast.history_days", self.history_days, need, 31, unit="days", allow_range=False)
        if int(self.history_days) != self.history_days:
            raise ScenarioError(
                f"forecast.history_days = {self.history_days}: allowed a whole number of days"
            )
        check("forecast.history_seed", self.history_seed, 0, 2**63 - 1, allow_range=False)
        check_whole("forecast.history_seed", self.history_seed)
