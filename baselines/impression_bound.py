"""What finer segmentation is worth: the impression-level bound of a value episode.

The segment LP (``baselines.hindsight_value``) throttles a segment (channel x predicted-value
layer) as a whole: within a layer every request is bought with the same probability. The
requests of a layer differ, though: a request's predicted log value within a channel-hour is
normal, and its expected true value given the prediction is ``exp(a z - a^2 / 2)`` times the
channel's (``z`` the prediction's standard score, ``a = value_sd^2 / sqrt(value_sd^2 +
prediction_sd^2)``; ``envs.value.layer_factors`` averages exactly this over each layer's
band of ``z``). A bidder that sees each request's prediction, not only its layer, and pays the
layer's price, can rank single requests by value per price and buy the best first.

``impression_bound`` does so hour by hour: given the spend the segment schedule makes in each
hour of the flight, the most value that spend can buy from the hour's realised requests,
request by request (a fractional knapsack over the continuum of ``z``, by quantile atoms).
It is an upper bound on the value of any schedule that spends as much in each hour and
knows no more than the predictions, the segment schedule included; the gap is what finer
segmentation of the same prediction is worth, in value and in score (``score.value x`` the
value excess gained at equal spend).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from pacegym.baselines.hindsight_value import SegmentEpisode


def quantile_atoms(
    layers: int, value_sd: float, prediction_sd: float, per_layer: int
) -> np.ndarray:
    """``(layers, per_layer)``: the mean value factor (relative to the channel's) of each of
    ``per_layer`` equal-mass slices of each layer's band of the prediction; a layer's row
    averages to its ``layer_factors`` value, all rows to 1."""
    n = layers * per_layer
    if value_sd == 0.0:
        return np.ones((layers, per_layer))
    a = value_sd**2 / np.sqrt(value_sd**2 + prediction_sd**2)
    edges = ndtri(np.arange(n + 1) / n)  # -inf .. inf
    factor = n * (ndtr(edges[1:] - a) - ndtr(edges[:-1] - a))
    return factor.reshape(layers, per_layer)


@dataclass(frozen=True)
class ImpressionBound:
    """Per clock hour of the flight (from ``t0``): ``spend`` [currency] the schedule's expected
    rendered spend, ``value`` [currency] its expected true value, ``bound`` [currency] the
    most value that spend buys request by request; ``gap = bound - value`` (>= 0) and
    ``score_gap`` the score it is worth (``score.value x sum(gap) / vbar / budget``)."""

    spend: np.ndarray
    value: np.ndarray
    bound: np.ndarray
    score_gap: float

    @property
    def gap(self) -> np.ndarray:
        return self.bound - self.value


def _knapsack(count: np.ndarray, val: np.ndarray, cost: np.ndarray, budget: float) -> float:
    """Most value of a fractional pick of ``count`` items (value ``val``, cost ``cost``
    each) costing at most ``budget``."""
    order = np.argsort(-(val / cost), kind="stable")
    spend = np.cumsum(count[order] * cost[order])
    worth = np.cumsum(count[order] * val[order])
    k = int(np.searchsorted(spend, budget))
    if k >= order.size:
        return float(worth[-1]) if order.size else 0.0
    before_s = spend[k - 1] if k else 0.0
    before_v = worth[k - 1] if k else 0.0
    j = order[k]
    return float(before_v + (budget - before_s) / cost[j] * val[j])


def impression_bound(
    ep: SegmentEpisode, throttle: np.ndarray, per_layer: int = 64
) -> ImpressionBound:
    """The impression-level bound of the per-tick segment schedule ``throttle`` ``(T, S)``
    of ``ep`` from ``ep.t0``, hour by hour of the clock (``ep.hours``: the tables' rows, so
    values are constant within an hour; module docstring)."""
    b = ep.base
    layers = int(ep.layer.max()) + 1
    atoms = quantile_atoms(layers, ep.value_sd, ep.prediction_sd, per_layer)
    g = atoms.mean(axis=1)[ep.layer]  # (S,) each segment's layer factor
    rendered = ep.seg_fill[None, :] * b.render * ep.seg_requests[b.t0 :]  # (T', S)
    unit = b.price * ep.price_x  # (S,)
    p = np.clip(np.asarray(throttle, dtype=float)[b.t0 : b.flight_ticks], 0.0, 1.0)
    hours = ep.hours[b.t0 : b.flight_ticks]
    hour = np.concatenate(([0], np.cumsum(hours[1:] != hours[:-1])))[: hours.size]
    n_h = int(hour[-1]) + 1 if hour.size else 0
    spend, value, bound = np.zeros(n_h), np.zeros(n_h), np.zeros(n_h)
    val_t = ep.value[b.t0 :]
    for h in range(n_h):
        at = hour == h
        r = rendered[at]  # (ticks, S)
        spend[h] = float((p[at] * r * unit).sum())
        value[h] = float((p[at] * r * val_t[at]).sum())
        total = r.sum(axis=0)  # rendered at full throttle per segment
        mean_v = np.divide(
            (r * val_t[at]).sum(axis=0), total, out=np.zeros_like(total), where=total > 0
        )
        rel_atoms = atoms[ep.layer] / g[:, None]  # (S, per_layer) value relative to the layer's
        bound[h] = _knapsack(
            np.repeat(total / per_layer, per_layer),
            (mean_v[:, None] * rel_atoms).ravel(),
            np.repeat(unit, per_layer),
            spend[h],
        )
    score_gap = ep.w_value * float((bound - value).sum()) / ep.vbar / b.budget
    return ImpressionBound(spend=spend, value=value, bound=bound, score_gap=score_gap)
