"""Training that does not depend on the tracking server staying up.

``TrackingGuard(run_dir)`` wraps every MLflow call a training job makes while it trains
and after (metrics every rollout, the final metrics, tags, figures and artifacts). The
first call that fails (a server gone: refused connections after ``tracking.HTTP_BOUNDS``'
bounded retries, a timeout, any error from MLflow) switches the guard to local mode for the
rest of the job:

- it says so once, in one line on stderr and in ``<run_dir>/TRACKING_STATUS``
  (``STATUS_FILE``): the step, the error, and that training continues;
- metrics from then on go to ``<run_dir>/tracking_buffer.jsonl`` (``BUFFER_FILE``: one JSON
  object ``{"step": n, "metrics": {...}}`` a line) instead of the server, and the end-of-run
  tags, figures and artifacts are skipped (the files themselves are in the run dir);
- training, checkpoints and the model are never affected.

Without a failure it writes nothing. ``degraded`` tells whether it switched.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from pacegym.experiments import tracking

STATUS_FILE = "TRACKING_STATUS"
"""In a train run dir, only when tracking failed: the one line said on stderr."""
BUFFER_FILE = "tracking_buffer.jsonl"
"""In a train run dir, only when tracking failed: the metrics logged after the failure."""


class TrackingGuard:
    """MLflow calls of one job that never stop it; see the module docstring."""

    def __init__(self, run_dir: str | Path, stream: TextIO | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.stream = stream
        self.reason: str | None = None
        self.logged = 0  # metric batches that reached the store

    @property
    def degraded(self) -> bool:
        """Whether a tracking call failed (and later ones went to the local buffer)."""
        return self.reason is not None

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, prefix: str = ""
    ) -> None:
        """``tracking.log_metrics``, or the local buffer once tracking has failed."""
        if not self.degraded:
            try:
                tracking.log_metrics(metrics, step, prefix)
                self.logged += 1
                return
            except Exception as exc:
                self._fail(exc, step)
        self._buffer(metrics, step, prefix)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one other tracking call (tags, figure, artifact, model) and return its result;
        skipped (None) once tracking failed, None when it fails."""
        if self.degraded:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self._fail(exc, None)
            return None

    def _fail(self, exc: Exception, step: int | None) -> None:
        at = f"at step {step}" if step is not None else "after training"
        lines = str(exc).strip().splitlines()
        detail = f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"
        self.reason = (
            f"tracking: the MLflow store failed {at} ({detail}); training continues without "
            f"it: metrics go to {self.run_dir / BUFFER_FILE}, the model and checkpoints to "
            f"{self.run_dir}"
        )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / STATUS_FILE).write_text(self.reason + "\n")
        print(self.reason, file=self.stream or sys.stderr, flush=True)

    def _buffer(self, metrics: Mapping[str, float], step: int | None, prefix: str) -> None:
        clean = {
            f"{prefix}{k}": float(v)
            for k, v in metrics.items()
            if isinstance(v, int | float) and math.isfinite(float(v))
        }
        if not clean:
            return
        with open(self.run_dir / BUFFER_FILE, "a") as fh:
            fh.write(json.dumps({"step": step, "metrics": clean}) + "\n")
