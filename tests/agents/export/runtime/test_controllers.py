"""The baseline rules live once, in the runtime: table, checks, arithmetic, plan shapes.

``baselines/`` takes its config fields, defaults and units from ``RULE_PARAMS`` and runs
the runtime's ``Rule``; ``envs.plans`` uses the runtime's ``shape``. So there is no second
implementation to hold bit-identical: what is tested here is that the baselines expose the
table faithfully, that both sides refuse what the table refuses, and that an exported
baseline (its ``pacer.py``, loaded alone) throttles exactly as the in-process one over whole
episodes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacegym.agents.export import runtime
from pacegym.agents.export.runtime import RULE_PARAMS, PacerError, check_params
from pacegym.baselines import controllers, controllers_pid
from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.factory import CONTROLLERS, build_controller
from pacegym.baselines.harness import run_episodes
from pacegym.envs import plans

PARAMS = {
    "on_off": {"plan": "forecast", "in_flight_weight": 0.5, "early_close": 0.1},
    "proportional": {"rate": 0.2, "start": "fixed", "p_start": 0.05, "deadband": 0.01},
    "pid": {"kp": 10.0, "ki": 30.0, "kd": 0.5, "feedforward": "none", "plan": "observed"},
    "exp_decay": {"decay_rate": 3.0, "in_flight_weight": 1.0, "pace_limit": 2.0},
}


def test_every_kind_has_the_tables_fields_defaults_and_units():
    assert set(RULE_PARAMS) == set(CONTROLLERS) == set(PARAMS)
    for kind, (ctrl_cls, cfg_cls) in CONTROLLERS.items():
        assert ctrl_cls.kind == cfg_cls.kind == kind
        fields = dataclasses.fields(cfg_cls)
        assert [f.name for f in fields] == list(RULE_PARAMS[kind]), kind
        for f in fields:
            spec = RULE_PARAMS[kind][f.name]
            assert f.default == spec.default, (kind, f.name)
            assert f.metadata["unit"] == spec.unit and f.metadata["doc"] == spec.doc


def test_no_rule_or_plan_shape_outside_the_runtime():
    assert plans.shape is runtime.plans.shape  # the env's reference plan uses the same lines
    for module in (controllers, controllers_pid, plans):
        src = inspect.getsource(module)
        for formula in ("expm1(", "log10(", "10.0 **", "np.clip(", "(1.0 + "):
            assert formula not in src, (module.__name__, formula)


@pytest.mark.parametrize("kind", sorted(RULE_PARAMS))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_out_of_range_params_refused_by_both_naming_the_key(kind, data):
    numeric = [k for k, spec in RULE_PARAMS[kind].items() if not spec.choices]
    key = data.draw(st.sampled_from(numeric))
    spec = RULE_PARAMS[kind][key]
    bad = data.draw(
        st.one_of(
            st.floats(max_value=spec.low, exclude_max=True),
            st.floats(min_value=spec.high, exclude_min=True),
            st.sampled_from([float("nan"), float("inf"), "1.0", None, True, 10**400]),
        ).filter(lambda v: spec.off is None or v != spec.off)
    )
    with pytest.raises(PacerError, match=rf"policy\.controller\.params\.{key} = ") as e:
        check_params(kind, {key: bad})
    assert "\n" not in str(e.value) and "allowed" in str(e.value)
    with pytest.raises(ControllerConfigError, match=rf"controller\.params\.{key} = "):
        build_controller(kind, **{key: bad})


@pytest.mark.parametrize(
    ("kind", "params", "match"),
    [
        ("pid", {"code": "import os"}, r"params\.code is not a parameter of rule 'pid'"),
        ("pid", {"feedforward": "eval"}, r"params\.feedforward = 'eval': allowed"),
        ("proportional", {"p_min": 0.5, "p_max": 0.1}, r"params\.p_max = 0\.1: .*\[p_min = 0\.5"),
        ("proportional", {"p_min": 0.5}, r"params\.p_start = 0\.01: .*\[p_min = 0\.5, p_max = 1\]"),
        (
            "proportional",
            {"rate": 0.0},
            r"params\.rate = 0\.0: allowed a finite number in \(0, 1\]",
        ),
        ("proportional", {"pace_limit": 0.5}, r"pace_limit = 0\.5: allowed 0 \(off\) or .*\[1, "),
        ("exp_decay", {"plan": "uniform"}, r"params\.plan = 'uniform'"),
        ("exp_decay", {"decay_rate": 0.0}, r"params\.decay_rate = 0\.0: .* \(0, 50\]"),
        ("proportional", {"plan": "observed"}, r"params\.pace_limit = 1\.25: allowed 0 \(off\)"),
        ("python", {}, r"policy\.controller\.kind = 'python'"),
    ],
)
def test_unknown_kinds_keys_choices_and_cross_rules_refused(kind, params, match):
    with pytest.raises(PacerError, match=match):
        check_params(kind, params)
    if kind in CONTROLLERS:
        with pytest.raises(ControllerConfigError, match=match.split(" ")[0]):
            build_controller(kind, **params)


def test_runtime_params_are_floats_and_the_baselines_keep_the_given_values():
    assert check_params("pid", {"kp": 5})["kp"] == 5.0
    assert isinstance(check_params("pid", {"kp": 5})["kp"], float)
    assert build_controller("pid", kp=5).config.kp == 5


def _pacer_module(art, name: str):
    """The artifact's ``pacer.py`` as its own module, not the project's runtime package."""
    spec = importlib.util.spec_from_file_location(name, art / "pacer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


class _Lockstep:
    """Runs the in-process baseline and asserts the exported pacer's throttles equal it."""

    def __init__(self, ctrl, pacer) -> None:
        self.ctrl, self.pacer, self.name, self.steps = ctrl, pacer, ctrl.name, 0

    def reset(self, n: int) -> None:
        self.ctrl.reset(n)
        self.pacer.reset(n)

    def act(self, obs: np.ndarray) -> np.ndarray:
        ref = self.ctrl.act(obs)
        np.testing.assert_array_equal(self.pacer(obs), ref)
        self.steps += 1
        return ref


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_exported_baseline_throttles_exactly_as_in_process_over_whole_episodes(kind, tmp_path):
    from pacegym.agents.export.exporter import export_controller

    art = export_controller({"kind": kind, "params": PARAMS[kind]}, tmp_path / kind)
    pacer = _pacer_module(art, f"_pacer_{kind}").load(str(art))
    run = _Lockstep(build_controller(kind, **PARAMS[kind]), pacer)
    run_episodes(run, "live_commerce", 12, seed=5, batch_size=6)
    assert run.steps > 200
