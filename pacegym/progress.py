"""Progress bars with an ETA for every job longer than a few seconds (tqdm, on stderr).

``bar(total, desc, unit)`` is a ``tqdm`` bar that shows the count, the rate and the time
left. It draws only on a terminal (tqdm's ``disable=None``), so logs, CI and tests
stay clean; ``enabled=False`` turns it off outright. Imported by the baselines
(tuning), the agents (training) and the apps (compare, pipeline, calibrate, export).
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
    (or use it as a context manager)."""
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        unit_scale=unit != "it",
        dynamic_ncols=True,
        file=sys.stderr,
        disable=None if enabled else True,
        leave=True,
    )


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
