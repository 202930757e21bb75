"""One observation normalisation: the SB3 reference and the exported pacer call the same code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pacegym.agents.export.runtime import MANIFEST_FILE, Normalization, PacerError, load_pacer
from pacegym.agents.policy import SB3Controller
from pacegym.envs.spaces import OBS_INDEX


@pytest.fixture
def counted(monkeypatch):
    """Counts the calls of ``Normalization.into`` (the one implementation)."""
    calls = []
    real = Normalization.into

    def spy(self, x, z64, z32):
        calls.append(np.shape(x))
        return real(self, x, z64, z32)

    monkeypatch.setattr(Normalization, "into", spy)
    return calls


def test_reference_and_pacer_both_call_the_one_normalization(
    ppo_model, ppo_artifact, recorded_obs, counted
):
    model, norm = ppo_model
    x = recorded_obs[:200]
    SB3Controller(model, norm).actions(x)
    assert counted == [(200, x.shape[1])]  # the SB3 reference
    pacer = load_pacer(ppo_artifact, threads=1)
    pacer.actions(x)
    assert counted[1:] == [(200, x.shape[1])]  # the pacer's block path
    lo, hi = (np.asarray(b) for b in pacer.policy.box)
    inside = x[((x >= lo) & (x <= hi)).all(axis=1)][0]
    pacer(inside)  # single-row path, inside the clip box: normalisation folded into layer 1
    assert len(counted) == 2
    col = OBS_INDEX["serving_rate"]
    row = inside.copy()
    row[col] = min(hi[col] + 2 * (hi[col] - lo[col]), pacer.high[col])
    assert row[col] > hi[col]
    pacer(row)  # outside the box: the single-row path normalises and clips first
    assert counted[2:] == [(x.shape[1],)]


def test_reference_and_pacer_normalise_bit_for_bit(ppo_model, ppo_artifact, recorded_obs):
    model, norm = ppo_model
    x = recorded_obs[:500].copy()
    x[::3] *= 50.0  # rows beyond mean +- clip * std: the clip acts
    net = load_pacer(ppo_artifact).policy.net
    z_ref = SB3Controller(model, norm).normalise(np.asarray(x, dtype=np.float64))
    z_pacer = net.normalize(x)
    assert z_ref.dtype == z_pacer.dtype == np.float32
    np.testing.assert_array_equal(z_ref, z_pacer)
    assert (np.abs(z_ref) == np.float32(norm["clip"])).any()  # the clip was exercised


def test_formula(ppo_model):
    """``clip((x - mean) / sqrt(var + epsilon), -clip, clip)`` in float64, then float32."""
    rng = np.random.default_rng(0)
    mean, var = rng.normal(size=5), rng.uniform(0, 4, size=5)
    x = (rng.normal(size=(50, 5)) * 20).astype(np.float32)
    z = Normalization(mean, var, 1e-8, 3.0)(x)
    expected = np.clip((x.astype(np.float64) - mean) / np.sqrt(var + 1e-8), -3.0, 3.0)
    np.testing.assert_array_equal(z, expected.astype(np.float32))
    assert np.isnan(Normalization(mean, var, 1e-8, 3.0)(np.full((1, 5), np.nan))).all()


def test_manifest_and_onnx_actor_take_it_from_the_runtime(ppo_model, ppo_artifact):
    import torch

    from pacegym.agents.export.sb3_policy import TorchActor

    model, norm = ppo_model
    m = json.loads((ppo_artifact / MANIFEST_FILE).read_text())
    assert m["policy"]["normalization"]["rule"] == Normalization.RULE
    actor = TorchActor(model, norm)
    ref = Normalization.from_spec(norm)
    assert torch.equal(actor.std, torch.tensor(ref.std, dtype=torch.float32))
    assert torch.equal(actor.mean, torch.tensor(ref.mean, dtype=torch.float32))
    assert actor.clip == ref.clip


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda n: n.update(var=[-1.0] * len(n["var"])), r"var >= 0"),
        (lambda n: n.update(mean=n["mean"][:3]), r"must be \(14,\)"),
        (lambda n: n.update(epsilon=2.0), r"epsilon = 2.0: allowed"),
        (lambda n: n.pop("clip"), r"obs_norm\.clip is missing"),
    ],
)
def test_bad_statistics_refused_by_reference_too(ppo_model, edit, match):
    model, norm = ppo_model
    bad = json.loads(json.dumps(norm))
    edit(bad)
    with pytest.raises(PacerError, match=match):
        Normalization.from_spec(bad, 14, where="obs_norm")
    if "14," not in match:  # without n_in, the reference checks the rest just the same
        with pytest.raises(PacerError, match=match):
            SB3Controller(model, bad)
