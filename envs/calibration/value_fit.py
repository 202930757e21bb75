"""Fit a scenario's ``value`` section (``envs.params_value``) to a log's channels and events.

| ``value`` key | fitted from |
|---|---|
| ``channels[c].share`` (24 hourly) | the channel's requests / all requests, by hour of day |
| ``channels[c].fill_x`` | the channel's serves / requests, over ``serving.fill_rate`` |
| ``channels[c].price_x`` | the channel's cost / impressions over ``money.price``, divided by the mean price factor of the base's layers (``layer_factors ^ price_elasticity``) so the channel's mean price is the log's |
| ``channels[c].ctr`` (24 hourly) | clicks / counted impressions by serve hour (a cell without impressions: the channel's overall rate) |
| ``channels[c].cvr`` (24 hourly) | conversions by their click's hour / clicks |
| ``conversion_quantile_s`` at ``conversion_quantile`` 0.75, ``conversion_sigma`` | click-to-conversion delays (clicks later than the log's end less the longest delay left out): the 75th percentile, and the log-sd matching the 25th and 75th percentiles of a log-normal truncated at ``conversion_max_delay_s`` |
| ``conversion_max_delay_s`` | the longest delay, up to a whole minute |

Not observable without layer ids or conversion values, kept from the base: ``layers``,
``value_sd``, ``prediction_sd``, ``price_elasticity``, ``drift_sd``, ``conversion_bin_s`` and
each channel's ``value_per_conversion`` (the base's channel of that name, else the
default). The layers' click-through rates average to the channel's (``envs.value``), so
the fitted ``ctr`` is the channel's mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from pacegym.envs.calibration.logs import LogError
from pacegym.envs.calibration.value_log import ChannelHours, ValueEvents
from pacegym.envs.params_value import ChannelParams, ValueParams
from pacegym.envs.value import layer_factors

QUANTILE = 0.75
"""The delay quantile ``conversion_quantile_s`` is fitted at."""
MIN_CONVERSIONS = 20
"""Fewest conversions with a measured delay a delay fit needs."""


@dataclass(frozen=True)
class ValueFit:
    """Per channel (rows) and hour of day (columns) rates, and the conversion delay."""

    channels: tuple[str, ...]
    share: np.ndarray  # (C, 24) [-] of the hour's requests
    fill: np.ndarray  # (C,) serves / requests
    price: np.ndarray  # (C,) [currency/impression]
    ctr: np.ndarray  # (C, 24) [clicks/impression]
    cvr: np.ndarray  # (C, 24) [conversions/click]
    quantile_s: float  # [s] 75th percentile of the conversion delay
    sigma: float  # log-sd of the conversion delay
    max_delay_s: float  # [s]
    delays: int  # conversions the delay was fitted on


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` per hour; an hour without ``den`` takes the channel's overall ratio."""
    overall = num.sum(axis=1, keepdims=True) / np.maximum(den.sum(axis=1, keepdims=True), 1e-300)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), overall)


def fit_lognormal(delays_s: np.ndarray, top_s: float) -> tuple[float, float]:
    """``(q75 [s], sigma)`` of a log-normal truncated at ``top_s`` matching the 25th and
    75th percentiles of ``delays_s`` (a fixed point on the truncated mass)."""
    lo, hi = np.quantile(delays_s, [0.25, QUANTILE])
    lo, hi = math.log(max(lo, 1e-3)), math.log(max(hi, 1e-3))
    nd = NormalDist()
    mass = 1.0
    sigma = mu = 0.0
    for _ in range(100):
        z_lo, z_hi = nd.inv_cdf(0.25 * mass), nd.inv_cdf(QUANTILE * mass)
        sigma = max((hi - lo) / (z_hi - z_lo), 1e-6)
        mu = hi - sigma * z_hi
        mass = max(nd.cdf((math.log(top_s) - mu) / sigma), 1e-9)
    return math.exp(hi), sigma


def fit_value(hours: ChannelHours, events: ValueEvents) -> ValueFit:
    """The value rates of a log (module docstring); channels in the per-minute log's order."""
    missing = sorted(set(events.channels) - set(hours.channels))
    if missing:
        raise LogError(
            f"value events: channel {missing[0]!r} is not in the per-minute log; allowed "
            f"{list(hours.channels)}"
        )
    idx = [events.channels.index(c) if c in events.channels else -1 for c in hours.channels]

    def take(x: np.ndarray) -> np.ndarray:
        return np.stack([x[i] if i >= 0 else np.zeros(24) for i in idx])

    if events.delays_s.size < MIN_CONVERSIONS:
        raise LogError(
            f"value events: {events.delays_s.size} conversions with a measured delay; allowed "
            f">= {MIN_CONVERSIONS} to fit value.conversion_*"
        )
    req = hours.requests
    total = req.sum(axis=0, keepdims=True)
    share = np.where(total > 0, req / np.where(total > 0, total, 1.0), 1.0 / req.shape[0])
    imp, clicks, conv = take(events.impressions), take(events.clicks), take(events.conversions)
    top = max(math.ceil(events.longest_s / 60.0) * 60.0, 60.0)
    q75, sigma = fit_lognormal(events.delays_s, top)
    return ValueFit(
        channels=hours.channels,
        share=share,
        fill=hours.serves.sum(axis=1) / np.maximum(req.sum(axis=1), 1e-300),
        price=hours.cost.sum(axis=1) / np.maximum(hours.impressions.sum(axis=1), 1e-300),
        ctr=_ratio(clicks, imp),
        cvr=_ratio(conv, clicks),
        quantile_s=q75,
        sigma=sigma,
        max_delay_s=max(top, q75 + 60.0),
        delays=int(events.delays_s.size),
    )


def _sig(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def value_section(fit: ValueFit, base: ValueParams, price: float, fill_rate: float) -> dict:
    """The scenario's ``value`` mapping: fitted keys from ``fit``, the rest from ``base``
    (module docstring); ``price`` and ``fill_rate`` are the scenario's ``money.price`` and
    ``serving.fill_rate``."""
    by_name = {c.name: c for c in base.channels}
    mean_price = float(np.mean(layer_factors(base) ** float(base.price_elasticity)))
    channels: list[dict[str, Any]] = []
    for c, name in enumerate(fit.channels):
        ref = by_name.get(name, ChannelParams())
        channels.append(
            {
                "name": name,
                "share": [_sig(x, 5) for x in fit.share[c]],
                "ctr": [_sig(x) for x in fit.ctr[c]],
                "cvr": [_sig(x) for x in fit.cvr[c]],
                "value_per_conversion": float(ref.value_per_conversion),
                "price_x": _sig(fit.price[c] / price / mean_price),
                "fill_x": _sig(fit.fill[c] / fill_rate) if fill_rate > 0 else 1.0,
            }
        )
    return {
        "channels": channels,
        "layers": int(base.layers),
        "value_sd": float(base.value_sd),
        "prediction_sd": float(base.prediction_sd),
        "price_elasticity": float(base.price_elasticity),
        "drift_sd": float(base.drift_sd),
        "conversion_quantile_s": round(fit.quantile_s, 3),
        "conversion_quantile": QUANTILE,
        "conversion_sigma": round(fit.sigma, 4),
        "conversion_max_delay_s": float(fit.max_delay_s),
        "conversion_bin_s": float(base.conversion_bin_s),
    }


def value_summary(fit: ValueFit) -> dict[str, Any]:
    """The value fit's figures for a report (``fit.json``)."""
    return {
        "value_channels": list(fit.channels),
        "channel_price": [round(float(x), 6) for x in fit.price],
        "channel_fill": [round(float(x), 6) for x in fit.fill],
        "channel_ctr_mean": [round(float(x), 6) for x in fit.ctr.mean(axis=1)],
        "channel_cvr_mean": [round(float(x), 6) for x in fit.cvr.mean(axis=1)],
        "conversion_quantile_s": round(fit.quantile_s, 3),
        "conversion_sigma": round(fit.sigma, 4),
        "conversion_delays": fit.delays,
    }
