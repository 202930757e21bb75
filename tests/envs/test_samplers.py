"""The compiled samplers terminate and stay in range for every rate, finite or not."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacegym.envs import rng


def stream(seed: int = 7) -> np.ndarray:
    state = np.zeros((1, rng.N_STREAMS, 4), dtype=np.uint64)
    rng.seed_streams(state, np.zeros(1, np.int64), np.array([seed], np.uint64))
    return state[0, rng.STREAM_TRAFFIC]


ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


@pytest.mark.parametrize("lam", [math.nan, math.inf, -math.inf, -1.0, 0.0, -0.0])
def test_poisson_of_a_non_finite_or_non_positive_rate_is_zero(lam):
    assert rng.poisson(stream(), lam) == 0


@given(lam=ANY_FLOAT)
@settings(max_examples=300, deadline=None)
def test_poisson_terminates_in_range_for_any_rate(lam):
    k = rng.poisson(stream(), lam)
    assert 0 <= k <= rng.MAX_DRAW
    if not math.isfinite(lam) or lam <= 0:
        assert k == 0
        assert rng.rate_status(lam) == (rng.RATE_NOT_FINITE if not math.isfinite(lam) else 0)
    elif lam > rng.NORMAL_ABOVE:
        assert rng.rate_status(lam) == rng.RATE_CAPPED
        assert k == pytest.approx(min(lam, rng.MAX_DRAW), rel=1e-3)


@given(n=st.integers(0, 2**63 - 1), p=ANY_FLOAT)
@settings(max_examples=300, deadline=None)
def test_binomial_terminates_in_range_for_any_n_and_p(n, p):
    k = rng.binomial(stream(), n, p)
    assert 0 <= k <= n
    if not p > 0:  # NaN, negative, zero
        assert k == 0
    elif p >= 1:
        assert k == n


def test_the_normal_branch_has_the_poisson_mean_and_sd():
    s = stream(3)
    lam = 4e12
    draws = np.array([rng.poisson(s, lam) for _ in range(2000)], dtype=float)
    assert abs(draws.mean() - lam) < 4 * math.sqrt(lam / draws.size)
    assert draws.std() == pytest.approx(math.sqrt(lam), rel=0.1)


def test_rates_below_the_normal_branch_keep_their_exact_draws():
    """Below the normal branch a stream replays its draws (test_reference pins their values)."""
    s = stream(11)
    draws = [rng.poisson(s, lam) for lam in (0.5, 3.0, 9.99, 10.0, 250.0, 1e6, 1e11)]
    again = stream(11)
    assert draws == [rng.poisson(again, lam) for lam in (0.5, 3.0, 9.99, 10.0, 250.0, 1e6, 1e11)]
    assert draws[-1] == pytest.approx(1e11, rel=1e-4)
