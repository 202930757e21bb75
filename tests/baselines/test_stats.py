"""Bootstrap aggregates and paired differences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacegym.baselines.stats import aggregate, bootstrap_means, paired_difference


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
def test_bootstrap_means_stay_within_the_sample_range(values):
    v = np.array(values)
    means = bootstrap_means(v, 200, seed=0)
    assert means.shape == (200,)
    assert np.all(means >= v.min() - 1e-6 * (1 + abs(v.min())))
    assert np.all(means <= v.max() + 1e-6 * (1 + abs(v.max())))
