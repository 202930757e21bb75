"""The PolicyKind seam: every kind fits it, and the Pacer applies the same safety around any kind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pacegym.agents.export.exporter import export_controller
from pacegym.agents.export.runtime import (
    KINDS,
    MANIFEST_FILE,
    MlpPolicy,
    OnnxPolicy,
    Pacer,
    PacerError,
    PolicyKind,
    ResidualPolicy,
    RowPath,
    RulePolicy,
    load_pacer,
)
from pacegym.agents.export.runtime.workers import run_serial
from pacegym.envs.spaces import OBS_INDEX

from .synthetic import residual_artifact


def test_every_kind_fits_the_protocol(ppo_artifact, tmp_path):
    pid = export_controller({"kind": "pid", "params": {}}, tmp_path / "pid")
    pacers = {
        MlpPolicy: load_pacer(ppo_artifact),
        OnnxPolicy: load_pacer(ppo_artifact, backend="onnx", threads=1),
        RulePolicy: load_pacer(pid),
        ResidualPolicy: load_pacer(residual_artifact(tmp_path / "res")),
    }
    for cls, pacer in pacers.items():
        assert type(pacer.policy) is cls and isinstance(pacer.policy, PolicyKind)
        row = pacer.policy.row_path
        assert row is None or isinstance(row, RowPath)
    assert set(KINDS) == {"mlp", "rule", "residual"}
    with pytest.raises(PacerError, match=r"policy\.kind = 'rule' has no actions"):
        pacers[RulePolicy].actions(np.zeros((2, 14), np.float32))


class Scripted:
    """A kind that serves given throttles and records what the pacer handed it."""

    parallel = True
    row_path = None

    def __init__(self, throttles: list[float], block_rows: int = 0) -> None:
        self.throttles = np.array(throttles, dtype=np.float64)
        self.block_rows = block_rows
        self.seen: list[tuple[np.ndarray, np.ndarray, object]] = []
        self.resets: list[int] = []

    def reset(self, n: int) -> None:
        self.resets.append(n)

    def throttle(self, x, ok, run):
        self.seen.append((x.copy(), ok.copy(), run))
        rows = x[:, OBS_INDEX["time_elapsed"]].astype(np.float64)  # row id / 1000 (see below)
        return self.throttles[np.rint(rows * 1000).astype(int)]

    def actions(self, x, run):
        raise PacerError("scripted kind has no actions")


def _pacer(ppo_artifact, kind, guard: bool = True, threads: int = 1, fallback: float = 0.2):
    m = json.loads((ppo_artifact / MANIFEST_FILE).read_text())
    m["safety"]["fallback_throttle"] = fallback
    return Pacer(m, kind, str(ppo_artifact), guard, threads)


def _rows(recorded_obs, n: int) -> np.ndarray:
    """``n`` valid rows whose ``time_elapsed`` encodes the row's index."""
    x = np.resize(recorded_obs, (n, recorded_obs.shape[1])).copy()
    x[:, OBS_INDEX["time_elapsed"]] = np.arange(n) / 1000
    x[:, OBS_INDEX["reported_spend"]] = 0.1
    x[:, OBS_INDEX["in_flight"]] = 0.0
    return x


def test_pacer_applies_safety_around_any_kind(ppo_artifact, recorded_obs):
    kind = Scripted([0.5, np.nan, 1.5, -0.1, 0.25, 0.75, 0.3, np.inf])
    pacer = _pacer(ppo_artifact, kind)
    x = _rows(recorded_obs, 8)
    x[4, OBS_INDEX["plan"]] = np.nan  # invalid input: the kind's 0.25 is never served
    x[5, OBS_INDEX["reported_spend"]] = 0.9  # 0.9 + 0.2 in flight: the budget guard
    x[5, OBS_INDEX["in_flight"]] = 0.2
    out = pacer(x)
    np.testing.assert_array_equal(out, [0.5, 0.2, 0.2, 0.2, 0.2, 0.0, 0.3, 0.2])
    assert pacer.last_invalid.tolist() == [False, True, True, True, True, False, False, True]
    assert pacer.last_guarded.tolist() == [False] * 5 + [True, False, False]
    ((_, seen_ok, run),) = kind.seen  # block_rows = 0: one block with the workers' runner
    assert seen_ok.tolist() == [True] * 4 + [False] + [True] * 3
    assert run == pacer.workers.run
    pacer.reset(8)
    assert kind.resets == [8]


@pytest.mark.parametrize("n", [1, 3, 10])
def test_pacer_cuts_independent_rows_into_blocks(ppo_artifact, recorded_obs, n):
    kind = Scripted(np.linspace(0, 1, 10).tolist(), block_rows=3)
    pacer = _pacer(ppo_artifact, kind, guard=False, threads=2)
    out = pacer(_rows(recorded_obs, n))
    np.testing.assert_array_equal(out, np.linspace(0, 1, 10)[:n])  # rows keep their order
    sizes = sorted(len(x) for x, _, _ in kind.seen)
    assert sum(sizes) == n and max(sizes) <= 3  # no row path: even 1 row takes a block
    assert all(run is run_serial for _, _, run in kind.seen)  # no nested use of the workers
    assert (pacer.workers.pool is not None) == (n > 3)
    pacer.close()


def test_mlp_row_path_and_block_path_agree_through_the_seam(ppo_artifact, recorded_obs):
    """The MLP kind's two paths (RowPath.one_throttle, throttle) serve the same throttles."""
    pacer = load_pacer(ppo_artifact, threads=1)
    kind = pacer.policy
    x = recorded_obs[:50]
    lo, hi = (np.asarray(b) for b in kind.row_path.box)
    one = [kind.row_path.one_throttle(r.tolist(), bool(((r >= lo) & (r <= hi)).all())) for r in x]
    block = kind.throttle(x, np.ones(len(x), dtype=bool), run_serial)
    np.testing.assert_allclose(one, block, rtol=1e-5, atol=1e-9)
