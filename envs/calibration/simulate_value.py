"""Logs of a value scenario (``value.channels``): per-channel minutes, clicks, conversions.

A **log generator of the same model, not the core's own draws.** The core
(``envs.kernel_value.serve_segments``) draws a tick's segment split, renders, clicks,
conversions and their delays on its own streams and keeps only aggregates; of these it
exposes the served impressions per segment (``core.seg_served``, cumulative per
campaign), which are recorded every tick. Everything else a log needs is drawn here
from the same model with this module's own ``np.random.Generator`` (seeded from the run's
seed and ``VALUE_LOG_SALT``), per campaign, segment and minute:

- requests of a segment: the minute's eligible requests (the core's) less its serves,
  split over the segments by ``share[h, s] x (1 - p_s)`` with ``p_s`` the segment's
  serving probability (``min(fill x fill_x[s], 1) x throttle``): the exact conditional
  law of the unserved requests given the core's serves (a binomial chain);
- rendered impressions ~ Binomial(serves, render probability); each is counted after the
  scenario's serve-to-count delay (``delay.*``, continuous; lags in whole minutes with the
  serve uniform within its minute): the per-channel ``impressions`` and ``cost``
  (``price x price_x[s]``) of the minute log;
- clicks ~ Binomial(rendered, ``ctr[h, s]``), at their serve's minute (the model has no
  click delay); conversions ~ Binomial(clicks, ``min(cvr[h, s] x drift, 1)``) with the
  episode's channel drift the core drew (``core.drift``), each one's click at a time
  uniform within its minute, the conversion after the truncated log-normal delay of
  ``value.conversion_*`` (``envs.delays.continuous_cdf``, the function the core's table
  comes from).

Hour ``h`` is the hour of day of the minute (ticks never straddle an hour when
``time.tick_s`` divides a minute, as in every shipped scenario).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pacegym.envs import kernel as K
from pacegym.envs.delays import continuous_cdf
from pacegym.envs.params import ScenarioParams
from pacegym.envs.value import SegmentTables

VALUE_LOG_SALT = 22
"""Second word of the value log generator's seed (``default_rng((seed, VALUE_LOG_SALT))``)."""
NS_PER_MIN = 60_000_000_000


@dataclass(frozen=True)
class ValueDraws:
    """The value side of simulated logs on one grid of minutes (``first_minute`` on).

    Per campaign, segment and minute (``(campaigns, segments, minutes)`` int64):
    ``requests``, ``served``, ``rendered`` (by serve minute), ``counted`` (by count
    minute, the flight's minutes only as the core's counters), ``clicks``,
    ``conversions``. Per conversion (``conv_*``, sorted by cell): campaign, segment, its
    time and its click's [ns since the epoch].
    """

    tables: SegmentTables
    channels: tuple[str, ...]
    first_minute: int  # [min since the epoch]
    in_flight: np.ndarray  # (campaigns, minutes) bool: minute within the campaign's flight
    requests: np.ndarray
    served: np.ndarray
    rendered: np.ndarray
    counted: np.ndarray
    clicks: np.ndarray
    conversions: np.ndarray
    conv_campaign: np.ndarray
    conv_segment: np.ndarray
    conv_ns: np.ndarray
    conv_click_ns: np.ndarray

    @property
    def hour(self) -> np.ndarray:
        """(minutes,) int64 hour of day of each minute of the grid."""
        minutes = self.first_minute + np.arange(self.requests.shape[2])
        return (minutes % 1440) // 60


def record_segments(core, throttle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step ``core`` (reset) until done: per-tick requests, served, counted
    ``(3, n, ticks)`` as ``envs.history.record_counters`` and served per segment
    ``(n, segments, ticks)``, both int64."""
    n, n_seg = core.seg_served.shape
    ticks = core.scenario.time.max_flight_ticks + 1
    cols = [K.I_REQUESTS, K.I_SERVED, K.I_COUNTED]
    rec = np.zeros((3, n, ticks), dtype=np.int64)
    seg = np.zeros((n, n_seg, ticks), dtype=np.int64)
    t = 0
    while not core.done.all():
        core.step(throttle)
        t += 1
        rec[:, :, t] = core.ist[:, cols].T
        seg[:, :, t] = core.seg_served
    return np.diff(rec[:, :, : t + 1], axis=2), np.diff(seg[:, :, : t + 1], axis=2)


def scenario_cdf(scenario: ScenarioParams):
    """The scenario's continuous delay CDF (``envs.delays.continuous_cdf`` of its ``delay``)."""
    d = scenario.delay
    return continuous_cdf(
        d.family,
        float(d.quantile_s),
        float(d.quantile),
        float(d.sigma),
        d.max_delay_s,
        d.cdf_points,  # type: ignore[arg-type]
    )


def minute_lags(sc: ScenarioParams, n_u: int = 240) -> np.ndarray:
    """``q[k]``: probability that an impression served uniformly within a minute is counted
    ``k`` whole minutes later (the scenario's continuous delay CDF)."""
    d = sc.delay
    cdf = scenario_cdf(sc)
    n_k = int(np.ceil(d.max_delay_s / 60.0)) + 2
    u = (np.arange(n_u) + 0.5) / n_u
    edges = 60.0 * (np.arange(n_k + 1)[:, None] - u[None, :])
    cum = np.asarray(cdf(np.maximum(edges, 0.0)), dtype=float).mean(axis=1)
    q = np.clip(np.diff(cum), 0.0, None)
    return q / q.sum()


def conversion_sampler(sc: ScenarioParams, points: int = 20001):
    """``u -> delay [s]``: inverse of the truncated log-normal conversion delay CDF."""
    v = sc.value
    top = float(v.conversion_max_delay_s)
    cdf = continuous_cdf(
        "lognormal",
        float(v.conversion_quantile_s),
        float(v.conversion_quantile),
        float(v.conversion_sigma),
        top,
        (),
    )
    grid = np.r_[0.0, np.geomspace(min(1e-3, top / 10), top, points)]
    values = np.maximum.accumulate(np.asarray(cdf(grid), dtype=float))
    values[0], values[-1] = 0.0, 1.0
    keep = np.r_[True, np.diff(values) > 0]
    return lambda u: np.interp(u, values[keep], grid[keep])


def _chain(rng: np.random.Generator, total: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` (..., M) over axis 1 of ``weights`` (..., S, M) multinomially
    (binomial chain); returns (..., S, M)."""
    out = np.zeros(weights.shape, dtype=np.int64)
    left = total.copy()
    mass = weights.sum(axis=1)
    for s in range(weights.shape[1]):
        p = np.divide(weights[:, s], mass, out=np.ones_like(mass), where=mass > 0)
        x = left if s == weights.shape[1] - 1 else rng.binomial(left, np.clip(p, 0.0, 1.0))
        out[:, s] = x
        left = left - x
        mass = mass - weights[:, s]
    return out


def _delay(rng: np.random.Generator, rendered: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Counted impressions per count minute: each rendered one lags by ``k`` minutes with
    probability ``q[k]`` (a binomial chain over lags)."""
    m = rendered.shape[-1]
    out = np.zeros((*rendered.shape[:-1], m + q.size), dtype=np.int64)
    left = rendered.copy()
    mass = 1.0
    for k, qk in enumerate(q):
        if not left.any():
            break
        x = left if k == q.size - 1 else rng.binomial(left, min(max(qk / mass, 0.0), 1.0))
        out[..., k : k + m] += x
        left = left - x
        mass -= qk
    return out[..., :m]


def value_draws(
    sc: ScenarioParams,
    core,
    per_tick: np.ndarray,
    seg_tick: np.ndarray,
    start_ns: np.ndarray,
    throttle: float,
    seed: int,
) -> ValueDraws:
    """The value log of a recorded core run (module docstring)."""
    tab: SegmentTables = core.tables
    rng = np.random.default_rng((seed, VALUE_LOG_SALT))
    n, n_seg, _ = seg_tick.shape
    tick_ns = round(float(sc.time.tick_s) * 1e9)
    flight = core.flight_ticks.astype(np.int64)
    first = int((start_ns // NS_PER_MIN).min())
    last = max(int((start_ns[b] + (int(flight[b]) - 1) * tick_ns) // NS_PER_MIN) for b in range(n))
    n_m = last - first + 1
    req = np.zeros((n, n_m), dtype=np.int64)
    srv = np.zeros((n, n_seg, n_m), dtype=np.int64)
    in_flight = np.zeros((n, n_m), dtype=bool)
    for b in range(n):
        ft = int(flight[b])
        m = (start_ns[b] + np.arange(ft, dtype=np.int64) * tick_ns) // NS_PER_MIN - first
        req[b] = np.bincount(m, weights=per_tick[0, b, :ft], minlength=n_m)
        in_flight[b, m] = True
        for s in range(n_seg):
            srv[b, s] = np.bincount(m, weights=seg_tick[b, s, :ft], minlength=n_m)
    hour = ((first + np.arange(n_m)) % 1440) // 60
    fill = core.par[:, K.P_FILL]
    p = np.minimum(fill[:, None] * tab.fill_x[None, :], 1.0) * throttle  # (n, S)
    weights = tab.share[hour].T[None, :, :] * (1.0 - p)[:, :, None]
    requests = srv + _chain(rng, req - srv.sum(axis=1), weights)
    rendered = rng.binomial(srv, core.par[:, K.P_RENDER][:, None, None])
    counted = _delay(rng, rendered, minute_lags(sc)) * in_flight[:, None, :]
    clicks = rng.binomial(rendered, tab.ctr[hour].T[None, :, :])
    cvr = tab.cvr[hour].T[None, :, :] * core.drift[:, tab.channel][:, :, None]
    conversions = rng.binomial(clicks, np.minimum(cvr, 1.0))
    # one row per conversion; its click at the serve's time, uniform within its minute
    flat = conversions.reshape(-1)
    b_i, s_i, m_i = np.unravel_index(np.repeat(np.arange(flat.size), flat), clicks.shape)
    conv_click = (first + m_i) * NS_PER_MIN + (rng.random(b_i.size) * NS_PER_MIN).astype(np.int64)
    delay_s = conversion_sampler(sc)(rng.random(b_i.size))
    return ValueDraws(
        tables=tab,
        channels=tuple(c.name for c in sc.value.channels),
        first_minute=first,
        in_flight=in_flight,
        requests=requests,
        served=srv,
        rendered=rendered,
        counted=counted,
        clicks=clicks,
        conversions=conversions,
        conv_campaign=b_i,
        conv_segment=s_i,
        conv_ns=conv_click + np.round(delay_s * 1e9).astype(np.int64),
        conv_click_ns=conv_click,
    )


def _by_channel(x: np.ndarray, tab: SegmentTables) -> np.ndarray:
    """(campaigns, segments, minutes) summed into (campaigns, channels, minutes)."""
    onehot = (tab.channel[:, None] == np.arange(tab.n_channels)[None, :]).astype(np.int64)
    return np.einsum("bsm,sc->bcm", x, onehot)


def channel_minute_table(vd: ValueDraws, price: float) -> pa.Table:
    """The per-minute log of a value scenario: one row per campaign, minute of its flight
    and channel (``envs.calibration.logs``' columns and ``channel``); ``cost`` bills each
    counted impression at its segment's price (``price x price_x[s]``)."""
    tab = vd.tables
    cols = [_by_channel(x, tab) for x in (vd.requests, vd.served, vd.counted)]
    cost = _by_channel_cost(vd.counted, tab) * price
    b, m = np.nonzero(vd.in_flight)  # campaign-major, minutes in order
    n_c = tab.n_channels
    bb, mm = np.repeat(b, n_c), np.repeat(m, n_c)
    cc = np.tile(np.arange(n_c), b.size)
    return pa.table(
        {
            "campaign_id": pa.array(bb).cast(pa.string()),
            "channel": pa.array(np.array(vd.channels, dtype=object)[cc], type=pa.string()),
            "timestamp": pa.array((vd.first_minute + mm) * 60_000, type=pa.timestamp("ms")),
            "requests": cols[0][bb, cc, mm],
            "serves": cols[1][bb, cc, mm],
            "impressions": cols[2][bb, cc, mm],
            "cost": cost[bb, cc, mm],
        }
    )


def _by_channel_cost(x: np.ndarray, tab: SegmentTables) -> np.ndarray:
    """Price units (``price_x``) of ``x``'s impressions summed into channels."""
    w = (tab.channel[:, None] == np.arange(tab.n_channels)[None, :]) * tab.price_x[:, None]
    return np.einsum("bsm,sc->bcm", x.astype(float), w)


VALUE_EVENTS = ("impressions", "clicks", "conversion")
"""Event types of a value events log (``envs.calibration.value_log``)."""


def value_event_table(vd: ValueDraws) -> pa.Table:
    """The value events log, sorted by time: per campaign, channel and minute the
    ``impressions`` served in it that are counted and its ``clicks`` (``count``), and one
    ``conversion`` row per conversion with its click's ``click_timestamp``."""
    tab = vd.tables
    parts = []
    for x in (vd.rendered, vd.clicks):
        per = _by_channel(x, tab)
        b, c, m = np.nonzero(per)
        parts.append((b, c, (vd.first_minute + m) * NS_PER_MIN, per[b, c, m]))
    n_conv = vd.conv_ns.size
    parts.append(
        (vd.conv_campaign, tab.channel[vd.conv_segment], vd.conv_ns, np.ones(n_conv, np.int64))
    )
    camp, chan, t, count = (np.concatenate([p[i] for p in parts]) for i in range(4))
    ev = np.repeat(np.arange(3, dtype=np.int32), [p[0].size for p in parts])
    src = np.concatenate([np.zeros(t.size - n_conv, dtype=np.int64), vd.conv_click_ns])
    order = np.argsort(t, kind="stable")
    names = np.array(vd.channels, dtype=object)
    return pa.table(
        {
            "campaign_id": pa.array(camp[order]).cast(pa.string()),
            "channel": pa.array(names[chan[order]], type=pa.string()),
            "event": pa.DictionaryArray.from_arrays(pa.array(ev[order]), pa.array(VALUE_EVENTS)),
            "timestamp": pa.array(t[order] // 1_000_000, type=pa.timestamp("ms")),
            "count": count[order],
            "click_timestamp": pa.array(
                src[order] // 1_000_000, type=pa.timestamp("ms"), mask=ev[order] != 2
            ),
        }
    )
