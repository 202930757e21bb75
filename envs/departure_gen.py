"""Draw a campaign's lasting departures from the forecast (``traffic.departures``), compiled.

At reset, ``fill_departures`` writes the log factor ``x`` of one episode on a grid of
``DEP_BIN_MIN`` minutes from the flight's start (row ``b`` of the core's ``dep_log``,
``(n, bins)`` float64, ``bins`` = the longest flight / ``DEP_BIN_MIN`` + 1: 8 bytes a bin,
2.3 kB for a day); the step multiplies each tick's expected traffic by
``exp(dep_log[b, bin of the tick])`` (``factor_at``). The parts and their parameters are
``envs.params_departures``'s. With ``native_min`` above ``DEP_BIN_MIN`` every part but the
bursts is averaged per native bin and interpolated (``_native``; the bursts are added
after, as their sizes and lengths are measured on traffic so smoothed). Calendar parts
(hour and quarter-hour factors, collapse days) are drawn per calendar hour, quarter-hour
and day of the flight's absolute minutes (minute 0 = day 0, 00:00), so a flight over
midnight meets the next day's.

Randomness: a stream of its own, derived at reset from the campaign's traffic stream
without advancing it (``derive_stream``). The same seed gives the same departures in the
single env, the vector env and the batched core, and switching departures on leaves every
other draw of the episode as it was (common random numbers with the generator without them).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from pacegym.envs import rng
from pacegym.envs.params_departures import DEP_BIN_MIN, FIELDS, MAX_X, MIN_X

(
    SLOW_SD,
    SLOW_TAU_H,
    SLOW_ORDER,
    HOUR_SD,
    QUARTER_SD,
    BURST_RATE,
    BURST_MIN_X,
    BURST_ALPHA,
    BURST_MEDIAN,
    BURST_SD,
    COLLAPSE_P,
    COLLAPSE_X,
    COLLAPSE_H,
    REBOUND_X,
    NATIVE_MIN,
) = range(len(FIELDS))
_SALT = np.uint64(0xD1B54A32D192ED03)
_LOG_MAX = math.log(MAX_X)
_LOG_MIN = math.log(MIN_X)
_BURN_IN = 4096  # [bins] longest burn-in of the smooth slow deviation (14 days)


@nb.njit(cache=True)
def derive_stream(parent: np.ndarray, out: np.ndarray) -> None:
    """A new xoshiro256** state in ``out`` (4 words), SplitMix64-expanded from a hash of
    ``parent`` (read, not advanced)."""
    z = _SALT
    for w in range(4):
        z ^= parent[w] * np.uint64(0x9E3779B97F4A7C15 + 2 * w)
    for w in range(4):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        x = z
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out[w] = x ^ (x >> np.uint64(31))


@nb.njit(cache=True)
def _calendar(out: np.ndarray, st: np.ndarray, start_min: float, width: int, sd: float) -> None:
    """Add a N(0, sd) log factor per calendar block of ``width`` minutes, mean-corrected."""
    block = -1
    z = 0.0
    for k in range(out.shape[0]):
        m = math.floor((start_min + k * DEP_BIN_MIN) / width)
        if m != block:
            block = m
            z = sd * rng.normal(st) - 0.5 * sd * sd
        out[k] += z


@nb.njit(cache=True)
def _bursts(out: np.ndarray, st: np.ndarray, p: np.ndarray) -> None:
    """Poisson burst starts per bin, each a Pareto multiplier for a log-normal duration."""
    start_p = -math.expm1(-p[BURST_RATE] * DEP_BIN_MIN / 60.0)
    n = out.shape[0]
    for k in range(n):
        if rng.uniform(st) >= start_p:
            continue
        size = p[BURST_MIN_X] * (1.0 - rng.uniform(st)) ** (-1.0 / p[BURST_ALPHA])
        minutes = p[BURST_MEDIAN] * math.exp(p[BURST_SD] * rng.normal(st))
        bins = max(1, round(minutes / DEP_BIN_MIN))
        lx = math.log(min(size, MAX_X))
        for j in range(k, min(k + bins, n)):
            out[j] += lx


@nb.njit(cache=True)
def _collapses(out: np.ndarray, st: np.ndarray, p: np.ndarray, start_min: float) -> None:
    """Each calendar day (from those whose collapse or rebound could reach the flight)
    collapses with probability ``collapse_per_day`` for ``collapse_h`` hours from a uniform
    minute; the calendar day after the collapse's end is ``rebound_x`` x."""
    length = p[COLLAPSE_H] * 60.0
    lx = math.log(p[COLLAPSE_X])
    rx = math.log(p[REBOUND_X])
    end_min = start_min + out.shape[0] * DEP_BIN_MIN
    first = math.floor((start_min - length) / 1440.0) - (1 if rx != 0.0 else 0)
    for day in range(first, math.floor(end_min / 1440.0) + 1):
        hit = rng.uniform(st) < p[COLLAPSE_P]
        at = day * 1440.0 + 1440.0 * rng.uniform(st)
        if not hit:
            continue
        for k in range(out.shape[0]):
            m = start_min + (k + 0.5) * DEP_BIN_MIN
            if at <= m < at + length:
                out[k] += lx
        if rx == 0.0:
            continue
        after = (math.floor((at + length) / 1440.0) + 1) * 1440.0
        for k in range(out.shape[0]):
            m = start_min + (k + 0.5) * DEP_BIN_MIN
            if after <= m < after + 1440.0:
                out[k] += rx


@nb.njit(cache=True)
def _slow(out: np.ndarray, st: np.ndarray, p: np.ndarray) -> None:
    """Add the slow deviation: a unit OU ``x1``; order 2 smooths it by a second first-order
    filter ``x2`` of the same time constant (stationary variance ``(1 + phi^2) / (1 + phi)^2``,
    reached by a burn-in of 4 time constants, at most ``_BURN_IN`` bins), scaled to ``slow_sd``."""
    sd = p[SLOW_SD]
    phi = math.exp(-DEP_BIN_MIN / (60.0 * p[SLOW_TAU_H]))
    innov = math.sqrt(1.0 - phi * phi)
    x1 = rng.normal(st)
    if p[SLOW_ORDER] < 1.5:
        for k in range(out.shape[0]):
            out[k] += sd * x1 - 0.5 * sd * sd
            x1 = phi * x1 + innov * rng.normal(st)
        return
    scale = 1.0 / math.sqrt((1.0 + phi * phi) / ((1.0 + phi) * (1.0 + phi)))
    x2 = x1 / scale
    burn = min(math.ceil(4.0 * 60.0 * p[SLOW_TAU_H] / DEP_BIN_MIN), _BURN_IN)
    for k in range(burn + out.shape[0]):
        x1 = phi * x1 + innov * rng.normal(st)
        x2 = phi * x2 + (1.0 - phi) * x1
        if k >= burn:
            out[k - burn] += sd * scale * x2 - 0.5 * sd * sd


@nb.njit(cache=True)
def _native(out: np.ndarray, start_min: float, width: float) -> None:
    """Average ``out`` over calendar blocks of ``width`` minutes (a bin belongs to the block
    of its middle minute) and interpolate linearly between the block middles (flat beyond
    the first and last)."""
    n = out.shape[0]
    first = math.floor((start_min + 0.5 * DEP_BIN_MIN) / width)
    blocks = math.floor((start_min + (n - 0.5) * DEP_BIN_MIN) / width) - first + 1
    mean = np.zeros(blocks)
    count = np.zeros(blocks)
    for k in range(n):
        j = math.floor((start_min + (k + 0.5) * DEP_BIN_MIN) / width) - first
        mean[j] += out[k]
        count[j] += 1.0
    for j in range(blocks):
        mean[j] /= max(count[j], 1.0)
    for k in range(n):
        u = (start_min + (k + 0.5) * DEP_BIN_MIN) / width - 0.5 - first
        if u <= 0.0:
            out[k] = mean[0]
        elif u >= blocks - 1:
            out[k] = mean[blocks - 1]
        else:
            j = math.floor(u)
            out[k] = (j + 1.0 - u) * mean[j] + (u - j) * mean[j + 1]


@nb.njit(cache=True)
def fill_departures(
    dep_log: np.ndarray, b: int, streams: np.ndarray, p: np.ndarray, start_min: float
) -> None:
    """Write campaign ``b``'s log factor for one episode into ``dep_log[b]`` for a flight
    starting ``start_min`` [min] after day 0, 00:00; ``p`` is ``DepartureParams.as_array()``;
    the stream is derived from the campaign's traffic stream (not advanced)."""
    out = dep_log[b]
    st = np.empty(4, dtype=np.uint64)
    derive_stream(streams[b, rng.STREAM_TRAFFIC], st)
    out[:] = 0.0
    if p[SLOW_SD] > 0.0:
        _slow(out, st, p)
    if p[HOUR_SD] > 0.0:
        _calendar(out, st, start_min, 60, p[HOUR_SD])
    if p[QUARTER_SD] > 0.0:
        _calendar(out, st, start_min, 15, p[QUARTER_SD])
    native = p[NATIVE_MIN] > DEP_BIN_MIN
    bursts = np.zeros(out.shape[0]) if native else out  # added after the smoothing
    if p[BURST_RATE] > 0.0:
        _bursts(bursts, st, p)
    if p[COLLAPSE_P] > 0.0:
        _collapses(out, st, p, start_min)
    if native:  # all but the bursts, whose sizes and lengths are read off smoothed traffic
        _native(out, start_min, p[NATIVE_MIN])
        out += bursts
    for k in range(out.shape[0]):
        out[k] = min(max(out[k], _LOG_MIN), _LOG_MAX)


@nb.njit(cache=True, inline="always")
def factor_at(dep_log: np.ndarray, b: int, t: int, tick_s: float) -> float:
    """[x] campaign ``b``'s departure factor at tick ``t`` (of ``tick_s`` seconds)."""
    k = min(int(t * tick_s / (60.0 * DEP_BIN_MIN)), dep_log.shape[1] - 1)
    return math.exp(dep_log[b, k])
