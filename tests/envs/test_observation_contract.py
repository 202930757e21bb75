"""The observation contract has one table, ``OBS_FEATURES``: docs, kernel and Box follow it."""

import inspect
import math
from pathlib import Path

import numpy as np
import pytest

from pacegym.envs import layout as L
from pacegym.envs import observe
from pacegym.envs.core import PacingCore
from pacegym.envs.pacing_env import PacingEnv, observation_space
from pacegym.envs.spaces import (
    MIN_POSITIVE_THROTTLE,
    N_OBS,
    OBS_FEATURES,
    OBS_HIGH,
    OBS_INDEX,
    OBS_LOW,
    observation_table,
)

CONCEPTS = Path(__file__).resolve().parents[2] / "docs" / "concepts.md"
IX = OBS_INDEX


def _docs_table() -> str:
    lines = CONCEPTS.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### Observation"))
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return "\n".join(rows)


def test_docs_table_is_the_generated_table():
    assert _docs_table() == observation_table()


def test_env_docstring_shows_the_generated_table():
    doc = inspect.cleandoc(PacingEnv.__doc__)
    assert observation_table() in doc
    assert f"``Box({N_OBS},)``" in doc
    assert "OBSERVATION_TABLE" not in doc and "N_OBS" not in doc


def test_table_has_one_row_per_feature_with_its_bounds():
    rows = observation_table().splitlines()[2:]
    assert len(rows) == N_OBS
    for i, (row, f) in enumerate(zip(rows, OBS_FEATURES, strict=True)):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[:3] == [str(i), f.name, f.description]
        lo, hi = (float(x) for x in cells[3][1:-1].split(","))
        assert (lo, hi) == (f.low, f.high)


def test_box_is_the_table():
    space = observation_space()
    np.testing.assert_array_equal(space.low, [f.low for f in OBS_FEATURES])
    np.testing.assert_array_equal(space.high, [f.high for f in OBS_FEATURES])


def test_kernel_columns_are_the_table_indices():
    constants = {k: v for k, v in vars(observe).items() if k.startswith("O_")}
    assert constants == {f"O_{f.name.upper()}": i for i, f in enumerate(OBS_FEATURES)}


def test_each_column_holds_its_named_feature():
    core = PacingCore("live_commerce", 3)
    core.reset(np.arange(3), np.array([1, 2, 3], dtype=np.uint64))
    throttles = np.array([0.0, 0.3, 1.0])
    for _ in range(40):
        res = core.step(throttles)
    obs = res.obs.astype(np.float64)
    budget = core.par[:, L.P_BUDGET]
    ft = core.par[:, L.P_FLIGHT_TICKS]
    t = core.ist[:, L.I_T]
    f32 = np.float32
    np.testing.assert_array_equal(obs[:, IX["time_elapsed"]], (t / ft).astype(f32))
    np.testing.assert_array_equal(obs[:, IX["time_remaining"]], (1 - t / ft).astype(f32))
    np.testing.assert_array_equal(obs[:, IX["budget_log10"]], np.log10(budget).astype(f32))
    served_spend = core.ist[:, L.I_SERVED] * core.price / budget
    np.testing.assert_array_equal(obs[:, IX["served_spend"]], served_spend.astype(f32))
    np.testing.assert_array_equal(obs[:, IX["last_throttle"]], throttles.astype(f32))
    assert obs[0, IX["last_throttle_log10"]] == OBS_LOW[IX["last_throttle_log10"]]
    np.testing.assert_allclose(obs[1:, IX["last_throttle_log10"]], np.log10(throttles[1:]))
    plan_error = obs[:, IX["plan"]] - obs[:, IX["reported_spend"]]
    np.testing.assert_allclose(obs[:, IX["plan_error"]], plan_error, atol=1e-6)
    assert np.all(obs[:, IX["exhausted"]] == 0.0)


def test_values_are_clipped_at_the_table_bounds():
    # a budget of a tenth of an impression at full throttle: spend runs far past it
    core = PacingCore({"base": "live_commerce", "money": {"budget": 1.0}}, 2)
    core.reset(np.arange(2), np.array([5, 6], dtype=np.uint64))
    seen_low, seen_high = np.zeros(N_OBS, bool), np.zeros(N_OBS, bool)
    for _ in range(400):
        obs = core.step(np.array([1.0, 0.5 * MIN_POSITIVE_THROTTLE])).obs
        assert np.all(obs >= OBS_LOW) and np.all(obs <= OBS_HIGH)
        seen_low |= (obs == OBS_LOW).any(axis=0)
        seen_high |= (obs == OBS_HIGH).any(axis=0)
    # features pinned at a bound: their bounds are the table's, not a number in the kernel
    for name in ("reported_spend", "served_spend", "capacity_log10", "exhausted"):
        assert seen_high[IX[name]], name
    for name in ("plan_error", "last_throttle_log10"):
        assert seen_low[IX[name]], name


def test_throttle_log_floor_is_the_smallest_positive_throttle():
    assert OBS_LOW[IX["last_throttle_log10"]] == pytest.approx(math.log10(MIN_POSITIVE_THROTTLE))
