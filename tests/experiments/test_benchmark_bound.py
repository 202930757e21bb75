"""The value suite's clairvoyant drift bound: loaded as a row of type bound, paired with every
comparator, never in a switch's pool nor the winner."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from pacegym.baselines.drift_bound import ROLE, TrueDrift
from pacegym.baselines.harness import Rollout
from pacegym.baselines.mpc import ModelMPC, MPCController
from pacegym.experiments import benchmark, benchmark_comparators
from pacegym.experiments import leaderboard as lb
from pacegym.experiments.config import CONF_DIR


def _cfg(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="benchmark", overrides=overrides)


def test_the_value_suite_loads_its_drift_bound_after_its_single_set():
    cfg = _cfg(["suite=value", "tracking=off"])
    assert cfg.benchmark.drift_bound == "value_channels/dual_price_tuned"
    mpc, (single, *_), (name, kind, path, ctrl), _ = benchmark._agents(cfg.benchmark)
    assert mpc[0] == "mpc_value" and single == "value_generalist.dual_price_tuned"
    assert name == "value_channels.dual_price_tuned x true drift" and kind == "dual_price"
    assert isinstance(ctrl, TrueDrift) and ctrl.role == ROLE and path.is_file()
    assert _cfg(["tracking=off"]).benchmark.drift_bound is None  # the volume suite has none
    bad = _cfg(["suite=value", "benchmark.drift_bound=daily_budget/pid_tuned"])
    with pytest.raises(
        ValueError, match=r"benchmark\.drift_bound = 'daily_budget/pid_tuned' is a pid"
    ):
        benchmark._agents(bad.benchmark)


def test_the_value_suite_runs_its_mpc_and_the_mpc_told_the_world_model_as_a_bound():
    cfg = _cfg(["suite=value", "tracking=off"])
    assert cfg.benchmark.model_bound == "mpc_value"
    rows = {a[0]: a for a in benchmark._agents(cfg.benchmark)}
    _, kind, path, mpc = rows["mpc_value"]
    assert type(mpc) is MPCController and kind == "mpc" and not hasattr(mpc, "role")
    _, kind, bound_path, bound = rows["mpc_value x true model"]
    assert isinstance(bound, ModelMPC) and bound.role == ROLE and kind == "mpc"
    assert bound_path == path and bound.config == mpc.config and bound.knows_model
    assert list(rows)[-1] == "mpc_value x true model"  # after the drift bound
    assert _cfg(["tracking=off"]).benchmark.model_bound is None  # the volume suite has none
    bad = _cfg(["suite=value", "benchmark.model_bound=value_channels/dual_price_tuned"])
    with pytest.raises(
        ValueError,
        match=r"benchmark\.model_bound = 'value_channels/dual_price_tuned' is a dual_price set",
    ):
        benchmark._agents(bad.benchmark)
    nowhere = _cfg(["suite=value", "benchmark.model_bound=nowhere"])
    with pytest.raises(ValueError, match=r"benchmark\.model_bound = 'nowhere'"):
        benchmark._agents(nowhere.benchmark)


def _entry(name, role, scores):
    metrics = {k: np.full(len(scores), 0.5) for k in lb.METRIC_KEYS}
    metrics[lb.PRIMARY] = np.asarray(scores, float)
    return lb.Entry(name, role, role, Rollout(name, metrics))


def test_a_bound_is_compared_but_never_chosen_nor_crowned():
    entries = [
        _entry("oracle", "oracle", [1.0] * 4),
        _entry("reference", "reference", [0.5] * 4),
        _entry("a", "baseline", [0.8, 0.6, 0.8, 0.6]),
        _entry("g", "agent", [0.6, 0.8, 0.6, 0.8]),
        _entry("a x true drift", ROLE, [0.95] * 4),
    ]
    for pool in ("baselines", "deployable"):
        members, _ = benchmark_comparators.switch_scores(entries, pool)
        assert ROLE not in {e.type for e in members}
    comp = benchmark_comparators.comparators(entries, "a", None, 200, 0.95)
    raw = comp["policies"]["a x true drift"]["best_baseline"]["raw"][0]
    assert raw == pytest.approx(0.95 - 0.7)
    built, best = lb.build(entries, lb.PRIMARY, 200, 0.95)
    doc = lb.document(built, best, "s", 4, 0, lb.PRIMARY, 200, 0.95, None)
    assert best == "a" and doc["winner"]["name"] == "a"  # the bound scores most, never wins
