"""A segment pacer served by named columns (the MLflow pyfunc's frame): state in, state out.

``frame_inputs(pacer)``: the base features by name, then ``<segment>.<column>`` for each
segment and ``SEGMENT_COLUMNS`` column (``search/0.share``, ``search/0.value_per_price``,
...), then ``state.<name>`` for each of the pacer's ``state_names`` (a new campaign sends
its ``initial_state`` row). ``frame_outputs(pacer)``: ``throttle.<segment>`` each, then the
new ``state.<name>`` columns, to be sent with the campaign's next row. ``serve_columns``
runs ``SegmentPacer.step`` on them: nothing is kept between calls, so any replica may
serve any campaign. Observation columns are read as float32 (as the simulator writes
them), state columns as float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .manifest import PacerError
from .segment_pacer import SEGMENT_COLUMNS, SegmentPacer


def frame_inputs(pacer: SegmentPacer) -> list[str]:
    """The input columns of ``pacer``, in order (module docstring)."""
    base = list(pacer.manifest["observation"]["base_features"])
    segs = [f"{s}.{c}" for s in pacer.segments for c in SEGMENT_COLUMNS]
    return [*base, *segs, *(f"state.{n}" for n in pacer.state_names)]


def frame_outputs(pacer: SegmentPacer) -> list[str]:
    """The output columns of ``pacer``: each segment's throttle, then the new state."""
    return [*(f"throttle.{s}" for s in pacer.segments), *(f"state.{n}" for n in pacer.state_names)]


def serve_columns(pacer: SegmentPacer, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{output column: (n,) float64}`` for ``columns`` (``{input column: (n,) values}``,
    every one of ``frame_inputs`` present, others ignored)."""
    names = frame_inputs(pacer)
    missing = [c for c in names if c not in columns]
    if missing:
        raise PacerError(
            f"input column {missing[0]!r} is missing ({len(missing)} of {len(names)}):"
            " allowed the columns of frame_inputs (base features, <segment>.<column>,"
            " state.<name>)"
        )
    k = len(pacer.state_names)
    obs = np.stack([np.asarray(columns[c], dtype=np.float32) for c in names[:-k]], axis=1)
    state = np.stack([np.asarray(columns[c], dtype=np.float64) for c in names[-k:]], axis=1)
    th, new = pacer.step(obs, state)
    out = {f"throttle.{s}": th[:, i] for i, s in enumerate(pacer.segments)}
    out.update({f"state.{n}": new[:, j] for j, n in enumerate(pacer.state_names)})
    return out
