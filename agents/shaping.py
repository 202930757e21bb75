"""Training-side reward shaping aligned with ``pacing_score`` (the env's own reward is untouched).

The env's reward (``envs.kernel``) charges every impression still in flight at the flight
end as post-end waste in the *final* step, 15-60 minutes after the actions that served
them, and its ``tracking`` term penalises the cumulative deviation from the reference
plan with weight 1 (per step), which is not what ``pacing_score`` measures (slot RMSE
with weight ``score.tracking``, plus a spike term). ``ScoreShaping`` replaces the
training reward of ``PacingVecEnv`` by named terms whose undiscounted episode sum is an
unbiased estimate of the episode's ``pacing_score``:

- ``billable``: billable spend counted this step / budget (the env's term; sums to
  ``delivery``);
- ``waste_over``: - media cost counted beyond the budget this step / budget (the env's
  waste term without the terminal drain; sums to ``-wasted_over_budget``);
- ``waste_post_expected``: - expected post-end media cost of the impressions *served this
  step*, charged when they are served:
  ``served x render_prob x P(delay >= flight_ticks - t) x media_cost / budget``,
  with the per-tick delay distribution read back from the core's alias tables (the one the
  kernel samples from), so its expectation equals the realised post-end waste
  (``wasted_post_end``) that the env charges at the end; the realised drain is not charged;
- ``score_tracking`` and ``score_spike``: increments of
  ``phi(t) = -score.tracking x sqrt(sum_{completed slots} e_s^2 / n_slots)
  - score.spike x max(max_{completed slots} spend_s / slot_budget - 1, 0)``,
  ``e_s = (spend_s - planned_s) / slot_budget``; they telescope to exactly the score's
  tracking and spike terms at the flight end (``envs.metrics.episode_metrics``);
- ``env_tracking``: the env's cumulative-deviation tracking term (weight 0 by default).

Reward = sum of ``weights[name] x term``. The shaper is stateless between steps (every
quantity is read from the core before and after the step), so checkpoints and resumes
are exact. Attach it with ``PacingVecEnv(..., shaping=ScoreShaping(...))`` or
``pacing.shaping = ...``; ``infos[i]["shaping_terms"]`` then holds the terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pacegym.agents.settings import ShapingSettings
from pacegym.envs import kernel as K

SHAPING_TERMS: tuple[str, ...] = (
    "billable",
    "waste_over",
    "waste_post_expected",
    "score_tracking",
    "score_spike",
    "env_tracking",
)
DEFAULT_WEIGHTS: dict[str, float] = {
    "billable": 1.0,
    "waste_over": 1.0,
    "waste_post_expected": 1.0,
    "score_tracking": 1.0,
    "score_spike": 1.0,
    "env_tracking": 0.0,
}


def delay_tails(alias_prob: np.ndarray, alias_idx: np.ndarray) -> np.ndarray:
    """``tail[r, m] = P(delay >= m ticks)`` of alias table row ``r``, ``m = 0..D`` (shape (R, D+1)).

    The kernel draws ``j = int(v)``, ``v ~ U[0, D)`` and keeps ``j`` with probability
    ``alias_prob[j]``, else takes ``alias_idx[j]``; so
    ``q[k] = (alias_prob[k] + sum_{j: alias_idx[j] = k} (1 - alias_prob[j])) / D``.
    """
    prob = np.asarray(alias_prob, dtype=np.float64)
    idx = np.asarray(alias_idx, dtype=np.int64)
    rows, d = prob.shape
    q = prob.copy()
    flat = (idx + d * np.arange(rows)[:, None]).reshape(-1)
    q += np.bincount(flat, weights=(1.0 - prob).reshape(-1), minlength=rows * d).reshape(rows, d)
    q /= d
    tail = np.zeros((rows, d + 1))
    tail[:, :d] = np.cumsum(q[:, ::-1], axis=1)[:, ::-1]
    return np.clip(tail, 0.0, 1.0)


@dataclass
class ScoreShaping:
    """Score-aligned training reward for ``PacingVecEnv`` (see the module docstring).

    ``weights`` maps names of ``SHAPING_TERMS`` to weights (missing: ``DEFAULT_WEIGHTS``);
    ``score_tracking`` and ``score_spike`` are further scaled by the scenario's
    ``score.tracking`` and ``score.spike``.
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    term_names: tuple[str, ...] = SHAPING_TERMS

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(SHAPING_TERMS)
        if unknown:
            raise ValueError(
                f"agent.shaping.weights: unknown terms {sorted(unknown)}; "
                f"allowed {list(SHAPING_TERMS)}"
            )
        w = {**DEFAULT_WEIGHTS, **{k: float(v) for k, v in self.weights.items()}}
        self._w = np.array([w[k] for k in SHAPING_TERMS])
        self._tails: np.ndarray | None = None

    # -- helpers ------------------------------------------------------------------------

    def _tail_table(self, core: Any) -> np.ndarray:
        if core.alias_prob.shape[0] > 1:  # per-campaign delay tables change at every reset
            return delay_tails(core.alias_prob, core.alias_idx)
        if self._tails is None:
            self._tails = delay_tails(core.alias_prob, core.alias_idx)
        return self._tails

    @staticmethod
    def phi(core: Any, rows: np.ndarray, done_slots: np.ndarray) -> np.ndarray:
        """Score tracking and spike penalties of ``rows`` over their first ``done_slots``
        slots, shape (len(rows), 2), both <= 0 (0 for no completed slot)."""
        sc = core.scenario.score
        budget = core.par[rows, K.P_BUDGET]
        n_slots = core.par[rows, K.P_FLIGHT_TICKS].astype(np.int64) // core.tps
        slot_budget = budget / n_slots
        spend = core.slot_spend[rows]
        planned = np.diff(core.plan_cum[rows], axis=1) * budget[:, None]
        mask = np.arange(core.max_slots)[None, :] < np.minimum(done_slots, n_slots)[:, None]
        err = np.where(mask, (spend - planned) / slot_budget[:, None], 0.0)
        tracking = np.sqrt((err**2).sum(axis=1) / n_slots)
        spike = np.where(mask, spend, 0.0).max(axis=1) / slot_budget
        return np.stack([-sc.tracking * tracking, -sc.spike * np.maximum(spike - 1.0, 0.0)], axis=1)

    # -- the two calls PacingVecEnv makes around core.step ---------------------------------

    def before_step(self, core: Any) -> dict[str, np.ndarray]:
        """Snapshot of what the step changes (call right before ``core.step``)."""
        return {
            "served": core.ist[:, K.I_SERVED].copy(),
            "t": core.ist[:, K.I_T].copy(),
            "running": core.ist[:, K.I_DONE] == 0,
        }

    def after_step(
        self, core: Any, res: Any, before: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(reward (n,), terms (n, len(SHAPING_TERMS)))`` of the step just taken.

        Call after ``core.step`` and before finished rows are reset (their totals are read).
        The score increments are non-zero only in steps that complete a plan slot: a slot's
        spend never changes after it ends, so ``phi`` before the step is recomputed from
        the state after it with one slot fewer.
        """
        budget = core.par[:, K.P_BUDGET]
        media = core.media
        terms = np.zeros((core.n, len(SHAPING_TERMS)))
        running = before["running"]
        terms[:, 0] = res.terms[:, K.R_BILLABLE]
        post_realised = np.where(res.finished, core.ist[:, K.I_COUNTED_POST] * media / budget, 0.0)
        terms[:, 1] = res.terms[:, K.R_WASTE] + post_realised
        served = (core.ist[:, K.I_SERVED] - before["served"]).astype(np.float64)
        tails = self._tail_table(core)
        row = core.par[:, K.P_DELAY_ROW].astype(np.int64)
        left = np.clip(core.par[:, K.P_FLIGHT_TICKS].astype(np.int64) - before["t"], 0, None)
        left = np.minimum(left, tails.shape[1] - 1)
        p_post = tails[row, left]
        terms[:, 2] = -served * core.par[:, K.P_RENDER] * p_post * media / budget
        t_after = core.ist[:, K.I_T]
        slots_before, slots_after = before["t"] // core.tps, t_after // core.tps
        rows = np.flatnonzero(running & (slots_after > slots_before))
        if rows.size:
            terms[rows, 3:5] = self.phi(core, rows, slots_after[rows]) - self.phi(
                core, rows, slots_before[rows]
            )
        terms[:, 5] = res.terms[:, K.R_TRACKING]
        terms[~running] = 0.0
        return terms @ self._w, terms


def build_shaping(settings: ShapingSettings) -> ScoreShaping | None:
    """A shaper from ``agent.shaping`` (``enabled``, ``weights``), or None when disabled."""
    if not settings.enabled:
        return None
    return ScoreShaping(weights=dict(settings.weights))
