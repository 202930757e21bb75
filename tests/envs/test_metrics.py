"""Metrics of a tiny episode, computed by hand."""

import numpy as np
import pytest

from pacegym.envs.metrics import EpisodeTotals, episode_metrics
from pacegym.envs.params import ScoreParams


def test_two_slot_episode_by_hand():
    # budget 100, 2 slots of 4 ticks, uniform plan (50, 50); counted spend 60 then 30 in flight
    # plus 20 counted after the end (10 beyond the budget's remaining room is not the case here)
    tot = EpisodeTotals(
        budget=np.array([100.0]),
        billable=np.array([90.0]),
        media_cost=np.array([(9 + 2) * 8.0]),
        wasted_over=np.array([0.0]),
        wasted_post=np.array([2 * 8.0]),
        counted=np.array([9]),
        counted_post=np.array([2]),
        served=np.array([12]),
        never=np.array([1]),
        t95=np.array([-1]),
        flight_ticks=np.array([8]),
        ticks=np.array([8]),
        sum_dp=np.array([0.7]),
        slot_spend=np.array([[60.0, 30.0]]),
        plan_cum=np.array([[0.0, 0.5, 1.0]]),
        ticks_per_slot=4,
    )
    score = ScoreParams(
        waste=1.0,
        tracking=0.5,
        spike=0.25,
        misplaced=2.0,
        burst=3.0,
        granularity_min=2.0,
        tolerance=0.1,
        burst_tolerance=0.1,
    )
    m = episode_metrics(tot, score)
    assert m["delivery"][0] == pytest.approx(0.9)
    assert m["wasted_post_end"][0] == pytest.approx(0.16)
    assert m["wasted_over_budget"][0] == 0.0
    assert m["post_end_share"][0] == pytest.approx(2 / 11)
    # slot errors in uniform-slot units: (60-50)/50 = 0.2, (30-50)/50 = -0.4
    assert m["tracking_error"][0] == pytest.approx(np.sqrt((0.04 + 0.16) / 2))
    assert m["lifetime"][0] == 1.0
    assert m["smoothness"][0] == pytest.approx(0.1)
    assert m["spike_ratio"][0] == pytest.approx(1.2)
    assert m["margin"][0] == pytest.approx((90 - 88) / 100)
    expected = 0.9 - 0.16 - 0.5 * np.sqrt(0.1) - 0.25 * 0.2
    assert m["pacing_score_v1"][0] == pytest.approx(expected)
    # one 2-slot window: 90 spent against 1.1 x 100 allowed -> nothing misplaced; slots:
    # 60 against 1.1 x 50 = 55 -> 5 above the plan, 30 against 55 -> none
    assert m["misplaced"][0] == 0.0
    assert m["burst"][0] == pytest.approx(0.05)
    assert m["pacing_score_v2"][0] == pytest.approx(0.9 - 0.16 - 2.0 * 0.0 - 3.0 * 0.05)
    # windows of one slot: the first slot's 5 above its allowance is misplaced too
    one = episode_metrics(tot, ScoreParams(granularity_min=1.0, tolerance=0.1))
    assert one["misplaced"][0] == pytest.approx(0.05)
