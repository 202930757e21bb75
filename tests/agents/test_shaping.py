"""Score-aligned reward shaping (agents/shaping.py): unbiasedness, exact terms, wiring."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.agents.settings import ShapingSettings
from pacegym.agents.shaping import SHAPING_TERMS, ScoreShaping, build_shaping, delay_tails
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.baselines.factory import from_spec
from pacegym.envs.delays import alias_table

PID = {
    "kind": "pid",
    "params": {"kp": 44.13, "ki": 15.85, "early_close": 0.369, "in_flight_weight": 0.633},
}


def test_delay_tails_invert_alias_table() -> None:
    rng = np.random.default_rng(0)
    q = rng.random(50)
    q /= q.sum()
    prob, idx = np.ones(50), np.zeros(50, dtype=np.int64)
    alias_table(q, prob, idx)
    tail = delay_tails(prob[None], idx[None])[0]
    np.testing.assert_allclose(tail[:-1], np.cumsum(q[::-1])[::-1], atol=1e-12)
    assert tail[0] == pytest.approx(1.0) and tail[-1] == 0.0


def _episodes(n: int, shaping: ScoreShaping | None, episodes: int) -> list[dict]:
    env = PacingVecEnv("live_commerce", n_envs=n, seed=3, shaping=shaping)
    ctrl = from_spec(PID)
    ctrl.reset(n)
    obs = env.reset()
    out: list[dict] = []
    while len(out) < episodes:
        obs, _reward, dones, infos = env.step_throttle(np.asarray(ctrl.act(obs), dtype=float))
        for i in np.flatnonzero(dones):
            terms = list(infos[i].get("shaping_episode", {}).values())
            out.append(
                {"r": infos[i]["episode"]["r"], "terms": np.array(terms), **infos[i]["metrics"]}
            )
    return out


def test_shaped_return_estimates_pacing_score() -> None:
    eps = _episodes(128, ScoreShaping(), 256)
    r = np.array([e["r"] for e in eps])
    score = np.array([e["pacing_score"] for e in eps])
    terms = np.array([e["terms"] for e in eps])
    col = {k: terms[:, j] for j, k in enumerate(SHAPING_TERMS)}
    # exact terms: delivery, over-budget waste, score tracking and spike
    np.testing.assert_allclose(col["billable"], [e["delivery"] for e in eps], atol=1e-9)
    np.testing.assert_allclose(
        col["waste_over"], [-e["wasted_over_budget"] for e in eps], atol=1e-9
    )
    np.testing.assert_allclose(
        col["score_tracking"], [-0.02 * e["tracking_error"] for e in eps], atol=1e-9
    )
    np.testing.assert_allclose(
        col["score_spike"], [-0.01 * max(e["spike_ratio"] - 1, 0) for e in eps], atol=1e-9
    )
    # expected post-end waste: unbiased for the realised one (mean within 4 standard errors)
    post = np.array([e["wasted_post_end"] for e in eps])
    d = -col["waste_post_expected"] - post
    assert abs(d.mean()) < 4 * d.std() / np.sqrt(d.size) + 1e-4
    assert np.corrcoef(r, score)[0, 1] > 0.99
    weights = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])  # DEFAULT_WEIGHTS: env_tracking off
    np.testing.assert_allclose(r, terms @ weights, atol=1e-9)


def test_env_reward_untouched_and_config() -> None:
    plain = _episodes(64, None, 64)
    shaped = _episodes(64, ScoreShaping(), 64)
    # same trajectories (shaping only changes the reward)
    for a, b in zip(plain, shaped, strict=True):
        assert a["pacing_score"] == b["pacing_score"]
    assert build_shaping(ShapingSettings()) is None
    assert build_shaping(ShapingSettings(enabled=False, weights={"billable": 2.0})) is None
    shaper = build_shaping(ShapingSettings(enabled=True, weights={"env_tracking": 0.5}))
    assert isinstance(shaper, ScoreShaping) and dict(shaper.weights) == {"env_tracking": 0.5}
    with pytest.raises(ValueError, match="unknown terms"):
        ScoreShaping(weights={"nope": 1.0})
