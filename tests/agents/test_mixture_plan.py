"""``agents.training.plan_run`` on a mixture: every scenario gets the same share."""

from __future__ import annotations

import pytest

from pacegym.agents.settings import AgentConfigError, AgentSettings, TrainSettings
from pacegym.agents.training import plan_run

SCS = ["live_commerce", "suite/small_budget", "daily_budget"]


@pytest.mark.parametrize("n_envs", [2, 4, 8])
def test_n_envs_not_a_multiple_of_the_scenarios_is_refused(n_envs):
    train = TrainSettings(n_envs=n_envs, scenarios=SCS, progress_bar=False)
    with pytest.raises(AgentConfigError, match=rf"^train.n_envs = {n_envs}: 3 train.scenarios"):
        plan_run("live_commerce", AgentSettings(name="a"), train)


def test_a_multiple_is_split_evenly():
    train = TrainSettings(n_envs=6, scenarios=SCS, progress_bar=False)
    plan = plan_run("live_commerce", AgentSettings(name="a"), train)
    assert [s.name for s in plan.evaluation] == ["live_commerce", "small_budget", "daily_budget"]
