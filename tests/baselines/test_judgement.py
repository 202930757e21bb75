"""The score agrees with the field's production judgement (issue: "An objective that
advertisers would sign"), on paired episodes (common random numbers).

- live commerce: the seed's exponential-decay fix beats the uniform plan;
- a daily budget: an early-finishing controller scores clearly below the same
  controller on plan, and the PID tuned for it stays on plan (lifetime >= 0.93);
- on/off control scores below the proportional throttle (the seed's spike problem,
  live commerce, where full throttle is many times the plan's pace).
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from pacegym.baselines import build_controller, paired_difference, run_episodes
from pacegym.envs import SCORE_KEY
from pacegym.resources import conf_dir, tuned_config

pytestmark = pytest.mark.slow

SEED = {  # conf/experiment/seed_live_commerce.yaml's controllers
    name: (c["kind"], c["params"])
    for name, c in yaml.safe_load(
        (conf_dir() / "experiment" / "seed_live_commerce.yaml").read_text()
    )["controllers"].items()
}


def _tuned(kind: str, scenario: str) -> dict:
    path = tuned_config(kind, scenario)
    assert path is not None, (kind, scenario)
    return yaml.safe_load(path.read_text())["params"]


def test_exp_decay_beats_the_uniform_plan_on_live_commerce():
    uniform = run_episodes(
        build_controller(SEED["uniform"][0], **SEED["uniform"][1]), "live_commerce", 400, 0
    )
    decay = run_episodes(
        build_controller(SEED["exp_decay"][0], **SEED["exp_decay"][1]), "live_commerce", 400, 0
    )
    mean, lo, _ = paired_difference(decay, uniform, SCORE_KEY)
    assert lo > 0.0, mean
    # the seed's own numbers still hold beside it
    post = uniform.metrics["post_end_share"].mean()
    cut = 1.0 - decay.metrics["wasted_post_end"].mean() / uniform.metrics["wasted_post_end"].mean()
    assert 0.10 <= post <= 0.15 and 0.50 <= cut <= 0.70
    assert decay.metrics["delivery"].mean() >= 0.95 and uniform.metrics["delivery"].mean() >= 0.95


def test_early_finish_of_a_daily_budget_scores_clearly_lower():
    params = _tuned("pid", "daily_budget")
    on_plan = run_episodes(build_controller("pid", **params), "daily_budget", 100, 0)
    early = run_episodes(
        build_controller("pid", **{**params, "early_close": 0.37}), "daily_budget", 100, 0
    )
    assert on_plan.metrics["lifetime"].mean() >= 0.93
    # the plan is laid on forecast traffic: 63% of it has passed at ~80% of the day
    assert early.metrics["lifetime"].mean() < on_plan.metrics["lifetime"].mean() - 0.1
    mean, _, hi = paired_difference(early, on_plan, SCORE_KEY)
    assert hi <= -0.15, mean


@pytest.mark.parametrize("params", ["seed", "tuned"])
def test_on_off_scores_below_the_proportional_throttle_on_live_commerce(params):
    if params == "seed":
        on_off = build_controller(SEED["on_off"][0], **SEED["on_off"][1])
        prop = build_controller(SEED["uniform"][0], **SEED["uniform"][1])
    else:
        on_off = build_controller("on_off", **_tuned("on_off", "live_commerce"))
        prop = build_controller("proportional", **_tuned("proportional", "live_commerce"))
    a = run_episodes(on_off, "live_commerce", 400, 0)
    b = run_episodes(prop, "live_commerce", 400, 0)
    mean, _, hi = paired_difference(a, b, SCORE_KEY)
    assert hi < 0.0, mean
    assert a.metrics["burst"].mean() > b.metrics["burst"].mean()


def test_tuned_sets_exist_for_every_preset_and_build():
    from pacegym.envs import PRESETS

    for scenario in PRESETS:
        for kind in ("on_off", "proportional", "exp_decay", "pid"):
            cfg = build_controller(kind, **_tuned(kind, scenario)).config  # type: ignore[attr-defined]
            assert dataclasses.asdict(cfg)
