"""The rules' row path (``rule_row.RowRule``) equals ``Rule.act`` bit for bit, state included."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.agents.export.runtime.controllers import FEATURES, build_rule
from pacegym.agents.export.runtime.rule_row import RowRule

CASES = [
    ("on_off", {}),
    ("on_off", {"plan": "forecast", "in_flight_weight": 0.5, "early_close": 0.1}),
    ("proportional", {}),
    ("proportional", {"rate": 0.2, "start": "fixed", "p_start": 0.05, "deadband": 0.01}),
    ("proportional", {"plan": "observed", "pace_limit": 0.0}),
    ("proportional", {"plan": "forecast", "pace_limit": 1.5, "early_close": 0.1}),
    ("pid", {}),
    ("pid", {"kp": 10.0, "ki": 30.0, "kd": 0.5, "feedforward": "none", "plan": "observed"}),
    ("pid", {"plan": "exp_decay", "decay_rate": 2.0, "early_close": 0.05, "kd": 0.2}),
    ("exp_decay", {}),
    ("exp_decay", {"decay_rate": 3.0, "in_flight_weight": 1.0, "pace_limit": 2.0}),
]


def _rows(rng: np.random.Generator, n: int, t: np.ndarray) -> np.ndarray:
    """``n`` float32 observations at flight shares ``t``, the rules' features in order."""
    cols = {
        "time_elapsed": t,
        "plan": np.clip(t + rng.normal(0, 0.05, n), 0, 1),
        "reported_spend": rng.uniform(0, 1.2, n),
        "in_flight": rng.uniform(0, 0.2, n),
        "forecast_elapsed": np.clip(t + rng.normal(0, 0.1, n), 0, 1),
        "capacity_log10": rng.uniform(-3, 2, n),
        "last_throttle": rng.uniform(0, 1, n),
        "serving_rate": rng.uniform(0, 5, n),
        "exhausted": (rng.uniform(size=n) < 0.05).astype(float),
    }
    return np.stack([cols[f] for f in FEATURES], axis=1).astype(np.float32)


@pytest.mark.parametrize(("kind", "params"), CASES)
def test_the_row_path_is_the_batch_path_bit_for_bit(kind, params):
    ctrl = {"kind": kind, "params": params}
    batch = build_rule(ctrl, FEATURES, "policy.controller")
    row = RowRule(build_rule(ctrl, FEATURES, "policy.controller"))
    rng = np.random.default_rng(7)
    n, t = 64, np.zeros(64)
    batch.reset(n)
    row.begin(n)
    for step in range(40):
        x = _rows(rng, n, t)
        want = batch.act(x)
        got = np.array([row.act(r, i) for i, r in enumerate(x.tolist())])
        np.testing.assert_array_equal(got, want, err_msg=f"{kind} step {step}")
        t = np.minimum(t + rng.uniform(0, 0.05, n), 1.0)
        t[rng.uniform(size=n) < 0.03] = 0.0  # some campaigns start again
    if kind == "pid":
        for name in ("integral", "prev_error", "prev_time"):
            np.testing.assert_array_equal(getattr(row.rule, name), getattr(batch, name))
