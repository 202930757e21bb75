"""Check an exported pacer against its source: actions on recorded observations, env metrics.

- ``record_observations(controller, scenario, episodes, seed)``: the observations a
  controller meets in the env (rows of running campaigns, every step);
- ``action_parity(pacer, reference, obs)``: max |pacer action - the reference's action|,
  the reference being ``agents.policy.SB3Controller`` (the SB3 model's deterministic
  ``predict`` on the observations normalised by the same ``Normalization`` as the pacer);
  the export contract is <= 1e-5;
- ``metric_parity(pacer, chosen_on)``: re-runs the leaderboard's scenario and seeds through
  ``baselines.harness.run_episodes`` and returns the largest |difference| of the metric means
  (a metric NaN on both sides agrees; NaN on one side only is listed in ``nan_mismatch``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pacegym.baselines.harness import run_episodes

if TYPE_CHECKING:  # SB3 is imported only by callers that have a model
    from pacegym.agents.policy import SB3Controller


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
    """Max |pacer action - SB3 deterministic action| over ``obs`` (``actions`` of both)."""
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
    diffs, mismatched = metric_gaps(got, chosen_on["metrics"])
    return {
        "checked": True,
        "reproduced": got,
        "max_abs_diff": max(diffs.values(), default=0.0),
        "diffs": diffs,
        "nan_mismatch": sorted(mismatched),
    }


def metric_gaps(
    got: Mapping[str, Any], want: Mapping[str, Any]
) -> tuple[dict[str, float], list[str]]:
    """Per metric of ``want`` that ``got`` has (scalars, or arrays of episodes in the same
    order): the largest ``|got - want|``, where NaN on both sides agrees (a metric undefined
    on both, such as ``ecpc`` without a click); and, sorted, the metrics NaN on one side
    only, a mismatch no tolerance covers (``abs(nan - x)`` is NaN, and every comparison with
    NaN is false: it would pass)."""
    diffs, mismatched = {}, []
    for k, w in want.items():
        if k not in got:
            continue
        g, v = np.asarray(got[k], dtype=np.float64), np.asarray(w, dtype=np.float64)
        gn, vn = np.isnan(g), np.isnan(v)
        if (gn ^ vn).any():
            mismatched.append(k)
        else:
            diffs[k] = float(np.abs(np.where(gn, 0.0, g - v)).max(initial=0.0))
    return diffs, sorted(mismatched)


def episode_metric_parity(
    against: str, episodes: int, seed: int, diffs: list[float], mismatched: set[str]
) -> dict[str, Any]:
    """The report of a metric check episode by episode against ``against``, over every
    scenario checked: the largest of their ``metric_gaps`` ``diffs`` and the metrics NaN on
    one side only (``mismatched``)."""
    return {
        "checked": True,
        "against": against,
        "episodes": episodes,
        "seed": seed,
        "max_abs_diff": max(diffs, default=0.0),
        "nan_mismatch": sorted(mismatched),
    }


def lockstep_checks(
    scenarios: Sequence[Any],
    make_lock: Callable[[], Any],
    reference: Callable[[], Any],
    episodes: int,
    seed: int,
    compare_metrics: bool,
) -> tuple[list[Any], list[float], set[str]]:
    """Run a fresh lockstep (``make_lock()``: the pacer driving the env, the trained policy
    beside it) over ``episodes`` seeded episodes of each scenario; with ``compare_metrics``
    the same episodes of ``reference()`` (the trained policy alone) too. Returns the locks
    (each with its own error counters), each scenario's largest ``metric_gaps`` difference
    and the metrics NaN on one side only (``episode_metric_parity``'s inputs)."""
    locks: list[Any] = []
    diffs: list[float] = []
    mismatched: set[str] = set()
    for scenario in scenarios:
        locks.append(make_lock())
        served = run_episodes(locks[-1], scenario, episodes, seed).metrics
        if compare_metrics:
            want = run_episodes(reference(), scenario, episodes, seed).metrics
            d, m = metric_gaps(served, want)
            diffs.append(max(d.values(), default=0.0))
            mismatched.update(m)
    return locks, diffs, mismatched
