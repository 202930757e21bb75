"""Policy kind ``rule``: a classical controller (on/off, proportional, PID, exp_decay)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .manifest import PacerError, _need, load_module
from .workers import Runner


class RulePolicy:
    """A baseline controller rebuilt from the artifact's ``rules.py``.

    ``rules.py`` is generated at export from the project's one implementation of each
    rule (``baselines/``, ``envs/plans.py``); its sha256 is checked before it is imported.
    Rules keep per-row state (PID), so a call is one block and rows keep their index.
    Rows flagged invalid are fed a neutral in-range row and their controller state is
    restored afterwards, so a bad input never disturbs a stateful rule.
    """

    block_rows = 0
    parallel = False
    row_path = None

    def __init__(self, spec: Mapping[str, Any], root: str, obs: Sequence[Mapping[str, Any]]):
        features = [f["name"] for f in obs]
        lo = np.array([f["low"] for f in obs], dtype=np.float32)
        hi = np.array([f["high"] for f in obs], dtype=np.float32)
        self._neutral = np.clip(np.zeros_like(lo), lo, hi)
        ctrl = _need(spec, "controller", "policy")
        kind = _need(ctrl, "kind", "policy.controller")
        params = _need(ctrl, "params", "policy.controller")
        rules = load_module(root, _need(spec, "rules", "policy"), "policy.rules")
        order = list(getattr(rules, "OBS_INDEX", {}))
        if order != list(features):
            raise PacerError(
                f"policy.rules reads features {order}; the manifest lists {list(features)}"
            )
        registry = rules.CONTROLLERS
        if kind not in registry:
            raise PacerError(f"policy.controller.kind = {kind!r}: allowed {sorted(registry)}")
        cls, cfg_cls = registry[kind]
        try:
            config = cfg_cls(**params)
            self.controller = cls(config, name=str(ctrl.get("name", kind)))
        except (TypeError, ValueError) as e:
            raise PacerError(f"policy.controller.params: {e}") from None

    @classmethod
    def from_artifact(
        cls, m: Mapping[str, Any], root: str, arrays: Mapping[str, np.ndarray]
    ) -> RulePolicy:
        """From a checked manifest and the artifact's ``rules.py`` (no weights)."""
        return cls(m["policy"], root, m["observation"]["features"])

    def reset(self, n: int) -> None:
        self.controller.reset(n)

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
