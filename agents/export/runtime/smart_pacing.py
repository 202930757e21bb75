"""Segment kind ``smart_pacing``: Smart Pacing's layered throttle (Xu et al., KDD'15, Alg. 2).

Each segment (layer) keeps its own pacing rate, layers ranked by ``rel`` now (best first).
Behind plan (``target - spent > deadband``) the best layer not at rate 1 is raised,
``r <- min(1, max(r, trial) (1 + rate))``, top-down, and once it is full the next layer
gets the trial rate ``trial``; ahead of plan the worst layer still served is lowered
bottom-up, ``r <- r (1 - rate)``, dropped to 0 under ``trial``. A flight's first tick
fills the layers top-down to the forecast capacity (``capacity_throttle``) and gives the
next layer the trial rate. Throttles are the rates, 0 once the budget is reported spent.

State (``segment_state``): ``(n, S + 1)``: columns ``0 .. S-1`` the layers' rates (in
segment order), column ``S`` ``started`` (1 once the campaign's first tick is done). Reset
rule: a new campaign's row is all zeros; a row not started, or whose ``time_elapsed`` is 0,
starts its flight (rates from the capacity fill). ``baselines.controllers_value`` runs
``smart_pacing_step`` in process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .controllers import capacity_throttle
from .rule_params import RuleParam
from .segment_state import plan_error

SMART_PACING_OWN: dict[str, RuleParam] = {
    "rate": RuleParam(0.02, "-", "relative change of the frontier layer per tick", low_open=True),
    "trial": RuleParam(0.01, "-", "rate of the next layer once one is full", low=1e-4),
    "deadband": RuleParam(0.0, "share of budget", "no change while |target - spent| is within"),
}
"""Smart Pacing's own parameters, after the plan fields of its base rule ``on_off``."""


def smart_pacing_names(segments: Sequence[str]) -> tuple[str, ...]:
    """The state's column names: ``rate.<segment>`` each, then ``started``."""
    return (*(f"rate.{s}" for s in segments), "started")


def trial_next(r: np.ndarray, order: np.ndarray, trial: float) -> np.ndarray:
    """``r`` with the best layer not full at least at the trial rate (Alg. 2's trial)."""
    ranked = np.take_along_axis(r, order, axis=1)
    open_ = ranked < 1.0
    j = np.argmax(open_, axis=1)
    rows = np.flatnonzero(open_.any(axis=1))
    ranked[rows, j[rows]] = np.maximum(ranked[rows, j[rows]], trial)
    out = np.empty_like(ranked)
    np.put_along_axis(out, order, ranked, axis=1)
    return out


def smart_pacing_step(
    p: Mapping[str, Any],
    index: Mapping[str, int],
    obs: np.ndarray,
    segs: tuple[np.ndarray, np.ndarray, np.ndarray],
    state: np.ndarray,
    fill: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """``(n, S)`` throttles of rows ``obs``; ``segs`` = ``(share, rel, order)`` of their
    segment block (``order``: best ``rel`` first), ``fill`` the top-down fill
    (``fill(rel, share, level)``); ``state`` ``(n, S + 1)`` is advanced in place."""
    share, rel, order = segs
    s = rel.shape[1]
    rates = state[:, :s]
    start = np.flatnonzero((state[:, s] == 0.0) | (obs[:, index["time_elapsed"]] <= 0.0))
    if start.size:
        level = capacity_throttle(obs[start, index["capacity_log10"]])
        r = fill(rel[start], share[start], level)
        rates[start] = trial_next(r, order[start], p["trial"])
    state[:, s] = 1.0
    ranked = np.take_along_axis(rates, order, axis=1)
    err = plan_error(p, obs, index)
    # behind plan: raise the best layer not full (top-down)
    open_ = ranked < 1.0
    up = np.flatnonzero((err > p["deadband"]) & open_.any(axis=1))
    j = np.argmax(open_[up], axis=1)
    ranked[up, j] = np.minimum(1.0, np.maximum(ranked[up, j], p["trial"]) * (1.0 + p["rate"]))
    # ahead of plan: lower the worst layer served (bottom-up), dropped under the trial rate
    served = ranked > 0.0
    down = np.flatnonzero((err < -p["deadband"]) & served.any(axis=1))
    k = s - 1 - np.argmax(served[down, ::-1], axis=1)
    low = ranked[down, k] * (1.0 - min(p["rate"], 1.0))
    ranked[down, k] = np.where(low < p["trial"], 0.0, low)
    # a raised campaign's next layer not full gets at least the trial rate (``trial_next``)
    again = ranked[up]
    open_ = again < 1.0
    jj = np.argmax(open_, axis=1)
    rows = np.flatnonzero(open_.any(axis=1))
    again[rows, jj[rows]] = np.maximum(again[rows, jj[rows]], p["trial"])
    ranked[up] = again
    np.put_along_axis(rates, order, ranked, axis=1)
    exhausted = obs[:, index["exhausted"]] >= 0.5
    return np.where(exhausted[:, None], 0.0, rates)
