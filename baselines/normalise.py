"""Regret against the clairvoyant and the normalised score, with paired bootstrap CIs.

For one scenario and one set of episodes (common random numbers, ``baselines.harness``):

- ``regret = oracle score - policy score`` per episode: how much the hindsight-optimal
  controller (``baselines.oracle``) gets that the policy does not; its mean and paired
  CI;
- ``normalised = 100 x (mean policy - mean reference) / (mean oracle - mean reference)``:
  0 is the naive reference (``baselines.reference``, a constant throttle from the
  forecast), 100 the oracle, as D4RL normalises against a random and an expert policy.
  Its CI resamples the three policies' episodes together (paired), so the reference's
  and the oracle's own noise is in it.

Episodes on which the oracle's solver failed (``OracleController.failed``) are excluded
from both, for every policy alike; ``NormalisedScores.excluded`` counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pacegym.baselines.stats import LEVEL, N_BOOT, percentile_interval


@dataclass(frozen=True)
class NormalisedScores:
    """One policy's regret and normalised score on a scenario (module docstring)."""

    regret: float
    regret_ci: tuple[float, float]
    normalised: float
    normalised_ci: tuple[float, float]
    episodes: int  # episodes used
    excluded: int  # episodes dropped because the oracle failed on them

    def as_dict(self) -> dict[str, object]:
        return {
            "regret": self.regret,
            "regret_ci": list(self.regret_ci),
            "normalised": self.normalised,
            "normalised_ci": list(self.normalised_ci),
            "normalised_episodes": self.episodes,
            "oracle_failures_excluded": self.excluded,
        }


def normalised_value(policy: float, reference: float, oracle: float) -> float:
    """``100 (policy - reference) / (oracle - reference)``; NaN when the oracle does not
    beat the reference (the scale is then undefined: the scenario leaves nothing to win)."""
    span = oracle - reference
    return float(100.0 * (policy - reference) / span) if span > 0 else float("nan")


def _normalised_stat(p: np.ndarray, r: np.ndarray, o: np.ndarray, axis: int = -1) -> np.ndarray:
    pm, rm, om = p.mean(axis=axis), r.mean(axis=axis), o.mean(axis=axis)
    span = om - rm
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, 100.0 * (pm - rm) / span, np.nan)


def _regret_stat(o: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    return (o - p).mean(axis=axis)


def _difference_stat(
    p: np.ndarray, b: np.ndarray, r: np.ndarray, o: np.ndarray, axis: int = -1
) -> np.ndarray:
    span = o.mean(axis=axis) - r.mean(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, 100.0 * (p.mean(axis=axis) - b.mean(axis=axis)) / span, np.nan)


def _paired(
    where: str, oracle_failed: np.ndarray | None, *scores: np.ndarray
) -> tuple[list[np.ndarray], int]:
    """Per-episode ``scores`` as float64 vectors of one length (``ValueError`` naming
    ``where`` otherwise), the episodes where ``oracle_failed`` dropped; and how many."""
    arrs = [np.asarray(x, dtype=np.float64).reshape(-1) for x in scores]
    if len({a.shape for a in arrs}) != 1:
        raise ValueError(f"{where} needs the same episodes: {[len(a) for a in arrs]}")
    if oracle_failed is None:
        return arrs, 0
    keep = ~np.asarray(oracle_failed, dtype=bool)
    return [a[keep] for a in arrs], int((~keep).sum())


def normalised_difference(
    policy: np.ndarray,
    baseline: np.ndarray,
    reference: np.ndarray,
    oracle: np.ndarray,
    oracle_failed: np.ndarray | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> tuple[float, float, float]:
    """``(mean, low, high)`` of ``normalised(policy) - normalised(baseline)`` in normalised
    points, ``100 (mean p - mean b) / (mean oracle - mean reference)``, over the same
    episodes; the CI resamples all four together (paired). Episodes where ``oracle_failed``
    are excluded, as in ``normalise``; NaN when none is left."""
    arrs, _ = _paired("normalised_difference", oracle_failed, policy, baseline, reference, oracle)
    if arrs[0].size == 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = percentile_interval(tuple(arrs), _difference_stat, n_boot, seed, level, paired=True)
    mean = float(_difference_stat(*(a[None, :] for a in arrs))[0])
    return mean, float(lo), float(hi)


def normalise(
    policy: np.ndarray,
    reference: np.ndarray,
    oracle: np.ndarray,
    oracle_failed: np.ndarray | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> NormalisedScores:
    """Regret and normalised score of per-episode scores ``policy`` (same episodes as
    ``reference`` and ``oracle``), episodes where ``oracle_failed`` excluded."""
    (p, r, o), excluded = _paired("normalise", oracle_failed, policy, reference, oracle)
    if p.size == 0:
        nan = float("nan")
        return NormalisedScores(nan, (nan, nan), nan, (nan, nan), 0, excluded)
    reg_lo, reg_hi = percentile_interval((o, p), _regret_stat, n_boot, seed, level, paired=True)
    n_lo, n_hi = percentile_interval((p, r, o), _normalised_stat, n_boot, seed, level, paired=True)
    return NormalisedScores(
        regret=float((o - p).mean()),
        regret_ci=(float(reg_lo), float(reg_hi)),
        normalised=normalised_value(float(p.mean()), float(r.mean()), float(o.mean())),
        normalised_ci=(float(n_lo), float(n_hi)),
        episodes=int(p.size),
        excluded=excluded,
    )
