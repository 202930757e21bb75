"""The value suite's clairvoyant drift bound: loaded as a row of type bound, paired with every
comparator, never in a switch's pool nor the winner."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from pacegym.baselines.drift_bound import ROLE, TrueDrift
from pacegym.baselines.harness import Rollout
from pacegym.experiments import benchmark, benchmark_comparators
from pacegym.experiments import leaderboard as lb
from pacegym.experiments.config import CONF_DIR


def _cfg(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="benchmark", overrides=overrides)


def test_the_value_suite_loads_its_drift_bound_after_its_single_set():
    cfg = _cfg(["suite=value", "tracking=off"])
    assert cfg.benchmark.drift_bound == "value_channels/dual_price_tuned"
    (single, *_), (name, kind, path, ctrl) = benchmark._agents(cfg.benchmark)
    assert single == "value_generalist.dual_price_tuned"
    assert name == "value_channels.dual_price_tuned x true drift" and kind == "dual_price"
    assert isinstance(ctrl, TrueDrift) and ctrl.role == ROLE and path.is_file()
    assert _cfg(["tracking=off"]).benchmark.drift_bound is None  # the volume suite has none
    bad = _cfg(["suite=value", "benchmark.drift_bound=daily_budget/pid_tuned"])
    with pytest.raises(
        ValueError, match=r"benchmark\.drift_bound = 'daily_budget/pid_tuned' is a pid"
    ):
        benchmark._agents(bad.benchmark)


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
