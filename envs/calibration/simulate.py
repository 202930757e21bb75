"""Logs simulated from a scenario by the one dynamics core (``envs.core.PacingCore``).

The core runs ``campaigns`` campaigns under a fixed throttle with an unreachable
budget (serving never stops) and its per-tick counters (eligible requests, served,
counted impressions) are read after every step (``envs.history.record_counters``, which
also records the history a learned forecast trains on). Nothing here models traffic or
serving: per-minute aggregates *are* the core's counts.

The joined event form additionally needs one timestamp per event and a delay per
impression: requests and serves get times uniform within their tick (the core's
resolution), each served ad is rendered with the campaign's ``render_prob`` and
counted after a continuous delay drawn from the scenario's delay CDF
(``envs.delays.continuous_cdf``, the function the core's tick tables come from).
Served counts always come from the core; these per-impression draws are independent
of the core's own delay draws (which it only keeps per tick), so counted
impressions of the event form and of the aggregate form of one seed differ by
sampling noise.

A value scenario (``value.channels``) also records the served impressions per segment
and draws its channels' requests, impressions, clicks and conversions with a log
generator of the same model (``envs.calibration.simulate_value``); its per-minute log
has a row per channel, whose counted impressions are that generator's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pacegym.envs import kernel as K
from pacegym.envs.calibration.simulate_value import (
    ValueDraws,
    channel_minute_table,
    record_segments,
    scenario_cdf,
    value_draws,
)
from pacegym.envs.core import PacingCore
from pacegym.envs.history import record_counters
from pacegym.envs.params import ScenarioError, ScenarioParams, is_range
from pacegym.envs.scenarios import resolve

ORIGIN_NS = np.datetime64("2024-01-01T00:00:00", "ns").astype(np.int64)
"""Day 0 of simulated logs: Monday 2024-01-01 00:00 UTC (``time.start_day`` counts from it)."""


@dataclass(frozen=True)
class TickCounts:
    """Per-campaign per-tick counts recorded from a core run."""

    scenario: ScenarioParams
    start_ns: np.ndarray  # (campaigns,) int64 time of tick 0
    tick_s: float
    requests: np.ndarray  # (campaigns, ticks) int64
    served: np.ndarray
    counted: np.ndarray  # counted during the flight
    flight_ticks: np.ndarray  # (campaigns,) int64
    render: np.ndarray  # (campaigns,) render probability drawn for each campaign
    value: ValueDraws | None = None  # a value scenario's channels, clicks and conversions


def log_scenario(scenario: str | ScenarioParams | dict, days: float | None) -> ScenarioParams:
    """The scenario with an unreachable budget; with ``days``, a flight of that many days
    starting at midnight (needs a per-minute profile: ``intraday`` or ``trace``)."""
    sc = resolve(scenario)
    money = dataclasses.replace(sc.money, budget=1e12)
    time = sc.time
    if days is not None:
        if sc.traffic.profile == "broadcast":
            raise ScenarioError(
                "traffic.profile = 'broadcast' is indexed by flight share; --days needs a "
                "per-minute profile ('intraday' or 'trace'), or leave days unset to log flights"
            )
        time = dataclasses.replace(time, flight_min=float(days) * 1440.0, start_minute=0.0)
    return dataclasses.replace(sc, money=money, time=time)


def run_core(
    scenario: str | ScenarioParams | dict,
    campaigns: int,
    seed: int,
    days: float | None = None,
    throttle: float = 1.0,
) -> TickCounts:
    """Run the core and record per-tick requests, served and counted impressions."""
    sc = log_scenario(scenario, days)
    core = PacingCore(sc, campaigns)
    core.reset(np.arange(campaigns), seed + np.arange(campaigns, dtype=np.uint64))
    cols = (K.I_REQUESTS, K.I_SERVED, K.I_COUNTED)
    thr = np.full(campaigns, float(throttle))
    if core.tables is None:
        per_tick = record_counters(core, thr, cols)
    else:
        per_tick, seg_tick = record_segments(core, thr)
    start_min = core.par[:, K.P_START_MIN]  # a drawn start day is folded into it
    start_ns = (
        ORIGIN_NS
        + int(core.start_day) * 86_400 * 10**9
        + np.round(start_min * 60e9).astype(np.int64)
    )
    value = None
    if core.tables is not None:
        value = value_draws(sc, core, per_tick, seg_tick, start_ns, float(throttle), seed)
    return TickCounts(
        sc,
        start_ns,
        float(sc.time.tick_s),
        per_tick[0],
        per_tick[1],
        per_tick[2],
        core.flight_ticks,
        core.par[:, K.P_RENDER].copy(),
        value,
    )


def minute_table(tc: TickCounts) -> pa.Table:
    """Per-minute aggregate log (columns of ``envs.calibration.logs``) from core counts; a
    value scenario's has a row per channel (``simulate_value.channel_minute_table``)."""
    if tc.value is not None:
        return channel_minute_table(tc.value, float(tc.scenario.money.price))
    ids, ts, req, srv, imp = [], [], [], [], []
    tick_ns = round(tc.tick_s * 1e9)
    for b in range(tc.requests.shape[0]):
        ft = int(tc.flight_ticks[b])
        t_ns = tc.start_ns[b] + np.arange(ft, dtype=np.int64) * tick_ns
        minute = t_ns // 60_000_000_000
        first = int(minute[0])
        m = minute - first
        n_m = int(m[-1]) + 1
        for out, x in ((req, tc.requests), (srv, tc.served), (imp, tc.counted)):
            out.append(np.bincount(m, weights=x[b, :ft], minlength=n_m).astype(np.int64))
        ts.append((first + np.arange(n_m, dtype=np.int64)) * 60_000)  # [ms]
        ids.append(np.full(n_m, b, dtype=np.int64))
    price = float(tc.scenario.money.price)
    imp_all = np.concatenate(imp)
    return pa.table(
        {
            "campaign_id": pa.array(np.concatenate(ids)).cast(pa.string()),
            "timestamp": pa.array(np.concatenate(ts), type=pa.timestamp("ms")),
            "requests": np.concatenate(req),
            "serves": np.concatenate(srv),
            "impressions": imp_all,
            "cost": imp_all * price,
        }
    )


def delay_sampler(scenario: ScenarioParams, grid_s: float = 1.0):
    """Inverse of the scenario's continuous delay CDF on a ``grid_s`` grid: ``u -> delay [s]``."""
    d = scenario.delay
    for key in ("quantile_s", "quantile", "sigma"):
        if is_range(getattr(d, key)):
            raise ScenarioError(
                f"delay.{key} = {list(getattr(d, key))} is a range; logs are simulated with one "
                "delay distribution: set a single number"
            )
    cdf = scenario_cdf(scenario)
    grid = np.arange(0.0, d.max_delay_s + grid_s, grid_s)
    grid[-1] = min(grid[-1], d.max_delay_s)
    values = np.maximum.accumulate(np.asarray(cdf(grid), dtype=float))
    values[0], values[-1] = 0.0, 1.0
    keep = np.r_[True, np.diff(values) > 0]
    return lambda u: np.interp(u, values[keep], grid[keep])


def event_table(tc: TickCounts, seed: int, join: str = "serve_id") -> pa.Table:
    """Event log (one row per request, serve and impression), sorted by time.

    ``join``: ``serve_id`` (impressions carry their serve's id), ``serve_timestamp``
    (they carry the serve time) or ``none`` (not joined).
    """
    if join not in ("serve_id", "serve_timestamp", "none"):
        raise ValueError(f"join = {join!r}: allowed 'serve_id', 'serve_timestamp', 'none'")
    rng = np.random.default_rng(seed)
    sample_delay = delay_sampler(tc.scenario)
    tick_ns = tc.tick_s * 1e9
    n_c, n_t = tc.requests.shape
    tick0 = tc.start_ns[:, None] + (np.arange(n_t)[None, :] * tick_ns).astype(np.int64)

    def times(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = counts.reshape(-1)
        camp = np.repeat(np.repeat(np.arange(n_c), n_t), flat)
        start = np.repeat(tick0.reshape(-1), flat)
        return camp, start + (rng.random(start.size) * tick_ns).astype(np.int64)

    # every eligible request has a request row; a served one also has a serve row
    rq_c, rq_t = times(tc.requests)
    sv_c, sv_t = times(tc.served)
    sv_id = np.arange(sv_t.size, dtype=np.int64)
    rendered = rng.random(sv_t.size) < tc.render[sv_c]
    im_c, im_src = sv_c[rendered], sv_id[rendered]
    im_t = sv_t[rendered] + np.round(sample_delay(rng.random(im_src.size)) * 1e9).astype(np.int64)
    camp = np.concatenate([rq_c, sv_c, im_c])
    t = np.concatenate([rq_t, sv_t, im_t])
    ev = np.concatenate(
        [np.zeros(rq_c.size, np.int8), np.ones(sv_c.size, np.int8), np.full(im_c.size, 2, np.int8)]
    )
    order = np.argsort(t, kind="stable")
    names = pa.array(["request", "serve", "impression"])
    price = float(tc.scenario.money.price)
    cols: dict[str, pa.Array] = {
        "campaign_id": pa.array(camp[order]).cast(pa.string()),
        "event": pa.DictionaryArray.from_arrays(pa.array(ev[order].astype(np.int32)), names),
        "timestamp": pa.array(t[order] // 1_000_000, type=pa.timestamp("ms")),
        "cost": pa.array(np.where(ev[order] == 2, price, 0.0)),
    }
    if join == "serve_id":
        sid = np.concatenate([np.full(rq_c.size, -1), sv_id, im_src])[order]
        cols["serve_id"] = pa.array(sid, mask=sid < 0)
    elif join == "serve_timestamp":
        st = np.concatenate([np.zeros(rq_c.size + sv_c.size, np.int64), sv_t[rendered]])[order]
        cols["serve_timestamp"] = pa.array(
            st // 1_000_000, type=pa.timestamp("ms"), mask=ev[order] != 2
        )
    return pa.table(cols)
