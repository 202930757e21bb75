"""Baselines export as data (kind + parameters); the runtime's rules equal the project's controllers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pacegym.agents.export.exporter import export_controller
from pacegym.agents.export.runtime import load_pacer
from pacegym.agents.export.verify import metric_means
from pacegym.baselines.factory import CONTROLLERS, build_controller
from pacegym.envs.spaces import OBS_INDEX

from .conftest import SCENARIO

PARAMS = {
    "on_off": {"in_flight_weight": 0.5},
    "proportional": {"rate": 0.2, "start": "capacity", "plan": "forecast"},
    "pid": {"kp": 10.0, "ki": 30.0, "kd": 0.5, "early_close": 0.1},
    "exp_decay": {"decay_rate": 2.0, "in_flight_weight": 1.0},
}


def test_every_kind_is_covered():
    assert set(PARAMS) == set(CONTROLLERS)


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_baseline_artifact_matches_controller(kind, tmp_path, recorded_obs):
    art = export_controller(
        {"kind": kind, "name": f"{kind}-t", "params": PARAMS[kind]}, tmp_path / kind
    )
    pacer = load_pacer(art)
    assert pacer.kind == "rule" and pacer.name == f"{kind}-t"
    ctrl = build_controller(kind, **PARAMS[kind])
    n = len(recorded_obs)
    pacer.reset(n)
    ctrl.reset(n)
    np.testing.assert_array_equal(pacer(recorded_obs), ctrl.act(recorded_obs))
    ref = metric_means(build_controller(kind, **PARAMS[kind]), SCENARIO, 8, 0)
    got = metric_means(load_pacer(art), SCENARIO, 8, 0)
    assert got == ref


def test_stateful_rule_keeps_state_of_invalid_rows(tmp_path, recorded_obs):
    art = export_controller({"kind": "pid", "params": {}}, tmp_path / "pid")
    pacer = load_pacer(art)
    x = recorded_obs[100:104].copy()
    x[:, OBS_INDEX["time_elapsed"]] = 0.5
    pacer.reset(4)
    pacer(x)
    pid = pacer.policy.controller
    before = {k: getattr(pid, k).copy() for k in ("integral", "prev_error", "prev_time")}
    bad = x.copy()
    bad[:, OBS_INDEX["time_elapsed"]] = 0.6
    bad[1, OBS_INDEX["plan"]] = np.nan
    out = pacer(bad)
    assert out[1] == 0.0 and np.isfinite(out).all()
    assert pacer.last_invalid.tolist() == [False, True, False, False]
    for k, v in before.items():
        assert getattr(pid, k)[1] == v[1], k  # row 1 untouched by the bad input
    assert (pid.prev_time[[0, 2, 3]] == np.float32(0.6)).all()  # the others advanced


def test_invalid_params_refused(tmp_path):
    from pacegym.baselines.controllers import ControllerConfigError

    with pytest.raises(ControllerConfigError, match=r"controller\.params\.rate"):
        export_controller({"kind": "proportional", "params": {"rate": 5.0}}, tmp_path / "x")


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_baseline_artifact_holds_no_code_but_pacer_py(kind, tmp_path):
    art = export_controller({"kind": kind, "params": PARAMS[kind]}, tmp_path / kind)
    assert sorted(p.name for p in Path(art).iterdir()) == ["manifest.json", "pacer.py"]
    ctrl = json.loads((Path(art) / "manifest.json").read_text())["policy"]["controller"]
    assert set(ctrl) == {"kind", "name", "params"} and ctrl["kind"] == kind
    assert {k: ctrl["params"][k] for k in PARAMS[kind]} == PARAMS[kind]
