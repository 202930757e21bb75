"""An off-policy model's replay buffer as plain arrays (npz, read without pickle).

SB3's ``save_replay_buffer``/``load_replay_buffer`` pickle the buffer object; a checkpoint
keeps its numpy fields instead (``REPLAY_FILE``): ``observations``, ``next_observations``
(absent with ``optimize_memory_usage``), ``actions``, ``rewards``, ``dones``, ``timeouts``
and ``position`` (``[pos, full]``). A dict observation space's buffers (``DictReplayBuffer``)
are saved per key, ``observations.<key>``. ``load_replay_buffer`` fills the buffer a
freshly loaded model allocated (the run's own ``buffer_size``): every name, shape and dtype
is checked against it before anything is copied (``envs.snapshot.check_arrays``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer

from pacegym.agents.export.runtime.manifest import PacerError, npz_arrays
from pacegym.envs.snapshot import SnapshotError, check_arrays

REPLAY_FILE = "replay_buffer.npz"
FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
"""The ``ReplayBuffer`` attributes saved (arrays, or dicts of arrays by observation key)."""
SLACK_BYTES = 1 << 16
"""[bytes] what a replay file may hold beyond its buffer's arrays (the ``position`` pair)."""


def buffer_arrays(buffer: ReplayBuffer) -> dict[str, np.ndarray]:
    """The buffer's live arrays by saved name (no ``position``)."""
    out: dict[str, np.ndarray] = {}
    for name in FIELDS:
        value = getattr(buffer, name, None)
        if isinstance(value, dict):
            out.update({f"{name}.{k}": v for k, v in value.items()})
        elif isinstance(value, np.ndarray):
            out[name] = value
    return out


def save_replay_buffer(buffer: ReplayBuffer, path: str | Path) -> Path:
    """Write ``buffer``'s arrays and position (``[pos, full]``) to an npz."""
    out = Path(path)
    arrays = dict(buffer_arrays(buffer))
    arrays["position"] = np.array([buffer.pos, int(buffer.full)], dtype=np.int64)
    with open(out, "wb") as fh:
        np.savez(fh, **arrays)
    return out


def load_replay_buffer(buffer: ReplayBuffer, path: str | Path) -> None:
    """Fill ``buffer`` (allocated for the run) from ``save_replay_buffer``'s file.

    Raises ``SnapshotError`` (one line naming the file and the array) for a file that is
    not a plain npz, or whose arrays are not the buffer's names, shapes and dtypes.
    """
    p = Path(path)
    live = buffer_arrays(buffer)
    limit = sum(a.nbytes for a in live.values()) + SLACK_BYTES
    try:
        saved = npz_arrays(str(p), str(p), limit)
    except PacerError as e:
        raise SnapshotError(str(e)) from None
    position = saved.pop("position", None)
    check_arrays(saved, live, str(p))
    if position is None or position.shape != (2,) or position.dtype != np.int64:
        raise SnapshotError(f"{p}: array 'position': allowed int64 (2,) [pos, full]")
    pos, full = int(position[0]), int(position[1])
    if not (0 <= pos < buffer.buffer_size and full in (0, 1)):
        raise SnapshotError(
            f"{p}: position = [{pos}, {full}]: allowed pos in [0, {buffer.buffer_size}), full 0/1"
        )
    for name, target in live.items():
        np.copyto(target, saved[name])
    buffer.pos, buffer.full = pos, bool(full)
