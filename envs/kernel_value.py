"""The compiled step's segment path: serving, delays and value of a value scenario.

Helpers of ``envs.kernel``'s step, inlined into it, used only when the scenario has
segments (``value.channels``, ``envs.params_value``); the volume world never calls them.
Tables are ``envs.value.SegmentTables``' (hour-of-day rows). Per tick and campaign:

1. ``serve_segments``: the tick's requests are split over the segments by their shares at
   the hour (a chain of binomials on the segment stream, exogenous: the same whatever the
   throttles); each segment serves a binomial at fill x its fill multiplier x its throttle
   (the serving stream); each served impression is rendered and delayed as in the volume
   world (one uniform of the delay stream each, the same alias table) and its price units
   (``price_x``) and relative value per spend go into the ledger beside its count; clicks
   and conversions are drawn on the value stream (conversion rate x the channel's drift),
   each conversion is filed into the conversion ledger at a delay drawn from its table.
   The split's, the serving's and the clicks' binomials take their set-up from
   ``envs.binomial_tab`` (tables by hour, a memo per campaign): ``envs.rng.binomial``'s
   draws bit for bit, without its logarithm and exponential on every draw.
2. ``count_units``: the price units and value units counted this tick (the ledger's head).
3. ``value_term``: the value term of the billed part of this tick's count.
4. ``realise_conversions``: the conversion ledger's head, once per conversion bin.

Relative value per spend of segment ``s`` at hour ``h`` for campaign ``b``:
``pred[h, s] x drift[b, channel] / (price x price_x[s]) / vbar[b, 0]``; a billed impression
pays ``price x price_x x (relative value - 1)`` into ``value_excess``: 0 when every
segment's value per spend is the flight's average.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from pacegym.envs import binomial_tab as BT
from pacegym.envs import rng
from pacegym.envs.layout import (
    F_BILLABLE,
    I_CONV_HEAD,
    I_HEAD,
    I_IN_FLIGHT,
    I_NEVER,
    I_SERVED,
    P_BUDGET,
    P_DELAY_ROW,
    P_FILL,
    P_FLIGHT_TICKS,
    P_RENDER,
    P_START_MIN,
    R_VALUE,
    VS_CLICKS,
    VS_CONV_REALISED,
    VS_CONV_VALUE,
    VS_CONVERSIONS,
    VS_VALUE,
    VS_VALUE_EXCESS,
    VS_VALUE_PRED,
)


@nb.njit(cache=True, inline="always")
def hour_of(start_min: float, t: int, tick_s: float) -> int:
    """Hour of day (0-23) of tick ``t`` of a flight starting ``start_min`` after midnight."""
    minute = (start_min + t * tick_s / 60.0) % 1440.0
    return min(int(minute / 60.0), 23)


@nb.njit(cache=True, inline="always")
def _alias(u: float, prob: np.ndarray, idx: np.ndarray) -> int:
    """A bin from the alias table (``prob``, ``idx``) for the uniform ``u`` in [0, 1)."""
    d = prob.shape[0]
    v = u * d
    j = min(int(v), d - 1)
    return j if (v - j) < prob[j] else idx[j]


@nb.njit(cache=True, inline="always")
def split_next(st: np.ndarray, left: int, mass: float, q: float, last: bool) -> int:
    """The next segment's requests in the chain of binomials that splits a tick's requests
    over the segments: ``left`` requests not yet given, ``mass`` the share of the segments
    not yet drawn, ``q`` this one's share; the last takes what is left. On the segment
    stream ``st`` (exogenous: ``baselines.oracle_value`` replays the same chain)."""
    if last:
        return left
    if left > 0 and mass > 0.0:
        return rng.binomial(st, left, min(q / mass, 1.0))
    return 0


@nb.njit(cache=True, inline="always")
def split_row(st: np.ndarray, left: int, row: np.ndarray, last: bool) -> int:
    """``split_next`` from the segment's row of the split's set-up at the hour
    (``binomial_tab.table`` of ``split_probabilities``): the same draw, bit for bit."""
    return left if last else BT.binomial_at(st, left, row)


@nb.njit(cache=True, inline="always")
def place(
    b: int, k: int, head: int, st: np.ndarray, render: float, pending: np.ndarray,
    pend_units: np.ndarray, pend_val: np.ndarray, prob: np.ndarray, idx: np.ndarray,
    m: float, rel: float,
) -> int:  # fmt: skip
    """File ``k`` served impressions of one segment into the ledger (count, price units
    ``m`` and value units ``m x rel`` each): one uniform of the delay stream each, the
    render draw then the alias table. Returns the rendered count."""
    d = pending.shape[1]
    rendered = 0
    for _ in range(k):
        u = rng.uniform(st)
        if u >= render:
            continue
        rendered += 1
        slot = (head + _alias(u / render, prob, idx)) % d
        pending[b, slot] += 1
        pend_units[b, slot] += m
        pend_val[b, slot] += m * rel
    return rendered


@nb.njit(cache=True, inline="always")
def convert(
    b: int, h: int, s: int, rendered: int, st: np.ndarray, c_head: int, vst: np.ndarray,
    seg_clicks: np.ndarray, seg_cvr: np.ndarray, seg_vpc: np.ndarray, drift_c: float,
    conv_ring: np.ndarray, conv_prob: np.ndarray, conv_idx: np.ndarray,
) -> None:  # fmt: skip
    """Clicks and conversions of ``rendered`` impressions of segment ``s`` at hour ``h`` on
    the value stream ``st`` (``seg_clicks``: the click-through rates' binomial set-up); each
    conversion filed into the conversion ledger."""
    clicks = BT.binomial_at(st, rendered, seg_clicks[h, s])
    conv = rng.binomial(st, clicks, min(seg_cvr[h, s] * drift_c, 1.0))
    vst[b, VS_CLICKS] += clicks
    vst[b, VS_CONVERSIONS] += conv
    vst[b, VS_CONV_VALUE] += conv * seg_vpc[s]
    n_conv = conv_ring.shape[1]
    for _ in range(conv):
        conv_ring[b, (c_head + _alias(rng.uniform(st), conv_prob, conv_idx)) % n_conv] += 1


# fmt: off
@nb.njit(cache=True, inline="always")
def serve_segments(
    b: int, h: int, requests: int, gate: float, throttle: np.ndarray, par: np.ndarray,
    ist: np.ndarray, vst: np.ndarray, streams: np.ndarray, pending: np.ndarray,
    pend_units: np.ndarray, pend_val: np.ndarray, alias_prob: np.ndarray,
    alias_idx: np.ndarray, price: float, seg_split: np.ndarray,
    seg_clicks: np.ndarray, seg_cvr: np.ndarray, seg_pred: np.ndarray, seg_vpc: np.ndarray,
    seg_price: np.ndarray, seg_fill: np.ndarray, seg_chan: np.ndarray, seg_served: np.ndarray,
    memo: np.ndarray, drift: np.ndarray, vbar: np.ndarray, conv_ring: np.ndarray,
    conv_prob: np.ndarray, conv_idx: np.ndarray,
) -> tuple[int, float]:
    # fmt: on
    """Serve campaign ``b``'s ``requests`` of a tick at hour of day ``h`` (``hour_of``)
    over its segments (module docstring); ``gate`` 0 once the reported spend reached the
    budget, else 1.
    Returns (impressions served, their price units). ``memo``: the campaign's serving
    draws' set-up (``binomial_tab.binomial_memo``: segments and ticks often share one).
    At most 29 arguments: a call with more is a ``*args`` call to numba (CPython 3.11)."""
    st_seg = streams[b, rng.STREAM_SEGMENT]
    st_srv = streams[b, rng.STREAM_SERVING]
    n_seg = seg_split.shape[1]
    fill = par[b, P_FILL]
    row = int(par[b, P_DELAY_ROW])
    left = requests
    served = 0
    units = 0.0
    rendered_all = 0
    for s in range(n_seg):
        r = split_row(st_seg, left, seg_split[h, s], s == n_seg - 1)
        left -= r
        if r == 0:
            if left == 0:
                break  # no requests left: no draw on any stream for the other segments
            continue
        p = min(fill * seg_fill[s], 1.0) * (throttle[b, s] * gate)
        k = BT.binomial_memo(st_srv, r, p, memo)
        if k == 0:
            continue
        seg_served[b, s] += k
        m = seg_price[s]
        c = seg_chan[s]
        true_value = seg_pred[h, s] * drift[b, c]
        rel = true_value / (price * m) / vbar[b, 0]
        rendered = place(
            b, k, ist[b, I_HEAD], streams[b, rng.STREAM_DELAY], par[b, P_RENDER], pending,
            pend_units, pend_val, alias_prob[row], alias_idx[row], m, rel,
        )  # fmt: skip
        rendered_all += rendered
        served += k
        units += k * m
        vst[b, VS_VALUE] += rendered * true_value
        vst[b, VS_VALUE_PRED] += rendered * seg_pred[h, s]
        convert(
            b, h, s, rendered, streams[b, rng.STREAM_VALUE], ist[b, I_CONV_HEAD], vst, seg_clicks,
            seg_cvr, seg_vpc, drift[b, c], conv_ring, conv_prob, conv_idx,
        )  # fmt: skip
    ist[b, I_SERVED] += served
    ist[b, I_NEVER] += served - rendered_all
    ist[b, I_IN_FLIGHT] += rendered_all
    return served, units


@nb.njit(cache=True, inline="always")
def count_value(
    b: int,
    t: int,
    price: float,
    par: np.ndarray,
    ist: np.ndarray,
    fst: np.ndarray,
    vst: np.ndarray,
    terms: np.ndarray,
    pend_units: np.ndarray,
    pend_val: np.ndarray,
    conv_ring: np.ndarray,
    conv_ticks: int,
) -> float:
    """The value side of counting (before ``envs.kernel``'s ``_count`` moves the head):
    the price units counted this tick (returned, what ``book`` bills), the value term of
    their billed share, and the conversions realised at the end of a bin."""
    units, val = count_units(b, ist, pend_units, pend_val)
    room = max(par[b, P_BUDGET] - fst[b, F_BILLABLE], 0.0)
    due = units * price
    value_term(b, units, val, 1.0 if due <= room else room / due, price, par, vst, terms)
    realise_conversions(b, t, ist, vst, conv_ring, conv_ticks)
    return units


@nb.njit(cache=True, inline="always")
def count_units(
    b: int, ist: np.ndarray, pend_units: np.ndarray, pend_val: np.ndarray
) -> tuple[float, float]:
    """Price units and value units counted this tick (the ledger's head, emptied; call it
    before ``envs.kernel``'s ``_count`` moves the head)."""
    head = ist[b, I_HEAD]
    units = pend_units[b, head]
    val = pend_val[b, head]
    pend_units[b, head] = 0.0
    pend_val[b, head] = 0.0
    return units, val


@nb.njit(cache=True, inline="always")
def value_term(
    b: int,
    units: float,
    val: float,
    billed_share: float,
    price: float,
    par: np.ndarray,
    vst: np.ndarray,
    terms: np.ndarray,
) -> None:
    """Pay the value term: the billed share of this tick's count times its value beyond
    the flight's average per spend, as a share of the budget."""
    excess = (val - units) * price * billed_share
    vst[b, VS_VALUE_EXCESS] += excess
    terms[b, R_VALUE] = excess / par[b, P_BUDGET]


@nb.njit(cache=True, inline="always")
def realise_conversions(
    b: int, t: int, ist: np.ndarray, vst: np.ndarray, conv_ring: np.ndarray, conv_ticks: int
) -> None:
    """At the end of each conversion bin (``conv_ticks`` ticks) the ledger's head arrives."""
    if (t + 1) % conv_ticks != 0:
        return
    h = ist[b, I_CONV_HEAD]
    vst[b, VS_CONV_REALISED] += conv_ring[b, h]
    conv_ring[b, h] = 0
    ist[b, I_CONV_HEAD] = (h + 1) % conv_ring.shape[1]


@nb.njit(cache=True, inline="always")
def post_units(b: int, pend_units: np.ndarray) -> float:
    """Price units still in the ledger (counted after the flight, at the drain)."""
    total = 0.0
    for j in range(pend_units.shape[1]):
        total += pend_units[b, j]
    return total


@nb.njit(cache=True, inline="always")
def write_obs_segments(
    b: int,
    t: int,
    obs: np.ndarray,
    n_base: int,
    thr: np.ndarray,
    par: np.ndarray,
    tick_s: float,
    seg_share: np.ndarray,
    seg_rel: np.ndarray,
    vbar: np.ndarray,
) -> None:
    """The segment block of campaign ``b``'s observation at tick ``t`` (the table is
    ``envs.spaces.SEGMENT_FEATURES``): per segment its share of the requests at this hour,
    its predicted value per price (``seg_rel``: ``pred / (price x price_x)``) relative to
    the flight's predicted average, its throttle."""
    ft = int(par[b, P_FLIGHT_TICKS])
    h = hour_of(par[b, P_START_MIN], min(t, max(ft - 1, 0)), tick_s)
    avg = vbar[b, 1]
    for s in range(seg_share.shape[1]):
        k = n_base + 3 * s
        obs[b, k] = seg_share[h, s]
        rel = seg_rel[h, s] / avg if avg > 0.0 else 1.0
        obs[b, k + 1] = min(max(rel, 0.0), 100.0) if math.isfinite(rel) else 0.0
        obs[b, k + 2] = min(max(thr[b, s], 0.0), 1.0)
