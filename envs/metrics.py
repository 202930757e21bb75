"""Episode metrics: the one implementation used by the env's final ``info`` and by evaluation.

Definitions (docs/concepts.md, "Metrics and the score"; shares are of the budget unless stated):

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
- ``misplaced``: budget spent at the wrong time: the sum over scoring windows
  (``score.granularity_min``, whole plan slots from the flight start, the last one
  partial) of max(counted spend in the window - (1 + ``score.tolerance``) x the plan's
  spend for it, 0) / budget;
- ``burst``: the same over single plan slots with ``score.burst_tolerance``;
- ``pacing_score_v2`` (``SCORE_KEY``, the score that ranks, tunes and trains):
  delivery - w_waste (wasted_post_end + wasted_over_budget) - w_misplaced misplaced
  - w_burst burst + w_value value_excess (0 in the volume world), weights in ``ScoreParams`` (``scenario.score``); the env's reward
  terms sum to it over an episode (docs/objective.md). Higher is better;
- ``pacing_score_v1``: the first version, delivery - w_waste (wasted shares)
  - w_tracking tracking_error - w_spike max(spike_ratio - 1, 0).

Value scenarios (``value.channels``) add ``VALUE_KEYS``: ``value_excess`` (billed spend x
(its value per spend / the flight's average - 1), summed, / budget), ``value_per_spend``
(expected value of the rendered impressions served / their spend), ``value_relative`` (that
/ the flight's average), clicks, conversions (drawn at serving), ``conversions_realised``
(arrived within the flight), ``conversion_value``, ``ecpc`` and ``ecpa`` (billable spend
per click, per conversion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pacegym.envs.layout import (
    VS_CLICKS,
    VS_CONV_REALISED,
    VS_CONV_VALUE,
    VS_CONVERSIONS,
    VS_VALUE,
    VS_VALUE_EXCESS,
)
from pacegym.envs.params import ScoreParams

METRIC_KEYS: tuple[str, ...] = (
    "pacing_score_v2",
    "delivery",
    "wasted_post_end",
    "wasted_over_budget",
    "post_end_share",
    "tracking_error",
    "lifetime",
    "smoothness",
    "spike_ratio",
    "margin",
    "misplaced",
    "burst",
    "pacing_score_v1",
)
VALUE_KEYS: tuple[str, ...] = (
    "value_excess",
    "value_per_spend",
    "value_relative",
    "clicks",
    "conversions",
    "conversions_realised",
    "conversion_value",
    "ecpc",
    "ecpa",
)
"""Metrics of value scenarios only (``value_metrics``), beside ``METRIC_KEYS``."""
SCORE_KEY = "pacing_score_v2"
"""The metric that ranks, tunes and trains (leaderboards, ``pacegym-tune``, rewards)."""
HIGHER_IS_BETTER = {
    "pacing_score_v2": True,
    "pacing_score_v1": True,
    "delivery": True,
    "margin": True,
}


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
    slot_s: float = 60.0  # [s] plan slot length (scoring windows are whole slots)
    value: np.ndarray | None = None  # (n, N_VST) value columns (value scenarios only)
    vbar: np.ndarray | None = None  # (n, 2) flight value per spend: true, predicted
    served_spend: np.ndarray | None = None  # [currency] served impressions x their price


def excess_above_plan(
    slot_spend: np.ndarray,
    planned: np.ndarray,
    n_slots: np.ndarray,
    window: int,
    tolerance: float,
) -> np.ndarray:
    """Sum over windows of ``window`` slots of max(spend - (1 + tolerance) x plan, 0).

    ``slot_spend`` and ``planned`` are ``(n, max_slots)`` in currency; slots at or past
    ``n_slots`` (per campaign) are outside the flight and ignored; the last window of a
    flight may be partial. Returns ``(n,)`` in currency.
    """
    n, m = slot_spend.shape
    inside = np.arange(m)[None, :] < n_slots[:, None]
    spend = np.where(inside, slot_spend, 0.0)
    plan = np.where(inside, planned, 0.0)
    n_win = -(-m // window)
    pad = n_win * window - m
    if pad:
        spend = np.pad(spend, ((0, 0), (0, pad)))
        plan = np.pad(plan, ((0, 0), (0, pad)))
    w_spend = spend.reshape(n, n_win, window).sum(axis=2)
    w_plan = plan.reshape(n, n_win, window).sum(axis=2)
    return np.maximum(w_spend - (1.0 + tolerance) * w_plan, 0.0).sum(axis=1)


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
        "misplaced": excess_above_plan(
            tot.slot_spend, planned, n_slots, score.window_slots(tot.slot_s), score.tolerance
        )
        / budget,
        "burst": excess_above_plan(tot.slot_spend, planned, n_slots, 1, score.burst_tolerance)
        / budget,
    }
    wasted = wasted_post_end + wasted_over_budget
    value = value_metrics(tot) if tot.value is not None else {}
    value_excess = value.get("value_excess", np.zeros_like(delivery))
    out["pacing_score_v2"] = (
        delivery
        - score.waste * wasted
        - score.misplaced * out["misplaced"]
        - score.burst * out["burst"]
        + score.value * value_excess
    )
    out["pacing_score_v1"] = (
        delivery
        - score.waste * wasted
        - score.tracking * tracking_error
        - score.spike * np.maximum(spike_ratio - 1.0, 0.0)
    )
    out.update(value)
    return {k: np.asarray(out[k], dtype=float) for k in (*METRIC_KEYS, *value)}


def value_metrics(tot: EpisodeTotals) -> dict[str, np.ndarray]:
    """What the spend bought (``VALUE_KEYS``), from a value scenario's totals."""
    assert tot.value is not None and tot.vbar is not None and tot.served_spend is not None
    v = tot.value
    spend = tot.billable
    with np.errstate(divide="ignore", invalid="ignore"):
        vps = v[:, VS_VALUE] / np.where(tot.served_spend > 0, tot.served_spend, np.nan)
        out = {
            "value_excess": v[:, VS_VALUE_EXCESS] / tot.budget,
            "value_per_spend": vps,
            "value_relative": vps / tot.vbar[:, 0],
            "clicks": v[:, VS_CLICKS],
            "conversions": v[:, VS_CONVERSIONS],
            "conversions_realised": v[:, VS_CONV_REALISED],
            "conversion_value": v[:, VS_CONV_VALUE],
            "ecpc": spend / np.where(v[:, VS_CLICKS] > 0, v[:, VS_CLICKS], np.nan),
            "ecpa": spend / np.where(v[:, VS_CONVERSIONS] > 0, v[:, VS_CONVERSIONS], np.nan),
        }
    return {k: np.asarray(out[k], dtype=float) for k in VALUE_KEYS}
