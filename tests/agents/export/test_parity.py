"""Parity: the exported pacer reproduces the SB3 policy's actions and its env metrics."""

from __future__ import annotations

import numpy as np

from agents.export.runtime import load_pacer
from agents.export.verify import SB3Controller, metric_means, metric_parity
from envs.spaces import OBS_NAMES, action_to_throttle

from .conftest import SCENARIO


def test_actions_match_sb3_on_recorded_observations(ppo_model, ppo_artifact, recorded_obs):
    model, norm = ppo_model
    pacer = load_pacer(ppo_artifact)
    ref = SB3Controller(model, norm).actions(recorded_obs)
    assert len(recorded_obs) > 1000
    assert np.abs(pacer.actions(recorded_obs) - ref).max() <= 1e-5
    th = pacer(recorded_obs)
    assert np.abs(th - action_to_throttle(ref)[0]).max() <= 1e-5
    assert not pacer.last_invalid.any()


def test_mapping_input_equals_matrix_input(ppo_artifact, recorded_obs):
    pacer = load_pacer(ppo_artifact)
    x = recorded_obs[:100]
    named = {n: x[:, i] for i, n in reversed(list(enumerate(OBS_NAMES)))}  # order irrelevant
    np.testing.assert_array_equal(pacer(named), pacer(x))
    np.testing.assert_array_equal(pacer(x[0]), pacer(x[:1]))  # 1-D = one campaign


def test_chunked_call_equals_per_row(ppo_artifact, recorded_obs):
    pacer = load_pacer(ppo_artifact)
    x = np.concatenate([recorded_obs] * 3)  # > CHUNK_ROWS rows
    full = pacer(x)
    np.testing.assert_allclose(full[:50], [pacer(r)[0] for r in x[:50]], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(full[-50:], [pacer(r)[0] for r in x[-50:]], rtol=1e-5, atol=1e-9)


def test_env_metrics_match_sb3_for_same_seeds(ppo_model, ppo_artifact):
    model, norm = ppo_model
    ref = metric_means(SB3Controller(model, norm), SCENARIO, 8, 0)
    got = metric_parity(
        load_pacer(ppo_artifact), {"scenario": SCENARIO, "seed": 0, "episodes": 8, "metrics": ref}
    )
    assert got["checked"]
    assert got["max_abs_diff"] <= 1e-9, got["diffs"]


def test_onnx_backend_matches_numpy(ppo_artifact, recorded_obs):
    numpy_pacer = load_pacer(ppo_artifact)
    onnx_pacer = load_pacer(ppo_artifact, backend="onnx", threads=1)
    assert (
        np.abs(onnx_pacer.actions(recorded_obs) - numpy_pacer.actions(recorded_obs)).max() <= 1e-5
    )
    bad = recorded_obs[:3].copy()
    bad[1, 0] = np.nan
    out = onnx_pacer(bad)
    assert out[1] == 0.0 and np.isfinite(out).all()
