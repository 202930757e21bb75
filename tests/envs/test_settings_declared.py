"""Each scenario setting is declared once (``envs.checks.setting``); what may be a range is
read from the declarations: the core randomises exactly the settings declared ``may_range``.
"""

import dataclasses

import numpy as np
import pytest

from pacegym.envs.checks import Allowed, allowed_of, settings_of
from pacegym.envs.core import PacingCore
from pacegym.envs.layout import RANDOMIZABLE
from pacegym.envs.params import ScenarioError, ScenarioParams, bounds
from pacegym.envs.scenarios import SECTIONS, from_dict

DECLARED = dict(settings_of(ScenarioParams))
MAY_RANGE = [k for k, a in DECLARED.items() if a.may_range]
SINGLE = [k for k, a in DECLARED.items() if not a.may_range and not a.each]


def _with(key: str, value: object) -> ScenarioParams:
    section, name = key.split(".")
    return from_dict({section: {name: value}})


def _a_range(key: str) -> list[float]:
    """A non-empty range inside the allowed interval, below the default's high end."""
    lo, hi = bounds(getattr(getattr(ScenarioParams(), key.split(".")[0]), key.split(".")[1]))
    if lo < hi:
        return [lo, hi]
    if DECLARED[key].integer:
        return [hi, hi + 6]
    return [0.9 * hi, hi]


def test_the_core_randomises_exactly_the_settings_declared_may_range():
    assert set(MAY_RANGE) == {*RANDOMIZABLE, "time.start_day"}
    for key in RANDOMIZABLE:
        core = PacingCore(_with(key, _a_range(key)), 2)
        ranged = [k for k, (lo, hi) in zip(RANDOMIZABLE, core._ranges, strict=True) if lo < hi]
        assert set(ranged) == {key, "delay.report_latency_s"}  # the latter: a range by default
        np.testing.assert_array_equal(core._ranges[RANDOMIZABLE.index(key)], _a_range(key))
    assert PacingCore(_with("time.start_day", [0, 6]), 2).draw_day


def test_randomizable_keeps_its_draw_order():
    """The core draws one uniform per column in this order: reordering changes results."""
    assert RANDOMIZABLE == (
        "time.flight_min",
        "time.start_minute",
        "traffic.base_rate",
        "traffic.noise_sd",
        "traffic.noise_tau_s",
        "traffic.surge_rate_per_h",
        "traffic.surge_mean_s",
        "forecast.bias",
        "forecast.noise_sd",
        "serving.fill_rate",
        "delay.quantile_s",
        "delay.quantile",
        "delay.sigma",
        "delay.render_prob",
        "delay.report_latency_s",
        "money.budget",
    )


@pytest.mark.parametrize("key", MAY_RANGE)
def test_a_setting_declared_may_range_takes_a_range(key):
    value = getattr(getattr(_with(key, _a_range(key)), key.split(".")[0]), key.split(".")[1])
    assert list(value) == _a_range(key)


@pytest.mark.parametrize("key", SINGLE)
def test_any_other_setting_refuses_a_range_in_one_line(key):
    default = getattr(getattr(ScenarioParams(), key.split(".")[0]), key.split(".")[1])
    v = default if default is not None else DECLARED[key].high
    with pytest.raises(ScenarioError) as info:
        _with(key, [v, v])
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{key} = [")
    assert f"is a range, but {key} is not randomisable: allowed a single number in " in msg


def test_a_value_annotation_is_declared_may_range_and_every_number_is_declared():
    """``Value`` (a number or a range) is the annotation of exactly the may_range settings,
    and every numeric field of every section has a declaration."""
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            allowed = allowed_of(f)
            key = f"{section}.{f.name}"
            assert (f.type == "Value") == (allowed is not None and allowed.may_range), key
            numeric = any(t in str(f.type) for t in ("float", "int", "Value"))
            if numeric and f.name != "cdf_points":  # pairs bounded by max_delay_s, by hand
                assert isinstance(allowed, Allowed), key
                assert getattr(cls(), f.name) is None or _default_ok(allowed, cls, f.name), key


def _default_ok(allowed: Allowed, cls: type, name: str) -> bool:
    value = getattr(cls(), name)
    ends = value if isinstance(value, tuple) else [value]
    return all(v in allowed for v in ends)
