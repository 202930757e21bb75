"""The value side of a log (``value.channels`` scenarios): channels and value events.

**Per-minute aggregates with a** ``channel`` **column**: one row per campaign, channel and
minute (the columns of ``envs.calibration.logs``, ``cost`` the channel's spend); each
(campaign, channel) is checked as a campaign is, and the campaign's counts are the sums
over its channels. Pooled by channel and hour of day (UTC) they give ``ChannelHours``.

**Value events** (``<prefix>_value_events.<ext>`` beside ``<prefix>_minutes.<ext>``,
``companion_path``), one row per event:

| column | type | meaning |
|---|---|---|
| ``campaign_id`` | string or int | campaign |
| ``channel`` | string | channel (placement) |
| ``event`` | ``impressions`` / ``clicks`` / ``conversion`` | |
| ``timestamp`` | as ``timestamp`` of an event log | ``impressions``, ``clicks``: start of the minute of their serves (a click's serve); ``conversion``: when it was recorded |
| ``count`` | number >= 0, optional (1) | ``impressions``: how many of the minute's serves were counted; ``clicks``: how many clicks they got; ``conversion``: 1 |
| ``click_timestamp`` | as ``timestamp`` | on ``conversion`` rows, the time of the click it belongs to (not before it) |

Hours of day are those of the serve (impressions, clicks) and of the click (conversions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from pacegym.envs.calibration.logs import (
    LogError,
    _nulls,
    _numbers,
    first_row,
    read_table,
    timestamps_ns,
)

NS_PER_HOUR = 3_600_000_000_000
VALUE_EVENTS = ("impressions", "clicks", "conversion")
VALUE_COLUMNS = ("campaign_id", "channel", "event", "timestamp")


@dataclass(frozen=True)
class ChannelHours:
    """A per-minute log's counts pooled by channel (rows) and hour of day (columns)."""

    channels: tuple[str, ...]
    requests: np.ndarray  # (channels, 24) float64
    serves: np.ndarray
    impressions: np.ndarray
    cost: np.ndarray  # [currency]


@dataclass(frozen=True)
class ValueEvents:
    """A value events log pooled by channel (rows) and hour of day (columns), and the
    conversion delays it measures."""

    channels: tuple[str, ...]
    impressions: np.ndarray  # (channels, 24) counted impressions by serve hour
    clicks: np.ndarray  # by their serve's hour
    conversions: np.ndarray  # by their click's hour
    delays_s: np.ndarray  # (n,) click-to-conversion delays of clicks early enough (censoring)
    longest_s: float  # the longest delay in the log [s]


def _codes(table: pa.Table, column: str) -> tuple[np.ndarray, tuple[str, ...]]:
    _nulls(table, column)
    enc = table[column].cast(pa.string()).dictionary_encode().combine_chunks()
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return codes, tuple(str(v) for v in enc.dictionary.to_pylist())


def channel_keys(
    table: pa.Table, campaign: np.ndarray, campaigns: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Per row the code of its (campaign, channel) and their names ``campaign/channel``,
    for the checks a campaign's rows pass (``logs._check_rows``)."""
    chan, names = _codes(table, "channel")
    key = campaign * len(names) + chan
    return key, tuple(f"{c}/{n}" for c in campaigns for n in names)


def hour_of_day(time_ns: np.ndarray) -> np.ndarray:
    """Hour of day (UTC) of times in ns since the epoch."""
    return (time_ns // NS_PER_HOUR) % 24


def channel_hours(
    table: pa.Table, minute: np.ndarray, counts: dict[str, np.ndarray]
) -> ChannelHours:
    """``counts`` (per row: requests, serves, impressions, cost) pooled by channel and hour
    of the row's ``minute`` [min since the epoch]."""
    chan, names = _codes(table, "channel")
    flat = chan * 24 + (minute // 60) % 24
    n = len(names) * 24
    pooled = {
        k: np.bincount(flat, weights=v, minlength=n).reshape(len(names), 24)
        for k, v in counts.items()
    }
    return ChannelHours(names, **pooled)


def parse_value_events(table: pa.Table) -> ValueEvents:
    """Validate a value events table (module docstring) and pool it."""
    missing = [c for c in VALUE_COLUMNS if c not in table.column_names]
    if missing:
        raise LogError(
            f"value events: missing column(s) {missing}; found {table.column_names}. "
            f"Required: {list(VALUE_COLUMNS)} (see envs/calibration/value_log.py)"
        )
    ev, found = _codes(table, "event")
    names = [n.strip().lower() for n in found]
    unknown = [i for i, n in enumerate(names) if n not in VALUE_EVENTS]
    if unknown:
        row = first_row(np.isin(ev, unknown))
        raise LogError(
            f"column 'event', row {row + 1}: {found[ev[row]]!r} is not a value event; "
            f"allowed {list(VALUE_EVENTS)}"
        )
    event = np.array([VALUE_EVENTS.index(n) for n in names], dtype=np.int64)[ev]
    _codes(table, "campaign_id")
    chan, channels = _codes(table, "channel")
    t = timestamps_ns(table, "timestamp")
    count = _numbers(table, "count", default=1.0)
    flat = chan * 24 + hour_of_day(t)
    conv = event == 2
    if "click_timestamp" not in table.column_names and conv.any():
        raise LogError("value events: conversion rows need a 'click_timestamp' column")
    rows = np.flatnonzero(conv)
    src = np.zeros(table.num_rows, dtype=np.int64)
    if rows.size:
        sub = table.filter(pa.array(conv)).select(["click_timestamp"])
        try:
            src[rows] = timestamps_ns(sub, "click_timestamp")
        except LogError as e:  # renumber rows of the conversion subset to log rows
            msg = str(e)
            k = int(msg.split("row ")[1].split(":")[0]) - 1
            raise LogError(msg.replace(f"row {k + 1}:", f"row {rows[k] + 1}:", 1)) from None
    early = conv & (t < src)
    if early.any():
        row = first_row(early)
        raise LogError(
            f"column 'click_timestamp', row {row + 1}: after the conversion's timestamp; "
            "allowed a click at or before its conversion"
        )
    n = len(channels) * 24
    pooled = [
        np.bincount(
            np.where(event == e, f, 0), weights=np.where(event == e, count, 0.0), minlength=n
        )
        for e, f in ((0, flat), (1, flat), (2, chan * 24 + hour_of_day(src)))
    ]
    delays = (t[conv] - src[conv]) / 1e9
    longest = float(delays.max()) if delays.size else 0.0
    # a click later than the log's end - the longest delay may still convert after the log
    keep = src[conv] <= t.max() - round(longest * 1e9)
    return ValueEvents(
        channels, *(p.reshape(len(channels), 24) for p in pooled), delays[keep], longest
    )


def companion_path(log: str | Path) -> Path | None:
    """The value events file beside a per-minute log ``<prefix>_minutes.<ext>``:
    ``<prefix>_value_events.<ext>``, when it exists."""
    p = Path(log)
    stem, dot, ext = p.name.partition(".")
    if not stem.endswith("_minutes"):
        return None
    other = p.with_name(f"{stem[: -len('_minutes')]}_value_events{dot}{ext}")
    return other if other.is_file() else None


def read_value_events(path: str | Path) -> ValueEvents:
    """Read and validate a value events file (CSV or Parquet)."""
    table = read_table(path)
    if table.num_rows == 0:
        raise LogError(f"value events {str(path)!r} have no rows")
    return parse_value_events(table)
