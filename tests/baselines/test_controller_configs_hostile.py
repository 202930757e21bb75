"""Every float of every controller config is finite and in range, for any input.

Random finite, non-finite and huge values for each numeric parameter of each kind: the
controller is either built with finite parameters or refused with one
``ControllerConfigError`` line naming ``controller.params.<key>``.
"""

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.factory import CONTROLLERS, build_controller, config_class

FIELDS = [
    (kind, f.name)
    for kind in sorted(CONTROLLERS)
    for f in dataclasses.fields(config_class(kind))
    if isinstance(getattr(config_class(kind)(), f.name), int | float)
]


def test_every_kind_has_numeric_parameters_under_test():
    assert {kind for kind, _ in FIELDS} == set(CONTROLLERS)
    assert ("pid", "kp") in FIELDS and ("proportional", "rate") in FIELDS


@pytest.mark.parametrize(("kind", "key"), FIELDS, ids=[f"{k}.{n}" for k, n in FIELDS])
@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, 1e308, -1e308, 10**400, True],
    ids=["nan", "inf", "-inf", "1e308", "-1e308", "10**400", "True"],
)
def test_non_finite_huge_and_boolean_values_are_refused_naming_the_key(kind, key, value):
    with pytest.raises(ControllerConfigError) as info:
        build_controller(kind, **{key: value})
    msg = str(info.value)
    assert f"controller.params.{key} = " in msg and "allowed" in msg and "\n" not in msg
    assert len(msg) < 300


NUMBERS = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**30), 10**30)
    | st.sampled_from([0, 1, 0.5, 1e-4, 5e-324, 2**63])
)


@given(data=st.data())
@settings(max_examples=400, deadline=None)
def test_any_value_is_built_finite_or_refused_naming_a_parameter(data):
    kind, key = data.draw(st.sampled_from(FIELDS))
    value = data.draw(NUMBERS)
    try:
        controller = build_controller(kind, **{key: value})
    except ControllerConfigError as e:
        msg = str(e)
        # a valid value may still clash with a related default (p_min above p_base): the
        # message then names that parameter; a non-finite one always names its own key
        assert "controller.params." in msg and "\n" not in msg, msg
        if not (isinstance(value, float) and math.isfinite(value)) and not isinstance(value, int):
            assert f"controller.params.{key} = " in msg
        return
    for f in dataclasses.fields(controller.config):
        v = getattr(controller.config, f.name)
        if isinstance(v, float):
            assert math.isfinite(v)
