"""Regret and the normalised score: 0 for the reference, 100 for the oracle, by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pacegym.baselines.normalise import normalise, normalised_value


def scores(n=50, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.normal(0.5, 0.1, n)
    oracle = ref + rng.uniform(0.2, 0.4, n)
    policy = ref + 0.6 * (oracle - ref) + rng.normal(0, 0.01, n)
    return policy, ref, oracle


def test_reference_is_zero_and_oracle_is_hundred():
    p, r, o = scores()
    assert normalise(r, r, o).normalised == pytest.approx(0.0, abs=1e-12)
    top = normalise(o, r, o)
    assert top.normalised == pytest.approx(100.0)
    assert top.regret == 0.0 and top.regret_ci == (0.0, 0.0)
    mid = normalise(p, r, o)
    assert 50 < mid.normalised < 70
    lo, hi = mid.normalised_ci
    assert lo <= mid.normalised <= hi
    assert mid.regret == pytest.approx((o - p).mean())
    assert mid.regret_ci[0] <= mid.regret <= mid.regret_ci[1]


def test_failed_oracle_episodes_are_excluded_and_counted():
    p, r, o = scores()
    bad = np.zeros(p.shape, dtype=bool)
    bad[:5] = True
    o_broken = o.copy()
    o_broken[:5] = 0.0  # what a failed episode scores
    ns = normalise(p, r, o_broken, bad)
    assert ns.excluded == 5 and ns.episodes == 45
    assert ns.normalised == pytest.approx(normalise(p[5:], r[5:], o[5:]).normalised)


def test_scale_undefined_when_the_oracle_does_not_beat_the_reference():
    assert math.isnan(normalised_value(0.5, 0.9, 0.9))
    assert math.isnan(normalised_value(0.5, 0.9, 0.8))
    with pytest.raises(ValueError, match="same episodes"):
        normalise(np.zeros(3), np.zeros(4), np.zeros(3))


def test_normalised_difference_is_the_difference_of_normalised_scores():
    from pacegym.baselines.normalise import normalised_difference

    p, r, o = scores()
    b = r + 0.5 * (o - r)
    d, lo, hi = normalised_difference(p, b, r, o, n_boot=400)
    assert d == pytest.approx(normalise(p, r, o).normalised - normalise(b, r, o).normalised)
    assert 5 < d < 15 and lo <= d <= hi and lo > 0  # p beats b by ~10 points, clearly
    d0, lo0, hi0 = normalised_difference(b, b, r, o, n_boot=400)
    assert d0 == 0.0 and lo0 == 0.0 and hi0 == 0.0
    failed = np.zeros(len(p), dtype=bool)
    failed[:10] = True
    df, _, _ = normalised_difference(p, b, r, o, failed, n_boot=100)
    want = (
        normalise(p[10:], r[10:], o[10:]).normalised - normalise(b[10:], r[10:], o[10:]).normalised
    )
    assert df == pytest.approx(want)
    assert math.isnan(normalised_difference(p, b, r, o, np.ones(len(p), bool))[0])
    with pytest.raises(ValueError, match="same episodes"):
        normalised_difference(p, b[:-1], r, o)
