"""The clairvoyant's reading of a value scenario (``baselines.oracle`` dispatches here when
``core.value_on``): the realised requests per segment, the episodes of the segment LP
(``baselines.hindsight_value``), their block length and the realised state of a re-plan.

The split of a tick's requests over segments is drawn on its own exogenous stream
(``envs.kernel_value.serve_segments``: a chain of binomials, the same whatever the
throttles), so replaying that chain on a copy of the stream's state at the episode's start
reveals the requests each segment will see, exactly as the probe of
``baselines.oracle.realised_requests`` reveals the total.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numba as nb
import numpy as np

from pacegym.baselines.hindsight_model import HindsightEpisode
from pacegym.baselines.hindsight_value import SegmentEpisode
from pacegym.envs import kernel as K
from pacegym.envs import rng
from pacegym.envs.core import PacingCore
from pacegym.envs.kernel_value import hour_of, split_next
from pacegym.envs.layout import VS_VALUE_EXCESS


@nb.njit(cache=True)
def _split(
    state: np.ndarray, requests: np.ndarray, hours: np.ndarray, share: np.ndarray
) -> np.ndarray:
    """``(T, S)``: the kernel's binomial chain over segments, replayed on a copy of the
    segment stream's ``state``, tick by tick (``hours[t]`` the share row)."""
    st = state.copy()
    n_t, n_seg = requests.shape[0], share.shape[1]
    out = np.zeros((n_t, n_seg), dtype=np.int64)
    for t in range(n_t):
        h = hours[t]
        left = requests[t]
        mass = 1.0
        for s in range(n_seg):
            q = share[h, s]
            r = split_next(st, left, mass, q, s == n_seg - 1)
            left -= r
            mass -= q
            out[t, s] = r
    return out


@nb.njit(cache=True)
def _hours(start_min: float, ticks: int, tick_s: float) -> np.ndarray:
    out = np.empty(ticks, dtype=np.int64)
    for t in range(ticks):
        out[t] = hour_of(start_min, t, tick_s)
    return out


def tick_hours(core: PacingCore, b: int) -> np.ndarray:
    """Hour of day of every tick of campaign ``b``'s flight (the step's own rule)."""
    ft = int(core.par[b, K.P_FLIGHT_TICKS])
    return _hours(float(core.par[b, K.P_START_MIN]), ft, float(core.tick_s))


def segment_requests(core: PacingCore, b: int, requests: np.ndarray) -> np.ndarray:
    """``(T, S)`` realised requests of campaign ``b``'s segments, given its realised
    requests per tick; call it before the episode's first step (the stream's start)."""
    ft = int(core.par[b, K.P_FLIGHT_TICKS])
    state = core.streams[b, rng.STREAM_SEGMENT].copy()
    req = np.ascontiguousarray(requests[:ft], dtype=np.int64)
    return _split(state, req, tick_hours(core, b), core.seg_share)


def segment_episodes(
    core: PacingCore, base: list[HindsightEpisode], requests: np.ndarray
) -> list[SegmentEpisode]:
    """The segment LP of every campaign of ``core`` at the start of its episode, on the
    volume episodes ``base`` (``baselines.oracle.hindsight_episodes``) and the realised
    requests ``(n, ticks)``. Counting noise is priced at ``price x unit_x`` per unit of
    spend (the flight's mean price multiplier)."""
    tab = core.tables
    out = []
    for b, ep in enumerate(base):
        hours = tick_hours(core, b)
        seg = segment_requests(core, b, requests[b]).astype(float)
        value = tab.pred[hours] * core.drift[b, tab.channel][None, :]
        out.append(segment_episode(core, b, ep, seg, value, float(core.vbar[b, 0])))
    return out


def segment_episode(
    core: PacingCore,
    b: int,
    ep: HindsightEpisode,
    seg_requests: np.ndarray,
    value: np.ndarray,
    vbar: float,
) -> SegmentEpisode:
    """Campaign ``b``'s segment LP on its volume episode ``ep``, the requests per tick and
    segment ``seg_requests`` ``(T, S)``, the value of a rendered impression ``value``
    ``(T, S)`` and the flight's value per spend ``vbar`` (what the planner takes as true);
    the rest is the scenario's (fills, prices, weights, layers)."""
    tab, v = core.tables, core.scenario.value
    noise = ep.spend_variance * float(core.par[b, K.P_UNIT_X])
    return SegmentEpisode(
        base=replace(ep, spend_variance=noise),
        seg_requests=seg_requests,
        seg_fill=np.minimum(float(core.par[b, K.P_FILL]) * tab.fill_x, 1.0),
        price_x=tab.price_x.copy(),
        value=value,
        vbar=vbar,
        w_value=float(core.scenario.score.value),
        hours=tick_hours(core, b),
        channel=tab.channel.copy(),
        layer=np.arange(tab.n) % int(v.layers),
        value_sd=float(v.value_sd),
        prediction_sd=float(v.prediction_sd),
    )


def segment_state(core: PacingCore, b: int, ep: SegmentEpisode) -> SegmentEpisode:
    """Campaign ``b``'s remaining problem now: spend counted per slot, price units in
    flight placed at the tick they will be counted (after the flight: media cost), the
    value excess counted so far plus that of the impressions in flight."""
    t0 = int(core.ist[b, K.I_T])
    T, tps = ep.flight_ticks, ep.base.ticks_per_slot
    fixed = core.slot_spend[b, : ep.base.n_slots].copy()
    D = core.pend_units.shape[1]
    ring = (int(core.ist[b, K.I_HEAD]) + np.arange(D)) % D
    units = core.pend_units[b, ring]
    val = core.pend_val[b, ring]
    when = t0 + np.arange(D)
    inside = when < T
    np.add.at(fixed, when[inside] // tps, units[inside] * core.price)
    post = float(units[~inside].sum()) * core.media
    excess = float(core.vst[b, VS_VALUE_EXCESS])
    excess += float((val[inside] - units[inside]).sum()) * core.price
    return ep.at(t0, fixed, post, excess)


def block_ticks(ep: SegmentEpisode, block_min: float, max_blocks: int, tick_s: float) -> int:
    """Ticks per throttle block: ``block_min`` when set, else the fewest that keep blocks
    x segments within ``max_blocks``, rounded up to a divisor of an hour's ticks when one
    is near (segment shares and values change by the hour)."""
    if block_min > 0:
        return max(1, round(block_min * 60.0 / tick_s))
    need = max(1, math.ceil(ep.flight_ticks * ep.n_segments / max_blocks))
    per_hour = max(1, round(3600.0 / tick_s))
    for d in range(need, min(2 * need, per_hour) + 1):
        if per_hour % d == 0:
            return d
    return need
