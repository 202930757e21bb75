"""Kernel column orders come from one names tuple each; weights and draws are bound by name."""

import dataclasses
import math

import numpy as np
import pytest

from pacegym.envs import kernel as K
from pacegym.envs import layout as L
from pacegym.envs.core import RANDOMIZABLE as CORE_RANDOMIZABLE
from pacegym.envs.core import PacingCore
from pacegym.envs.params import ScenarioParams, ScoreParams
from pacegym.envs.scenarios import from_dict, resolve
from pacegym.envs.traffic import profile_array, shape_at

# V_* names are short forms of the scenario keys (V_FC_BIAS is forecast.bias)
V_NAMES = {
    "V_FLIGHT_MIN": "time.flight_min",
    "V_START_MIN": "time.start_minute",
    "V_BASE_RATE": "traffic.base_rate",
    "V_NOISE_SD": "traffic.noise_sd",
    "V_NOISE_TAU": "traffic.noise_tau_s",
    "V_SURGE_RATE": "traffic.surge_rate_per_h",
    "V_SURGE_MEAN": "traffic.surge_mean_s",
    "V_FC_BIAS": "forecast.bias",
    "V_FC_SD": "forecast.noise_sd",
    "V_FILL": "serving.fill_rate",
    "V_DELAY_Q_S": "delay.quantile_s",
    "V_DELAY_Q": "delay.quantile",
    "V_DELAY_SIGMA": "delay.sigma",
    "V_RENDER": "delay.render_prob",
    "V_LATENCY": "delay.report_latency_s",
    "V_BUDGET": "money.budget",
}


def _constants(prefix: str) -> dict[str, int]:
    return {k: v for k, v in vars(L).items() if k.startswith(prefix)}


@pytest.mark.parametrize(
    ("names", "prefix", "width"),
    [
        (L.PAR_COLUMNS, "P_", L.N_PAR),
        (L.IST_COLUMNS, "I_", L.N_IST),
        (L.FST_COLUMNS, "F_", L.N_FST),
        (L.REWARD_TERMS, "R_", len(L.REWARD_TERMS)),
    ],
)
def test_each_column_constant_is_its_name_s_position(names, prefix, width):
    assert len(set(names)) == len(names) == width
    assert _constants(prefix) == {f"{prefix}{n.upper()}": i for i, n in enumerate(names)}


def test_randomizable_columns_are_scenario_keys_in_draw_order():
    assert _constants("V_") == {v: L.RANDOMIZABLE.index(k) for v, k in V_NAMES.items()}
    assert set(V_NAMES.values()) == set(L.RANDOMIZABLE)
    sc = ScenarioParams()
    for key in L.RANDOMIZABLE:
        section, name = key.split(".")
        assert name in {f.name for f in dataclasses.fields(getattr(sc, section))}, key
    assert CORE_RANDOMIZABLE is L.RANDOMIZABLE


def test_kernel_module_still_exports_the_layout():
    for name in L.__all__:
        assert getattr(K, name) == getattr(L, name), name


def test_core_arrays_have_the_layout_widths():
    core = PacingCore("live_commerce", 2)
    assert core.par.shape[1] == L.N_PAR
    assert core.ist.shape[1] == L.N_IST
    assert core.fst.shape[1] == L.N_FST
    assert core.terms.shape[1] == len(L.REWARD_TERMS)


def test_reward_weights_are_bound_by_term_name():
    score_fields = {f.name for f in dataclasses.fields(ScoreParams)}
    assert set(L.REWARD_TERMS) - {"delivery"} <= score_fields
    given = {"waste": 2.0, "misplaced": 3.0, "burst": 5.0}
    core = PacingCore({"base": "live_commerce", "score": given}, 3)
    weights = {"delivery": 1.0, "value": 0.0, **given}
    np.testing.assert_array_equal(core.weights, [weights[t] for t in L.REWARD_TERMS])
    core.reset(np.arange(3), np.arange(3, dtype=np.uint64))
    th = np.random.default_rng(0).uniform(0.0, 1.0, (50, 3))
    for k in range(50):
        res = core.step(th[k])
        expected = sum(weights[t] * res.terms[:, i] for i, t in enumerate(L.REWARD_TERMS))
        np.testing.assert_allclose(res.reward, expected, rtol=1e-12, atol=1e-15)


def test_reward_terms_add_up_to_their_named_totals():
    """Each term column holds the quantity of its name: summed over an episode it is the
    episode total the metrics read from the state columns."""
    core = PacingCore({"base": "live_commerce", "money": {"budget": 5000.0}}, 4)
    core.reset(np.arange(4), np.arange(10, 14, dtype=np.uint64))
    rng = np.random.default_rng(1)
    sums = np.zeros((4, len(L.REWARD_TERMS)))
    while not core.done.all():
        sums += core.step(rng.uniform(0.0, 1.0, 4)).terms
    tot = core.totals()
    m = core.metrics()
    np.testing.assert_allclose(sums[:, L.R_DELIVERY] * tot.budget, tot.billable, rtol=1e-9)
    waste = tot.wasted_over + tot.wasted_post
    np.testing.assert_allclose(-sums[:, L.R_WASTE] * tot.budget, waste, rtol=1e-9)
    assert np.all(waste > 0)  # over budget and after the end: both kinds happen here
    np.testing.assert_allclose(-sums[:, L.R_MISPLACED], m["misplaced"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(-sums[:, L.R_BURST], m["burst"], rtol=1e-9, atol=1e-12)
    assert np.all(m["misplaced"] > 0) and np.all(m["burst"] > 0)


def test_drawn_parameters_land_in_their_columns():
    """Distinct values for every randomisable key: each shows up where its name says."""
    values = {
        "time": {"flight_min": 75.0, "start_minute": 610.0},
        "traffic": {
            "base_rate": 3.5,
            "noise_sd": 0.25,
            "noise_tau_s": 450.0,
            "surge_rate_per_h": 0.7,
            "surge_mean_s": 95.0,
            "profile": "intraday",
        },
        "forecast": {"bias": 1.3, "noise_sd": 0.0},
        "serving": {"fill_rate": 0.45},
        "delay": {
            "quantile_s": [700.0, 700.0],  # a range: one alias table per campaign
            "quantile": [0.8, 0.8],
            "sigma": [0.9, 0.9],
            "render_prob": 0.93,
            "report_latency_s": 45.0,
        },
        "money": {"budget": 12_345.0},
    }
    sc = from_dict(values, base=resolve("live_commerce"))
    core = PacingCore(sc, 2)
    core.reset(np.arange(2), np.array([7, 8], dtype=np.uint64))
    tick = sc.time.tick_s
    par = core.par
    np.testing.assert_array_equal(par[:, L.P_BUDGET], 12_345.0)
    np.testing.assert_array_equal(par[:, L.P_BASE_RATE], 3.5)
    np.testing.assert_array_equal(par[:, L.P_FILL], 0.45)
    np.testing.assert_array_equal(par[:, L.P_RENDER], 0.93)
    np.testing.assert_array_equal(par[:, L.P_NOISE_SD], 0.25)
    np.testing.assert_allclose(par[:, L.P_NOISE_PHI], math.exp(-tick / 450.0))
    np.testing.assert_allclose(par[:, L.P_SURGE_START], -math.expm1(-0.7 * tick / 3600.0))
    np.testing.assert_allclose(par[:, L.P_SURGE_END], -math.expm1(-tick / 95.0))
    np.testing.assert_array_equal(par[:, L.P_START_MIN], 610.0)
    np.testing.assert_array_equal(par[:, L.P_FLIGHT_TICKS], 75 * 60 / tick)
    np.testing.assert_array_equal(par[:, L.P_LATENCY_TICKS], 3)
    np.testing.assert_array_equal(par[:, L.P_DELAY_ROW], [0, 1])
    q = core.delay_probabilities(700.0, 0.8, 0.9)
    p_alias = core.alias_prob[1] / q.size
    for j in range(q.size):  # the alias table draws from this campaign's delay shape
        p_alias[core.alias_idx[1, j]] += (1.0 - core.alias_prob[1, j]) / q.size
    np.testing.assert_allclose(p_alias, q, atol=1e-12)
    # noise-free forecast: base rate x slot x the profile formula x bias, slot by slot
    prof, mode = profile_array(sc.traffic)
    dow = np.asarray(sc.traffic.dow_factors)
    slots = 75
    shape = [
        shape_at.py_func(prof, mode, dow, sc.time.start_day, sc.time.slot_s, 610.0, slots, s)
        for s in range(slots)
    ]
    expected = 3.5 * sc.time.slot_s * np.array(shape) * 1.3
    np.testing.assert_allclose(par[:, L.P_FC_TOTAL], expected.sum(), rtol=1e-12)
    np.testing.assert_allclose(
        core.fc_cum[0, 1 : slots + 1], np.cumsum(expected) / expected.sum(), rtol=1e-12
    )
