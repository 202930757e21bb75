"""Progress bars with an ETA for every job longer than a few seconds (tqdm, on stderr).

``bar(total, desc, unit)`` is a ``tqdm`` bar that shows the count, the rate and the time
left. On a terminal it draws as usual. Elsewhere (a log file, CI, a pipe) a job that runs
longer than ``LINE_EVERY_S`` prints one plain line per ``LINE_EVERY_S`` instead
(``evaluate: 40%|... 4000/10000 episodes [02:00<03:00, ...]``), so a long legal run is
never silent and short ones (tests) print nothing; ``enabled=False`` turns it off
outright. Imported by the baselines (tuning), the agents (training) and the apps
(evaluate, simulate, compare, pipeline, calibrate, export).
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def bar(
    total: float | None,
    desc: str,
    unit: str = "it",
    initial: float = 0,
    enabled: bool = True,
) -> tqdm:
    """A progress bar to stderr: ``bar.update(n)`` as work is done, ``bar.close()`` at the end
    (or use it as a context manager). Off a terminal: a line per ``LINE_EVERY_S``, none
    before (module docstring)."""
    common = dict(total=total, initial=initial, desc=desc, unit=unit, unit_scale=unit != "it")
    if not enabled:
        return tqdm(**common, disable=True)
    if _terminal():
        return tqdm(**common, dynamic_ncols=True, file=sys.stderr, leave=True)
    return _LineBar(
        **common,
        file=_Lines(),
        ncols=100,
        mininterval=LINE_EVERY_S,
        maxinterval=LINE_EVERY_S,
        delay=LINE_EVERY_S,
        leave=False,
    )


LINE_EVERY_S = 30.0
"""[s] off a terminal: the first progress line after this long, then one per this long."""


def on_terminal() -> bool:
    """True when stderr, where the bars go, is a terminal."""
    return _terminal()


def _terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _LineBar(tqdm):
    """tqdm off a terminal: a new postfix or description waits for the next line (tqdm
    would print one at once, before ``delay``: a short job's error would not be its only
    line)."""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        super().set_postfix_str(s, refresh=False)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description(desc, refresh=False)


class _Lines:
    """A file for tqdm that turns its carriage-return redraws into whole lines on stderr."""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        return len(text)

    def flush(self) -> None:
        sys.stderr.flush()


def stages(names: list[str], desc: str, enabled: bool = True) -> Any:
    """A bar over named stages: ``s.next(name)`` marks the previous stage done and shows the
    current one; ``s.close()`` completes it."""
    return _Stages(bar(len(names), desc, "stage", enabled=enabled), names)


class _Stages:
    def __init__(self, pbar: tqdm, names: list[str]) -> None:
        self.pbar = pbar
        self.names = names
        self.started = False

    def next(self, name: str) -> None:
        if self.started:
            self.pbar.update(1)
        self.started = True
        self.pbar.set_postfix_str(name)

    def close(self) -> None:
        if self.started:
            self.pbar.update(1)
        self.pbar.close()

    def __enter__(self) -> _Stages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
