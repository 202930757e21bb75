"""Parity: the exported pacer reproduces the SB3 policy's actions and its env metrics."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.agents.export.runtime import CHUNK_ROWS, PacerError, load_pacer
from pacegym.agents.export.verify import metric_means, metric_parity
from pacegym.agents.policy import SB3Controller
from pacegym.envs.spaces import OBS_INDEX, OBS_NAMES, action_to_throttle

from .conftest import SCENARIO


def blocks(obs: np.ndarray, n: int = 3) -> np.ndarray:
    """``obs`` tiled to a little over ``n`` blocks of ``CHUNK_ROWS`` rows."""
    return np.resize(obs, (n * CHUNK_ROWS + 123, obs.shape[1]))


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
    x = blocks(recorded_obs)
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


def test_single_row_path_matches_sb3(ppo_model, ppo_artifact, recorded_obs):
    """One campaign per call (latency path: normalisation folded into a float64 layer 1)."""
    model, norm = ppo_model
    pacer = load_pacer(ppo_artifact)
    rows = recorded_obs[::10]
    ref = action_to_throttle(SB3Controller(model, norm).actions(rows))[0]
    got = np.array([pacer(r)[0] for r in rows])
    assert np.abs(got - ref).max() <= 1e-5


def test_single_row_outside_clip_box_is_clipped_like_sb3(ppo_model, ppo_artifact, recorded_obs):
    """A valid value beyond mean +- clip * std takes the unfolded path with the clip."""
    model, norm = ppo_model
    pacer = load_pacer(ppo_artifact)
    col = OBS_INDEX["serving_rate"]  # allowed up to 1e4 x uniform pace
    std = np.sqrt(norm["var"][col] + norm["epsilon"])
    row = recorded_obs[50].copy()
    row[col] = min(norm["mean"][col] + 3 * norm["clip"] * std, pacer.high[col])
    assert row[col] > norm["mean"][col] + norm["clip"] * std  # really outside the box
    ref = action_to_throttle(SB3Controller(model, norm).actions(row[None]))[0]
    assert abs(pacer(row)[0] - ref[0]) <= 1e-5 and not pacer.last_invalid[0]
    np.testing.assert_allclose(pacer(row)[0], pacer(np.stack([row] * 80))[0], rtol=1e-5)


def test_worker_threads_match_serial(ppo_artifact, recorded_obs):
    big = blocks(recorded_obs)
    serial, threaded = load_pacer(ppo_artifact, threads=1), load_pacer(ppo_artifact, threads=2)
    np.testing.assert_allclose(threaded.actions(big), serial.actions(big), rtol=0, atol=1e-7)
    bad = big.copy()
    bad[::7, 0] = np.nan
    np.testing.assert_allclose(threaded(bad), serial(bad), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(threaded.last_invalid, serial.last_invalid)
    assert threaded.last_invalid.sum() == len(range(0, len(big), 7))
    assert threaded.workers.pool is not None and serial.workers.pool is None
    threaded.close()
    np.testing.assert_allclose(threaded(bad), serial(bad), rtol=1e-6, atol=1e-9)  # restarts


def test_worker_threads_ask_openblas_for_one_thread(ppo_artifact, recorded_obs):
    """Workers x BLAS threads must not oversubscribe the cores (numpy's OpenBLAS here)."""
    from pacegym.agents.export.runtime.workers import _openblas_thread_setter

    setter = _openblas_thread_setter()
    if setter is None:
        pytest.skip("numpy's BLAS has no openblas_set_num_threads_local")
    pacer = load_pacer(ppo_artifact, threads=2)
    pacer(blocks(recorded_obs))  # starts the workers
    assert pacer.workers.pool is not None
    previous = [pacer.workers.executor().submit(setter, 1).result() for _ in range(4)]
    assert previous == [1, 1, 1, 1]  # the initialiser had already set one thread


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_threads_argument_checked(ppo_artifact, bad):
    with pytest.raises(PacerError, match=r"threads = .*: allowed an integer >= 1"):
        load_pacer(ppo_artifact, threads=bad)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_worker_threads_restart_in_a_forked_child(ppo_artifact, recorded_obs):
    """A pacer used before fork still serves large batches in the child (no hang)."""
    import os
    import select
    import signal

    big = blocks(recorded_obs)
    pacer = load_pacer(ppo_artifact, threads=2)
    expected = pacer(big)
    assert pacer.workers.pool is not None  # the parent's workers are running now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: answer 1 if the same throttles come back, then leave at once
        try:
            ok = np.allclose(pacer(big), expected, rtol=1e-6, atol=1e-9)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60.0)
    got = os.read(read, 1) if ready else b""
    if not ready:  # a hung child: the pool it inherited never ran the blocks
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(read)
    assert got == b"1"


def test_a_metric_nan_on_one_side_only_fails_the_export_check():
    """abs(nan - x) is NaN and NaN > tol is False: such a mismatch used to pass silently.
    NaN on both sides (ecpc without a click) agrees."""
    from pacegym.agents.export.verify import metric_gaps
    from pacegym.experiments.export import check_report

    nan = float("nan")
    assert metric_gaps({"a": nan, "b": 1.0}, {"a": nan, "b": 1.5}) == ({"a": 0.0, "b": 0.5}, [])
    assert metric_gaps({"a": nan, "b": 1.0}, {"a": 1.0, "b": nan}) == ({}, ["a", "b"])
    episodes = {"a": np.array([nan, 2.0]), "b": np.array([1.0, 3.0])}
    assert metric_gaps(episodes, {"a": [nan, 2.25], "b": [1.0, nan]}) == ({"a": 0.25}, ["b"])
    ok = {"checked": True, "max_abs_diff": 0.0, "nan_mismatch": []}
    assert check_report({"metric_parity": ok}) == []
    bad = dict(ok, nan_mismatch=["ecpc"])
    assert check_report({"metric_parity": bad}) == [
        "metric parity: NaN on one side only for ['ecpc']"
    ]
