"""The segment tables of a value scenario, derived once from ``value`` (``envs.params_value``).

Segment ``s`` is channel ``s // layers``, layer ``s % layers`` (layer 0 the lowest predicted
value). The tables the step reads (``SegmentTables``), by hour of day ``h`` (rows) and segment
(columns):

- ``share[h, s]``: the segment's share of the tick's requests (rows sum to 1): the channel's
  share normalised over channels at that hour, split equally over its layers;
- ``ctr[h, s]`` [clicks/rendered impression], ``cvr[h, s]`` [conversions/click],
  ``vpc[s]`` [currency/conversion]; ``pred[h, s] = ctr x cvr x vpc``: the predicted value of
  a rendered impression [currency], what the pacer sees (without the episode's drift);
- ``price_x[s]``, ``fill_x[s]``: multipliers of ``money.price`` (and media cost) and of the
  serving fill rate.

The layers (``layer_factors``): a request's true log value within a channel-hour is normal
with sd ``value_sd``; its prediction adds normal noise of sd ``prediction_sd``; layer ``l``
holds the requests whose prediction falls in the ``l``-th of ``layers`` equal quantiles. Its
mean value relative to the channel's is ``L (Phi(z_hi - a) - Phi(z_lo - a))`` with
``a = value_sd^2 / sqrt(value_sd^2 + prediction_sd^2)`` (the mean of a log-normal over a
band of a correlated normal); the factors average to 1, so a channel's mean is kept. It
multiplies the layer's click-through rate; its price multiplier is the factor to the power
``price_elasticity``.

``flight_value_per_spend`` is the normaliser of the value term: the value per spend of buying
every eligible request of the flight at one rate (forecast traffic by plan slot, the hour of
each slot), with the episode's drift (true) and without it (what the pacer can predict).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pacegym.envs.params import ScenarioParams
from pacegym.envs.params_value import HOURS, ValueParams


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _z(q: float) -> float:
    """Standard normal quantile (bisection on ``_phi``; exact to 1e-12, cheap for 16 layers)."""
    if q <= 0.0:
        return -math.inf
    if q >= 1.0:
        return math.inf
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _phi(mid) < q else (lo, mid)
    return 0.5 * (lo + hi)


def layer_factors(value: ValueParams) -> np.ndarray:
    """Mean value of each predicted-value layer relative to its channel's (module docstring)."""
    n = int(value.layers)
    sv, se = float(value.value_sd), float(value.prediction_sd)
    if n == 1 or sv == 0.0:
        return np.ones(n)
    a = sv * sv / math.sqrt(sv * sv + se * se)
    edges = [_z(k / n) for k in range(n + 1)]
    g = np.array([n * (_phi(edges[k + 1] - a) - _phi(edges[k] - a)) for k in range(n)])
    return g / g.mean()  # exact mean 1 (the bisection's last digits)


@dataclass(frozen=True)
class SegmentTables:
    """What the step reads about segments (module docstring); arrays are float64 unless
    stated, hours as rows."""

    names: tuple[str, ...]  # "<channel>/<layer>"
    channel: np.ndarray  # (S,) int64
    share: np.ndarray  # (24, S)
    ctr: np.ndarray  # (24, S)
    cvr: np.ndarray  # (24, S)
    vpc: np.ndarray  # (S,)
    pred: np.ndarray  # (24, S) [currency per rendered impression]
    price_x: np.ndarray  # (S,)
    fill_x: np.ndarray  # (S,)

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def n_channels(self) -> int:
        return int(self.channel.max()) + 1


def segment_tables(value: ValueParams) -> SegmentTables:
    """The tables of ``value`` (its channels must be set: ``value.on``)."""
    chans = value.channels
    n_l = int(value.layers)
    g = layer_factors(value)
    raw = np.array([c.share for c in chans], dtype=float).T  # (24, C)
    tot = raw.sum(axis=1, keepdims=True)
    ch_share = np.divide(raw, tot, out=np.full_like(raw, 1.0 / len(chans)), where=tot > 0)
    names, channel, share, ctr, cvr, vpc, price_x, fill_x = [], [], [], [], [], [], [], []
    for c, ch in enumerate(chans):
        for layer in range(n_l):
            names.append(f"{ch.name}/{layer}")
            channel.append(c)
            share.append(ch_share[:, c] / n_l)
            ctr.append(np.minimum(np.asarray(ch.ctr) * g[layer], 1.0))
            cvr.append(np.asarray(ch.cvr))
            vpc.append(ch.value_per_conversion)
            price_x.append(ch.price_x * g[layer] ** float(value.price_elasticity))
            fill_x.append(ch.fill_x)
    ctr_a, cvr_a, vpc_a = np.array(ctr).T, np.array(cvr).T, np.array(vpc)
    return SegmentTables(
        names=tuple(names),
        channel=np.array(channel, dtype=np.int64),
        share=np.ascontiguousarray(np.array(share).T),
        ctr=np.ascontiguousarray(ctr_a),
        cvr=np.ascontiguousarray(cvr_a),
        vpc=vpc_a,
        pred=np.ascontiguousarray(ctr_a * cvr_a * vpc_a[None, :]),
        price_x=np.array(price_x),
        fill_x=np.array(fill_x),
    )


def slot_hours(start_min: np.ndarray, n_slots: int, slot_min: float) -> np.ndarray:
    """(rows, n_slots) int64: the hour of day at the middle of each plan slot."""
    mid = start_min[:, None] + (np.arange(n_slots)[None, :] + 0.5) * slot_min
    return (np.floor(np.mod(mid, 1440.0) / 60.0).astype(np.int64)) % HOURS


def flight_value_per_spend(
    tab: SegmentTables,
    sc: ScenarioParams,
    fc_cum: np.ndarray,
    start_min: np.ndarray,
    n_slots: np.ndarray,
    drift: np.ndarray,
) -> np.ndarray:
    """(rows, 2): the flight's value per spend [value/currency] of buying every eligible
    request at one rate, with the rows' channel ``drift`` (column 0, true) and without it
    (column 1, predicted); forecast traffic per plan slot (``fc_cum``) weighs the hours.
    The unit x fill the render probability share cancels."""
    slot_min = float(sc.time.slot_s) / 60.0
    rows = fc_cum.shape[0]
    m = fc_cum.shape[1] - 1
    hours = slot_hours(start_min, m, slot_min)
    w = np.diff(fc_cum, axis=1) * (np.arange(m)[None, :] < n_slots[:, None])
    fill = tab.fill_x  # x the serving fill rate, a common factor (its cap at 1 ignored)
    cost_h = (tab.share * fill * tab.price_x).sum(axis=1) * float(sc.money.price)  # (24,)
    val_hc = np.zeros((HOURS, tab.n_channels))
    np.add.at(val_hc.T, tab.channel, (tab.share * fill * tab.pred).T)
    cost = (w * cost_h[hours]).sum(axis=1)
    val_true = np.zeros(rows)
    val_pred = np.zeros(rows)
    for c in range(tab.n_channels):
        v = (w * val_hc[hours, c]).sum(axis=1)
        val_true += v * drift[:, c]
        val_pred += v
    safe = np.maximum(cost, 1e-300)
    return np.stack([val_true / safe, val_pred / safe], axis=1)


def mean_unit(
    tab: SegmentTables, fc_cum: np.ndarray, start_min: np.ndarray, slot_min: float
) -> np.ndarray:
    """(rows,): the flight's mean price x fill multiplier of a request (1 for one uniform
    segment), what the observation's full-throttle capacity scales by."""
    m = fc_cum.shape[1] - 1
    hours = slot_hours(start_min, m, slot_min)
    w = np.diff(fc_cum, axis=1)
    unit_h = (tab.share * tab.fill_x * tab.price_x).sum(axis=1)
    tot = w.sum(axis=1)
    return (w * unit_h[hours]).sum(axis=1) / np.maximum(tot, 1e-300)
