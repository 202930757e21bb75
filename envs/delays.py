"""Serve-to-count delay distributions, discretised to whole ticks.

An impression served during tick ``t`` with continuous delay ``d`` [s] is counted
at tick ``t + floor(d / tick_s)``; delays are truncated at ``max_delay_s``, so
nothing is counted ``max_delay_s`` or more after it was served. The family is
scaled so that ``quantile`` of counted impressions arrive within ``quantile_s``
(the seed's default: 75% within 15 minutes, none after 2 hours).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from pacegym.envs.params import ScenarioError

_erf = np.vectorize(math.erf, otypes=[float])


def _bisect(f, lo: float, hi: float, iters: int = 200) -> float:
    flo = f(lo)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def continuous_cdf(
    family: str,
    quantile_s: float,
    quantile: float,
    sigma: float,
    max_delay_s: float,
    cdf_points: tuple[tuple[float, float], ...] = (),
):
    """The truncated delay CDF ``F(d)`` [share of counted impressions with delay <= d seconds]."""
    if family == "empirical":
        xs = np.array([0.0] + [p[0] for p in cdf_points] + [max_delay_s])
        ys = np.array([0.0] + [p[1] for p in cdf_points] + [1.0])
        return lambda d: np.interp(d, xs, ys)
    if family == "lognormal":

        def raw(d: np.ndarray | float, mu: float) -> np.ndarray | float:
            d = np.maximum(np.asarray(d, dtype=float), 1e-12)
            return 0.5 * (1.0 + _erf((np.log(d) - mu) / (sigma * math.sqrt(2.0))))

        def excess(mu: float) -> float:
            return float(raw(quantile_s, mu) - quantile * raw(max_delay_s, mu))

        mu = _bisect(excess, math.log(quantile_s) - 20 * sigma, math.log(quantile_s) + 20 * sigma)
        top = float(raw(max_delay_s, mu))
        return lambda d: np.clip(raw(d, mu) / top, 0.0, 1.0)
    if family == "exponential":

        def excess_tau(log_tau: float) -> float:
            tau = math.exp(log_tau)
            return (1 - math.exp(-quantile_s / tau)) - quantile * (1 - math.exp(-max_delay_s / tau))

        if quantile <= quantile_s / max_delay_s:
            raise ScenarioError(
                f"delay.quantile = {quantile} is unreachable for an exponential delay truncated at "
                f"delay.max_delay_s: allowed ({quantile_s / max_delay_s:g}, 1)"
            )
        tau = math.exp(_bisect(excess_tau, math.log(quantile_s) - 30, math.log(max_delay_s) + 30))
        top = 1 - math.exp(-max_delay_s / tau)
        return lambda d: np.clip((1 - np.exp(-np.asarray(d, float) / tau)) / top, 0.0, 1.0)
    raise ScenarioError(
        f"delay.family = {family!r}: allowed 'lognormal', 'exponential', 'empirical'"
    )


def tick_probabilities(cdf, tick_s: float, n_ticks: int) -> np.ndarray:
    """``q[k]`` = probability a counted impression arrives ``k`` ticks after its serving tick."""
    edges = np.arange(n_ticks + 1, dtype=float) * tick_s
    cum = np.asarray(cdf(edges), dtype=float)
    cum[0], cum[-1] = 0.0, 1.0
    q = np.diff(cum)
    q = np.clip(q, 0.0, None)
    return q / q.sum()


@nb.njit(cache=True, inline="always")
def _file(
    i: int, scaled: np.ndarray, small: np.ndarray, large: np.ndarray, ns: int, nl: int
) -> tuple[int, int]:
    """Push column ``i`` on the stack of small (``scaled[i] < 1``) or of large columns;
    returns the stacks' new heights ``(ns, nl)``."""
    if scaled[i] < 1.0:
        small[ns] = i
        return ns + 1, nl
    large[nl] = i
    return ns, nl + 1


@nb.njit(cache=True)
def alias_table(q: np.ndarray, prob: np.ndarray, alias: np.ndarray) -> None:
    """Vose's alias method: fill ``prob``/``alias`` so one uniform draws from ``q`` in O(1)."""
    n = q.shape[0]
    scaled = q * n
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        alias[i] = i
        ns, nl = _file(i, scaled, small, large, ns, nl)
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        nl -= 1
        g = large[nl]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        ns, nl = _file(g, scaled, small, large, ns, nl)
    for i in range(nl):
        prob[large[i]] = 1.0
    for i in range(ns):
        prob[small[i]] = 1.0
