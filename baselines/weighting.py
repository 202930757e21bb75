"""Weigh every scenario of a run over several as the benchmark does: in normalised points.

The benchmark ranks by the mean over the suite of the normalised score, ``100 (score -
reference) / (oracle - reference)`` (``baselines.normalise``), so a point of
``pacing_score_v2`` is worth ``1 / (oracle - reference)`` of a scenario's normalised points:
about 0.17 on surge storms (the reference scores -5) and 6.5 on three-day flights (it
scores 0.84). A run that trains and selects on the raw score weighs the scenarios by that
spread instead, and the surges drown the rest. ``train.reward_scale: normalised`` weighs
each campaign's reward by its scenario's ``1 / gap`` and selects the model on the mean
normalised score, and ``pacegym-tune --objective normalised`` tunes one set for several
scenarios on it, with ``gap = 1 - reference score``: the reference's regret to a perfect
score, which stands in for its regret to the oracle (an LP per episode, too slow for
validation; the oracle scores 0.80-0.997 on the suite, so the two differ by at most a fifth).

The reference (``baselines.reference``: a constant throttle from the forecast) is run once
on the same episodes (validation, or tuning's training and held-out seeds); it is
deterministic, so a resumed run gets the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pacegym.baselines.harness import Rollout, joined_metrics, run_split
from pacegym.baselines.reference import ReferenceController
from pacegym.envs.metrics import SCORE_KEY
from pacegym.envs.params import ScenarioParams

GAP_FLOOR = 0.01
"""[score] the smallest ``1 - reference score`` used (a scenario the reference already
paces perfectly would otherwise get an unbounded weight)."""

NORMALISED_KEY = "normalised"
"""History and metric key of the mean normalised score (``eval/normalised``)."""


def reference_scores(scenarios: Sequence[ScenarioParams], episodes: int, seed: int) -> np.ndarray:
    """The reference's mean ``pacing_score_v2`` per scenario on the validation episodes
    (``run_split``: ``ceil(episodes / k)`` each, seeded from ``seed``)."""
    rolls = run_split(ReferenceController(), list(scenarios), episodes, seed)
    return np.array([float(np.mean(r.metrics[SCORE_KEY])) for r in rolls])


def gaps(reference: Sequence[float] | np.ndarray) -> np.ndarray:
    """``max(1 - reference score, GAP_FLOOR)`` per scenario: one normalised point = gap / 100."""
    return np.maximum(1.0 - np.asarray(reference, dtype=np.float64), GAP_FLOOR)


def scenario_weights(reference: Sequence[float] | np.ndarray) -> np.ndarray:
    """Reward weight per scenario, ``1 / gap`` rescaled to a mean of 1 (the reward's overall
    size is ``VecNormalize``'s business; only the ratios matter)."""
    inv = 1.0 / gaps(reference)
    return inv / inv.mean()


def normalised(score: float | np.ndarray, reference: float | np.ndarray) -> np.ndarray:
    """``100 (score - reference) / gap``: 0 is the reference, 100 a perfect score."""
    return 100.0 * (np.asarray(score, dtype=np.float64) - reference) / gaps(reference)


def with_normalised(
    rollouts: Sequence[Rollout], reference: Sequence[float] | np.ndarray
) -> dict[str, np.ndarray]:
    """The rollouts' metrics concatenated in order, plus ``normalised`` per episode: each
    episode's score against its own scenario's ``reference`` (one per rollout)."""
    out = joined_metrics(rollouts)
    out[NORMALISED_KEY] = np.concatenate(
        [normalised(r.metrics[SCORE_KEY], ref) for r, ref in zip(rollouts, reference, strict=True)]
    )
    return out
