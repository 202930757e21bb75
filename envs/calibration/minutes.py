"""The per-minute grid of an event log: counts per campaign and minute, the minutes that
count (``valid``), and the gaps between them (the rules: ``envs.calibration.logs``).
"""

from __future__ import annotations

import numpy as np

from pacegym.envs.calibration.logs import (
    GAP_EXPECTED,
    NS_PER_MIN,
    EventLog,
    LogError,
    MinuteCounts,
    check_grid,
    first_row,
    spans,
)


def event_minutes(log: EventLog) -> MinuteCounts:
    """Per-campaign per-minute counts of an event log; checks impressions have serves."""
    n_c = len(log.campaigns)
    minute = log.time_ns // NS_PER_MIN
    lo, hi = int(minute.min()), int(minute.max())
    n_m = hi - lo + 1
    check_grid(n_c, n_m)
    flat = log.campaign * n_m + (minute - lo)
    counts = [
        np.bincount(flat[log.event == e], minlength=n_c * n_m).reshape(n_c, n_m).astype(float)
        for e in range(3)
    ]
    # impressions need serves: an impression before its campaign's first serve cannot be counted
    first_serve = np.full(n_c, np.iinfo(np.int64).max)
    is_serve = log.event == 1
    np.minimum.at(first_serve, log.campaign[is_serve], log.time_ns[is_serve])
    imp = log.event == 2
    early = imp & (log.time_ns < first_serve[log.campaign])
    if early.any():
        row = first_row(early)
        raise LogError(
            f"row {row + 1}: impression of campaign {log.campaigns[log.campaign[row]]!r} at "
            f"{np.datetime64(int(log.time_ns[row]), 'ns')} comes before any serve of that "
            "campaign; every impression needs a serve"
        )
    # a campaign's span is its requests' (impressions keep arriving after traffic ends)
    req = log.event == 0
    valid = spans(log.campaign[req], minute[req] - lo, n_c, n_m)
    valid &= ~_silent_runs(counts[0] + counts[1] + counts[2], counts[0], valid)
    with np.errstate(over="ignore"):  # an inf total is refused as the fitted money.price
        total_cost = float(log.cost[imp].sum())
    return MinuteCounts(log.campaigns, lo, counts[0], counts[1], counts[2], valid, total_cost)


def _silent_runs(events: np.ndarray, req: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Minutes of runs without any event that the campaign's median requests per minute
    would have filled with at least ``GAP_EXPECTED`` requests (see the module docstring)."""
    out = np.zeros_like(valid)
    for c in range(valid.shape[0]):
        cols = np.flatnonzero(valid[c])
        if cols.size == 0:
            continue
        median = float(np.median(req[c, cols]))
        if median <= 0:
            continue
        empty = np.r_[False, (events[c] == 0) & valid[c], False]
        edges = np.flatnonzero(np.diff(empty.astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if (b - a) * median >= GAP_EXPECTED:
                out[c, a:b] = True
    return out


def gaps(counts: MinuteCounts) -> list[tuple[str, int, int]]:
    """``(campaign, first minute since the epoch, minutes)`` of every run of minutes that is
    not ``valid`` between a campaign's first and last valid minute."""
    out = []
    for c, name in enumerate(counts.campaigns):
        cols = np.flatnonzero(counts.valid[c])
        if cols.size == 0:
            continue
        hole = np.r_[False, ~counts.valid[c, cols[0] : cols[-1] + 1], False]
        edges = np.flatnonzero(np.diff(hole.astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            out.append((name, counts.start_minute + int(cols[0] + a), int(b - a)))
    return out
