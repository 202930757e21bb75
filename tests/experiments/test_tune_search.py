"""Optuna tuning of the baselines: search spaces, incumbents, held-out confirmation."""

from __future__ import annotations

import dataclasses

import pytest

from pacegym.baselines.factory import CONTROLLERS, build_controller
from pacegym.baselines.tune import SPACES, Choice, Log, Uniform, in_space, rollout
from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments.tune import tune


def test_every_kind_has_a_space_of_real_parameters():
    assert set(SPACES) == set(CONTROLLERS)
    for kind, space in SPACES.items():
        fields = {f.name for f in dataclasses.fields(CONTROLLERS[kind][1])}
        assert set(space) <= fields, (kind, set(space) - fields)
        for dim in space.values():
            if isinstance(dim, Log):
                assert 0 < dim.lo < dim.hi
            elif isinstance(dim, Uniform):
                assert dim.lo < dim.hi
            else:
                assert isinstance(dim, Choice) and len(dim.values) >= 2


def test_space_bounds_build_valid_controllers():
    for kind, space in SPACES.items():
        for pick in (0, -1):
            params = {
                k: (d.values[pick] if isinstance(d, Choice) else (d.lo, d.hi)[pick])
                for k, d in space.items()
            }
            build_controller(kind, **params)


def test_in_space_keeps_only_representable_values():
    space = SPACES["pid"]
    got = in_space({"kp": 20.0, "ki": 1e6, "plan": "uniform", "p_min": 1e-3}, space)
    assert got == {"kp": 20.0, "plan": "uniform"}


def test_tune_never_returns_worse_than_the_incumbent_on_training_seeds():
    incumbent = {"kp": 5.0, "ki": 20.0}
    res = tune(
        "pid", "live_commerce", trials=4, train_episodes=16, test_episodes=32, incumbent=incumbent
    )
    inc = rollout(
        "pid",
        {**dataclasses.asdict(CONTROLLERS["pid"][1]()), **incumbent},
        "live_commerce",
        16,
        100_000,
    )
    assert res["train"] >= float(inc.metrics[SCORE_KEY].mean()) - 1e-12
    assert res["trials"] == 4 and res["score_key"] == SCORE_KEY
    build_controller("pid", **res["params"])
    mean, lo, hi = res["difference"]
    assert lo <= mean <= hi
    assert res["test"]["episodes"] == 32


def test_overlapping_seed_ranges_are_refused():
    with pytest.raises(ValueError, match="overlap held-out seeds"):
        tune("pid", trials=1, train_episodes=10, train_seed=0, test_episodes=10, test_seed=5)


def test_a_first_set_outside_the_space_is_scored_as_it_is():
    """kp 500 lies above the PID space's 200: the enqueued trial draws another kp, so the
    incumbent itself is scored beside the study and returned where it is better."""
    incumbent = {"kp": 500.0, "ki": 20.0}
    res = tune(
        "pid", "live_commerce", trials=1, train_episodes=8, test_episodes=8, incumbent=incumbent
    )
    full = {**dataclasses.asdict(CONTROLLERS["pid"][1]()), **incumbent}
    inc = rollout("pid", full, "live_commerce", 8, 100_000)
    assert res["train"] >= float(inc.metrics[SCORE_KEY].mean()) - 1e-12
    if res["best_trial"] == -1:
        assert res["params"]["kp"] == 500.0


def test_better_follows_the_best_trial_rule():
    from pacegym.experiments.tune_start import better, unrepresentable

    a, b = ({"x": 1}, 1.0, None), ({"x": 2}, 2.0, None)
    assert better(a, b) is b and better(b, a) is b
    assert better(({}, 1.0, -0.1), ({}, 2.0, 0.1))[1] == 1.0  # the cap first
    assert better(({}, 1.0, 0.3), ({}, 0.5, 0.1))[1] == 0.5  # none meets it: the closer
    assert better(({}, 1.0, -0.3), ({}, 2.0, 0.0))[1] == 2.0
    space = SPACES["pid"]
    inside = {"kp": 20.0, "ki": 5.0, "p_min": 1e-3}
    assert unrepresentable([inside, None, {"kp": 500.0}, {"kp": 500.0}], space) == [{"kp": 500.0}]


def test_the_search_returns_a_better_first_set_that_no_trial_could_try():
    from pacegym.baselines.tune import full_params
    from pacegym.experiments.tune_start import search

    first = full_params("pid", {"kp": 500.0, "ki": 20.0})  # kp above the space's 200

    def evaluate(params):
        return (1.0 if params["kp"] == 500.0 else 0.0), None

    fixed = {"p_min": first["p_min"], "p_max": first["p_max"]}
    (params, value, excess), _, number = search(
        "pid", SPACES["pid"], fixed, [first], evaluate, 0, 2, False
    )
    assert (params, value, excess, number) == (first, 1.0, None, -1)
