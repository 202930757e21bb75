"""Every numeric setting is finite and in its documented range, or refused by name.

Property tests over every float and int field of ``TrainSettings``, ``AgentSettings``,
``ResidualSettings`` and every ranged ``agent.hyperparams`` key: a random value (finite,
NaN, inf, huge) is either accepted, and then inside the field's ``Allowed``, or refused with
one ``AgentConfigError`` line that names the key and the value.
"""

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacegym.agents.settings import (
    FINITE,
    HYPERPARAM_RANGES,
    AgentConfigError,
    AgentSettings,
    ResidualSettings,
    TrainSettings,
    _hints,
)
from pacegym.envs.checks import Allowed, allowed_of

CLASSES = [TrainSettings, AgentSettings, ResidualSettings]
FIELDS = [
    (cls, f.name, _hints(cls)[f.name])
    for cls in CLASSES
    for f in dataclasses.fields(cls)
    if _hints(cls)[f.name] in (int, float)
]
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, 1e6, 1e12, 2.0**32]),
)
ALLOWED = {(cls, f.name): allowed_of(f) for cls in CLASSES for f in dataclasses.fields(cls)}
"""Each field's declared interval (``envs.checks.setting``)."""
INTS = st.one_of(st.integers(), st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 2**32]))


def _build(cls, key, value):
    if cls is ResidualSettings:
        return AgentSettings.from_mapping({"residual": {key: value}}).residual
    return cls.from_mapping({key: value})


def _assert_refused_by_name(section, key, value, exc):
    msg = str(exc)
    assert "\n" not in msg
    assert msg.startswith(f"{section}.{key} = {value!r}: allowed "), msg


def test_every_numeric_field_has_a_documented_range():
    for cls, key, _ in FIELDS:
        assert ALLOWED[cls, key] is not None, f"{cls.SECTION}.{key} has no declared interval"
        assert getattr(cls(), key) in ALLOWED[cls, key]  # the default is allowed
    assert len(FIELDS) >= 11


@pytest.mark.parametrize(
    ("cls", "key", "hint"), FIELDS, ids=[f"{c.SECTION}.{k}" for c, k, _ in FIELDS]
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_numeric_field_is_in_range_or_refused_by_name(cls, key, hint, data):
    value = data.draw(FLOATS if hint is float else INTS)
    rng = ALLOWED[cls, key]
    try:
        obj = _build(cls, key, value)
    except AgentConfigError as exc:
        _assert_refused_by_name(cls.SECTION, key, value, exc)
        assert value not in rng
        return
    got = getattr(obj, key)
    assert type(got) is hint and math.isfinite(got) and got in rng


HP_KEYS = sorted(HYPERPARAM_RANGES)


@pytest.mark.parametrize("key", [*HP_KEYS, "some_other_float"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(FLOATS, INTS))
def test_hyperparameter_is_in_range_or_refused_by_name(key, value):
    rng = HYPERPARAM_RANGES.get(key, FINITE)
    head, _, tail = key.rpartition(".")
    hp = {head: {tail: value}} if head else {key: value}
    try:
        agent = AgentSettings.from_mapping({"hyperparams": hp})
    except AgentConfigError as exc:
        _assert_refused_by_name("agent.hyperparams", key, value, exc)
        return
    got = agent.hyperparams[head][tail] if head else agent.hyperparams[key]
    assert got in rng and math.isfinite(got)
    assert not rng.integer or isinstance(got, int)


def test_range_reads_as_an_interval():
    assert str(Allowed(0.0, 1.0, low_open=True)) == "a finite number in (0, 1]"
    assert str(Allowed(1, 1e12, integer=True)) == "an integer in [1, 1e+12]"
    assert float("nan") not in Allowed(-1.0, 1.0) and 2**2000 not in Allowed(0, 1)
    assert True not in Allowed(0, 1)
