"""Policy kind ``rule``: a classical controller (on/off, proportional, PID, exp_decay) as data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .controllers import build_rule
from .manifest import PacerError, _need
from .rule_row import RowRule
from .workers import Runner


class RulePolicy:
    """A baseline rule (``controllers.Rule``) from ``policy.controller``: kind and params.

    The rule's code is the runtime's own (``controllers``); the artifact gives only its
    kind and checked parameters, so loading runs nothing from the artifact.
    Rules keep per-row state (PID), so a call is one block and rows keep their index.
    Rows flagged invalid are fed a neutral in-range row and their controller state is
    restored afterwards, so a bad input never disturbs a stateful rule. A few rows take the
    row path (``one_throttle``: ``rule_row.RowRule``, Python floats, the same numbers).
    """

    block_rows = 0
    parallel = False

    def __init__(self, spec: Mapping[str, Any], obs: Sequence[Mapping[str, Any]], where: str):
        features = [f["name"] for f in obs]
        lo = np.array([f["low"] for f in obs], dtype=np.float32)
        hi = np.array([f["high"] for f in obs], dtype=np.float32)
        self._neutral = np.clip(np.zeros_like(lo), lo, hi)
        ctrl = _need(spec, "controller", where)
        self.controller = build_rule(ctrl, features, f"{where}.controller")
        self.name = str(ctrl.get("name", ctrl["kind"]))
        self._row = RowRule(self.controller)
        self._step = self._row.step
        self.begin = self._row.begin  # type: ignore[method-assign]  # one call less a row
        self.row_path = self
        self.box = ([-math.inf] * len(features), [math.inf] * len(features))

    @classmethod
    def from_artifact(
        cls, m: Mapping[str, Any], root: str, arrays: Mapping[str, np.ndarray]
    ) -> RulePolicy:
        """From a checked manifest (no weights, no other file)."""
        return cls(m["policy"], m["observation"]["features"], "policy")

    def reset(self, n: int) -> None:
        self.controller.reset(n)

    def begin(self, n: int) -> None:
        self._row.begin(n)

    def one_throttle(self, row: list[float], in_box: bool, r: int = 0) -> float:
        """The throttle of one valid row, row ``r`` of the call (its state advances)."""
        return self._step(row, r)

    def throttle(self, x: np.ndarray, ok: np.ndarray, run: Runner) -> np.ndarray:
        """Throttles for all rows of ``x``; rows where ``ok`` is False keep their state."""
        if ok.all():
            return np.asarray(self.controller.act(x), dtype=np.float64)
        n = x.shape[0]
        bad = ~ok
        xs = x.copy()
        xs[bad] = self._neutral
        state = {
            k: v[bad].copy()
            for k, v in vars(self.controller).items()
            if isinstance(v, np.ndarray) and v.shape[:1] == (n,)
        }
        p = np.asarray(self.controller.act(xs), dtype=np.float64)
        for k, v in state.items():
            getattr(self.controller, k)[bad] = v
        return p

    def actions(self, x: np.ndarray, run: Runner) -> np.ndarray:
        raise PacerError("policy.kind = 'rule' has no actions")
