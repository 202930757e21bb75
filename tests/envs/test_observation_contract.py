"""The observation contract has one table, ``OBS_FEATURES``: docs, kernel and Box follow it."""

import inspect
import math
from pathlib import Path

import numpy as np
import pytest

from pacegym.envs.pacing_env import PacingEnv, observation_space
from pacegym.envs.spaces import (
    MIN_POSITIVE_THROTTLE,
    N_OBS,
    OBS_FEATURES,
    OBS_INDEX,
    OBS_LOW,
    observation_table,
)

README = Path(__file__).resolve().parents[2] / "README.md"
IX = OBS_INDEX


def _readme_table() -> str:
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### Observation"))
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return "\n".join(rows)


def test_readme_table_is_the_generated_table():
    assert _readme_table() == observation_table()


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


def test_throttle_log_floor_is_the_smallest_positive_throttle():
    assert OBS_LOW[IX["last_throttle_log10"]] == pytest.approx(math.log10(MIN_POSITIVE_THROTTLE))
