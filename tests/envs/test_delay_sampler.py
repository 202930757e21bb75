"""The binned delay sampler draws what the per-impression sampler (the reference) draws.

``envs.delay_bins`` claims the tick's counts per delay bin have the reference's
distribution. Two checks over many seeds of one scenario, at a traffic where a tick's
rendered impressions straddle the switch to the conditional-binomial chain
(``CHAIN_ABOVE`` x bins), so both of its branches run:

- the counted-impression distribution: with a budget that never binds, the traffic and
  serving streams (untouched by the sampler) give both samplers the same served impressions
  tick by tick; every served impression then falls in one category (counted at flight tick
  ``t``, counted after the flight, never rendered), and each sampler's category totals over
  the seeds are tested against their expectation given the served impressions and ``q``
  (chi-square goodness of fit), and the two samplers' totals against each other (chi-square
  homogeneity). The impressions' categories are independent but not identically
  distributed, so both statistics are at most chi-square distributed (conservative).
- every reported metric: a feedback controller (a throttle proportional to the reported
  spend's distance from the plan) makes the delays move serving, billing and the budget's end; each metric's (and the
  episode return's) mean over the seeds must agree between the samplers: 0 inside the
  confidence interval of the mean difference, paired by seed.

Alpha: ``ALPHA`` per test, Bonferroni-split over the metrics. The seeds are fixed, so the
outcome is deterministic; ``test_a_wrong_bin_table_is_detected`` shows each check fails
when the binned sampler is given a wrong table (its alias draws' and its chain's).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore
from pacegym.envs.delay_bins import CHAIN_ABOVE
from pacegym.envs.spaces import OBS_INDEX

ALPHA = 1e-3
SEEDS = 1500
SCENARIO = {  # 20-minute flights (80 ticks), 120 delay bins; ~480 impressions served a tick
    "base": "live_commerce",
    "time": {"flight_min": 20.0},
    "delay": {"max_delay_s": 1800.0, "quantile_s": 300.0},
    "traffic": {"base_rate": 64.0},
    "money": {"budget": 1e9},
}


def _scenario(sampler: str, **money: float) -> dict:
    return {
        **SCENARIO,
        "delay": {**SCENARIO["delay"], "sampler": sampler},
        "money": {**SCENARIO["money"], **money},
    }


def _core(sampler: str, **money: float) -> PacingCore:
    """``SEEDS`` campaigns of the scenario with this sampler (and ``money`` settings), reset."""
    core = PacingCore(_scenario(sampler, **money), SEEDS)
    core.reset(np.arange(SEEDS), np.arange(SEEDS, dtype=np.uint64) + 1000)
    return core


def _wrong_table(core: PacingCore, part: str) -> None:
    """Replace the delay table (``part``: "alias" or "chain") by a 1.25x longer delay's."""
    d = core.scenario.delay
    other = PacingCore({**SCENARIO, "delay": {**SCENARIO["delay"], "quantile_s": 375.0}}, 1)
    assert d.quantile_s == 300.0
    if part == "alias":
        core.alias_prob[:], core.alias_idx[:] = other.alias_prob, other.alias_idx
    else:
        core.surv[:] = other.surv


def _categories(core: PacingCore, throttle: float) -> tuple[np.ndarray, np.ndarray]:
    """Run every campaign to its end at ``throttle``. Returns the served impressions per
    tick (seeds x ticks) and the category totals over the seeds: counted at tick t, counted
    after the flight, never rendered."""
    ticks = int(core.flight_ticks.max())
    served = np.zeros((core.n, ticks), np.int64)
    counted = np.zeros(ticks, np.int64)
    for t in range(ticks):
        before = core.ist[:, [K.I_SERVED, K.I_COUNTED]].copy()
        core.step(np.full(core.n, throttle))
        served[:, t] = core.ist[:, K.I_SERVED] - before[:, 0]
        counted[t] = (core.ist[:, K.I_COUNTED] - before[:, 1]).sum()
    assert core.done.all()
    post, never = core.ist[:, K.I_COUNTED_POST].sum(), core.ist[:, K.I_NEVER].sum()
    return served, np.concatenate([counted, [post, never]])


def _expected(core: PacingCore, served: np.ndarray) -> np.ndarray:
    """Expected category totals given the served impressions: the delay law ``q`` and the
    render probability of the scenario (``core`` holds the true tables)."""
    q = -np.diff(core.surv[0])
    render = core.par[0, K.P_RENDER]
    per_tick = served.sum(axis=0).astype(float)
    ticks = per_tick.shape[0]
    counted = np.convolve(per_tick, q)[:ticks] * render
    total = per_tick.sum()
    return np.concatenate([counted, [total * render - counted.sum(), total * (1 - render)]])


def _gof_p(observed: np.ndarray, expected: np.ndarray) -> float:
    keep = expected > 5.0  # chi-square needs expected counts of 5 or more per category
    stat = float((((observed - expected) ** 2)[keep] / expected[keep]).sum())
    return float(stats.chi2.sf(stat, keep.sum() - 1))


def _homogeneity_p(a: np.ndarray, b: np.ndarray) -> float:
    keep = (a + b) > 10
    return float(stats.chi2_contingency(np.stack([a[keep], b[keep]]))[1])


def _counted_distribution_p(part: str | None = None) -> tuple[float, float, float]:
    """p-values: the reference's and the binned sampler's goodness of fit, their homogeneity."""
    ref, binned = _core("impression"), _core("binned")
    truth = _core("impression")  # the true tables, for the expectation
    if part:
        _wrong_table(binned, part)
    served_r, cat_r = _categories(ref, 1.0)
    served_b, cat_b = _categories(binned, 1.0)
    np.testing.assert_array_equal(served_r, served_b)  # the sampler moves no other stream
    assert served_b.max() > CHAIN_ABOVE * binned.n_delay > np.median(served_b) / 2  # both branches
    expected = _expected(truth, served_b)
    return _gof_p(cat_r, expected), _gof_p(cat_b, expected), _homogeneity_p(cat_r, cat_b)


def _metrics(sampler: str, part: str | None = None) -> dict[str, np.ndarray]:
    """Episode metrics (and returns) under a throttle that follows the reported spend's
    distance from the plan, with a budget that full throttle would spend in 2/3 of the flight."""
    core = _core(sampler, budget=2.5e5)
    if part:
        _wrong_table(core, part)
    res = core.step(np.ones(core.n))
    returns = res.reward.copy()
    while not core.done.all():
        plan_error = res.obs[:, OBS_INDEX["plan_error"]]  # plan - reported spend [budget]
        res = core.step(np.clip(0.6 + 5.0 * plan_error, 0.05, 1.0))
        returns += res.reward
    return {**core.metrics(), "return": returns}


def _metric_p(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Metric by metric, the two-sided p-value of a zero mean difference, paired by seed (the
    seeds' common traffic cancels; equal distributions have equal means, so the paired
    test is valid): 0 lies in the ``1 - p`` confidence interval of the mean difference.
    A difference that is always 0 gives 1."""
    out = {}
    for name in a:
        d = b[name].astype(float) - a[name].astype(float)
        out[name] = 1.0 if not d.any() else float(stats.ttest_1samp(d, 0.0).pvalue)
    return out


def test_counted_impressions_have_the_reference_distribution():
    p_ref, p_binned, p_same = _counted_distribution_p()
    assert min(p_ref, p_binned, p_same) > ALPHA, (p_ref, p_binned, p_same)


def test_every_metric_has_the_reference_mean():
    p = _metric_p(_metrics("impression"), _metrics("binned"))
    assert min(p.values()) > ALPHA / len(p), p


@pytest.mark.slow
@pytest.mark.parametrize("part", ["alias", "chain"])
def test_a_wrong_bin_table_is_detected(part):
    """The same checks fail when the binned sampler's alias draws, or its chain, use the
    table of a delay 1.25x as long: the tests above can fail."""
    _, p_binned, p_same = _counted_distribution_p(part)
    assert p_binned < ALPHA and p_same < ALPHA, (p_binned, p_same)
    p = _metric_p(_metrics("impression"), _metrics("binned", part))
    assert min(p.values()) < ALPHA / len(p), p
