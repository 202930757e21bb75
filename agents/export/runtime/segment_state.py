"""The state contract of the stateful segment kinds, and the plan error they steer by.

A segment pacer's campaign state is one float64 row per campaign: ``state`` ``(n, K)``,
its columns named by the kind (``state_names``), passed in and handed back by
``SegmentPacer.step(obs, state) -> (throttles, state)``; nothing of a campaign is kept
anywhere else, so a server may store the rows wherever it keeps its campaigns (and a
recurrent policy's hidden state fits the same slot). Reset rule: a new campaign's row is
the kind's ``initial`` row (``initial_state``), and a row whose ``time_elapsed`` is 0
restarts its flight inside ``step`` (each kind says what it clears).

Written once: the baselines (``baselines.controllers_value``, ``baselines.controllers_lp``)
run these very functions in process. Numpy and the standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .manifest import PacerError
from .plans import plan_cumulative


def plan_error(p: Mapping[str, Any], obs: np.ndarray, index: Mapping[str, int]) -> np.ndarray:
    """``(n,)`` target - spent [share of budget] by the plan fields of ``p`` (``plan``,
    ``decay_rate``, ``early_close``, ``in_flight_weight``: the rules' own reading),
    ``index`` naming the columns of ``obs``."""
    if p["plan"] == "observed":
        target = obs[:, index["plan"]].astype(np.float64)
    else:
        col = "forecast_elapsed" if p["plan"] == "forecast" else "time_elapsed"
        x = obs[:, index[col]].astype(np.float64)
        target = plan_cumulative(p["plan"], x, p["decay_rate"], p["early_close"])
    spent = obs[:, index["reported_spend"]].astype(np.float64)
    return target - spent - p["in_flight_weight"] * obs[:, index["in_flight"]]


def check_state(state: Any, n: int, names: tuple[str, ...]) -> np.ndarray:
    """``state`` as a float64 ``(n, len(names))`` array, else a one-line ``PacerError``."""
    arr = np.asarray(state)
    if arr.shape != (n, len(names)) or arr.dtype != np.float64:
        raise PacerError(
            f"state of shape {arr.shape} {arr.dtype}: allowed float64 (n, {len(names)}) ="
            f" (rows of obs, columns {list(names[:3])}{'...' if len(names) > 3 else ''})"
        )
    if not np.isfinite(arr).all():
        raise PacerError("state holds NaN or infinity: allowed finite numbers")
    return arr


def check_split(split: Any, s: int) -> np.ndarray:
    """``policy.split``: ``s`` finite numbers in [0, 1], as ``(s,)`` float64."""
    ok = isinstance(split, list) and len(split) == s
    ok = ok and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0 for x in split
    )
    if not ok:
        raise PacerError(
            f"manifest field policy.split = {str(split)[:80]}: allowed {s} numbers in [0, 1]"
            " (one per segment)"
        )
    return np.array(split, dtype=np.float64)
