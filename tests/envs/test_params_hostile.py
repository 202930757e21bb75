"""Every number of a scenario is finite and in its documented range, for any input.

Random finite, non-finite and huge values for every numeric field of every section: the
scenario is either built with finite values or refused with one ``ScenarioError`` line
naming the key. The resource limits (ticks per episode, memory per core, requests per
tick) are refused up front naming their keys; traces of huge counts keep their shape.
"""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacegym.envs import state as C
from pacegym.envs.core import PacingCore
from pacegym.envs.params import MAX_EPISODE_TICKS, ScenarioError, ScenarioParams
from pacegym.envs.scenarios import SECTIONS, from_dict, resolve
from pacegym.envs.state import check_memory, state_arrays, state_bytes
from pacegym.envs.traffic import profile_array

TUPLES = ("dow_factors", "surge_factors", "surge_probs")


def numeric_keys() -> list[tuple[str, str]]:
    keys = []
    for section, cls in SECTIONS.items():
        default = cls()
        for f in dataclasses.fields(cls):
            v = getattr(default, f.name)
            number = isinstance(v, int | float | tuple) and not isinstance(v, bool)
            number = number and f.name != "cdf_points"  # pairs: tests/envs/test_params.py
            if number or f.name in (*TUPLES, "half_life"):
                keys.append((section, f.name))
    return keys


KEYS = numeric_keys()


def test_every_numeric_field_is_covered():
    """A new numeric field joins these tests by itself; this pins that the walk finds them."""
    names = {f"{s}.{k}" for s, k in KEYS}
    assert {"money.price", "money.media_cost", "traffic.dow_factors", "score.waste"} <= names
    assert {"time.tick_s", "delay.max_delay_s", "plan.half_life", "forecast.bias"} <= names
    assert len(KEYS) >= 35


def scenario_with(section: str, key: str, value: object) -> ScenarioParams:
    if key in TUPLES:
        current = list(getattr(ScenarioParams(), section).__getattribute__(key))
        current[-1] = value
        value = current
    return from_dict({section: {key: value}})


def assert_refused(section: str, key: str, value: object) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario_with(section, key, value)
    msg = str(info.value)
    assert f"{section}.{key}" in msg and "\n" not in msg, msg
    return msg


@pytest.mark.parametrize(("section", "key"), KEYS, ids=[f"{s}.{k}" for s, k in KEYS])
@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, 1e308, -1e308, 10**400, True],
    ids=["nan", "inf", "-inf", "1e308", "-1e308", "10**400", "True"],
)
def test_non_finite_huge_and_boolean_values_are_refused_naming_the_key(section, key, value):
    msg = assert_refused(section, key, value)
    assert "allowed" in msg


@pytest.mark.parametrize(("section", "key"), KEYS, ids=[f"{s}.{k}" for s, k in KEYS])
def test_a_non_finite_end_of_a_range_is_refused(section, key):
    if key in TUPLES or key in ("tick_s", "slot_s", "max_delay_s", "price", "media_cost"):
        return  # numbers only: a range is refused anyway (checked below)
    for bad in ([1.0, math.inf], [math.nan, 1.0], [-math.inf, 1.0]):
        with pytest.raises(ScenarioError, match=rf"{section}\.{key}"):
            from_dict({section: {key: bad}})


NUMBERS = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**30), 10**30)
    | st.sampled_from([0, 1, -1, 0.5, 1e-300, 5e-324, 2**63, 10**400])
)


@given(data=st.data())
@settings(max_examples=400, deadline=None)
def test_any_value_of_any_field_is_built_finite_or_refused_naming_the_key(data):
    section, key = data.draw(st.sampled_from(KEYS))
    value = data.draw(NUMBERS)
    try:
        sc = scenario_with(section, key, value)
    except ScenarioError as e:
        msg = str(e)
        assert f"{section}.{key}" in msg and "\n" not in msg and len(msg) < 400, msg
        return
    got = getattr(getattr(sc, section), key)
    for v in np.ravel(np.asarray(got, dtype=float)):
        assert math.isfinite(v)


def test_episode_length_is_refused_above_the_limit_naming_the_keys():
    ok = resolve({"base": "multi_day_flight"})
    assert ok.time.max_flight_ticks <= MAX_EPISODE_TICKS
    with pytest.raises(ScenarioError, match=r"time\.flight_min = 44640.* time\.tick_s = 0\.1 .*"):
        resolve({"time": {"tick_s": 0.1, "slot_s": 60.0, "flight_min": 44640.0}})


def test_state_bytes_is_what_the_core_allocates():
    for scenario in (
        "live_commerce",
        {"base": "daily_budget", "delay": {"sigma": [0.8, 1.5]}},  # per-campaign delay tables
    ):
        core = PacingCore(scenario, 3)
        arrays = state_arrays(core.scenario, 3)
        assert sum(getattr(core, name).nbytes for name in arrays) == state_bytes(core.scenario, 3)
        for name, (shape, dtype) in arrays.items():
            assert getattr(core, name).shape == shape and getattr(core, name).dtype == dtype


def test_memory_is_refused_before_allocating_naming_the_key():
    sc = resolve("live_commerce")
    with pytest.raises(ScenarioError, match=r"n = 1000000000 campaigns .*n \(campaigns\)"):
        PacingCore(sc, 10**9)  # would be terabytes: refused before np.zeros
    fine = resolve({"time": {"tick_s": 0.001, "slot_s": 0.001, "flight_min": 1.0}})
    check_memory(fine, 1)
    huge_delay = {"time": {"tick_s": 0.001, "slot_s": 0.001}, "delay": {"max_delay_s": 604800.0}}
    with pytest.raises(ScenarioError, match=r"delay\.max_delay_s / time\.tick_s sets most"):
        PacingCore(huge_delay, 1)


def test_traffic_above_the_per_tick_limit_is_refused_naming_base_rate():
    with pytest.raises(ScenarioError, match=r"traffic\.base_rate = 10000000\.0 gives up to"):
        PacingCore({"base": "live_commerce", "traffic": {"base_rate": 1e7}}, 1)
    sc = resolve({"base": "live_commerce", "traffic": {"base_rate": 1e3}})
    prof, mode = profile_array(sc.traffic)
    peak = C.max_requests_per_tick(sc, prof, mode)
    assert peak < C.MAX_REQUESTS_PER_TICK
    core = PacingCore(sc, 1)  # accepted below the limit, and it runs
    core.reset(np.zeros(1, np.int64), np.zeros(1, np.uint64))
    core.step(np.ones(1))


def test_a_trace_of_huge_counts_keeps_its_shape(tmp_path):
    shape = np.where(np.arange(1440) < 720, 1.0, 3.0)
    profiles = []
    for scale in (1.0, 1e306):
        path = tmp_path / f"trace_{scale:g}.csv"
        path.write_text("requests\n" + "\n".join(repr(float(v * scale)) for v in shape) + "\n")
        sc = resolve(
            {"base": "daily_budget", "traffic": {"profile": "trace", "trace_csv": str(path)}}
        )
        prof, _ = profile_array(sc.traffic)
        assert np.isfinite(prof).all()
        profiles.append(prof)
    np.testing.assert_allclose(profiles[1], profiles[0], rtol=1e-12)
    assert profiles[1].mean() == pytest.approx(1.0)
