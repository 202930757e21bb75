"""Episode metrics: the one implementation used by the env's final ``info`` and by evaluation.

Definitions (README "Metrics"; shares are of the budget unless stated):

- ``delivery``: billable spend / budget (counted during the flight, within budget);
- ``wasted_post_end``: media cost of impressions counted after the flight / budget;
- ``wasted_over_budget``: media cost of impressions counted beyond the budget / budget;
- ``post_end_share``: impressions counted after the flight / all counted impressions;
- ``tracking_error`` (Smart Pacing's AvgErr): RMSE over plan slots of
  (counted spend in slot - planned) / (budget / number of slots), against the scenario's
  reference plan;
- ``lifetime``: time at which billable spend reached 95% of budget / flight length
  (1.0 when it never did: read it beside ``delivery``);
- ``smoothness``: mean |throttle change| per step;
- ``spike_ratio``: max counted spend in a slot / uniform slot budget (budget / slots);
- ``margin``: (billed revenue - media cost) / budget, media cost including waste;
- ``pacing_score``: delivery - w_waste (wasted_post_end + wasted_over_budget)
  - w_tracking tracking_error - w_spike max(spike_ratio - 1, 0); weights in
  ``ScoreParams`` (config ``scenario.score``). Higher is better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pacegym.envs.params import ScoreParams

METRIC_KEYS: tuple[str, ...] = (
    "pacing_score",
    "delivery",
    "wasted_post_end",
    "wasted_over_budget",
    "post_end_share",
    "tracking_error",
    "lifetime",
    "smoothness",
    "spike_ratio",
    "margin",
)
HIGHER_IS_BETTER = {"pacing_score": True, "delivery": True, "margin": True}


@dataclass(frozen=True)
class EpisodeTotals:
    """Per-campaign totals of finished episodes (arrays with a leading campaign axis)."""

    budget: np.ndarray  # [currency]
    billable: np.ndarray  # [currency]
    media_cost: np.ndarray  # [currency] paid for every counted impression
    wasted_over: np.ndarray  # [currency] media cost beyond budget
    wasted_post: np.ndarray  # [currency] media cost after the flight
    counted: np.ndarray  # [impressions] counted during the flight
    counted_post: np.ndarray  # [impressions] counted after the flight
    served: np.ndarray  # [impressions]
    never: np.ndarray  # [impressions] served, never rendered
    t95: np.ndarray  # [ticks] when billable reached 95% of budget, -1 if never
    flight_ticks: np.ndarray  # [ticks]
    ticks: np.ndarray  # [ticks] elapsed
    sum_dp: np.ndarray  # [-] sum of |throttle change|
    slot_spend: np.ndarray  # (n, max_slots) [currency] counted spend per plan slot
    plan_cum: np.ndarray  # (n, max_slots + 1) [share of budget] reference plan
    ticks_per_slot: int


def episode_metrics(tot: EpisodeTotals, score: ScoreParams) -> dict[str, np.ndarray]:
    """Metrics per campaign, keys ``METRIC_KEYS``, each an array of shape ``(n,)``."""
    budget = tot.budget
    n_slots = tot.flight_ticks // tot.ticks_per_slot
    slot_budget = budget / n_slots
    planned = np.diff(tot.plan_cum, axis=1) * budget[:, None]
    in_flight = np.arange(tot.slot_spend.shape[1])[None, :] < n_slots[:, None]
    err = np.where(in_flight, (tot.slot_spend - planned) / slot_budget[:, None], 0.0)
    tracking_error = np.sqrt((err**2).sum(axis=1) / n_slots)
    spike_ratio = np.where(in_flight, tot.slot_spend, 0.0).max(axis=1) / slot_budget
    all_counted = tot.counted + tot.counted_post
    delivery = tot.billable / budget
    wasted_post_end = tot.wasted_post / budget
    wasted_over_budget = tot.wasted_over / budget
    out = {
        "delivery": delivery,
        "wasted_post_end": wasted_post_end,
        "wasted_over_budget": wasted_over_budget,
        "post_end_share": tot.counted_post / np.maximum(all_counted, 1),
        "tracking_error": tracking_error,
        "lifetime": np.where(tot.t95 >= 0, tot.t95 / tot.flight_ticks, 1.0),
        "smoothness": tot.sum_dp / np.maximum(tot.ticks - 1, 1),
        "spike_ratio": spike_ratio,
        "margin": (tot.billable - tot.media_cost) / budget,
    }
    out["pacing_score"] = (
        delivery
        - score.waste * (wasted_post_end + wasted_over_budget)
        - score.tracking * tracking_error
        - score.spike * np.maximum(spike_ratio - 1.0, 0.0)
    )
    return {k: np.asarray(out[k], dtype=float) for k in METRIC_KEYS}
