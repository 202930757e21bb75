"""Fit the serve-to-count delay and the render probability.

Two routes, both returning a ``DelayFit`` (an empirical CDF for
``delay.family: empirical``):

- ``fit_joined``: impressions carry their serve (id or timestamp), so each delay is
  measured. Serves later than ``log end - longest delay`` are dropped (their
  impressions may fall after the log ends). The CDF is kept at the quantile levels
  ``LEVELS`` (linear in between, as ``envs.delays.continuous_cdf`` interpolates).
- ``fit_deconvolved``: only per-minute counts. ``impressions[m] = sum_k g[k]
  serves[m - k]`` is solved for ``g >= 0`` (non-negative least squares with a small
  second-difference penalty, ``scipy.optimize.nnls``). ``sum(g)`` is the render
  probability and ``P(lag <= k minutes) ~= F(60 k + 30 s)`` (a serve falls uniformly within its
  minute), so the CDF points sit at minute midpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize
from threadpoolctl import threadpool_limits

from pacegym.envs.calibration.logs import EventLog, LogError, MinuteCounts

LEVELS = np.r_[np.arange(0.01, 1.0, 0.01), 0.995, 0.999]
"""Quantile levels kept as CDF points of a joined fit."""


@dataclass(frozen=True)
class DelayFit:
    cdf_points: tuple[tuple[float, float], ...]  # (delay [s], CDF) pairs
    max_delay_s: float  # [s] whole minutes, > every point
    render_prob: float
    method: str  # joined | deconvolved
    n: int  # delays measured (joined) or minutes fitted (deconvolved)
    ks: float  # joined: KS distance of the fitted CDF to the measured delays
    r2: float  # deconvolved: R^2 of fitted vs observed impressions per minute
    observed: np.ndarray  # joined: sorted delays [s]; deconvolved: per-minute lag shares g/sum(g)

    def quantile(self, q: float | np.ndarray) -> np.ndarray:
        """Delay [s] at CDF level ``q`` of the fitted piecewise-linear CDF."""
        xs = np.r_[0.0, [p[0] for p in self.cdf_points], self.max_delay_s]
        ys = np.r_[0.0, [p[1] for p in self.cdf_points], 1.0]
        keep = np.r_[True, np.diff(ys) > 0]
        return np.interp(q, ys[keep], xs[keep])

    def cdf(self, d: np.ndarray) -> np.ndarray:
        xs = np.r_[0.0, [p[0] for p in self.cdf_points], self.max_delay_s]
        ys = np.r_[0.0, [p[1] for p in self.cdf_points], 1.0]
        return np.interp(d, xs, ys)


def _points(delays: np.ndarray, cdf: np.ndarray, max_delay: float) -> tuple:
    keep = (delays > 0) & (delays < max_delay) & np.r_[True, np.diff(delays) > 0]
    cdf = np.maximum.accumulate(np.clip(cdf[keep], 0.0, 1.0))
    return tuple(
        (round(float(d), 3), round(float(c), 6)) for d, c in zip(delays[keep], cdf, strict=True)
    )


def _max_delay(longest: float) -> float:
    return float(60.0 * max(np.ceil(longest / 60.0 + 1e-9), 1.0))


def fit_joined(log: EventLog) -> DelayFit:
    """Delay CDF and render probability from impressions joined to their serves."""
    serve = np.flatnonzero(log.event == 1)
    imp = np.flatnonzero(log.event == 2)
    if serve.size == 0:
        raise LogError("column 'event': the log has no 'serve' rows; the delay fit needs serves")
    if imp.size == 0:
        raise LogError("column 'event': the log has no 'impression' rows; allowed >= 1")
    if log.serve_id is not None:
        ids = log.serve_id[serve]
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        dup = np.flatnonzero(np.diff(sorted_ids) == 0)
        if dup.size:
            row = int(serve[order[dup[0] + 1]])
            raise LogError(
                f"column 'serve_id', row {row + 1}: serve id {sorted_ids[dup[0]]} is used by "
                "more than one serve; allowed unique ids"
            )
        want = log.serve_id[imp]
        pos = np.clip(np.searchsorted(sorted_ids, want), 0, sorted_ids.size - 1)
        found = sorted_ids[pos] == want
        src = serve[order[pos]]
        found &= log.campaign[src] == log.campaign[imp]
        if not found.all():
            row = int(imp[np.flatnonzero(~found)[0]])
            raise LogError(
                f"column 'serve_id', row {row + 1}: impression of serve id {log.serve_id[row]} "
                f"but no serve of campaign {log.campaigns[log.campaign[row]]!r} has that id; "
                "every impression needs its serve in the log"
            )
        serve_t = log.time_ns[src]
    else:
        assert log.serve_time_ns is not None
        serve_t = log.serve_time_ns[imp]
        for c in np.unique(log.campaign[imp]):
            st = np.sort(log.time_ns[serve][log.campaign[serve] == c])
            mine = imp[log.campaign[imp] == c]
            want = log.serve_time_ns[mine]
            pos = np.clip(np.searchsorted(st, want), 0, max(st.size - 1, 0))
            bad = (st.size == 0) | (st[pos] != want) if st.size else np.ones(mine.size, bool)
            if np.any(bad):
                row = int(mine[np.flatnonzero(bad)[0]])
                raise LogError(
                    f"column 'serve_timestamp', row {row + 1}: no serve of campaign "
                    f"{log.campaigns[c]!r} at {np.datetime64(int(log.serve_time_ns[row]), 'ns')}; "
                    "every impression needs its serve in the log"
                )
    delay = (log.time_ns[imp] - serve_t) / 1e9
    if (delay < 0).any():
        k = int(np.flatnonzero(delay < 0)[0])
        raise LogError(
            f"column 'timestamp', row {imp[k] + 1}: impression counted {-delay[k]:.3f} s before "
            "its serve; allowed a delay >= 0"
        )
    longest = float(delay.max())
    end = int(log.time_ns.max())
    cutoff = end - int(longest * 1e9)
    serve_ok = log.time_ns[serve] <= cutoff
    imp_ok = serve_t <= cutoff
    if serve_ok.sum() == 0:  # log shorter than the longest delay: use everything
        serve_ok[:] = True
        imp_ok[:] = True
    render = float(imp_ok.sum() / serve_ok.sum())
    d = np.sort(delay[imp_ok])
    max_delay = _max_delay(longest)
    qs = np.quantile(d, LEVELS)
    points = _points(qs, LEVELS, max_delay)
    fit = DelayFit(points, max_delay, min(render, 1.0), "joined", d.size, 0.0, float("nan"), d)
    emp = np.arange(1, d.size + 1) / d.size
    ks = float(np.max(np.abs(fit.cdf(d) - emp)))
    return DelayFit(points, max_delay, min(render, 1.0), "joined", d.size, ks, float("nan"), d)


def _one_blas_thread() -> threadpool_limits:
    """Single-threaded BLAS for the small matrix work here: multi-threaded OpenBLAS on
    180x180 problems spins and thrashes on a busy 2-core machine (20x slower, measured).
    The previous limits are restored when the block ends."""
    return threadpool_limits(limits=1, user_api="blas")


def nnls_gram(H: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``argmin_{x >= 0} x'Hx/2 - b'x`` for positive definite ``H``, by
    ``scipy.optimize.nnls`` on the Cholesky factor: with ``H = R'R`` and ``R'c = b`` the
    objective is ``|Rx - c|^2 / 2`` up to a constant."""
    R = linalg.cholesky(H, lower=False)
    c = linalg.solve_triangular(R, b, trans="T")
    x, _ = optimize.nnls(R, c, maxiter=50 * b.size)
    return x


def lagged_gram(s: np.ndarray, y: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """``A'A`` and ``A'y`` for ``A[m, j] = s[m - j]``, rows ``m = K-1 .. len(s)-1``, by
    cumulative sums of lagged products (O(K len(s)) instead of O(K^2 len(s)))."""
    M = s.size
    G = np.zeros((K, K))
    k = np.arange(K)
    for lag in range(K):  # G[j, j + lag] = sum_{i = K-1-(j+lag)}^{M-1-(j+lag)} s[i] s[i+lag]
        c = np.r_[0.0, np.cumsum(s[: M - lag] * s[lag:])]
        kk = k[lag:]
        vals = c[M - kk] - c[K - 1 - kk]
        G[kk - lag, kk] = vals
        G[kk, kk - lag] = vals
    b = np.empty(K)
    for j in range(K):  # b[j] = sum_{m=K-1}^{M-1} s[m-j] y[m]
        b[j] = float(s[K - 1 - j : M - j] @ y[K - 1 :])
    return G, b


def _gram(counts: MinuteCounts, K: int) -> tuple:
    """Summed normal equations over campaigns, plus what the R^2 needs."""
    G = np.zeros((K, K))
    b = np.zeros(K)
    n_rows = 0
    fitted: list[np.ndarray] = []
    observed: list[np.ndarray] = []
    for c in range(counts.requests.shape[0]):
        # each run of valid minutes on its own: a gap holds neither serves nor impressions
        edges = np.flatnonzero(np.diff(np.r_[False, counts.valid[c], False].astype(np.int8)))
        for first, end in zip(edges[::2], edges[1::2], strict=True):
            if end - first <= K:
                continue
            s = counts.serves[c, first:end]
            y = counts.impressions[c, first:end]
            g_c, b_c = lagged_gram(s, y, K)
            G += g_c
            b += b_c
            t = y[K - 1 :]
            n_rows += t.size
            observed.append(t)
            fitted.append(s)
    return G, b, fitted, observed, n_rows


def fit_deconvolved(
    counts: MinuteCounts, max_lag_min: int = 180, smoothness: float = 1e-3
) -> DelayFit:
    """Delay CDF and render probability from per-minute serves and impressions."""
    K = int(max_lag_min)
    if K < 2:
        raise LogError(f"max_lag_min = {max_lag_min}: allowed >= 2 minutes")
    with _one_blas_thread():
        G, b, fitted, observed, n_rows = _gram(counts, K)
    if n_rows == 0 or counts.serves.sum() <= 0:
        raise LogError(
            f"per-minute log: the delay deconvolution needs a campaign with more than "
            f"{K} minutes of serves; allowed longer logs (or a smaller max lag)"
        )
    D = np.diff(np.eye(K), 2, axis=0)
    with _one_blas_thread():
        H = G + smoothness * np.trace(G) / K * (D.T @ D)
        g = nnls_gram(H, b)
    total = float(g.sum())
    if total <= 0:
        raise LogError("column 'impressions': no impression can be attributed to serves")
    # prediction[m] = sum_k g[k] serves[m - k] for the rows that were fitted
    pred = np.concatenate([np.convolve(sv, g)[K - 1 : sv.size] for sv in fitted])
    obs = np.concatenate(observed)
    r2 = 1.0 - float(np.sum((obs - pred) ** 2)) / max(
        float(np.sum((obs - obs.mean()) ** 2)), 1e-300
    )
    share = g / total
    cum = np.cumsum(share)
    last = int(np.searchsorted(cum, 0.999)) + 1
    max_delay = 60.0 * min(last + 1, K)
    mids = 60.0 * np.arange(K) + 30.0
    points = _points(mids[:last], cum[:last], max_delay)
    return DelayFit(
        points, max_delay, min(total, 1.0), "deconvolved", n_rows, float("nan"), r2, share
    )
