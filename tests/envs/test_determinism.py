"""Same seed, same trajectory: single env, native vector env and SB3 adapter agree step by step."""

import numpy as np
import pytest

from pacegym.agents.vec_env import PacingVecEnv
from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore
from pacegym.envs.delay_bins import CHAIN_ABOVE
from pacegym.envs.pacing_env import PacingEnv
from pacegym.envs.vector import PacingVectorEnv


def _actions(n_steps: int, n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(n_steps, n, 1)).astype(np.float32)


def _rollout_single(seed: int, actions: np.ndarray):
    env = PacingEnv()
    obs, _ = env.reset(seed=seed)
    out = [(obs, 0.0, False)]
    for a in actions:
        obs, r, term, _, _ = env.step(a)
        out.append((obs, r, term))
        if term:
            obs, _ = env.reset()
            out.append((obs, 0.0, False))
    return out


def test_same_seed_same_trajectory_and_different_seed_differs():
    acts = _actions(200, 1)[:, 0]
    a = _rollout_single(11, acts)
    b = _rollout_single(11, acts)
    c = _rollout_single(12, acts)
    assert all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c, strict=False))


# the binned delay sampler at 40x live commerce's traffic: thousands of impressions a tick,
# so the conditional-binomial chain runs as well as the alias draws (envs.delay_bins)
BINNED = {
    "base": "live_commerce",
    "delay": {"sampler": "binned"},
    "traffic": {"base_rate": 320.0},
    "money": {"budget": 2e6},
}


@pytest.mark.parametrize(
    "scenario", ["live_commerce", "daily_budget", "suite/realistic_daily", BINNED]
)
def test_vector_env_matches_single_envs(scenario):
    n, seed = 4, 100
    long = scenario in ("live_commerce", BINNED)
    steps = 600 if long else 300  # live commerce crosses an episode end
    acts = _actions(steps, n)
    venv = PacingVectorEnv(n, scenario)
    vobs, _ = venv.reset(seed=seed)
    singles = [PacingEnv(scenario) for _ in range(n)]
    sobs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(singles)])
    np.testing.assert_array_equal(vobs, sobs)
    pending_reset = np.zeros(n, dtype=bool)
    crossed = False
    for t in range(steps):
        vobs, vrew, vterm, _, _ = venv.step(acts[t])
        for i, e in enumerate(singles):
            if pending_reset[i]:  # next-step autoreset: the vector env resets, ignoring the action
                obs, _ = e.reset()
                r, term = 0.0, False
                crossed = True
            else:
                obs, r, term, _, _ = e.step(acts[t, i])
            np.testing.assert_array_equal(vobs[i], obs)
            assert vrew[i] == r
            assert vterm[i] == term
        pending_reset = vterm.copy()
    if long:
        assert crossed


@pytest.mark.parametrize("sampler", ["impression", "binned"])
def test_parallel_core_rows_match_small_cores(sampler):
    """The batched core's parallel kernel (>= PARALLEL_MIN_CAMPAIGNS rows) gives each row
    the trajectory a one-row core (the serial kernel) gives the same seed."""
    n, seed, steps = K.PARALLEL_MIN_CAMPAIGNS + 6, 40, 520
    scenario = {**BINNED, "delay": {"sampler": sampler}}
    big = PacingCore(scenario, n)
    big.reset(np.arange(n), np.arange(n, dtype=np.uint64) + seed)
    rows = [0, 7, n - 1]
    small = [PacingCore(scenario, 1) for _ in rows]
    for r, core in zip(rows, small, strict=True):
        core.reset(np.zeros(1, np.int64), np.array([seed + r], dtype=np.uint64))
    throttles = np.random.default_rng(3).uniform(0.0, 1.0, size=(steps, n))
    most = 0  # most impressions a row served in one tick: the chain runs above CHAIN_ABOVE x bins
    for t in range(steps):
        before = big.ist[:, K.I_SERVED].copy()
        res = big.step(throttles[t])
        most = max(most, int((big.ist[:, K.I_SERVED] - before).max()))
        for r, core in zip(rows, small, strict=True):
            one = core.step(throttles[t, r : r + 1])
            np.testing.assert_array_equal(res.obs[r], one.obs[0])
            assert res.reward[r] == one.reward[0]
    assert big.done.all() and most > CHAIN_ABOVE * big.n_delay


def test_sb3_adapter_matches_vector_env():
    n, seed, steps = 3, 5, 600
    acts = _actions(steps, n, seed=3)
    venv = PacingVectorEnv(n)
    vobs, _ = venv.reset(seed=seed)
    sb3 = PacingVecEnv(n_envs=n)
    sb3.seed(seed)
    np.testing.assert_array_equal(sb3.reset(), vobs)
    for t in range(steps - 1):
        vobs, vrew, vterm, _, _ = venv.step(acts[t])
        sobs, srew, sdone, infos = sb3.step(acts[t])
        np.testing.assert_array_equal(srew, vrew.astype(np.float32))
        np.testing.assert_array_equal(sdone, vterm)
        np.testing.assert_array_equal(sobs[~vterm], vobs[~vterm])
        if vterm.any():
            for i in np.flatnonzero(vterm):
                np.testing.assert_array_equal(infos[i]["terminal_observation"], vobs[i])
                assert set(infos[i]["metrics"]) >= {"delivery", "pacing_score_v2"}
            # SB3 resets in the same step; the Gymnasium vector env on the next one
            vobs_next, vrew_next, _, _, _ = venv.step(acts[t + 1])
            np.testing.assert_array_equal(vobs_next[vterm], sobs[vterm])
            assert np.all(vrew_next[vterm] == 0.0)
            return
    raise AssertionError("no episode ended within the test horizon")
