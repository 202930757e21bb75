"""Off-plan spend of the value-aware baselines (issue 22): the dual price's soft fill, the
LP's impression-price cap, the tuner's off-plan constraint and the value bench's docs."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pacegym.agents.export.runtime.segment_pacer import fill_power, fill_top_down
from pacegym.baselines import build_controller, run_episodes
from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.controllers_lp import solve_split
from pacegym.baselines.tune import (
    OFF_PLAN_ATTR,
    best_trial,
    off_plan,
    off_plan_constraint,
    reference_off_plan,
)
from pacegym.envs.core import PacingCore
from pacegym.envs.scenarios import resolve

SHORT = {
    "base": "value_channels",
    "time": {"flight_min": 360.0, "start_minute": 600.0},
    "money": {"budget": 15000.0},
}
REPO = Path(__file__).resolve().parents[2]


def _draw(n=64, s=12, seed=0):
    rng = np.random.default_rng(seed)
    rel = rng.lognormal(0.0, 0.8, (n, s))
    share = rng.dirichlet(np.ones(s), n)
    level = rng.uniform(0.0, 1.0, n)
    return rel, share, level


@pytest.mark.parametrize("k", [0.0, 0.3, 1.0, 3.0, 40.0])
def test_power_fill_reaches_the_level_within_bounds_and_in_rel_order(k):
    rel, share, level = _draw()
    th = fill_power(rel, share, level, k)
    assert th.shape == rel.shape and th.min() >= 0.0 and th.max() <= 1.0
    np.testing.assert_allclose((th * share).sum(axis=1), level, rtol=1e-9, atol=1e-12)
    order = np.argsort(-rel, axis=1, kind="stable")
    ranked = np.take_along_axis(th, order, axis=1)
    assert (np.diff(ranked, axis=1) <= 1e-12).all()  # a better segment never gets less


def test_power_fill_spans_the_uniform_throttle_to_the_top_down_fill():
    rel, share, level = _draw()
    np.testing.assert_allclose(fill_power(rel, share, level, 0.0), np.repeat(level[:, None], 12, 1))
    hard = fill_top_down(rel, share, level)
    np.testing.assert_allclose(fill_power(rel, share, level, 5000.0), hard, atol=1e-9)
    full = fill_power(rel, share, np.ones(len(level)), 2.0)
    np.testing.assert_allclose(full, 1.0)


def test_softness_zero_is_the_hard_fill_and_softness_spreads_the_buying():
    hard = build_controller("dual_price")
    assert hard.config.softness == 0.0
    soft = build_controller("dual_price", softness=2.0)
    core = PacingCore(resolve(SHORT), 3)
    core.reset(np.arange(3), np.arange(1, 4, dtype=np.uint64))
    hard.reset(3)
    soft.reset(3)
    a, b = hard.act(core.obs), soft.act(core.obs)
    assert (b > 0).sum() > (a > 0).sum()  # more segments entered, in part
    with pytest.raises(ControllerConfigError, match=r"controller\.params\.softness"):
        build_controller("dual_price", softness=-1.0)


def test_price_cap_bounds_the_spend_weighted_impression_price():
    core = PacingCore(resolve(SHORT), 1)
    tab = core.tables
    w = np.full(24, 1.0 / 24)
    cost = (w[:, None] * tab.share * tab.fill_x * tab.price_x).sum(axis=0)
    pbar = (cost * tab.price_x).sum() / cost.sum()
    free = solve_split(tab, w, 0.3, 1.0)
    capped = solve_split(tab, w, 0.3, 1.0, price_cap=1.0)
    price = [(cost * x * tab.price_x).sum() / (cost * x).sum() for x in (free, capped)]
    assert price[0] > 1.2 * pbar  # the uncapped split buys the dear segments
    assert price[1] <= pbar * (1 + 1e-6)
    np.testing.assert_allclose((cost * capped).sum(), 0.3 * cost.sum(), rtol=1e-6)


def _trial(value, excess):
    return SimpleNamespace(value=value, user_attrs={OFF_PLAN_ATTR: excess})


def test_the_constrained_best_is_the_best_set_under_the_cap_else_the_closest():
    trials = [_trial(1.0, 0.01), _trial(0.8, -0.001), _trial(0.9, 0.0), _trial(None, -1.0)]
    assert best_trial(trials, capped=False).value == 1.0
    assert best_trial(trials, capped=True).value == 0.9
    assert off_plan_constraint(trials[1]) == [-0.001]
    over = [_trial(1.0, 0.02), _trial(0.5, 0.005)]
    assert best_trial(over, capped=True).value == 0.5


def test_off_plan_is_misplaced_plus_burst_and_the_reference_is_reproducible():
    m = {"misplaced": np.array([0.01, 0.03]), "burst": np.array([0.02, 0.0])}
    assert off_plan(m) == pytest.approx(0.03)
    sc = resolve(SHORT)
    ref = reference_off_plan("daily_budget/pid_tuned", sc, 3, 5)
    r = run_episodes(build_controller("pid"), sc, 3, 5)  # another controller differs
    assert ref == reference_off_plan("daily_budget/pid_tuned", sc, 3, 5)
    assert ref != off_plan(r.metrics)


def test_the_value_bench_writes_its_tables_between_the_marks(tmp_path):
    path = REPO / "benchmarks" / "bench_value_baselines.py"
    spec = importlib.util.spec_from_file_location("bench_value_baselines", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    doc = tmp_path / "doc.md"
    doc.write_text(f"# a\nbefore\n{bench.MARK[0]}\nold\n{bench.MARK[1]}\nafter\n")
    bench.write_docs(doc, ["new", "table"])
    text = doc.read_text()
    assert "old" not in text and "before\n" in text and text.endswith("after\n")
    assert f"{bench.MARK[0]}\nnew\ntable\n{bench.MARK[1]}" in text
    (tmp_path / "bare.md").write_text("no marks\n")
    with pytest.raises(SystemExit, match="lacks the lines"):
        bench.write_docs(tmp_path / "bare.md", ["x"])
    assert bench.MARK[0] in (REPO / "docs" / "baselines.md").read_text()


def test_a_capped_search_returns_a_set_under_the_cap_or_the_closest():
    from pacegym.experiments.tune import tune

    sc = resolve(SHORT)
    kw = dict(trials=3, train_episodes=2, train_seed=100, test_episodes=2, test_seed=0)
    loose = tune("dual_price", sc, off_plan_cap=10.0, **kw)
    assert loose["off_plan"][1] <= 0.0  # every set meets a loose cap: the best score wins
    free = tune("dual_price", sc, **kw)
    assert loose["params"] == free["params"] and free["off_plan"][1] is None
    tight = tune("dual_price", sc, off_plan_cap=-1.0, **kw)  # none can: the closest
    assert tight["off_plan"][1] > 0.0
