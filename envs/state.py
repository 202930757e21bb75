"""What a ``PacingCore`` holds and may hold: every state array's shape, the memory it needs,
and the peak traffic a tick may draw, checked before anything is allocated.

Memory per campaign is fixed by the scenario, never by traffic or impressions: the delay
ring buffer (``max_delay_ticks`` int32), the reported-spend history, the plan, forecast and
slot-spend arrays (``max_slots`` float64 each; the nowcast's discounted forecast too when
``forecast.nowcast`` is on), and a few scalars (the linear nowcast's levels and weights). ``state_arrays`` lists every array's shape
once: the core allocates from it and ``state_bytes`` sums it, refused above
``MAX_CORE_BYTES``. Traffic is bounded the same way: a scenario whose peak expected
requests per tick (``max_requests_per_tick``) exceed ``MAX_REQUESTS_PER_TICK`` is refused
up front (the step draws a delay per served impression, and counts are int32 in the ring
buffer).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pacegym.envs import rng
from pacegym.envs.binomial_tab import MEMO_W
from pacegym.envs.layout import N_FST, N_IST, N_PAR, N_VST, REWARD_TERMS
from pacegym.envs.nowcast_linear import N_LINEAR, N_TAUS
from pacegym.envs.params import ScenarioError, ScenarioParams, bounds, is_range
from pacegym.envs.params_departures import DEP_BIN_MIN, MAX_X
from pacegym.envs.spaces import obs_width
from pacegym.envs.traffic import PROFILE_BY_MINUTE

DELAY_SHAPE_KEYS = ("delay.quantile_s", "delay.quantile", "delay.sigma")

MAX_CORE_BYTES = 2 * 2**30
"""[bytes] most state one ``PacingCore`` may hold (``state_bytes``: campaigns x bytes per
campaign plus the shared delay tables)."""
MAX_REQUESTS_PER_TICK = 1e8
"""[requests/tick] most expected eligible requests of one campaign in one tick at the
scenario's peak (``max_requests_per_tick``): a delay is drawn per served impression
(``delay.sampler: impression``; the binned sampler's cost is bounded by the delay bins,
but the ledger's counts stay int32)."""
NOISE_SIGMAS = 6.0
"""[sd] traffic-noise excursion counted in the peak (exceeded once in ~1e9 ticks)."""


def scenario_value(scenario: ScenarioParams, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(scenario, section), name)


def per_campaign_delay(scenario: ScenarioParams) -> bool:
    """True when the delay shape is randomised, so each campaign owns its delay tables."""
    return any(is_range(scenario_value(scenario, k)) for k in DELAY_SHAPE_KEYS)


def departure_bins(scenario: ScenarioParams) -> int:
    """Length of a campaign's ``dep_log`` row: the longest flight on the ``DEP_BIN_MIN``
    grid when ``traffic.departures`` is on, else 1 (``envs.departure_gen``)."""
    if not scenario.traffic.departures.on:
        return 1
    return (
        math.ceil(scenario.time.max_flight_ticks * float(scenario.time.tick_s) / 60.0 / DEP_BIN_MIN)
        + 1
    )


def state_arrays(scenario: ScenarioParams, n: int) -> dict[str, tuple[tuple[int, ...], type]]:
    """Every state array of a core of ``n`` campaigns: attribute name -> (shape, dtype).

    The one list the constructor allocates from and ``state_bytes`` sums.
    """
    sc = scenario
    n_delay = sc.max_delay_ticks
    n_hist = math.ceil(bounds(sc.delay.report_latency_s)[1] / float(sc.time.tick_s)) + 2
    slots = sc.time.max_slots
    rows = n if per_campaign_delay(sc) else 1
    linear = sc.forecast.nowcast == "linear"
    return {
        "par": ((n, N_PAR), np.float64),
        "ist": ((n, N_IST), np.int64),
        "fst": ((n, N_FST), np.float64),
        "streams": ((n, rng.N_STREAMS, 4), np.uint64),
        "pending": ((n, n_delay), np.int32),
        "hist": ((n, n_hist), np.float64),
        "slot_spend": ((n, slots), np.float64),
        "plan_cum": ((n, slots + 1), np.float64),
        "fc_cum": ((n, slots + 1), np.float64),
        "nc_cum": ((n, slots + 1 if sc.forecast.nowcast != "none" else 1), np.float64),
        "nc_ew": ((n, 2 * N_TAUS if linear else 1), np.float64),  # smoothed seen, forecast
        "nc_w": ((n, N_LINEAR if linear else 1), np.float64),  # the flight day's weights
        "dep_log": ((n, departure_bins(sc)), np.float64),
        "obs": ((n, obs_width(sc.value.n_segments if sc.value.on else 0)), np.float32),
        "terms": ((n, len(REWARD_TERMS)), np.float64),
        "reward": ((n,), np.float64),
        "finished": ((n,), np.bool_),
        "invalid": ((n,), np.bool_),
        "alias_prob": ((rows, n_delay), np.float64),
        "alias_idx": ((rows, n_delay), np.int64),
        "surv": ((rows, n_delay + 1), np.float64),  # P(delay >= j ticks), j = 0..n_delay
        **value_arrays(sc, n),
    }


def value_arrays(sc: ScenarioParams, n: int) -> dict[str, tuple[tuple[int, ...], type]]:
    """The value state of a core (``envs.kernel_value``): per campaign the throttles (one
    per segment), the value columns, the ledger's price and value units beside its counts,
    the served count per segment, the serving draws' remembered set-up
    (``envs.binomial_tab``), the channels' drift, the flight's value per spend (true,
    predicted) and the conversion ledger; the segment tables are shared. Without segments
    the per-campaign value arrays are one element wide (the throttle one column)."""
    v = sc.value
    on = v.on
    n_seg, n_ch = v.n_segments, max(1, len(v.channels))
    wide = n if on else 1
    conv = v.conversion_bins if on else 1
    return {
        "thr": ((n, n_seg), np.float64),
        "vst": ((wide, N_VST), np.float64),
        "pend_units": ((wide, sc.max_delay_ticks if on else 1), np.float64),
        "pend_val": ((wide, sc.max_delay_ticks if on else 1), np.float64),
        "seg_served": ((wide, n_seg), np.int64),
        "seg_memo": ((wide, MEMO_W), np.float64),
        "drift": ((wide, n_ch), np.float64),
        "vbar": ((wide, 2), np.float64),
        "conv_ring": ((wide, conv), np.int32),
        "conv_prob": ((conv,), np.float64),
        "conv_idx": ((conv,), np.int64),
    }


_SIZE_KEYS = {  # which scenario keys set an array's length (for the error message)
    "pending": "delay.max_delay_s / time.tick_s",
    "alias_prob": "delay.max_delay_s / time.tick_s",
    "alias_idx": "delay.max_delay_s / time.tick_s",
    "surv": "delay.max_delay_s / time.tick_s",
    "hist": "delay.report_latency_s / time.tick_s",
    "slot_spend": "time.flight_min / time.slot_s",
    "plan_cum": "time.flight_min / time.slot_s",
    "fc_cum": "time.flight_min / time.slot_s",
    "nc_cum": "time.flight_min / time.slot_s",
    "dep_log": "time.flight_min (traffic.departures)",
    "pend_units": "delay.max_delay_s / time.tick_s",
    "pend_val": "delay.max_delay_s / time.tick_s",
    "conv_ring": "value.conversion_max_delay_s / value.conversion_bin_s",
}


def _nbytes(shape: tuple[int, ...], dtype: type) -> int:
    return math.prod(shape) * np.dtype(dtype).itemsize


def state_bytes(scenario: ScenarioParams, n: int) -> int:
    """[bytes] the state a core of ``n`` campaigns of ``scenario`` allocates."""
    return sum(_nbytes(*spec) for spec in state_arrays(scenario, n).values())


def check_memory(scenario: ScenarioParams, n: int) -> None:
    """Raise ``ScenarioError`` naming the keys that size the largest arrays when a core of
    ``n`` campaigns would hold more than ``MAX_CORE_BYTES``."""
    specs = state_arrays(scenario, n)
    total = sum(_nbytes(*spec) for spec in specs.values())
    if total <= MAX_CORE_BYTES:
        return
    key = "n (campaigns)"  # one campaign fits: the batch is too large
    if state_bytes(scenario, 1) > MAX_CORE_BYTES:  # one does not: name what sizes it
        by_key: dict[str, int] = {}
        for name, spec in specs.items():
            k = _SIZE_KEYS.get(name, "n (campaigns)")
            by_key[k] = by_key.get(k, 0) + _nbytes(*spec)
        key = max(by_key, key=by_key.__getitem__)
    raise ScenarioError(
        f"n = {n} campaigns need {total / 2**30:.3g} GiB of state ({key} sets most of it, "
        f"time.tick_s = {scenario.time.tick_s:g}): allowed <= {MAX_CORE_BYTES / 2**30:g} GiB "
        "per core; fewer campaigns, a longer tick or slot, a shorter delay or flight"
    )


def max_requests_per_tick(scenario: ScenarioParams, prof: np.ndarray, prof_mode: int) -> float:
    """[requests/tick] expected requests of one campaign in one tick at the scenario's peak:
    highest base rate x tick x profile peak (x highest day-of-week factor) x largest surge
    x the noise ``NOISE_SIGMAS`` sd above its mean (x ``MAX_X`` with ``traffic.departures``)."""
    tr = scenario.traffic
    peak = float(np.max(prof)) * (max(tr.dow_factors) if prof_mode == PROFILE_BY_MINUTE else 1.0)
    sd = bounds(tr.noise_sd)[1]
    noise = math.exp(NOISE_SIGMAS * sd - 0.5 * sd * sd)
    surge = max(tr.surge_factors) if bounds(tr.surge_rate_per_h)[1] > 0 else 1.0
    departures = MAX_X if tr.departures.on else 1.0
    return bounds(tr.base_rate)[1] * float(scenario.time.tick_s) * peak * noise * surge * departures


def check_traffic(scenario: ScenarioParams, prof: np.ndarray, prof_mode: int) -> None:
    """Raise ``ScenarioError`` naming ``traffic.base_rate`` when ``max_requests_per_tick``
    exceeds ``MAX_REQUESTS_PER_TICK``."""
    peak = max_requests_per_tick(scenario, prof, prof_mode)
    if peak > MAX_REQUESTS_PER_TICK:
        tr = scenario.traffic
        raise ScenarioError(
            f"traffic.base_rate = {tr.base_rate} gives up to {peak:.3g} expected requests per "
            f"tick (x time.tick_s = {scenario.time.tick_s:g} s, profile peak "
            f"{float(np.max(prof)):.3g}, surge_factors {list(tr.surge_factors)}, noise_sd "
            f"{tr.noise_sd}): allowed <= {MAX_REQUESTS_PER_TICK:.0e} per tick and campaign"
        )
