"""The hindsight LP as built (``build_lp``): its layout, its blocks, and the values it had
before ``solve`` was split into functions (pinned, so a rewrite cannot move the oracle)."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.baselines.harness import episode_seeds
from pacegym.baselines.hindsight import (
    block_columns,
    build_lp,
    penalty_groups,
    schedule,
    solve,
)
from pacegym.baselines.oracle import hindsight_episodes, realised_requests
from pacegym.envs.core import PacingCore
from tests.baselines.test_oracle import tiny_episode


def test_the_layout_is_throttles_spends_then_one_epigraph_per_penalty_row():
    ep = tiny_episode(spend_variance=1.0)
    lp = build_lp(ep, block=2)
    groups = penalty_groups(ep, np.zeros(ep.n_slots))
    assert [g.size for g in groups] == [1, 2, 3]  # budget, windows of 2 slots, slots
    assert lp.n_blocks == 3 and lp.n_slots == 3
    assert lp.n_var == 3 + 3 + 6
    assert lp.a_eq.shape == (3, lp.n_var)
    assert lp.a_ub.shape == (6 * 5, lp.n_var)  # 2 fluid pieces + 3 tangents per row
    assert np.all(lp.lower[:3] == 0) and np.all(lp.upper[:3] == 1)
    assert np.all(np.isinf(lp.lower[3:6])) and np.all(lp.lower[6:] == 0)


def test_the_lp_value_is_its_objective_at_its_solution():
    ep = tiny_episode(spend_variance=1.0).at(1, np.array([3.0, 1.0, 0.0]), 0.5)
    lp = build_lp(ep, block=1)
    sol = solve(ep)
    assert sol.ok
    assert np.all(sol.throttle[:1] == 0)
    p = sol.throttle[1:]
    # the equalities fix S, and the best epigraph values are the cuts' maxima
    spends = -(lp.a_eq[:, : lp.n_blocks] @ p) + lp.b_eq
    x = np.concatenate([p, spends, np.zeros(lp.n_var - lp.n_blocks - lp.n_slots)])
    y = np.maximum(
        0.0, (lp.a_ub[:, : lp.n_blocks + lp.n_slots] @ x[: lp.n_blocks + lp.n_slots]) - lp.b_ub
    )
    rows = lp.a_ub[:, lp.n_blocks + lp.n_slots :]
    x[lp.n_blocks + lp.n_slots :] = np.array(
        [y[rows[:, j].nonzero()[0]].max(initial=0.0) for j in range(rows.shape[1])]
    )
    assert -(lp.c @ x) + lp.offset == pytest.approx(sol.value, abs=1e-7)


@pytest.mark.parametrize(("t0", "block"), [(0, 1), (0, 4), (3, 4), (5, 2)])
def test_blocks_start_at_t0_and_the_last_one_may_be_short(t0, block):
    ep = tiny_episode(requests=np.arange(1, 11) * 10, plan_cum=np.linspace(0, 1, 6)).at(
        t0, np.zeros(5), 0.0
    )
    col = block_columns(ep, block)
    assert col.shape == (10 - t0,) and col[0] == 0
    assert np.all(np.bincount(col)[:-1] == block) and 1 <= np.bincount(col)[-1] <= block
    p = np.linspace(0.1, 0.9, int(col[-1]) + 1)
    thr = schedule(ep, p, block)
    assert np.all(thr[:t0] == 0) and np.array_equal(thr[t0:], p[col])


# The LP values of three live-commerce episodes (seed 5) from tick 0 and re-planned at tick
# 37, as the unsplit ``solve`` returned them (HiGHS through scipy 1.17.1).
PINNED = {
    0: (0.9602597409192712, 0.8842432712555665),
    1: (0.9158965309413547, 0.7870259418141683),
    2: (0.9759921084846559, 0.9440878103755374),
}


def test_the_values_are_the_ones_before_the_split():
    core = PacingCore("live_commerce", 3)
    core.reset(np.arange(3), episode_seeds(5, 3))
    for b, ep in enumerate(hindsight_episodes(core, realised_requests(core))):
        at0 = solve(ep).value
        later = solve(ep.at(37, np.linspace(0, 50, ep.n_slots), 3.0)).value
        assert (at0, later) == pytest.approx(PINNED[b], abs=1e-7)
