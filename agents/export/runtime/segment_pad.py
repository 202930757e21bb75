"""The padded policy input: one policy for every segment count up to ``max_segments``.

A value scenario's policy reads ``k`` selected base columns, then groups of per-segment
columns (the segment block, ``3`` columns per segment; a residual agent's ``base_log10``,
``1`` per segment), so its width grows with the segment count ``S``. ``SegmentPad`` is the
one definition of the layout that holds ``M = max_segments`` segments whatever ``S <= M``:

    [ k base | group 1: M x w_1 | group 2: M x w_2 | ... | mask: M ]

Segment ``j < S`` sits in slot ``j`` of every group (the env's order); a slot ``j >= S``
holds the group's ``fill`` (an absent segment reads as a closed, empty one: share 0, value
per price 0, throttle 0, ``base_log10`` -4), and ``mask[j]`` is 1 for a present segment, 0
for a padded one. The action is ``M`` wide; only its first ``S`` columns are a campaign's
throttles (``take``), the padded ones never reach the env or the caller.

Training (``agents.features.SegmentMask``), evaluation (``agents.policy.SB3Controller``)
and the exported ``lstm`` pacer (``runtime.recurrent``, manifest ``observation.max_segments``)
all call this class. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEGMENT_FILL = (0.0, 0.0, 0.0)
"""The segment block's fill per column (share, value_per_price, throttle)."""
BASE_LOG10_FILL = -4.0
"""A residual agent's ``base_log10`` fill: log10 of the floor throttle (the base is off)."""
MASK_NAME = "mask"


@dataclass(frozen=True)
class SegmentPad:
    """The padded layout of ``n_base`` base columns and ``groups`` per-segment column
    groups (each a tuple of fills, one per column) for ``max_segments`` segments."""

    n_base: int  # [columns] selected base columns before the segment groups
    max_segments: int  # [segments] M, the slots of every group
    groups: tuple[tuple[float, ...], ...] = (SEGMENT_FILL,)  # fills, per group per column

    def __post_init__(self) -> None:
        if not 1 <= self.max_segments <= 4096:
            raise ValueError(f"max_segments = {self.max_segments}: allowed an integer in [1, 4096]")

    @property
    def width(self) -> int:
        """[columns] of the padded input: ``k + M (sum of group widths + 1)``."""
        return self.n_base + self.max_segments * (sum(len(g) for g in self.groups) + 1)

    def unpadded_width(self, n_segments: int) -> int:
        """[columns] of the input of ``n_segments`` segments without padding."""
        return self.n_base + int(n_segments) * sum(len(g) for g in self.groups)

    def check(self, n_segments: int, key: str = "max_segments") -> int:
        """``n_segments`` if in ``[0, max_segments]``; else ``ValueError`` in one line."""
        s = int(n_segments)
        if not 0 <= s <= self.max_segments:
            raise ValueError(
                f"{key} = {self.max_segments}: a campaign with {s} segments does not fit;"
                f" allowed segments in [0, {self.max_segments}] (raise {key} to >= {s})"
            )
        return s

    def _fill_rows(self, out: np.ndarray, rows: np.ndarray | slice, s: int) -> None:
        """Write the fills of slots ``s..M-1`` and the mask (1 for slots ``< s``) of ``rows``."""
        m, pos = self.max_segments, self.n_base
        for fills in self.groups:
            w = len(fills)
            out[rows, pos + w * s : pos + w * m] = np.tile(np.asarray(fills), m - s)
            pos += w * m
        out[rows, pos : pos + s] = 1.0
        out[rows, pos + s : pos + m] = 0.0

    def spread(self, x: np.ndarray, n_segments: int) -> np.ndarray:
        """The padded input ``(n, width)`` float64 of rows ``x`` ``(n, unpadded_width(S))``:
        the unpadded input of campaigns with ``S = n_segments`` segments."""
        s = self.check(n_segments)
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.unpadded_width(s):
            raise ValueError(
                f"input has shape {x.shape}: expected (n, {self.unpadded_width(s)}) for {s}"
                " segments"
            )
        out = np.empty((x.shape[0], self.width))
        out[:, : self.n_base] = x[:, : self.n_base]
        src, dst = self.n_base, self.n_base
        for fills in self.groups:
            w = len(fills)
            out[:, dst : dst + w * s] = x[:, src : src + w * s]
            src, dst = src + w * s, dst + w * self.max_segments
        self._fill_rows(out, slice(None), s)
        return out

    def refill(self, x: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The padded input of rows ``x`` laid out as ``[k | groups of M slots]`` (the
        width without the mask, as a padded env's observation gives), each row with its own
        segment count ``counts`` ``(n,)``: padded slots overwritten by the fills, the mask
        appended."""
        x = np.asarray(x, dtype=np.float64)
        counts = np.asarray(counts, dtype=np.int64).reshape(-1)
        m = self.max_segments
        if x.ndim != 2 or x.shape != (counts.size, self.width - m):
            raise ValueError(
                f"input has shape {x.shape}: expected ({counts.size}, {self.width - m})"
            )
        out = np.empty((x.shape[0], self.width))
        out[:, : self.width - m] = x
        for s in np.unique(counts):
            self._fill_rows(out, counts == s, self.check(int(s)))
        return out

    def take(self, a: np.ndarray, n_segments: int) -> np.ndarray:
        """The first ``n_segments`` columns of actions ``a`` ``(n, M)``: the campaign's own."""
        return np.asarray(a)[:, : self.check(n_segments)]

    def names(self, base: list[str], group_names: tuple[tuple[str, ...], ...]) -> list[str]:
        """Column names: ``base``, then ``<name>[<slot>]`` of each group, then ``mask[<slot>]``."""
        m = range(self.max_segments)
        out = list(base)
        for names in group_names:
            out += [f"{n}[{j}]" for j in m for n in names]
        return out + [f"{MASK_NAME}[{j}]" for j in m]
