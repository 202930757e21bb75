"""Policies reading some features (``agent.features``, ``manifest.policy.inputs``) export
with the same actions: plain MLP (numpy and ONNX) and residual."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pacegym.agents.export.runtime import PacerError, load_pacer
from pacegym.agents.export.verify import metric_means, record_observations
from pacegym.agents.policy import SB3Controller
from pacegym.envs.spaces import OBS_NAMES

from .conftest import SCENARIO

INPUTS = [n for n in OBS_NAMES if n not in ("budget_log10", "served_spend")]
BASE = {"kind": "pid", "params": {"kp": 10.0}}


def _train(residual: bool):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from pacegym.agents.export.artifact import normalization_from_vecnormalize
    from pacegym.agents.features import SelectFeatures
    from pacegym.agents.residual import ResidualVecEnv
    from pacegym.agents.vec_env import PacingVecEnv

    pacing = PacingVecEnv(SCENARIO, n_envs=16, seed=1)
    inner = (
        ResidualVecEnv(pacing, BASE, 1.0, INPUTS) if residual else SelectFeatures(pacing, INPUTS)
    )
    env = VecNormalize(inner)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=128, n_epochs=1, seed=0, device="cpu")
    model.learn(512)
    norm = normalization_from_vecnormalize(env, n=len(INPUTS) + (1 if residual else 0))
    res = {"enabled": True, "base": BASE, "scale_decades": 1.0} if residual else None
    return model, norm, SB3Controller(model, norm, res, features=INPUTS)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    from pacegym.agents.export.exporter import export_sb3

    model, norm, ref = _train(False)
    art = export_sb3(
        model, tmp_path_factory.mktemp("in") / "p", normalization=norm, inputs=INPUTS, onnx=True
    )
    return ref, art


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    from pacegym.agents.export.exporter import export_residual

    model, norm, ref = _train(True)
    art = export_residual(
        model, BASE, 1.0, tmp_path_factory.mktemp("in") / "r", normalization=norm, inputs=INPUTS
    )
    return ref, art


def test_manifest_names_the_inputs(plain, residual):
    for _, art in (plain, residual):
        m = json.loads((art / "manifest.json").read_text())
        assert m["policy"]["inputs"] == INPUTS
        assert len(m["observation"]["features"]) == len(OBS_NAMES)  # the caller sends all


@pytest.mark.parametrize("backend", ["numpy", "onnx"])
def test_plain_actions_match(plain, backend):
    pytest.importorskip("onnxruntime") if backend == "onnx" else None
    ref, art = plain
    pacer = load_pacer(art, backend=backend)
    obs = record_observations(ref, SCENARIO, 2, 0, max_rows=2000)
    assert np.abs(pacer.actions(obs) - ref.actions(obs)).max() <= 1e-5
    one = pacer(obs[:1])  # a single row takes the block path (no folded row path)
    assert one.shape == (1,) and np.isfinite(one).all()


@pytest.mark.slow
def test_residual_actions_and_metrics_match(residual):
    ref, art = residual
    pacer = load_pacer(art)
    obs = record_observations(ref, SCENARIO, 2, 0, max_rows=2000)
    ref.reset(len(obs))
    pacer.reset(len(obs))
    assert np.abs(pacer.actions(obs) - ref.actions(obs)).max() <= 1e-5
    assert metric_means(load_pacer(art), SCENARIO, 8, 0) == pytest.approx(
        metric_means(ref, SCENARIO, 8, 0), abs=1e-9
    )


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        (["budget"], r"policy\.inputs\[0\] = 'budget'"),
        (["plan", "plan"], r"policy\.inputs\[1\] = 'plan'"),
        ([], r"policy\.inputs"),
        ("plan", r"policy\.inputs"),
    ],
)
def test_bad_inputs_are_refused_on_load(residual, tmp_path, inputs, match):
    from pacegym.agents.export import runtime

    _, art = residual
    bad = tmp_path / "bad"
    shutil.copytree(art, bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["policy"]["inputs"] = inputs
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(PacerError, match=match):
        runtime.load(bad)
