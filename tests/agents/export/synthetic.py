"""Small artifacts with random weights (no training): residual and plain MLP policies; and
edits of a manifest (``set_field``) for the tests of what a loader refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pacegym.envs.spaces import N_OBS


def random_layers(n_in: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """A 2 x 16 tanh network with one output, float32."""
    rng = np.random.default_rng(seed)
    shapes = [(n_in, 16, "tanh"), (16, 16, "tanh"), (16, 1, "identity")]
    return [
        (
            (rng.normal(size=(i, o)) / np.sqrt(i)).astype(np.float32),
            (0.1 * rng.normal(size=o)).astype(np.float32),
            act,
        )
        for i, o, act in shapes
    ]


def residual_artifact(out: Path, seed: int = 0) -> Path:
    """A residual policy (PID base) with random weights and made-up statistics."""
    from pacegym.agents.export.artifact import (
        normalization_from_stats,
        residual_policy,
        write_artifact,
    )
    from pacegym.agents.residual import FLOOR

    n = N_OBS + 1
    rng = np.random.default_rng(seed)
    norm = normalization_from_stats(rng.uniform(0, 1, n), rng.uniform(0.01, 2, n), n=n)
    policy, arrays = residual_policy(
        random_layers(n, seed), norm, {"kind": "pid", "params": {"kp": 10.0}}, 1.0, FLOOR
    )
    return write_artifact(out, name="residual-test", policy=policy, arrays=arrays)


DROP = object()
"""``set_field``'s value that deletes the field."""


def set_field(m: dict, path: str, value: object) -> dict:
    """``m`` with the field at dotted ``path`` set to ``value`` (``DROP``: deleted)."""
    *head, last = path.split(".")
    d = m
    for k in head:
        d = d[k]
    if value is DROP:
        del d[last]
    else:
        d[last] = value
    return m
