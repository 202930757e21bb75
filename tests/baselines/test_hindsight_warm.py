"""The warm-started hindsight LP (``WarmLP``) is ``solve``'s LP, re-plan after re-plan."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.baselines.harness import episode_seeds
from pacegym.baselines.hindsight import solve
from pacegym.baselines.hindsight_model import slot_coefficients
from pacegym.baselines.hindsight_warm import WarmLP
from pacegym.baselines.oracle import hindsight_episodes, realised_requests
from pacegym.envs.core import PacingCore
from tests.baselines.test_oracle import tiny_episode


def _replans(ep, block, starts):
    """``(warm, cold)`` solutions from each tick of ``starts`` on a made-up realised state:
    the last plan's expected spend so far, each slot off by up to 10%."""
    rng = np.random.default_rng(0)
    A, _ = slot_coefficients(ep, 1)
    lp = WarmLP(ep, block)
    out = [(lp.solve(), solve(ep, block))]
    for t0 in starts:
        p = out[-1][0].throttle.copy()
        p[t0:] = 0.0
        fixed = (A @ p) * rng.uniform(0.9, 1.1, ep.n_slots)
        out.append((lp.solve(t0, fixed, 3.0), solve(ep.at(t0, fixed, 3.0), block)))
    return out


@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_warm_replans_reach_the_cold_optimum_on_a_tiny_episode(noise):
    ep = tiny_episode(spend_variance=noise)
    for warm, cold in _replans(ep, 1, [1, 2, 4, 5]):
        assert warm.ok and cold.ok
        assert warm.value == pytest.approx(cold.value, abs=1e-9)


def test_warm_replans_reach_the_cold_optimum_on_live_commerce():
    core = PacingCore("live_commerce", 2)
    core.reset(np.arange(2), episode_seeds(5, 2))
    for ep in hindsight_episodes(core, realised_requests(core)):
        T = ep.flight_ticks
        for warm, cold in _replans(ep, 1, [T // 4, T // 2, 3 * T // 4]):
            assert warm.ok and cold.ok
            assert warm.value == pytest.approx(cold.value, abs=1e-7)
            assert warm.throttle.shape == cold.throttle.shape


def test_blocks_on_the_grid_equal_solves_blocks_when_t0_is_on_it():
    core = PacingCore("live_commerce", 1)
    core.reset(np.arange(1), episode_seeds(9, 1))
    (ep,) = hindsight_episodes(core, realised_requests(core))
    for warm, cold in _replans(ep, 3, [30, 60, 99]):
        assert warm.value == pytest.approx(cold.value, abs=1e-7)
    # off the grid, the re-plan's first block is the rest of a grid block: another LP
    off = _replans(ep, 3, [31])[-1]
    assert off[0].ok and abs(off[0].value - off[1].value) < 1e-3


def test_replans_go_forward_only():
    lp = WarmLP(tiny_episode(), 1)
    lp.solve(2, np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="forward"):
        lp.solve(1, np.zeros(3), 0.0)


def test_the_oracle_holds_at_most_warm_models_models_and_plans_the_rest_cold():
    from pacegym.baselines.harness import run_episodes
    from pacegym.baselines.oracle import OracleConfig, OracleController
    from pacegym.envs.metrics import SCORE_KEY

    capped = OracleController(OracleConfig(warm_models=1))
    a = run_episodes(capped, "live_commerce", 3, seed=0).metrics[SCORE_KEY]
    assert sum(m is not None for m in capped._warm) == 1
    cold = OracleController(OracleConfig(warm_start=False))
    b = run_episodes(cold, "live_commerce", 3, seed=0).metrics[SCORE_KEY]
    assert not any(cold._warm)
    assert np.isfinite(a).all() and np.isfinite(b).all() and capped.failures == 0


def test_the_solver_choices_leave_the_lp_as_it_is():
    """Max-value scaling and the dual-feasible starting basis (the default) reach the same
    optimum as HiGHS's defaults (``previous=True``), plan after plan, blocks off the grid."""
    core = PacingCore("live_commerce", 1)
    core.reset(np.arange(1), episode_seeds(3, 1))
    (ep,) = hindsight_episodes(core, realised_requests(core))
    A, _ = slot_coefficients(ep, 1)
    new, old = WarmLP(ep, 3), WarmLP(ep, 3, previous=True)
    rng = np.random.default_rng(1)
    for t0 in (0, 31, 100, 200):
        fixed = None
        if t0:
            fixed = A @ np.where(np.arange(ep.flight_ticks) < t0, 0.5, 0.0)
            fixed *= rng.uniform(0.9, 1.1, ep.n_slots)
        a, b = new.solve(t0, fixed, 2.0), old.solve(t0, fixed, 2.0)
        assert a.ok and b.ok
        assert a.value == pytest.approx(b.value, abs=1e-7)


def test_a_partial_blocks_coefficients_are_slot_coefficients_of_its_ticks():
    from pacegym.baselines.hindsight_warm import _tick_spread

    core = PacingCore("live_commerce", 1)
    core.reset(np.arange(1), episode_seeds(4, 1))
    (ep,) = hindsight_episodes(core, realised_requests(core))
    for t0, end in ((0, 3), (31, 33), (ep.flight_ticks - 2, ep.flight_ticks)):
        A, post = slot_coefficients(ep.at(t0, np.zeros(ep.n_slots), 0.0), end - t0, stop=end)
        spread, post_b = _tick_spread(ep, t0, end)
        assert np.allclose(spread, A.toarray()[:, 0], rtol=1e-13, atol=0.0)
        assert post_b[0] == pytest.approx(post[0], rel=1e-13)


@pytest.mark.parametrize("block", [2, 3, 4, 7])
def test_block_coefficients_are_slot_coefficients(block):
    from pacegym.baselines.hindsight_warm import _block_coefficients

    core = PacingCore("live_commerce", 1)
    core.reset(np.arange(1), episode_seeds(6, 1))
    (ep,) = hindsight_episodes(core, realised_requests(core))
    A, post = slot_coefficients(ep, block)
    B, post_b = _block_coefficients(ep, block)
    assert B.shape == A.shape and B.nnz == A.nnz
    assert abs(A - B).max() <= 1e-13 * abs(A).max()
    assert np.allclose(post_b, post, rtol=1e-13, atol=0.0)
