"""What the spend buys: the optional ``value`` section (channels x predicted-value layers).

Without channels (the default) every request is worth the same and the world is the volume
world: one segment, the throttle a number per campaign, every result as before. With
``value.channels`` the eligible requests of a tick (the traffic model as ever) are split
into **segments**, channel x layer (``envs.value`` derives the tables):

- a channel (a placement) has its own share of the requests by hour of day (``share``,
  normalised across channels per hour), fill (``fill_x`` x ``serving.fill_rate``) and
  price (``price_x`` x ``money.price``, media cost scaled alike), click-through rate per
  rendered impression and conversion rate per click by hour (``ctr``, ``cvr``) and a value
  per conversion;
- a channel's requests are ranked by a predicted value into ``layers`` equal shares. The
  true log value of a request varies within a channel-hour with sd ``value_sd``; the
  prediction adds an error of sd ``prediction_sd``; a layer's value is the mean true value
  of the requests whose prediction falls in it (calibrated, but compressed toward the
  channel's mean by the error) and its price grows with it (``price_elasticity``: price
  of a layer ~ value ^ elasticity, so value per price still rises, less steeply);
- each episode multiplies each channel's value by a hidden drift (log-normal, sd
  ``drift_sd``, mean 1): the pacer sees the predicted value, the realised conversions
  arrive late (``conversion_*``: log-normal delay, ``conversion_quantile`` of them within
  ``conversion_quantile_s``, none after ``conversion_max_delay_s``) and reveal it.

Hourly curves are 24 numbers (hour 0 = midnight of the flight's clock) or one number for
all hours. ``score.value`` (``envs.params.ScoreParams``) weighs the value the spend buys
in the score (docs/objective.md). Channels are given as a list of mappings; a file's
``value`` keys replace its base's one by one, ``channels`` as a whole list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pacegym.envs.checks import ScenarioError, _short, check, check_section, setting

HOURS = 24
MAX_CHANNELS = 16
MAX_LAYERS = 16
MAX_SEGMENTS = 64
"""Most segments (channels x layers) of a scenario: the action has one throttle each."""


def hourly(key: str, value: object, low: float, high: float) -> tuple[float, ...]:
    """``value`` as 24 hourly numbers in ``[low, high]``: one number is every hour's."""
    items = list(value) if isinstance(value, list | tuple) else [value] * HOURS
    if len(items) != HOURS:
        raise ScenarioError(
            f"{key} = {_short(value)}: allowed one number or {HOURS} hourly numbers "
            f"(got {len(items)})"
        )
    for i, v in enumerate(items):
        check(f"{key}[{i}]", v, low, high)
    return tuple(float(v) for v in items)


@dataclass(frozen=True)
class ChannelParams:
    """One channel (placement): its traffic share, fill, price and value rates."""

    name: str = "channel"
    share: Any = 1.0  # [-] relative share of requests by hour (24 or 1 number)
    ctr: Any = 0.01  # [clicks/rendered impression] by hour
    cvr: Any = 0.05  # [conversions/click] by hour
    value_per_conversion: float = setting(100.0, 0.0, 1e9, low_open=True, unit="currency")
    price_x: float = setting(1.0, 0.0, 1e3, low_open=True, unit="x money.price")
    fill_x: float = setting(1.0, 0.0, 1e3, low_open=True, unit="x serving.fill_rate")

    def check(self, key: str) -> ChannelParams:
        """Validated copy (hourly curves as 24 floats); errors name ``key.<field>``."""
        check_section(self, key)
        if not isinstance(self.name, str) or not self.name:
            raise ScenarioError(f"{key}.name = {_short(self.name)}: allowed a non-empty string")
        share = hourly(f"{key}.share", self.share, 0.0, 1e6)
        ctr = hourly(f"{key}.ctr", self.ctr, 0.0, 1.0)
        cvr = hourly(f"{key}.cvr", self.cvr, 0.0, 1.0)
        values = dict(self.__dict__, share=share, ctr=ctr, cvr=cvr)
        values["value_per_conversion"] = float(self.value_per_conversion)
        values["price_x"], values["fill_x"] = float(self.price_x), float(self.fill_x)
        return ChannelParams(**values)


CHANNEL_FIELDS = tuple(f.name for f in fields(ChannelParams))


def as_channel(value: object, key: str) -> ChannelParams:
    """A channel from a mapping (unknown keys refused by name) or itself, validated."""
    if isinstance(value, ChannelParams):
        return value.check(key)
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{key} = {_short(value)}: allowed a mapping of {list(CHANNEL_FIELDS)}")
    unknown = sorted(set(map(str, value)) - set(CHANNEL_FIELDS))
    if unknown:
        raise ScenarioError(
            f"{key}.{unknown[0]} is not a parameter: allowed {list(CHANNEL_FIELDS)}"
        )
    return ChannelParams(**dict(value)).check(key)


@dataclass(frozen=True)
class ValueParams:
    """Segments and what they are worth (module docstring); no channels = volume pacing."""

    channels: tuple[Any, ...] = ()  # ChannelParams (mappings accepted)
    layers: float = setting(1, 1, MAX_LAYERS, integer=True)  # predicted-value layers per channel
    # log-sd of the true value of requests within a channel-hour
    value_sd: float = setting(0.8, 0.0, 3.0)
    prediction_sd: float = setting(0.5, 0.0, 5.0)  # log-sd of the prediction's error
    # price of a layer ~ its value ^ this (0: one price per channel)
    price_elasticity: float = setting(0.5, 0.0, 1.0)
    drift_sd: float = setting(0.0, 0.0, 2.0)  # log-sd of a channel's value per episode
    conversion_quantile_s: float = setting(3600.0, 0.0, 604800.0, low_open=True, unit="s")
    conversion_quantile: float = setting(0.75, 0.0, 1.0, low_open=True, high_open=True)
    conversion_sigma: float = setting(1.0, 0.0, 10.0, low_open=True)  # log-sd of the delay
    conversion_max_delay_s: float = setting(21600.0, 0.0, 2592000.0, low_open=True, unit="s")
    # width of a bin of the conversion ledger
    conversion_bin_s: float = setting(60.0, 1.0, 86400.0, unit="s")

    def __post_init__(self) -> None:
        check_section(self, "value")
        if not isinstance(self.channels, list | tuple):
            raise ScenarioError(
                f"value.channels = {_short(self.channels)}: allowed a list of channel mappings"
            )
        chans = tuple(as_channel(c, f"value.channels[{i}]") for i, c in enumerate(self.channels))
        if len(chans) > MAX_CHANNELS:
            raise ScenarioError(
                f"value.channels has {len(chans)} channels: allowed at most {MAX_CHANNELS}"
            )
        names = [c.name for c in chans]
        if len(set(names)) != len(names):
            raise ScenarioError(f"value.channels names {names}: allowed distinct names")
        n_seg = len(chans) * int(self.layers)
        if n_seg > MAX_SEGMENTS:
            raise ScenarioError(
                f"value.layers = {self.layers} x {len(chans)} channels = {n_seg} segments: "
                f"allowed at most {MAX_SEGMENTS}"
            )
        if chans and all(sum(c.share[h] for c in chans) <= 0 for h in range(HOURS)):
            raise ScenarioError("value.channels: every share is 0; allowed a positive share")
        if self.conversion_quantile_s >= self.conversion_max_delay_s:
            raise ScenarioError(
                f"value.conversion_max_delay_s = {self.conversion_max_delay_s:g} is below "
                f"value.conversion_quantile_s = {self.conversion_quantile_s:g}: allowed "
                "max_delay_s > quantile_s [s]"
            )
        object.__setattr__(self, "channels", chans)
        object.__setattr__(self, "layers", int(self.layers))

    @property
    def on(self) -> bool:
        """Whether the world has segments (else the volume world, bit for bit)."""
        return bool(self.channels)

    @property
    def n_segments(self) -> int:
        """Segments: channels x layers (1 without channels)."""
        return max(1, len(self.channels) * int(self.layers))

    @property
    def conversion_bins(self) -> int:
        """Length of a campaign's conversion ledger (bins of ``conversion_bin_s``)."""
        return max(1, math.ceil(self.conversion_max_delay_s / self.conversion_bin_s))
