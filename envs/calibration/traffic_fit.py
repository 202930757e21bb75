"""Fit the traffic model of ``envs.params.TrafficParams`` to per-minute request counts.

Model (the core's, per minute ``m`` of campaign ``c``)::

    requests[c, m] ~ Poisson(60 * base_c * profile[minute of day] * dow[day of week]
                             * exp(x_m - sd^2 / 2) * surge_m)

with ``x`` a log-AR(1) process (stationary sd ``noise_sd``, correlation time
``noise_tau_s``) and surges that multiply traffic by a factor for a while.

Steps, each vectorised over campaigns and minutes:

1. surges: minutes above ``SURGE_RATIO`` x a 61-minute running median (and 6
   Poisson sd above it); consecutive flagged minutes are one surge. Its factor is
   the median ratio of its interior minutes (or its peak when shorter than 3
   minutes); factors are grouped in log space (a gap > 3x starts a new group), the
   kinds' levels come from surges of >= 3 minutes, and each surge joins the kind
   nearest its peak minute; its duration is its excess traffic / (factor - 1) [s].
2. profile x day-of-week x base by alternating weighted means over non-surge
   minutes; the profile is smoothed by a circular moving average of
   ``smooth_min`` minutes and scaled to mean 1; day-of-week factors (needing >= 7
   days) are scaled to median 1, so ``base_rate`` is the rate at profile level 1
   on a median day (the presets' convention: weekdays 1.0).
3. noise: the log residual's autocovariance at lags of 1-3 minutes is
   ``sd^2 phi^k`` (Poisson noise is white and drops out), giving ``phi`` and
   ``sd``; ``tau = -60 / ln(phi)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pacegym.envs.calibration.logs import LogError, MinuteCounts

SURGE_RATIO = 2.5  # [x] a minute this far above its running median is a surge minute
SURGE_SIGMAS = 6.0  # [Poisson sd] and this far above it
MEDIAN_WINDOW = 61  # [min] running-median window of the surge baseline
GROUP_GAP = np.log(3.0)  # [log x] factors further apart than 3x are different surge kinds


@dataclass(frozen=True)
class TrafficFit:
    """Fitted traffic parameters plus what the report plots."""

    base_rate: tuple[float, ...]  # [requests/s] per campaign
    profile: np.ndarray  # (1440,) mean 1, by minute of day (UTC)
    profile_raw: np.ndarray  # (1440,) unsmoothed estimate, mean 1
    dow_factors: tuple[float, ...]  # Mon..Sun, median 1
    dow_fitted: bool
    noise_sd: float
    noise_tau_s: float
    surge_rate_per_h: float
    surge_mean_s: float
    surge_factors: tuple[float, ...]
    surge_probs: tuple[float, ...]
    n_surges: int
    expected: np.ndarray  # (campaigns, minutes) fitted mean requests, surges excluded
    surge: np.ndarray  # (campaigns, minutes) bool
    hours: float  # observed campaign-hours
    fill_rate: float  # serves / requests


def calendar(start_minute: int, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    """Minute of day and day of week (0 = Monday) of each grid minute (UTC)."""
    m = start_minute + np.arange(minutes, dtype=np.int64)
    return (m % 1440).astype(np.int64), ((m // 1440 + 3) % 7).astype(np.int64)  # 1970-01-01: Thu


def _runs(flag: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, first and last column of each run of True along the last axis."""
    pad = np.zeros((flag.shape[0], 1), dtype=bool)
    d = np.diff(np.concatenate([pad, flag, pad], axis=1).astype(np.int8), axis=1)
    r0, c0 = np.nonzero(d == 1)
    r1, c1 = np.nonzero(d == -1)
    o0, o1 = np.lexsort((c0, r0)), np.lexsort((c1, r1))
    return r0[o0], c0[o0], c1[o1] - 1


def _surges(req: np.ndarray, valid: np.ndarray, hours: float) -> dict:
    series = pd.DataFrame(np.where(valid, req, np.nan).T)
    base = series.rolling(MEDIAN_WINDOW, center=True, min_periods=10).median().to_numpy().T
    base = np.where(np.isfinite(base) & (base > 0), base, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = req / base
        flag = valid & (ratio > SURGE_RATIO) & (req - base > SURGE_SIGMAS * np.sqrt(base))
    flag &= np.isfinite(ratio)
    rows, first, last = _runs(flag)
    out = {"flag": flag, "n": len(rows), "factors": (10.0, 100.0), "probs": (0.8, 0.2)}
    out["rate"] = len(rows) / hours if hours > 0 else 0.0
    out["mean_s"] = 120.0
    if len(rows) == 0:
        return out
    length = last - first + 1
    level = np.empty(len(rows))
    excess = np.empty(len(rows))
    peak = np.empty(len(rows))
    for i, (r, a, b) in enumerate(zip(rows, first, last, strict=True)):
        seg = ratio[r, a : b + 1]
        level[i] = np.median(seg[1:-1]) if seg.size >= 3 else seg.max()
        excess[i] = np.sum(seg - 1.0)
        peak[i] = seg.max()
    long = length >= 3
    ref = level[long] if long.sum() >= 3 else level
    logs = np.sort(np.log(ref))
    gaps = np.diff(logs)
    if gaps.size and gaps.max() > GROUP_GAP:
        cut = logs[int(np.argmax(gaps))] + gaps.max() / 2
        centers = np.array([np.exp(logs[logs < cut].mean()), np.exp(logs[logs >= cut].mean())])
    else:
        centers = np.array([np.exp(logs.mean())])
    centers = np.clip(centers, 1.0 + 1e-6, 1e4)
    # every surge joins the kind nearest its peak minute (short surges never show their full
    # factor in a whole minute, but a 100x one still peaks far above any 10x one)
    group = np.argmin(np.abs(np.log(peak)[:, None] - np.log(centers)[None, :]), axis=1)
    probs = np.bincount(group, minlength=centers.size) / group.size
    duration = 60.0 * excess / (centers[group] - 1.0)
    out.update(
        factors=tuple(float(f) for f in centers),
        probs=tuple(float(p) for p in probs),
        mean_s=float(max(np.mean(duration), 1.0)),
    )
    return out


def _smooth(profile: np.ndarray, window: int) -> np.ndarray:
    if window <= 1:
        return profile
    k = np.ones(window) / window
    half = window // 2
    wrapped = np.concatenate([profile[-half:], profile, profile[: window - 1 - half]])
    return np.convolve(wrapped, k, mode="valid")


def _noise(resid: np.ndarray, ok: np.ndarray, lags: int = 3) -> tuple[float, float]:
    cov = []
    mu = resid[ok].mean()
    z = np.where(ok, resid - mu, 0.0)
    for k in range(1, lags + 1):
        both = ok[:, k:] & ok[:, :-k]
        n = both.sum()
        cov.append(float((z[:, k:] * z[:, :-k])[both].sum() / n) if n else 0.0)
    c = np.array(cov)
    if c[0] <= 0 or np.any(c <= 0):
        return 0.0, 600.0
    slope, icpt = np.polyfit(np.arange(1, lags + 1), np.log(c), 1)
    phi = float(np.clip(np.exp(slope), 1e-6, 1 - 1e-9))
    return float(np.sqrt(np.exp(icpt))), float(-60.0 / np.log(phi))


def fit_traffic(counts: MinuteCounts, smooth_min: int = 15, iterations: int = 20) -> TrafficFit:
    """Fit base rate, profile, day-of-week factors, noise and surges (see the module doc)."""
    req, valid = counts.requests, counts.valid
    mod, dow = calendar(counts.start_minute, counts.minutes)
    hours = float(valid.sum()) / 60.0
    covered = np.bincount(np.broadcast_to(mod, valid.shape)[valid], minlength=1440)
    if (covered == 0).any():
        gap = int(np.flatnonzero(covered == 0)[0])
        raise LogError(
            f"column 'timestamp': no requests logged at minute of day {gap // 60:02d}:{gap % 60:02d}"
            f" (and {int((covered == 0).sum()) - 1} other minutes); the traffic fit needs every "
            "minute of the day covered at least once (at least 1440 minutes of log)"
        )
    if req[valid].sum() <= 0:
        raise LogError("column 'requests': no requests in the log; allowed a log with traffic")
    s = _surges(req, valid, hours)
    surge = s["flag"]
    near = surge.copy()
    for k in (1, 2):  # neighbouring minutes hold partial surges
        near[:, k:] |= surge[:, :-k]
        near[:, :-k] |= surge[:, k:]
    w = (valid & ~near).astype(float)
    days_seen = np.unique((counts.start_minute + np.flatnonzero(valid.any(axis=0))) // 1440)
    dow_fitted = days_seen.size >= 7 and np.unique((days_seen + 3) % 7).size == 7
    n_c = req.shape[0]
    B, P, W = np.ones(n_c), np.ones(1440), np.ones(7)
    wx = w * req
    mod2, dow2 = np.broadcast_to(mod, req.shape).ravel(), np.broadcast_to(dow, req.shape).ravel()
    for _ in range(iterations):
        pw = P[mod] * W[dow]
        B = wx.sum(axis=1) / np.maximum((w * pw[None, :]).sum(axis=1), 1e-300)
        bw = (B[:, None] * W[dow][None, :] * w).ravel()
        P = np.bincount(mod2, wx.ravel(), 1440) / np.maximum(np.bincount(mod2, bw, 1440), 1e-300)
        P /= P.mean()
        if dow_fitted:
            bp = (B[:, None] * P[mod][None, :] * w).ravel()
            W = np.bincount(dow2, wx.ravel(), 7) / np.maximum(np.bincount(dow2, bp, 7), 1e-300)
            W /= np.median(W)
    raw = P.copy()
    P = _smooth(P, int(smooth_min))
    P /= P.mean()
    pw = P[mod] * W[dow]
    B = wx.sum(axis=1) / np.maximum((w * pw[None, :]).sum(axis=1), 1e-300)
    expected = B[:, None] * pw[None, :]
    resid = np.log((req + 0.5) / (expected + 0.5))
    sd, tau = _noise(resid, w > 0)
    fill = float(counts.serves[valid].sum() / req[valid].sum())
    return TrafficFit(
        base_rate=tuple(float(b) / 60.0 for b in B),
        profile=P,
        profile_raw=raw,
        dow_factors=tuple(float(x) for x in W),
        dow_fitted=bool(dow_fitted),
        noise_sd=sd,
        noise_tau_s=tau,
        surge_rate_per_h=float(s["rate"]),
        surge_mean_s=float(s["mean_s"]),
        surge_factors=s["factors"],
        surge_probs=s["probs"],
        n_surges=int(s["n"]),
        expected=expected,
        surge=surge,
        hours=hours,
        fill_rate=min(fill, 1.0),
    )
