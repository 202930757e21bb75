"""``train.reward_scale: normalised``: every scenario weighs as the benchmark weighs it."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest

from pacegym.agents.algos import make_env
from pacegym.agents.settings import AgentSettings, ResidualSettings, TrainSettings
from pacegym.agents.training import train_agent
from pacegym.agents.vec_env import PacingVecEnv
from pacegym.baselines.weighting import (
    GAP_FLOOR,
    NORMALISED_KEY,
    gaps,
    normalised,
    reference_scores,
    scenario_weights,
)
from pacegym.envs.scenarios import resolve


def test_weights_are_one_over_the_gap_to_a_perfect_score_with_mean_one():
    ref = np.array([-5.0, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(gaps(ref), [6.0, 0.5, 0.1, GAP_FLOOR])
    w = scenario_weights(ref)
    assert w.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(w[1] / w[0], 12.0)  # a point of a 0.5 gap is worth 12 of a 6
    assert normalised(ref, ref).tolist() == [0.0, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(normalised(1.0, ref[:3]), 100.0)
    np.testing.assert_allclose(normalised(0.7, 0.5), 40.0)


def test_the_reference_spreads_surges_widest_so_they_weigh_least():
    scs = [resolve(s) for s in ("suite/surge_storm", "live_commerce", "multi_day_flight")]
    ref = reference_scores(scs, 6, 1_000_000)
    assert ref[0] < ref[1] < ref[2] < 1.0
    w = scenario_weights(ref)
    assert w[0] < w[1] < w[2]


def test_env_weighs_each_campaign_by_its_scenario():
    scs = ["live_commerce", "daily_budget"]
    flight = PacingVecEnv(scs, 4, seed=3, reward_scale="flight")
    weighted = PacingVecEnv(scs, 4, seed=3, reward_scale="flight", scenario_weights=[2.0, 0.5])
    flight.reset(), weighted.reset()
    act = np.full((4, 1), 0.3, dtype=np.float32)
    for _ in range(20):
        _, r0, _, _ = flight.step(act)
        _, r1, _, _ = weighted.step(act)
        np.testing.assert_allclose(r1, r0 * np.array([2.0, 2.0, 0.5, 0.5]), rtol=1e-6)


@pytest.mark.parametrize("weights", [[1.0], [1.0, 0.0], [1.0, float("nan")], [1.0, -2.0]])
def test_bad_weights_are_refused(weights):
    with pytest.raises(ValueError, match=r"scenario_weights = .*one finite number > 0"):
        PacingVecEnv(["live_commerce", "daily_budget"], 4, scenario_weights=weights)


def test_normalised_reward_needs_weights():
    with pytest.raises(ValueError, match="needs scenario_weights"):
        make_env("live_commerce", AgentSettings(), 2, 0, "normalised")


@pytest.mark.slow
def test_a_normalised_run_selects_and_records_the_mean_normalised_score(tmp_path):
    agent = AgentSettings(
        name="gen",
        net_arch=[8],
        hyperparams={"n_steps": 32, "batch_size": 64, "n_epochs": 1},
        residual=ResidualSettings(
            enabled=True, base={"kind": "pid", "params": {"plan": "observed"}}
        ),
    )
    scs = ["live_commerce", "suite/small_budget"]
    train = TrainSettings(
        total_timesteps=256,
        n_envs=4,
        eval_freq=128,
        eval_episodes=4,
        checkpoint_freq=0,
        progress_bar=False,
        scenarios=scs,
        reward_scale="normalised",
    )
    logged: list[dict[str, float]] = []
    res = train_agent("live_commerce", agent, train, tmp_path, lambda m, s: logged.append(dict(m)))
    evals = [m for m in logged if f"eval/{NORMALISED_KEY}" in m]
    assert len(evals) == len(res.history) >= 2
    ref = reference_scores([resolve(s) for s in scs], 4, train.eval_seed)
    for m in evals:
        per = [m[f"eval/{resolve(s).name}/pacing_score_v2"] for s in scs]
        np.testing.assert_allclose(
            m[f"eval/{resolve(scs[1]).name}/{NORMALISED_KEY}"], normalised(per[1], ref[1])
        )
        assert m[f"eval/{NORMALISED_KEY}"] == pytest.approx(float(np.mean(normalised(per, ref))))
    best = max(res.history, key=lambda r: r[NORMALISED_KEY])
    assert res.eval[NORMALISED_KEY] == best[NORMALISED_KEY]
    with open(tmp_path / "eval_history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r[NORMALISED_KEY]) for r in rows] == [r[NORMALISED_KEY] for r in res.history]
    plain = train_agent(
        "live_commerce", agent, replace(train, reward_scale="flight"), tmp_path / "plain"
    )
    assert all(NORMALISED_KEY not in r for r in plain.history)
