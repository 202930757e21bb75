"""Per-campaign random streams and samplers, compiled with numba.

Every campaign owns independent xoshiro256** streams (one per source of
randomness: traffic, serving, delays, scenario draws). A campaign's draws
therefore depend only on its own episode seed, never on how many other
campaigns share the batch. That is what makes the single env, the vector env
and the batched core agree step by step, and what gives common random numbers
across controllers: the traffic stream is consumed identically whatever the
throttle, and the k-th impression a campaign serves always draws the k-th
delay of its delay stream (with ``delay.sampler: impression``; the binned sampler draws
a tick's counts per delay bin from the same stream, ``envs.delay_bins``).

Episode seeds come from ``np.random.Generator`` objects owned by the env views;
streams are expanded from a seed with SplitMix64, the seeding procedure the
xoshiro authors recommend. No global random state exists anywhere.

Samplers: Poisson by multiplication (mean < 10) or PTRS (Hoermann 1993);
binomial by inversion (n*p < 10) or BTRS (Hoermann 1993), the algorithms
numpy itself uses. Both always terminate: a non-finite or non-positive rate or
probability draws 0 (``rate_status`` tells such an input apart); a mean above
``NORMAL_ABOVE`` is drawn from the normal approximation (PTRS and BTRS lose their
precision there), and every draw is capped at ``MAX_DRAW``, far below the int64 limit.
``envs.core.PacingCore`` refuses a scenario whose expected requests per tick could come
near these limits (``max_requests_per_tick``), so in the simulator they are a safety net.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

N_STREAMS = 6
STREAM_SCENARIO = 0
STREAM_TRAFFIC = 1
STREAM_SERVING = 2
STREAM_DELAY = 3
STREAM_SEGMENT = 4  # value scenarios: the split of requests over segments (exogenous)
STREAM_VALUE = 5  # value scenarios: clicks, conversions and their delays

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO53 = 1.0 / 9007199254740992.0

NORMAL_ABOVE = 1e12
"""Mean above which a draw is ``round(mean + sd x N(0, 1))`` (relative error of the
approximation ~ 1 / sqrt(mean) = 1e-6)."""
MAX_DRAW = 2**62
"""Largest value a sampler returns (int64 sums of a few draws stay exact)."""

RATE_OK = 0
RATE_NOT_FINITE = 1
RATE_CAPPED = 2


@nb.njit(cache=True, inline="always")
def _rotl(x: np.uint64, k: int) -> np.uint64:
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@nb.njit(cache=True)
def seed_streams(state: np.ndarray, rows: np.ndarray, seeds: np.ndarray) -> None:
    """Fill ``state[rows[i]]`` (shape ``(N_STREAMS, 4)``) from ``seeds[i]`` via SplitMix64."""
    for i in range(rows.shape[0]):
        z = np.uint64(seeds[i])
        for s in range(state.shape[1]):
            for w in range(4):
                z = z + _GOLDEN
                x = z
                x = (x ^ (x >> np.uint64(30))) * _MIX1
                x = (x ^ (x >> np.uint64(27))) * _MIX2
                x = x ^ (x >> np.uint64(31))
                state[rows[i], s, w] = x


@nb.njit(cache=True, inline="always")
def next_u64(st: np.ndarray) -> np.uint64:
    """Advance one xoshiro256** stream (a length-4 uint64 view) and return 64 bits."""
    result = _rotl(st[1] * np.uint64(5), 7) * np.uint64(9)
    t = st[1] << np.uint64(17)
    st[2] ^= st[0]
    st[3] ^= st[1]
    st[1] ^= st[2]
    st[0] ^= st[3]
    st[2] ^= t
    st[3] = _rotl(st[3], 45)
    return result


@nb.njit(cache=True, inline="always")
def next_u64_regs(
    s0: np.uint64, s1: np.uint64, s2: np.uint64, s3: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64, np.uint64]:
    """``next_u64`` on a stream held in locals (``load``/``store`` move it): the 64 bits and
    the new state. A loop of many draws keeps the state in registers this way; through the
    array, every draw would wait on the store and reload of the previous one's."""
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@nb.njit(cache=True, inline="always")
def to_unit(bits: np.uint64) -> float:
    """``uniform``'s float in [0, 1) from 64 random bits (their top 53)."""
    return float(bits >> np.uint64(11)) * _TWO53


@nb.njit(cache=True, inline="always")
def uniform(st: np.ndarray) -> float:
    """Uniform float in [0, 1) with 53 random bits."""
    return float(next_u64(st) >> np.uint64(11)) * _TWO53


@nb.njit(cache=True)
def normal(st: np.ndarray) -> float:
    """Standard normal by the polar method (second value discarded: keeps the stream stateless)."""
    while True:
        x = 2.0 * uniform(st) - 1.0
        y = 2.0 * uniform(st) - 1.0
        r2 = x * x + y * y
        if 0.0 < r2 < 1.0:
            return x * math.sqrt(-2.0 * math.log(r2) / r2)


@nb.njit(cache=True)
def rate_status(mean: float) -> int:
    """``RATE_OK``, ``RATE_NOT_FINITE`` (the samplers draw 0) or ``RATE_CAPPED`` (the
    samplers approximate and cap at ``MAX_DRAW``) for a draw of this mean."""
    if not math.isfinite(mean):
        return RATE_NOT_FINITE
    if mean > NORMAL_ABOVE:
        return RATE_CAPPED
    return RATE_OK


@nb.njit(cache=True)
def _normal_count(st: np.ndarray, mean: float, var: float, high: float) -> int:
    """``round(mean + sqrt(var) N(0, 1))`` clipped to ``[0, min(high, MAX_DRAW)]``."""
    # clip before rounding: numba's math.floor returns an int64, which a huge float overflows
    x = mean + math.sqrt(var) * normal(st) + 0.5
    cap = min(high, float(MAX_DRAW))
    if x >= cap:
        return int(cap)
    if x < 1.0:
        return 0
    return math.floor(x)


@nb.njit(cache=True)
def poisson(st: np.ndarray, lam: float) -> int:
    """Poisson(lam) draw; 0 for lam <= 0 or non-finite; normal above ``NORMAL_ABOVE``."""
    if not lam > 0.0 or lam == math.inf:  # NaN fails lam > 0
        return 0
    if lam > NORMAL_ABOVE:
        return _normal_count(st, lam, lam, float(MAX_DRAW))
    if lam < 10.0:
        enlam = math.exp(-lam)
        k = 0
        prod = uniform(st)
        while prod > enlam:
            k += 1
            prod *= uniform(st)
        return k
    slam = math.sqrt(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = uniform(st) - 0.5
        v = uniform(st)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        # the log only here, where it is needed (the fast accept above takes most draws)
        if math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b) <= (
            -lam + k * math.log(lam) - math.lgamma(k + 1.0)
        ):
            return int(k)


@nb.njit(cache=True)
def _binomial_inversion(st: np.ndarray, n: int, p: float) -> int:
    q = 1.0 - p
    return inversion_walk(st, n, math.exp(n * math.log(q)), p / q)


@nb.njit(cache=True, inline="always")
def inversion_walk(st: np.ndarray, n: int, qn: float, r: float) -> int:
    """The binomial inversion's walk from its set-up (``qn`` = ``q^n``, ``r`` = ``p / q``):
    ``_binomial_inversion``'s, and ``envs.binomial_tab``'s from a tabled set-up."""
    g = r * (n + 1)
    while True:
        ix = 0
        f = qn
        u = uniform(st)
        while True:
            if u < f:
                return ix
            if ix > 110:
                break
            u -= f
            ix += 1
            f *= g / ix - r


@nb.njit(cache=True)
def _binomial_btrs(st: np.ndarray, n: int, p: float) -> int:
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    alpha = (2.83 + 5.1 / b) * spq
    vr = 0.92 - 4.2 / b
    m = math.floor((n + 1) * p)
    h = math.nan  # the log-factorials and log-odds of the rejection test: set up when
    lpq = math.nan  # first needed (the fast accept takes most draws without them)
    while True:
        u = uniform(st) - 0.5
        v = uniform(st)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        if us >= 0.07 and v <= vr:
            return int(k)
        if math.isnan(h):
            lpq = math.log(p / (1.0 - p))
            h = math.lgamma(m + 1.0) + math.lgamma(n - m + 1.0)
        v = math.log(v * alpha / (a / (us * us) + b))
        if v <= h - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0) + (k - m) * lpq:
            return int(k)


@nb.njit(cache=True)
def binomial(st: np.ndarray, n: int, p: float) -> int:
    """Binomial(n, p) draw; exact 0 for p <= 0 or NaN and n for p >= 1; normal when
    ``n p (1 - p)`` exceeds ``NORMAL_ABOVE``."""
    if n <= 0 or not p > 0.0:  # NaN fails p > 0
        return 0
    if p >= 1.0:
        return n
    flip = p > 0.5
    pp = 1.0 - p if flip else p
    if n * pp * (1.0 - pp) > NORMAL_ABOVE:
        k = min(_normal_count(st, n * pp, n * pp * (1.0 - pp), float(n)), n)
    elif n * pp < 10.0:
        k = _binomial_inversion(st, n, pp)
    else:
        k = _binomial_btrs(st, n, pp)
    return n - k if flip else k
