"""The one-campaign path (``Pacer._one``): the few-row path's checks and numbers, one row."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.agents.export.runtime import PacerError, load_pacer
from pacegym.envs.spaces import OBS_INDEX


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e9, -1e9])
def test_one_bad_row_gets_the_fallback_and_is_flagged(ppo_artifact, recorded_obs, value):
    pacer = load_pacer(ppo_artifact, budget_guard=True)
    x = recorded_obs[100:101].copy()
    x[0, OBS_INDEX["serving_rate"]] = value
    assert pacer(x).tolist() == [pacer.fallback]
    assert pacer.last_invalid.tolist() == [True] and pacer.last_guarded.tolist() == [False]


def test_one_row_guarded_and_wrong_shapes_refused(ppo_artifact, recorded_obs):
    pacer = load_pacer(ppo_artifact, budget_guard=True)
    x = recorded_obs[100:101].copy()
    x[0, OBS_INDEX["reported_spend"]] = 1.0
    assert pacer(x).tolist() == [0.0]
    assert pacer.last_guarded.tolist() == [True] and pacer.last_invalid.tolist() == [False]
    for bad in (x[:, :13], x[:, :13].astype(np.float64), x[None]):
        with pytest.raises(PacerError, match=r"allowed \(n, 14\)"):
            pacer(bad)


def test_one_row_serves_what_the_few_row_path_serves(ppo_artifact, recorded_obs):
    pacer = load_pacer(ppo_artifact)
    x = recorded_obs[:200]
    one = [pacer(x[i : i + 1])[0] for i in range(200)]
    few = np.concatenate([pacer(x[i : i + 2]) for i in range(0, 200, 2)])
    np.testing.assert_array_equal(one, few)
    assert pacer(x[0]).tolist() == [one[0]]  # a 1-D row is one campaign
