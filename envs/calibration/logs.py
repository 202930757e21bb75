"""Log formats read and written by calibration, and their validation.

Two documented forms (CSV or Parquet), one row per event or per minute:

**Event log** (``event`` column present):

| column | type | meaning |
|---|---|---|
| ``campaign_id`` | string or int | campaign (one traffic stream) |
| ``event`` | ``request`` / ``serve`` / ``impression`` | an eligible request, a served ad, a counted (billed) impression |
| ``timestamp`` | ISO-8601 text, timestamp, or epoch seconds (number) | when it happened (UTC) |
| ``cost`` | number >= 0, optional | billed cost of an impression (0 on other rows) |
| ``serve_id`` | int, optional | on ``serve`` rows the serve's id (unique in the log); on ``impression`` rows the id of the serve it counts |
| ``serve_timestamp`` | like ``timestamp``, optional | on ``impression`` rows, when its serve happened |

The log is *joined* when impressions carry ``serve_id`` or ``serve_timestamp``:
the delay is then measured pair by pair; otherwise it is deconvolved from
per-minute counts.

**Per-minute aggregates** (``requests`` column present): ``campaign_id``
(optional), ``timestamp`` (minute start), ``requests``, ``serves``,
``impressions`` (impressions counted in that minute), ``cost`` (optional). One row
per campaign and minute (and ``channel``: ``envs.calibration.value_log``), zero counts included; counts are at most
``MAX_COUNT_PER_MINUTE`` (the most traffic a scenario can hold).

**Gaps** (``envs.calibration.minutes``). A minute inside a campaign's span that the log does not cover is a gap, not
zero traffic: in per-minute aggregates a minute without a row, in an event log a run
of minutes without any event that the campaign's median traffic would have filled
with at least ``GAP_EXPECTED`` requests. Gap minutes are marked not ``valid`` (the fits
skip them; nothing is interpolated) and ``gaps`` lists them for the report.

Rows are numbered from 1 (the first data row; CSV line = row + 1). Every error
names the column, the row and the value, and says what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

EVENTS = ("request", "serve", "impression")
EVENT_COLUMNS = ("campaign_id", "event", "timestamp")
MINUTE_COLUMNS = ("timestamp", "requests", "serves", "impressions")
NS_PER_MIN = 60_000_000_000
MAX_COUNT_PER_MINUTE = 6e12
"""[events/min] most requests, serves or impressions of one campaign in one minute: the
highest ``traffic.base_rate`` (1e7/s) x 60 s x the largest surge factor (1e4)."""
GAP_EXPECTED = 200.0
"""[requests] a run of empty minutes is a gap once the campaign's median requests per
minute x its length reach this (a Poisson count that large is never 0)."""


class LogError(ValueError):
    """The log cannot be read or is inconsistent; the message names column, row and value."""


@dataclass(frozen=True)
class EventLog:
    """A validated event log (arrays aligned by row; times in ns since the epoch, UTC)."""

    campaign: np.ndarray  # (rows,) int64 index into `campaigns`
    campaigns: tuple[str, ...]
    event: np.ndarray  # (rows,) int8: 0 request, 1 serve, 2 impression
    time_ns: np.ndarray  # (rows,) int64
    cost: np.ndarray  # (rows,) float64
    serve_id: np.ndarray | None  # (rows,) int64, -1 where missing
    serve_time_ns: np.ndarray | None  # (rows,) int64, impression rows only (else 0)

    @property
    def joined(self) -> bool:
        return self.serve_id is not None or self.serve_time_ns is not None


@dataclass(frozen=True)
class MinuteCounts:
    """Per-campaign per-minute counts on one grid of whole minutes since the epoch.

    ``valid[c, m]`` is False outside campaign ``c``'s observed span and in its gaps (see
    the module docstring); counts there are 0.
    """

    campaigns: tuple[str, ...]
    start_minute: int  # [min since epoch] first minute of the grid
    requests: np.ndarray  # (campaigns, minutes) float64
    serves: np.ndarray
    impressions: np.ndarray
    valid: np.ndarray  # bool
    cost: float  # total billed cost of impressions [currency]
    by_channel: Any = None  # value_log.ChannelHours of a log with a 'channel' column

    @property
    def minutes(self) -> int:
        return self.requests.shape[1]


def read_table(path: str | Path) -> pa.Table:
    """A CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file as an Arrow table."""
    p = Path(path)
    if not p.is_file():
        raise LogError(f"log {str(path)!r}: no such file")
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pq.read_table(p)
    if name.endswith((".csv", ".csv.gz")):
        opts = pacsv.ConvertOptions(
            column_types={
                "campaign_id": pa.string(),
                "event": pa.dictionary(pa.int32(), pa.string()),
            },
            strings_can_be_null=True,
        )
        try:
            return pacsv.read_csv(p, convert_options=opts)
        except pa.ArrowInvalid as e:
            raise LogError(f"log {str(path)!r}: cannot parse the CSV: {e}") from None
    raise LogError(f"log {str(path)!r}: unknown format; allowed .csv, .csv.gz, .parquet, .pq")


def first_row(mask: np.ndarray) -> int:
    """The index of the first True of ``mask`` (a row number from 0)."""
    return int(np.flatnonzero(mask)[0])


def _require(table: pa.Table, columns: tuple[str, ...], form: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise LogError(
            f"{form}: missing column(s) {missing}; found {table.column_names}. "
            f"Required: {list(columns)} (see envs/calibration/logs.py)"
        )


def _nulls(table: pa.Table, column: str) -> None:
    col = table[column]
    if col.null_count:
        row = first_row(np.asarray(col.is_null().to_numpy(zero_copy_only=False)))
        raise LogError(f"column {column!r}, row {row + 1}: value is missing; allowed a value")


def timestamps_ns(table: pa.Table, column: str) -> np.ndarray:
    """``column`` as int64 ns since the epoch (UTC); numbers are epoch seconds."""
    _nulls(table, column)
    col = table[column]
    t = col.type
    if pa.types.is_timestamp(t):
        try:
            ns = col.cast(pa.timestamp("ns", tz=t.tz))
        except pa.ArrowInvalid as e:
            raise LogError(
                f"column {column!r}: a timestamp is out of range ({e}); allowed years 1678-2261"
            ) from None
        return np.asarray(ns.cast(pa.int64()).to_numpy())
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        x = np.asarray(col.cast(pa.float64()).to_numpy())
        bad = ~np.isfinite(x)
        if bad.any():
            row = first_row(bad)
            raise LogError(
                f"column {column!r}, row {row + 1}: {x[row]} is not a finite epoch time [s]"
            )
        return np.round(x * 1e9).astype(np.int64)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        text = col.cast(pa.string()) if pa.types.is_dictionary(t) else col
        try:
            return np.asarray(
                pc.cast(text, pa.timestamp("ns")).cast(pa.int64()).to_numpy(zero_copy_only=False)
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        values = text.to_numpy(zero_copy_only=False)
        for row, v in enumerate(values):
            try:
                pc.cast(pa.array([v]), pa.timestamp("ns"))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise LogError(
                    f"column {column!r}, row {row + 1}: {v!r} is not a timestamp; allowed "
                    "ISO-8601 text (2024-01-01T08:30:00.250) or epoch seconds"
                ) from None
    raise LogError(
        f"column {column!r} has type {t}; allowed ISO-8601 text, a timestamp or epoch seconds"
    )


def _numbers(
    table: pa.Table, column: str, *, default: float | None = None, high: float = np.inf
) -> np.ndarray:
    """A non-negative finite numeric column, at most ``high``; errors name the first bad row."""
    if column not in table.column_names:
        if default is None:
            raise LogError(f"missing column {column!r}; found {table.column_names}")
        return np.full(table.num_rows, default)
    col = table[column]
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        raise LogError(f"column {column!r} has type {col.type}; allowed numbers >= 0")
    x = np.asarray(col.cast(pa.float64()).fill_null(np.nan).to_numpy())
    bad = ~np.isfinite(x) | (x < 0)
    if bad.any():
        row = first_row(bad)
        raise LogError(
            f"column {column!r}, row {row + 1}: {x[row]} is missing, negative or not finite; "
            "allowed numbers >= 0"
        )
    big = x > high
    if big.any():
        row = first_row(big)
        raise LogError(
            f"column {column!r}, row {row + 1}: {x[row]:g} is too large; allowed [0, {high:g}] "
            "per campaign and minute (traffic.base_rate <= 1e7/s x surge <= 1e4)"
        )
    return x


def _campaigns(table: pa.Table) -> tuple[np.ndarray, tuple[str, ...]]:
    if "campaign_id" not in table.column_names:
        return np.zeros(table.num_rows, dtype=np.int64), ("0",)
    _nulls(table, "campaign_id")
    enc = table["campaign_id"].cast(pa.string()).dictionary_encode().combine_chunks()
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return codes, tuple(str(v) for v in enc.dictionary.to_pylist())


def parse_events(table: pa.Table) -> EventLog:
    """Validate an event table (see the module docstring) into an ``EventLog``."""
    _require(table, EVENT_COLUMNS, "event log")
    _nulls(table, "event")
    enc = table["event"].cast(pa.string()).dictionary_encode().combine_chunks()
    names = [str(v).strip().lower() for v in enc.dictionary.to_pylist()]
    unknown = [i for i, n in enumerate(names) if n not in EVENTS]
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    if unknown:
        row = first_row(np.isin(idx, unknown))
        raise LogError(
            f"column 'event', row {row + 1}: {names[idx[row]]!r} is not an event; allowed {list(EVENTS)}"
        )
    lut = np.array([EVENTS.index(n) for n in names], dtype=np.int8)
    event = lut[idx]
    campaign, campaigns = _campaigns(table)
    time_ns = timestamps_ns(table, "timestamp")
    cost = _numbers(table, "cost", default=0.0)
    imp = event == 2
    serve_id = serve_time = None
    if "serve_id" in table.column_names:
        col = table["serve_id"]
        if not pa.types.is_integer(col.type):
            raise LogError(f"column 'serve_id' has type {col.type}; allowed integers")
        serve_id = np.asarray(col.fill_null(-1).to_numpy(), dtype=np.int64)
        bad = (event != 0) & (serve_id < 0)
        if bad.any():
            row = first_row(bad)
            raise LogError(
                f"column 'serve_id', row {row + 1}: missing or negative on a "
                f"{EVENTS[event[row]]!r} row; allowed an id >= 0 on serve and impression rows"
            )
    elif "serve_timestamp" in table.column_names:
        sub = table.filter(pa.array(imp)).select(["serve_timestamp"])
        rows = np.flatnonzero(imp)
        try:
            st = timestamps_ns(sub, "serve_timestamp")
        except LogError as e:  # renumber rows of the impression subset to log rows
            msg = str(e)
            k = int(msg.split("row ")[1].split(":")[0]) - 1
            raise LogError(msg.replace(f"row {k + 1}:", f"row {rows[k] + 1}:", 1)) from None
        serve_time = np.zeros(table.num_rows, dtype=np.int64)
        serve_time[rows] = st
    return EventLog(campaign, campaigns, event, time_ns, cost, serve_id, serve_time)


def check_grid(n_c: int, n_m: int) -> None:
    """Refuse a campaigns x minutes grid too large to hold."""
    if n_c * n_m > 400_000_000:
        raise LogError(
            f"log spans {n_m} minutes x {n_c} campaigns: too large a grid; allowed <= 4e8 cells"
        )


def spans(campaign: np.ndarray, m: np.ndarray, n_c: int, n_m: int) -> np.ndarray:
    """``(n_c, n_m)`` bool: True from each campaign's first to its last minute in ``m``
    (``campaign[i]`` logged at grid minute ``m[i]``)."""
    first = np.full(n_c, n_m)
    last = np.full(n_c, -1)
    np.minimum.at(first, campaign, m)
    np.maximum.at(last, campaign, m)
    grid = np.arange(n_m)[None, :]
    return (grid >= first[:, None]) & (grid <= last[:, None])


def _running(x: np.ndarray, order: np.ndarray, campaign: np.ndarray) -> np.ndarray:
    """Per row: the sum of ``x`` over its campaign's rows up to it (in ``order``)."""
    out = np.zeros(x.size)
    xs, cs = x[order], np.cumsum(x[order])
    starts = np.r_[0, np.flatnonzero(np.diff(campaign[order])) + 1]
    out[order] = cs - np.repeat(cs[starts] - xs[starts], np.diff(np.r_[starts, order.size]))
    return out


def _check_rows(
    campaign: np.ndarray,
    campaigns: tuple[str, ...],
    minute: np.ndarray,
    flat: np.ndarray,
    req: np.ndarray,
    srv: np.ndarray,
    imp: np.ndarray,
) -> None:
    """Refuse a per-minute table that cannot be an ad server's counts: a campaign's minute on
    two rows, more serves than requests in a row, an impression before the campaign's first
    serve, or more impressions than the whole log has serves."""
    order = np.argsort(flat, kind="stable")
    again = np.flatnonzero(flat[order][1:] == flat[order][:-1])
    if again.size:
        k = int(np.argmin(order[again + 1]))
        row, first = int(order[again[k] + 1]), int(order[again[k]])
        raise LogError(
            f"row {row + 1}: campaign {campaigns[campaign[row]]!r} at "
            f"{np.datetime64(int(minute[row]), 'm')} again (first at row {first + 1}); "
            "allowed one row per campaign and minute"
        )
    over = srv > req
    if over.any():
        row = first_row(over)
        raise LogError(
            f"column 'serves', row {row + 1}: {srv[row]:g} > requests = {req[row]:g}; allowed "
            "at most the row's requests (a serve answers a request of its minute)"
        )
    order = np.lexsort((minute, campaign))
    cum_serves, cum_imp = _running(srv, order, campaign), _running(imp, order, campaign)
    bad = (imp > 0) & (cum_serves <= 0)
    if bad.any():
        row = first_row(bad)
        raise LogError(
            f"row {row + 1}: impressions = {imp[row]:g} for campaign "
            f"{campaigns[campaign[row]]!r} before any serve of that campaign; every impression "
            "needs a serve"
        )
    total = np.bincount(campaign, weights=srv, minlength=len(campaigns))[campaign]
    bad = cum_imp > total * (1 + 1e-12)  # not "so far": a log may start after serves
    if bad.any():
        row = first_row(bad)
        raise LogError(
            f"column 'impressions', row {row + 1}: {cum_imp[row]:g} impressions of campaign "
            f"{campaigns[campaign[row]]!r} by this row, more than the {total[row]:g} serves of "
            "the whole log; allowed at most one impression per serve"
        )


def parse_minutes(table: pa.Table) -> MinuteCounts:
    """Validate a per-minute aggregate table (see the module docstring)."""
    _require(table, MINUTE_COLUMNS, "per-minute log")
    campaign, campaigns = _campaigns(table)
    minute_ns = timestamps_ns(table, "timestamp")
    req = _numbers(table, "requests", high=MAX_COUNT_PER_MINUTE)
    srv = _numbers(table, "serves", high=MAX_COUNT_PER_MINUTE)
    imp = _numbers(table, "impressions", high=MAX_COUNT_PER_MINUTE)
    cost = _numbers(table, "cost", default=0.0)
    minute = minute_ns // NS_PER_MIN
    lo = int(minute.min())
    n_c, n_m = len(campaigns), int(minute.max()) - lo + 1
    check_grid(n_c, n_m)
    flat = campaign * n_m + (minute - lo)
    out = [
        np.bincount(flat, weights=x, minlength=n_c * n_m).reshape(n_c, n_m) for x in (req, srv, imp)
    ]
    by_channel, key, keys = None, campaign, campaigns
    if "channel" in table.column_names:  # a row per channel: checked per (campaign, channel)
        from pacegym.envs.calibration import value_log as V

        key, keys = V.channel_keys(table, campaign, campaigns)
        counts = {"requests": req, "serves": srv, "impressions": imp, "cost": cost}
        by_channel = V.channel_hours(table, minute, counts)
    _check_rows(key, keys, minute, key * n_m + (minute - lo), req, srv, imp)
    # a minute without a row inside a campaign's span is a gap, not zero traffic
    logged = np.bincount(flat, minlength=n_c * n_m).reshape(n_c, n_m) > 0
    valid = spans(campaign, minute - lo, n_c, n_m) & logged
    with np.errstate(over="ignore"):  # an inf total is refused as the fitted money.price
        total_cost = float(cost.sum())
    return MinuteCounts(campaigns, lo, out[0], out[1], out[2], valid, total_cost, by_channel)


def read_log(path: str | Path) -> EventLog | MinuteCounts:
    """Read and validate a log of either form (chosen by its columns)."""
    table = read_table(path)
    if table.num_rows == 0:
        raise LogError(f"log {str(path)!r} has no rows")
    if "event" in table.column_names:
        return parse_events(table)
    if "requests" in table.column_names:
        return parse_minutes(table)
    raise LogError(
        f"log {str(path)!r}: found columns {table.column_names}; an event log needs "
        f"{list(EVENT_COLUMNS)} (+ cost, serve_id or serve_timestamp), a per-minute log "
        f"{list(MINUTE_COLUMNS)} (+ campaign_id, cost)"
    )
