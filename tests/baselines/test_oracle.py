"""The clairvoyant oracle: its LP against brute force, its model against the simulator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pacegym.baselines.factory import build_controller, load_controller_yaml
from pacegym.baselines.harness import episode_seeds, run_episodes
from pacegym.baselines.hindsight import (
    HindsightEpisode,
    excess_cuts,
    expected_excess,
    expected_score,
    solve,
)
from pacegym.baselines.oracle import OracleConfig, OracleController, realised_requests
from pacegym.baselines.protocol import Clairvoyant, Controller
from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore
from pacegym.envs.metrics import SCORE_KEY


def tiny_episode(**kw) -> HindsightEpisode:
    """6 ticks, 2 ticks per slot, windows of 2 slots; a 1-tick delay for 70%, 2 for 30%."""
    base = dict(
        requests=np.array([40, 10, 80, 5, 30, 60]),
        fill=0.5,
        render=0.9,
        q=np.array([0.0, 0.7, 0.3]),
        budget=60.0,
        price=1.0,
        media=0.8,
        plan_cum=np.array([0.0, 0.3, 0.6, 1.0]),
        ticks_per_slot=2,
        window_slots=2,
        tolerance=0.1,
        burst_tolerance=0.5,
        w_waste=1.0,
        w_misplaced=1.0,
        w_burst=1.0,
    )
    base.update(kw)
    return HindsightEpisode(**base)


def brute_score(ep: HindsightEpisode, p: np.ndarray) -> float:
    """The fluid pacing_score_v2 of schedule ``p``, written out tick by tick (independent of
    ``baselines.hindsight``): expected counts per tick, per slot, per window, post-end."""
    T, tps, D = ep.flight_ticks, ep.ticks_per_slot, len(ep.q)
    counted = np.zeros(T + D)
    for t in range(T):
        for k in range(D):
            counted[t + k] += ep.requests[t] * ep.fill * p[t] * ep.render * ep.q[k]
    spend = counted[:T] * ep.price
    post = counted[T:].sum() * ep.media
    slots = spend.reshape(-1, tps).sum(axis=1)
    plan = np.diff(ep.plan_cum) * ep.budget
    win = np.arange(len(slots)) // ep.window_slots  # the last window may be partial
    wins = np.bincount(win, weights=slots)
    w_plan = np.bincount(win, weights=plan)
    total = slots.sum()
    over = max(total - ep.budget, 0.0)
    misplaced = np.maximum(wins - (1 + ep.tolerance) * w_plan, 0).sum()
    burst = np.maximum(slots - (1 + ep.burst_tolerance) * plan, 0).sum()
    wasted = over * ep.media / ep.price + post
    return (min(total, ep.budget) - wasted - misplaced - burst) / ep.budget


@pytest.mark.parametrize("budget", [20.0, 60.0, 200.0])
def test_lp_is_at_least_the_brute_force_optimum_on_a_grid(budget):
    ep = tiny_episode(budget=budget)
    sol = solve(ep)
    assert sol.ok, sol.message
    grid = np.linspace(0.0, 1.0, 5)
    best = max(brute_score(ep, np.array(p)) for p in itertools.product(grid, repeat=6))
    # the LP's schedule really scores its value, and no grid schedule beats it
    assert brute_score(ep, sol.throttle) == pytest.approx(sol.value, abs=1e-9)
    assert expected_score(ep, sol.throttle) == pytest.approx(sol.value, abs=1e-9)
    assert sol.value >= best - 1e-9
    # a local search from the LP's schedule finds nothing better
    rng = np.random.default_rng(0)
    for _ in range(2000):
        p = np.clip(sol.throttle + rng.normal(0, 0.05, 6), 0, 1)
        assert brute_score(ep, p) <= sol.value + 1e-9


@pytest.mark.slow
def test_lp_matches_a_dense_brute_force_on_two_ticks():
    ep = tiny_episode(
        requests=np.array([50, 200]),
        q=np.array([1.0]),
        plan_cum=np.array([0.0, 1.0]),
        ticks_per_slot=2,
        window_slots=1,
        budget=40.0,
    )
    sol = solve(ep)
    grid = np.linspace(0.0, 1.0, 401)
    best = max(brute_score(ep, np.array([a, b])) for a in grid for b in grid)
    assert sol.value == pytest.approx(best, abs=2e-3)
    assert sol.value >= best - 1e-12


def test_noise_aware_cuts_bound_the_expected_excess_from_below():
    th = np.array([5.0, 50.0, 500.0])
    a, b = excess_cuts(th, scale=2.0)
    for i, t in enumerate(th):
        s = np.linspace(0.0, 3 * t, 200)
        cuts = (a[i][None, :] + b[i][None, :] * s[:, None]).max(axis=1)
        exact = expected_excess(s, t, 2.0)
        assert np.all(cuts <= exact + 1e-9)
        near = np.abs(s - t) < np.sqrt(2.0 * t)  # tight around the threshold
        assert np.max(exact[near] - cuts[near]) < 0.25 * np.sqrt(2.0 * t)


def test_the_probe_sees_the_requests_the_core_will_draw():
    core = PacingCore("live_commerce", 3)
    core.reset(np.arange(3), episode_seeds(11, 3))
    seen = realised_requests(core)
    rng = np.random.default_rng(0)
    t = 0
    last = core.ist[:, K.I_REQUESTS].copy()
    while not core.done.all():
        core.step(rng.uniform(size=3))  # other throttles: the traffic must not change
        now = core.ist[:, K.I_REQUESTS]
        running = now != last
        assert np.array_equal((now - last)[running], seen[running, t])
        last = now.copy()
        t += 1


def test_the_fluid_model_predicts_the_simulated_score_at_scale():
    """With a million impressions counting noise vanishes: the open-loop oracle scores in
    the simulator what its LP said it would."""
    o = OracleController(OracleConfig(replans=0, noise_aware=False))
    roll = run_episodes(o, "suite/large_budget", 2, seed=3)
    assert o.failures == 0
    # values of the same episodes' LPs
    core = PacingCore("suite/large_budget", 2)
    core.reset(np.arange(2), episode_seeds(3, 2))
    from pacegym.baselines.oracle import hindsight_episodes

    eps = hindsight_episodes(core, realised_requests(core), noise_aware=False)
    values = [solve(ep, block=4).value for ep in eps]
    assert np.allclose(roll.metrics[SCORE_KEY], values, atol=0.01)


def test_the_oracle_is_a_clairvoyant_controller_and_counts_failures():
    o = build_controller("oracle", time_limit_s=1e-6)  # HiGHS times out at once
    assert isinstance(o, Controller) and isinstance(o, Clairvoyant)
    roll = run_episodes(o, "live_commerce", 3, seed=0)
    assert o.failures == 3 and roll.failed is not None and roll.failed.all()
    with pytest.raises(RuntimeError, match="run_episodes"):
        OracleController().act(np.zeros((1, 16), dtype=np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["live_commerce", "suite/surge_storm", "suite/small_budget"])
def test_the_oracle_beats_every_tuned_baseline(scenario):
    n = 60
    o = run_episodes(load_controller_yaml("oracle"), scenario, n, seed=4_000)
    oracle = o.metrics[SCORE_KEY].mean()
    for kind in ("on_off", "proportional", "pid", "exp_decay"):
        roll = run_episodes(load_controller_yaml(f"{kind}_tuned"), scenario, n, seed=4_000)
        assert oracle > roll.metrics[SCORE_KEY].mean(), kind
    ref = run_episodes(build_controller("reference"), scenario, n, seed=4_000)
    assert oracle > ref.metrics[SCORE_KEY].mean()


@pytest.mark.parametrize("warm", [False, True])
def test_a_failed_replan_keeps_the_standing_plan(monkeypatch, warm):
    import pacegym.baselines.oracle as oracle_mod
    from pacegym.baselines.hindsight import HindsightSolution
    from pacegym.baselines.hindsight_warm import WarmLP

    real, real_warm = oracle_mod.solve, WarmLP.solve

    def flaky(ep, block=1, time_limit_s=60.0):
        if ep.t0 > 0:
            return HindsightSolution(np.zeros(ep.flight_ticks), float("nan"), 4, "trouble", 0.0)
        return real(ep, block, time_limit_s)

    def flaky_warm(lp, t0=0, fixed=None, post=0.0, time_limit_s=60.0):
        if t0 > 0:  # the warm model fails, then the cold retry (flaky) fails too
            return HindsightSolution(np.zeros(lp.ep.flight_ticks), float("nan"), 4, "x", 0.0)
        return real_warm(lp, t0, fixed, post, time_limit_s)

    monkeypatch.setattr(oracle_mod, "solve", flaky)
    monkeypatch.setattr(WarmLP, "solve", flaky_warm)
    o = OracleController(OracleConfig(replans=3, warm_start=warm))
    roll = run_episodes(o, "live_commerce", 2, seed=0)
    assert o.failures == 0 and not roll.failed.any()
    assert o.replan_fallbacks == 3 * 2  # 3 re-plans x 2 episodes
    open_loop = run_episodes(
        OracleController(OracleConfig(replans=0, warm_start=warm)), "live_commerce", 2, seed=0
    )
    assert np.array_equal(roll.metrics[SCORE_KEY], open_loop.metrics[SCORE_KEY])


def test_the_interior_point_fallback_finds_the_same_optimum():
    ep = tiny_episode(spend_variance=1.0)
    simplex, ipm = solve(ep, methods=("highs",)), solve(ep, methods=("highs-ipm",))
    assert simplex.ok and ipm.ok and ipm.method == "highs-ipm"
    assert ipm.value == pytest.approx(simplex.value, abs=1e-6)
