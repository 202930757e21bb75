"""The runtime's rules (``runtime.controllers``) are the baselines, bit for bit, as data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacegym.agents.export.runtime import RULE_PARAMS, PacerError, Rule, check_params
from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.factory import CONTROLLERS, build_controller
from pacegym.envs.spaces import OBS_INDEX, OBS_NAMES


def test_every_kind_has_the_baselines_fields_and_defaults():
    assert set(RULE_PARAMS) == set(CONTROLLERS)
    for kind, (_, cfg_cls) in CONTROLLERS.items():
        defaults = {f.name: f.default for f in dataclasses.fields(cfg_cls)}
        assert {k: d for k, (d, _) in RULE_PARAMS[kind].items()} == defaults, kind


@st.composite
def valid_params(draw, kind: str) -> dict:
    """Parameters in the runtime's ranges, cross-field rules respected."""
    out = {}
    for key, (default, allowed) in RULE_PARAMS[kind].items():
        if not draw(st.booleans()):
            continue  # leave it to the default
        if isinstance(default, str):
            out[key] = draw(st.sampled_from(allowed))
        else:
            out[key] = draw(st.floats(*allowed, allow_nan=False))
    p = {k: out.get(k, d) for k, (d, _) in RULE_PARAMS[kind].items()}
    if "p_min" in p:
        out["p_min"] = p["p_min"]
        out["p_max"] = max(p["p_max"], p["p_min"])
        for key in ("p_start", "p_base"):
            if key in p:
                out[key] = min(max(p[key], out["p_min"]), out["p_max"])
    if "rate" in p and p["rate"] <= 0.0:
        out["rate"] = 0.05
    if "pace_limit" in p and 0.0 < p["pace_limit"] < 1.0:
        out["pace_limit"] = 1.0
    if p.get("plan") == "observed" and "pace_limit" in p:
        out["pace_limit"] = 0.0  # the observed plan has no pace to limit against
    if kind == "exp_decay" and p["decay_rate"] <= 0.0:
        out["decay_rate"] = 0.5
    return out


def _obs(recorded_obs: np.ndarray, n: int = 400) -> np.ndarray:
    x = recorded_obs[:: max(1, len(recorded_obs) // n)].copy()
    x[::37, OBS_INDEX["time_elapsed"]] = 0.0  # flight starts: the rules' first-step branches
    x[::41, OBS_INDEX["exhausted"]] = 1.0
    return x


@pytest.mark.parametrize("kind", sorted(RULE_PARAMS))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_random_valid_params_bit_identical_to_baseline(kind, data, recorded_obs):
    params = data.draw(valid_params(kind))
    ref = build_controller(kind, **params)  # the baselines accept every runtime-valid value
    rule = Rule(kind, check_params(kind, params), {n: i for i, n in enumerate(OBS_NAMES)})
    x = _obs(recorded_obs)
    ref.reset(len(x))
    rule.reset(len(x))
    for step in range(3):  # PID state carries over between calls
        y = x.copy()
        y[:, OBS_INDEX["time_elapsed"]] += np.float32(0.01 * step)
        np.testing.assert_array_equal(rule.act(y), ref.act(y))


@pytest.mark.parametrize("kind", sorted(RULE_PARAMS))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_out_of_range_params_refused_like_the_baselines(kind, data):
    numeric = [k for k, (d, _) in RULE_PARAMS[kind].items() if not isinstance(d, str)]
    key = data.draw(st.sampled_from(numeric))
    lo, hi = RULE_PARAMS[kind][key][1]
    bad = data.draw(
        st.one_of(
            st.floats(max_value=lo, exclude_max=True),
            st.floats(min_value=hi, exclude_min=True),
            st.sampled_from([float("nan"), float("inf"), "1.0", None, True]),
        )
    )
    with pytest.raises(PacerError, match=rf"policy\.controller\.params\.{key} = ") as e:
        check_params(kind, {key: bad})
    assert "\n" not in str(e.value)
    with pytest.raises((ControllerConfigError, TypeError)):
        build_controller(kind, **{key: bad})


@pytest.mark.parametrize(
    ("kind", "params", "match"),
    [
        ("pid", {"code": "import os"}, r"params\.code is not a parameter of rule 'pid'"),
        ("pid", {"feedforward": "eval"}, r"params\.feedforward = 'eval': allowed"),
        ("proportional", {"p_min": 0.5, "p_max": 0.1}, r"params\.p_max = 0\.1"),
        ("proportional", {"rate": 0.0}, r"params\.rate = 0\.0: allowed \(0, 1\]"),
        ("exp_decay", {"plan": "uniform"}, r"params\.plan = 'uniform'"),
        ("proportional", {"plan": "observed"}, r"params\.pace_limit = 1\.25: allowed 0"),
        ("python", {}, r"policy\.controller\.kind = 'python'"),
    ],
)
def test_unknown_kinds_keys_choices_and_cross_rules_refused(kind, params, match):
    with pytest.raises(PacerError, match=match):
        check_params(kind, params)
