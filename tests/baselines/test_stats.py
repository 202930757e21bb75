"""Bootstrap aggregates and paired differences."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacegym.baselines.stats import aggregate, min_episodes, paired_difference


def test_aggregate_has_mean_and_ci_for_every_key_and_is_seeded():
    rng = np.random.default_rng(0)
    m = {"a": rng.normal(1.0, 0.1, 500), "b": rng.uniform(size=500)}
    agg = aggregate(m, n_boot=1000, seed=1)
    assert agg["episodes"] == 500
    for k in m:
        lo, hi = agg[f"{k}_ci"]
        assert lo < agg[k] < hi
    assert agg["a_ci"][1] - agg["a_ci"][0] == pytest.approx(2 * 1.96 * 0.1 / np.sqrt(500), rel=0.2)
    assert aggregate(m, n_boot=1000, seed=1) == agg
    assert aggregate(m, n_boot=1000, seed=2) != agg


def test_paired_difference_removes_common_noise():
    rng = np.random.default_rng(0)
    common = rng.normal(0, 1.0, 400)  # shared by both controllers (same seeds)
    a = {"x": common + 0.1 + rng.normal(0, 0.01, 400)}
    b = {"x": common}
    mean, lo, hi = paired_difference(a, b, "x")
    assert mean == pytest.approx(0.1, abs=0.01) and 0.09 < lo < mean < hi < 0.11
    with pytest.raises(KeyError, match="allowed"):
        paired_difference(a, b, "y")
    with pytest.raises(ValueError, match="same episodes"):
        paired_difference(a, {"x": common[:10]}, "x")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50))
def test_intervals_stay_within_the_sample_range(values):
    v = np.array(values)
    tol = 1e-6 * (1 + np.abs(v).max())
    agg = aggregate({"v": v}, n_boot=200, seed=0)
    lo, hi = agg["v_ci"]
    if v.size < min_episodes():
        assert math.isnan(lo) and math.isnan(hi)
        return
    assert v.min() - tol <= lo <= hi <= v.max() + tol
    mean, dlo, dhi = paired_difference({"v": v}, {"v": v[::-1].copy()}, "v", n_boot=200)
    d = v - v[::-1]
    assert mean == d.mean()
    assert d.min() - 2 * tol <= dlo <= dhi <= d.max() + 2 * tol


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_too_few_episodes_have_no_interval_and_no_significance(level):
    n = min_episodes(level)
    assert (n, 2 * 0.5**n <= 1 - level, 2 * 0.5 ** (n - 1) <= 1 - level) == (n, True, False)
    assert min_episodes(0.95) == 6
    for k in (1, n - 1):
        agg = aggregate({"v": np.full(k, 0.25)}, n_boot=50, level=level)
        assert agg["v"] == 0.25 and all(math.isnan(x) for x in agg["v_ci"])
        mean, lo, hi = paired_difference({"v": np.ones(k)}, {"v": np.zeros(k)}, "v", level=level)
        assert mean == 1.0 and not lo > 0.0 and math.isnan(hi)  # never starred
    _, lo, _ = paired_difference({"v": np.ones(n)}, {"v": np.zeros(n)}, "v", level=level)
    assert lo > 0.0


def test_large_samples_are_resampled_in_batches_with_the_same_result(monkeypatch):
    from pacegym.baselines import stats

    m = {"a": np.random.default_rng(3).normal(size=2000)}
    whole = aggregate(m, n_boot=500, seed=4)
    monkeypatch.setattr(stats, "_CHUNK", 2000 * 7)  # 7 resamples per batch
    batched = aggregate(m, n_boot=500, seed=4)
    assert batched["a"] == whole["a"]
    assert batched["a_ci"] == pytest.approx(whole["a_ci"], rel=1e-12)
