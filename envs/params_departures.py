"""Departures from the forecast that last: the optional ``traffic.departures`` section.

Recorded demand departs from its day-ahead forecast for hours (news, holidays), days differ
in shape, bursts are heavy-tailed and whole days collapse (``docs/real_traffic.md``). With
the section on, the traffic of every tick is multiplied by ``exp(x)``, a log factor drawn
per campaign and episode at reset on a ``DEP_BIN_MIN`` grid over the flight
(``envs.departure_gen``), the sum of:

- a slow Ornstein-Uhlenbeck deviation (``slow_sd``, correlation time ``slow_tau_h``; with
  ``slow_order`` 2 smoothed by a second OU, for deviations that build up and fade);
- a factor per calendar hour (``hour_sd``: day-to-day shape, one draw per day and hour of
  day) and one per calendar quarter-hour (``quarter_sd``);
  the three Gaussian parts are mean-corrected (``-sd^2/2``), so expected traffic is kept;
- bursts: Poisson starts (``burst_rate_per_h``), a Pareto multiplier (smallest
  ``burst_min_x``, tail index ``burst_alpha``), a log-normal duration (median
  ``burst_median_min``, log-sd ``burst_sd``);
- collapses: each calendar day with probability ``collapse_per_day`` traffic falls to
  ``collapse_x`` for ``collapse_h`` hours from a uniform minute of that day, and is
  ``rebound_x`` x the forecast over the calendar day after the one the collapse ends in
  (a walk-forward forecast fitted on the collapsed day reads the next day low).

With ``native_min`` above ``DEP_BIN_MIN``, ``x`` but the bursts is then averaged over
calendar blocks of that many minutes and interpolated linearly between their middles, as a trace recorded in
such bins and interpolated per minute is (``envs.calibration.departure_fit`` reads the width
off the trace). ``x`` is clipped to ``[log(MIN_X), log(MAX_X)]``. All zero (the default) is off: nothing is
drawn and every result is as without the section. ``pacegym-calibrate`` fits the section
(``envs.calibration.departure_fit``).

The section is given as a mapping (``traffic: {departures: {slow_sd: 0.3, ...}}``) and
replaces the base's section as a whole (keys not given take the defaults below); a
scenario's ``to_dict`` writes it back as a mapping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pacegym.envs.checks import ScenarioError, check_section, setting

DEP_BIN_MIN = 5
"""[min] grid of the drawn log factor (a burst or collapse starts and ends on it)."""
MAX_X = 100.0
"""[x] largest departure factor (bounds the peak traffic ``envs.state`` checks)."""
MIN_X = 1e-4
"""[x] smallest departure factor (a collapse to nothing)."""


@dataclass(frozen=True)
class DepartureParams:
    """Slow deviations, day shape, bursts and collapses (module docstring); all 0 = off."""

    # stationary sd of the slow log deviation
    slow_sd: float = setting(0.0, 0.0, 3.0)
    slow_tau_h: float = setting(6.0, 0.0, 720.0, low_open=True, unit="h")  # its correlation time
    # 1: an OU (correlation e^-s); 2: an OU smoothed by a second one of the same time
    # (correlation (1 + s) e^-s, s = lag / slow_tau_h: smooth)
    slow_order: float = setting(1.0, 1.0, 2.0, integer=True)
    hour_sd: float = setting(0.0, 0.0, 3.0)  # sd of the log factor per calendar hour
    quarter_sd: float = setting(0.0, 0.0, 3.0)  # sd of the log factor per calendar quarter-hour
    burst_rate_per_h: float = setting(0.0, 0.0, 60.0, unit="1/h")  # burst starts per hour
    burst_min_x: float = setting(2.0, 1.0, 100.0, unit="x")  # smallest burst multiplier (Pareto)
    burst_alpha: float = setting(3.0, 0.5, 100.0)  # Pareto tail index of the multiplier
    # median burst duration (log-normal)
    burst_median_min: float = setting(15.0, 1.0, 1440.0, unit="min")
    burst_sd: float = setting(0.5, 0.0, 3.0)  # log-sd of the burst duration
    collapse_per_day: float = setting(0.0, 0.0, 1.0, unit="1/day")  # probability per day
    collapse_x: float = setting(0.05, MIN_X, 1.0, unit="x")  # traffic multiplier in a collapse
    collapse_h: float = setting(6.0, 0.0, 72.0, low_open=True, unit="h")  # collapse duration
    # traffic multiplier over the calendar day after a collapse ends (a forecast fitted on
    # the collapsed day reads the next one low); 1: none
    rebound_x: float = setting(1.0, MIN_X, MAX_X, unit="x")
    # native bin of the traffic: x but the bursts averaged per calendar block of this width,
    # interpolated linearly between block middles (a multiple of DEP_BIN_MIN; DEP_BIN_MIN: as drawn)
    native_min: float = setting(float(DEP_BIN_MIN), DEP_BIN_MIN, 1440.0, unit="min")

    def __post_init__(self) -> None:
        check_section(self, "traffic.departures")
        if float(self.native_min) % DEP_BIN_MIN:
            raise ScenarioError(
                f"traffic.departures.native_min = {self.native_min!r}: allowed a multiple of "
                f"{DEP_BIN_MIN} in [{DEP_BIN_MIN}, 1440] min"
            )
        for f in dataclasses.fields(self):  # plain floats (a fit hands numpy scalars)
            object.__setattr__(self, f.name, float(getattr(self, f.name)))

    @property
    def on(self) -> bool:
        """Whether any part draws anything."""
        return (
            self.slow_sd > 0
            or self.hour_sd > 0
            or self.quarter_sd > 0
            or self.burst_rate_per_h > 0
            or self.collapse_per_day > 0
        )

    def as_array(self) -> np.ndarray:
        """The fields as float64, in field order (what ``envs.departure_gen`` reads)."""
        return np.array([getattr(self, f.name) for f in dataclasses.fields(self)], dtype=float)


OFF = DepartureParams()
"""The default: no departures."""
FIELDS = tuple(f.name for f in dataclasses.fields(DepartureParams))
"""Field order of ``DepartureParams.as_array``."""


def as_departures(value: object) -> DepartureParams:
    """``traffic.departures`` as ``DepartureParams``: itself, or built from a mapping whose
    unknown keys raise ``ScenarioError`` naming them."""
    if isinstance(value, DepartureParams):
        return value
    if value is None:
        return DepartureParams()
    if not isinstance(value, Mapping):
        raise ScenarioError(f"traffic.departures = {value!r}: allowed a mapping of {list(FIELDS)}")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise ScenarioError(
            f"traffic.departures.{unknown[0]} is not a parameter: allowed {sorted(FIELDS)}"
        )
    return DepartureParams(**dict(value))
