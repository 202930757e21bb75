"""The optional onnxruntime backend: ``load(..., backend="onnx")`` serves ``policy.onnx``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .kinds import ActionMap
from .manifest import PacerError, _need, read_file
from .workers import Runner

ONNX_ROWS = 1 << 16  # rows per onnxruntime call of ``actions`` [rows]


class OnnxPolicy:
    """The artifact's ``policy.onnx`` run by onnxruntime (MLP policies only).

    The graph includes the normalisation and the action clip; onnxruntime is imported only
    here, so the numpy backend never needs it. It threads itself (``threads``: its
    intra-op threads), so a call is one block and the pacer's workers stay idle.
    """

    block_rows = 0
    parallel = False
    row_path = None

    def __init__(
        self, root: str, spec: Mapping[str, Any], threads: int | None, amap: ActionMap
    ) -> None:
        import onnxruntime as ort

        graph, digest = read_file(root, _need(spec, "file", "onnx"), "onnx")
        if digest != _need(spec, "sha256", "onnx"):
            raise PacerError("onnx.sha256 mismatch: policy.onnx is corrupted or was changed")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.amap = amap

    @classmethod
    def from_artifact(cls, m: Mapping[str, Any], root: str, threads: int | None) -> OnnxPolicy:
        """From a checked manifest; ``PacerError`` unless it is an MLP with an onnx file."""
        kind = m["policy"]["kind"]
        if kind != "mlp" or not m.get("onnx"):
            raise PacerError(
                f"backend 'onnx': the artifact (policy.kind {kind!r}) has no onnx file"
            )
        return cls(root, m["onnx"], threads, ActionMap.from_manifest(m))

    def reset(self, n: int) -> None:
        """Stateless."""

    def raw_actions(self, x: np.ndarray) -> np.ndarray:
        """The graph's clipped actions ``(n,)`` float32 for valid float32 rows ``x``."""
        return self.session.run(None, {self.input: np.ascontiguousarray(x)})[0][:, 0]

    def throttle(self, x: np.ndarray, ok: np.ndarray, run: Runner) -> np.ndarray:
        return self.amap.served(self.raw_actions, x, ok)

    def actions(self, x: np.ndarray, run: Runner) -> np.ndarray:
        return self.amap.clipped(self.raw_actions, x, run, ONNX_ROWS)
