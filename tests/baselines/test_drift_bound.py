"""The clairvoyant drift bound: the inner rule on the predicted value times the true drift."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from pacegym.baselines.drift_bound import ROLE, VALUE_COLUMN, TrueDrift
from pacegym.baselines.factory import from_spec
from pacegym.baselines.harness import run_episodes
from pacegym.envs.core import PacingCore
from pacegym.envs.spaces import N_OBS, SEGMENT_FEATURES, obs_width
from pacegym.resources import conf_dir

DUAL = conf_dir() / "controller/value_channels/dual_price_tuned.yaml"
DRIFT = {"base": "suite/value_drift", "time": {"flight_min": 120.0}, "money": {"budget": 2000.0}}
"""Two hours with a budget that binds: dual price's price of spend rises above the floor,
so the value it reads decides what it buys."""


def _dual():
    return from_spec(yaml.safe_load(DUAL.read_text()))


class Spy:
    """A stand-in inner controller that records the observations it is given."""

    kind = "spy"

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def reset(self, n):
        self.inner.reset(n)

    def act(self, obs):
        self.seen.append(np.array(obs, copy=True))
        return self.inner.act(obs)


def test_the_inner_rule_reads_the_predicted_value_times_its_channels_drift():
    core = PacingCore(DRIFT, 3)
    core.reset(np.arange(3), [11, 12, 13])
    assert not np.allclose(core.drift, 1.0)  # value_drift draws a factor per channel
    spy = Spy(_dual())
    bound = TrueDrift(spy)
    bound.reset(3)
    bound.attach(core)
    obs = np.random.default_rng(0).uniform(0.1, 0.9, (3, obs_width(core.n_segments)))
    bound.act(obs)
    cols = N_OBS + VALUE_COLUMN + len(SEGMENT_FEATURES) * np.arange(len(core.segments))
    factor = core.drift[:, core.tables.channel]
    np.testing.assert_array_equal(spy.seen[0][:, cols], obs[:, cols] * factor)
    other = np.setdiff1d(np.arange(obs.shape[1]), cols)
    np.testing.assert_array_equal(spy.seen[0][:, other], obs[:, other])
    assert bound.role == ROLE and TrueDrift(_dual()).name == "dual_price (tuned) x true drift"


def test_without_drift_it_is_the_inner_rule_and_with_drift_it_is_not():
    calm = {**DRIFT, "base": "value_channels"}
    ref = run_episodes(_dual(), calm, 3, seed=5).metrics
    same = run_episodes(TrueDrift(_dual()), calm, 3, seed=5).metrics
    assert np.array_equal(ref["pacing_score_v2"], same["pacing_score_v2"])
    ref = run_episodes(_dual(), DRIFT, 3, seed=5).metrics
    moved = run_episodes(TrueDrift(_dual()), DRIFT, 3, seed=5).metrics
    assert not np.array_equal(ref["pacing_score_v2"], moved["pacing_score_v2"])


def test_a_volume_scenario_and_an_unattached_bound_are_refused():
    core = PacingCore("daily_budget", 1)
    bound = TrueDrift(_dual())
    bound.reset(1)
    with pytest.raises(ValueError, match=r"scenario 'daily_budget': needs a value scenario"):
        bound.attach(core)
    with pytest.raises(RuntimeError, match=r"before attach"):
        bound.act(np.zeros((1, N_OBS)))
