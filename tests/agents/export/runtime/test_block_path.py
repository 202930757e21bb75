"""The MLP block path's rewrites compute the plain ``h @ W + b`` network on the same values.

``rowwise`` (row-wise arithmetic on flat tiles) must equal numpy's broadcasting bit for bit,
and ``block_layers`` (biases inside the products, columns of ones carried by saturating
activations) must equal the plain layers to float32 rounding, for every activation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pacegym.agents.export.runtime import ACTIVATIONS, CHUNK_ROWS, Mlp, Normalization
from pacegym.agents.export.runtime.mlp import SATURATES, _activation, block_layers
from pacegym.agents.export.runtime.normalize import TILE_ROWS, rowwise, tile


@pytest.mark.parametrize("n", [1, 7, TILE_ROWS - 1, TILE_ROWS, TILE_ROWS + 3, 3 * TILE_ROWS + 5])
@pytest.mark.parametrize("op", [np.subtract, np.divide, np.greater_equal, np.less_equal])
def test_rowwise_equals_broadcasting_bit_for_bit(n, op):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    x[::3, 1] = np.nan
    row = rng.normal(size=5).astype(np.float32)
    out = np.empty(x.shape, dtype=op(x[:1], row).dtype)
    np.testing.assert_array_equal(rowwise(op, x, tile(row), out), op(x, row))


def test_normalization_of_many_rows_is_the_formula_bit_for_bit():
    """Whole tiles and the rows left over (the formula test covers fewer rows than a tile)."""
    rng = np.random.default_rng(1)
    mean, var = rng.normal(size=6) * 100, rng.uniform(0, 4, size=6)
    x = (rng.normal(size=(2 * TILE_ROWS + 77, 6)) * 50).astype(np.float32)
    z = Normalization(mean, var, 1e-8, 5.0)(x)
    expected = np.clip((x.astype(np.float64) - mean) / np.sqrt(var + 1e-8), -5.0, 5.0)
    np.testing.assert_array_equal(z, expected.astype(np.float32))


def _plain(layers, z):
    h = z
    for w, b, act in layers:
        h = _activation(act, h @ w + b)
    return h[:, 0]


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("normalised", [True, False])
def test_block_path_is_the_plain_network(act, normalised):
    rng = np.random.default_rng(3)
    widths = [9, 32, 16, 1]
    arrays, spec = {}, {"layers": []}
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        arrays[f"w{i}"] = (rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32)
        arrays[f"b{i}"] = rng.normal(size=b).astype(np.float32)
        last = i == len(widths) - 2
        layer = {"weight": f"w{i}", "bias": f"b{i}", "activation": "identity" if last else act}
        spec["layers"].append(layer)
    if normalised:
        spec["normalization"] = {
            "mean": rng.normal(size=9).tolist(),
            "var": rng.uniform(0.5, 2, size=9).tolist(),
            "epsilon": 1e-8,
            "clip": 10.0,
        }
    net = Mlp(spec, arrays, 9)
    x = rng.normal(size=(CHUNK_ROWS + 300, 9)).astype(np.float32)
    want = _plain(net.layers, net.normalize(x).astype(np.float64))
    np.testing.assert_allclose(net.actions(x), want, rtol=1e-5, atol=1e-5)
    carried = [w.shape[1] for w, _, _ in net.block[:-1]]
    hidden = widths[1:-1]  # a column of ones for each next layer but the last (one output)
    assert carried == [w + (act in SATURATES and k + 1 < len(hidden)) for k, w in enumerate(hidden)]
    assert (net.block[-1][1] is None) == (len(hidden) == 0 and normalised)


@pytest.mark.parametrize("act", sorted(SATURATES))
def test_saturating_input_gives_exactly_one(act):
    c = np.full((3, 70), SATURATES[act], dtype=np.float32)  # long enough for SIMD lanes
    assert (_activation(act, c) == 1.0).all()


def test_a_layer_without_ones_adds_its_bias():
    w = np.ones((2, 3), np.float32)
    b = np.arange(3, dtype=np.float32)
    (w0, b0, _), (w1, b1, _) = block_layers(
        [(w, b, "silu"), (w.T[:, :1], b[:1], "identity")], False
    )
    assert w0.shape == (2, 3) and b0 is not None  # silu saturates nowhere: no column of ones
    assert w1.shape == (3, 1) and b1 is not None


def test_row_path_vectors_are_per_thread(ppo_artifact, recorded_obs):
    """The row path writes into preallocated vectors: each thread has its own."""
    from concurrent.futures import ThreadPoolExecutor

    from pacegym.agents.export.runtime import load_pacer

    pacer = load_pacer(ppo_artifact, threads=1)
    rows = recorded_obs[:300]
    want = [pacer.policy.one_throttle(r, True) for r in rows.tolist()]

    def serve(k: int) -> list[float]:
        return [pacer.policy.one_throttle(r, True) for r in rows[k::4].tolist()]

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(serve, range(4)))
    for k in range(4):
        assert got[k] == want[k::4]


def test_normalization_of_one_row_is_the_batchs():
    """``Normalization.into`` on one float64 row (the row path outside the clip box: its
    clip as two ufunc calls) gives the batch's float32 values bit for bit, clipped values
    and a constant feature included."""
    rng = np.random.default_rng(5)
    mean, var = rng.normal(size=9), rng.uniform(0.0, 2.0, size=9)
    var[0] = 0.0  # a constant feature: std = sqrt(epsilon)
    norm = Normalization(mean, var, 1e-8, 3.0)
    x = (rng.normal(size=(500, 9)) * rng.choice([0.01, 1.0, 10.0], size=(500, 9))).astype(
        np.float32
    )
    z64, z32 = np.empty(9), np.empty(9, np.float32)
    got = np.array([norm.into(r.astype(np.float64), z64, z32).copy() for r in x])
    np.testing.assert_array_equal(got, norm(x))
