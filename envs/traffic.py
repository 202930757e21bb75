"""Traffic profiles: the shape of expected eligible requests over time (mean 1).

Three kinds, selected by ``traffic.profile``:

- ``broadcast``: a live show, indexed by the share of the flight elapsed
  (viewers ramp up over the first 15%, hold, and thin out over the last 30%);
- ``intraday``: a parametric day (night trough, morning, lunch and evening
  peaks), indexed by minute of day and multiplied by ``dow_factors``;
- ``trace``: per-minute request counts replayed from a CSV file (column
  ``requests``) whose first row is Monday 00:00: a flight on day ``time.start_day`` at
  ``time.start_minute`` starts at row ``1440 start_day + start_minute``, wrapping at the
  trace's end (a one-day trace repeats every day; a two-week trace replays both weeks
  from the first; ``profile_minute``).

``profile_array`` encodes a profile as values and an indexing mode; ``shape_at``
(compiled) is the one formula that reads it: the step draws traffic from it tick by
tick, and the perturbed forecast sums it slot by slot.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numba as nb
import numpy as np

from pacegym.envs.params import MAX_TRACE_DAYS, ScenarioError, TrafficParams

PROFILE_BY_FLIGHT_SHARE = 0
PROFILE_BY_MINUTE = 1
MAX_TRACE_MINUTES = MAX_TRACE_DAYS * 1440
"""[rows] longest trace: two years of minutes (a trace replays from its start anyway)."""


def broadcast_profile(points: int = 101) -> np.ndarray:
    x = np.linspace(0.0, 1.0, points)
    ramp = 0.4 + 0.6 * np.minimum(1.0, x / 0.15)
    fade = 1.0 - 0.35 * np.clip((x - 0.7) / 0.3, 0.0, 1.0)
    shape = ramp * fade
    return shape / shape.mean()


def intraday_profile() -> np.ndarray:
    m = np.arange(1440, dtype=float) / 60.0  # [h]

    def bump(center: float, width: float, height: float) -> np.ndarray:
        d = np.minimum(np.abs(m - center), 24.0 - np.abs(m - center))
        return height * np.exp(-0.5 * (d / width) ** 2)

    shape = 0.15 + bump(8.5, 1.2, 0.6) + bump(12.5, 1.0, 0.8) + bump(21.0, 2.0, 1.2)
    return shape / shape.mean()


def read_trace(path: str | Path) -> np.ndarray:
    """Per-minute request counts from a CSV with a ``requests`` column; errors name the row.

    Counts are finite and >= 0, at most ``MAX_TRACE_MINUTES`` rows, at least one positive;
    a ``minute`` column, where there is one, must read 0, 1, 2, ... (``_check_minute``).
    Only their shape matters (``profile_array`` scales them to mean 1), so huge counts are
    fine. A relative path is relative to the working directory; a scenario file's own relative
    trace path is made absolute when the file is loaded (``scenarios.anchor_trace``).
    A file read before, unchanged (path, mtime and size), is not parsed again
    (``TRACE_CACHE_SIZE``); every call returns an array of its own.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ScenarioError(f"traffic.trace_csv = {str(path)!r}: no such file")
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if key in _TRACES:
        return _TRACES[key].copy()
    try:
        trace = _read_counts(p, str(path))
    except UnicodeDecodeError as e:
        raise ScenarioError(
            f"traffic.trace_csv = {str(path)!r}: not UTF-8 text (byte {e.start}); allowed a CSV "
            "file with a 'requests' column"
        ) from None
    while len(_TRACES) >= TRACE_CACHE_SIZE:
        del _TRACES[next(iter(_TRACES))]  # the oldest read first
    _TRACES[key] = trace
    return trace.copy()


TRACE_CACHE_SIZE = 16
"""[files] parsed traces ``read_trace`` keeps per process: parsing a recorded trace's CSV
costs 35-140 ms, paid by every core built on it (a suite, a generalist's 18 scenarios, a
tuner's trials) before the cache."""
_TRACES: dict[tuple[str, int, int], np.ndarray] = {}
"""(resolved path, mtime [ns], size [bytes]) -> the parsed counts: a file changed on disk
(another mtime or size) is read again."""


def _read_counts(p: Path, path: str) -> np.ndarray:
    """``read_trace``'s rows (``path``: as the user gave it, for the errors)."""
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "requests" not in reader.fieldnames:
            found = len(reader.fieldnames or ())
            raise ScenarioError(  # never the header itself: a file's content is not echoed
                f"traffic.trace_csv = {str(path)!r}: missing column 'requests' "
                f"(its header has {found} other column{'s' if found != 1 else ''})"
            )
        counts: list[float] = []
        timed = "minute" in reader.fieldnames
        for row_no, row in enumerate(reader, start=2):
            if timed:
                _check_minute(row.get("minute"), len(counts), row_no, path)
            raw = (row.get("requests") or "").strip()
            try:
                value = float(raw)
            except ValueError:
                raise ScenarioError(
                    f"traffic.trace_csv = {str(path)!r}, line {row_no}: requests is missing or "
                    "not a number; allowed [0, inf)"
                ) from None
            if not math.isfinite(value) or value < 0:
                raise ScenarioError(
                    f"traffic.trace_csv = {str(path)!r}, line {row_no}: requests = {raw} is out of "
                    "range; allowed [0, inf)"
                )
            counts.append(value)
            if len(counts) > MAX_TRACE_MINUTES:
                raise ScenarioError(
                    f"traffic.trace_csv = {str(path)!r}: more than {MAX_TRACE_MINUTES} rows; "
                    f"allowed <= {MAX_TRACE_MINUTES} minutes (two years)"
                )
    trace = np.asarray(counts, dtype=float)
    if trace.size == 0 or trace.max() <= 0:
        raise ScenarioError(f"traffic.trace_csv = {str(path)!r}: needs at least one positive count")
    return trace


def _check_minute(raw: str | None, want: int, row_no: int, path: str) -> None:
    """A ``minute`` column, where there is one, numbers the rows 0, 1, 2, ...: a trace is
    one row per minute in order, and a row out of order, repeated or missing would shift
    every later minute without a word."""
    text = (raw or "").strip()
    try:
        ok = float(text) == want
    except ValueError:
        ok = False
    if not ok:
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise ScenarioError(
            f"traffic.trace_csv = {path!r}, line {row_no}: minute = {shown}: allowed {want} "
            "(one row per minute, in order from 0, none missing or repeated)"
        )


def profile_array(params: TrafficParams) -> tuple[np.ndarray, int]:
    """The profile values (mean 1) and how they are indexed (by flight share or by minute)."""
    if params.profile == "broadcast":
        return broadcast_profile(), PROFILE_BY_FLIGHT_SHARE
    if params.profile == "intraday":
        return intraday_profile(), PROFILE_BY_MINUTE
    trace = read_trace(params.trace_csv or "")
    with np.errstate(over="ignore"):
        total = trace.sum()
    if not np.isfinite(total):  # huge counts: to [0, 1] first, their sum overflows
        trace = trace / trace.max()
    return trace / trace.mean(), PROFILE_BY_MINUTE


@nb.njit(cache=True, inline="always")
def profile_minute(start_day: int, minute: float, n: int) -> int:
    """Index into a per-minute profile of ``n`` minutes that starts on Monday 00:00, at
    ``minute`` [min] after midnight of day ``start_day``. It wraps: a one-day profile
    repeats daily (the day offset drops out of it exactly), a longer trace replays its
    days in order from day ``start_day``."""
    return (int(minute) + start_day * 1440) % n


@nb.njit(cache=True, inline="always")
def shape_at(
    prof: np.ndarray,
    mode: int,
    dow: np.ndarray,
    start_day: int,
    dt_s: float,
    start_min: float,
    n_intervals: float,
    t: int,
) -> float:
    """Expected traffic multiplier (profile x day-of-week) at the middle of interval ``t``.

    The flight is ``n_intervals`` intervals of ``dt_s`` seconds (ticks in the step, plan
    slots in the forecast) starting at ``start_min`` [min after midnight] of day
    ``start_day``; ``mode`` and ``prof`` are ``profile_array``'s.
    """
    if mode == PROFILE_BY_FLIGHT_SHARE:
        x = (t + 0.5) / n_intervals
        pos = min(max(x, 0.0), 1.0) * (prof.shape[0] - 1)
        i = min(int(pos), prof.shape[0] - 2)
        f = pos - i
        return prof[i] + f * (prof[i + 1] - prof[i])
    minute = start_min + (t + 0.5) * dt_s / 60.0
    day = (start_day + int(minute // 1440.0)) % 7
    return prof[profile_minute(start_day, minute, prof.shape[0])] * dow[day]
