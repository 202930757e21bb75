"""Check an exported pacer against its source: actions on recorded observations, env metrics.

- ``record_observations(controller, scenario, episodes, seed)``: the observations a
  controller meets in the env (rows of running campaigns, every step);
- ``action_parity(pacer, model, normalization, obs)``: max |pacer action - SB3
  ``predict(normalised obs, deterministic=True)``|; the export contract is <= 1e-5;
- ``metric_parity(pacer, chosen_on)``: re-runs the leaderboard's scenario and seeds through
  ``baselines.harness.run_episodes`` and returns the largest |difference| of the metric means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pacegym.baselines.harness import run_episodes


class SB3Controller:
    """A stable-baselines3 model as a ``Controller`` (the reference the pacer must match)."""

    def __init__(self, model: Any, normalization: dict[str, Any] | None, name: str = "sb3"):
        self.model = model
        self.normalization = normalization
        self.name = name

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """SB3 ``VecNormalize.normalize_obs`` from the exported statistics."""
        n = self.normalization
        if n is None:
            return np.asarray(obs, dtype=np.float32)
        z = (obs - np.asarray(n["mean"])) / np.sqrt(np.asarray(n["var"]) + n["epsilon"])
        return np.clip(z, -n["clip"], n["clip"]).astype(np.float32)

    def actions(self, obs: np.ndarray) -> np.ndarray:
        a, _ = self.model.predict(self.normalize(obs), deterministic=True)
        return np.asarray(a, dtype=np.float64).reshape(-1)

    def reset(self, n: int) -> None:
        """Stateless (MLP policies)."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        from pacegym.envs.spaces import action_to_throttle

        return action_to_throttle(self.actions(obs))[0]


class SB3ResidualController(SB3Controller):
    """A residual agent (``agents/residual.py``) as a ``Controller``: base rule + SB3 correction."""

    def __init__(
        self,
        model: Any,
        normalization: dict[str, Any] | None,
        base: dict[str, Any],
        scale_decades: float,
        name: str = "sb3-residual",
    ):
        from pacegym.baselines.factory import from_spec

        super().__init__(model, normalization, name)
        self.base = from_spec({"kind": base["kind"], "params": dict(base.get("params") or {})})
        self.scale = float(scale_decades)

    def reset(self, n: int) -> None:
        self.base.reset(n)

    def _base_and_x(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from pacegym.agents.residual import base_feature

        b = np.asarray(self.base.act(obs), dtype=np.float64)
        return b, np.concatenate([obs, base_feature(b)[:, None]], axis=1)

    def actions(self, obs: np.ndarray) -> np.ndarray:
        _, x = self._base_and_x(obs)
        return super().actions(x)

    def act(self, obs: np.ndarray) -> np.ndarray:
        from pacegym.agents.residual import compose

        b, x = self._base_and_x(obs)
        return compose(b, SB3Controller.actions(self, x), self.scale)


class _Recorder:
    def __init__(self, inner: Any, max_rows: int) -> None:
        self.inner, self.max_rows, self.rows = inner, max_rows, []
        self.name = getattr(inner, "name", "recorder")
        self.count = 0

    def reset(self, n: int) -> None:
        self.inner.reset(n)

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.count < self.max_rows:
            keep = obs[obs[:, 0] < 1.0]  # running campaigns (finished rows are frozen)
            self.rows.append(keep[: self.max_rows - self.count].copy())
            self.count += len(self.rows[-1])
        return self.inner.act(obs)


def record_observations(
    controller: Any, scenario: Any, episodes: int = 8, seed: int = 0, max_rows: int = 20_000
) -> np.ndarray:
    """``(rows, N_OBS)`` float32 observations met by ``controller`` in ``scenario``."""
    rec = _Recorder(controller, max_rows)
    run_episodes(rec, scenario, episodes, seed)
    return np.concatenate(rec.rows).astype(np.float32)


def action_parity(pacer: Any, reference: SB3Controller, obs: np.ndarray) -> float:
    """Max |pacer action - SB3 deterministic action| over ``obs``."""
    return float(np.abs(pacer.actions(obs) - reference.actions(obs)).max())


def metric_means(controller: Any, scenario: Any, episodes: int, seed: int) -> dict[str, float]:
    """Mean of every metric over ``episodes`` seeded episodes (``run_episodes``)."""
    r = run_episodes(controller, scenario, episodes, seed)
    return {k: float(np.mean(v)) for k, v in r.metrics.items()}


def metric_parity(pacer: Any, chosen_on: dict[str, Any]) -> dict[str, Any]:
    """Re-run the leaderboard's evaluation with ``pacer``; differences to its metric means."""
    need = ("scenario", "seed", "episodes", "metrics")
    if any(chosen_on.get(k) in (None, {}) for k in need):
        return {"checked": False, "reason": f"chosen_on lacks one of {need}"}
    got = metric_means(
        pacer, chosen_on["scenario"], int(chosen_on["episodes"]), int(chosen_on["seed"])
    )
    diffs = {k: abs(got[k] - v) for k, v in chosen_on["metrics"].items() if k in got}
    return {
        "checked": True,
        "reproduced": got,
        "max_abs_diff": max(diffs.values(), default=0.0),
        "diffs": diffs,
    }
