"""Safety: bad inputs give the fallback throttle; bad artifacts are refused at load time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pacegym.agents.export.runtime import MANIFEST_FILE, PacerError, load_pacer
from pacegym.envs.spaces import OBS_INDEX, OBS_NAMES


@pytest.fixture
def artifact(ppo_artifact, tmp_path) -> Path:
    """A writable copy of the PPO artifact."""
    return Path(shutil.copytree(ppo_artifact, tmp_path / "copy"))


def _edit_manifest(path: Path, edit) -> None:
    m = json.loads((path / MANIFEST_FILE).read_text())
    edit(m)
    (path / MANIFEST_FILE).write_text(json.dumps(m))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e9, -1e9])
@pytest.mark.parametrize("feature", ["time_elapsed", "serving_rate", "exhausted"])
def test_bad_values_give_fallback_never_nan(ppo_artifact, recorded_obs, feature, value):
    pacer = load_pacer(ppo_artifact)
    x = recorded_obs[:5].copy()
    x[2, OBS_INDEX[feature]] = value
    out = pacer(x)
    assert np.isfinite(out).all() and ((out >= 0) & (out <= 1)).all()
    assert out[2] == 0.0  # safety.fallback_throttle
    assert pacer.last_invalid.tolist() == [False, False, True, False, False]
    np.testing.assert_allclose(np.delete(out, 2), np.delete(pacer(recorded_obs[:5]), 2), rtol=1e-6)


@pytest.mark.parametrize("rows", [1, 2, 4, 5, 9000])  # latency path (<= 4 rows) and blocks
def test_small_and_block_paths_agree(ppo_artifact, recorded_obs, rows):
    pacer = load_pacer(ppo_artifact, budget_guard=True)
    x = np.resize(recorded_obs, (rows, recorded_obs.shape[1])).copy()
    x[0, OBS_INDEX["plan"]] = np.nan
    x[-1, OBS_INDEX["reported_spend"]] = 1.0
    out = pacer(x)
    assert out[0] == 0.0 and out[-1] == 0.0 and np.isfinite(out).all()
    assert pacer.last_invalid[0] and pacer.last_guarded[-1] == (rows > 1)
    per_row = [pacer(r)[0] for r in x[: min(rows, 6)]]
    np.testing.assert_allclose(out[: len(per_row)], per_row, rtol=1e-5, atol=1e-9)


def test_missing_extra_or_ragged_features_refused(ppo_artifact, recorded_obs):
    pacer = load_pacer(ppo_artifact)
    named = {n: recorded_obs[:4, i] for i, n in enumerate(OBS_NAMES)}
    with pytest.raises(PacerError, match=r"missing \['in_flight'\]"):
        pacer({k: v for k, v in named.items() if k != "in_flight"})
    with pytest.raises(PacerError, match=r"unexpected \['ctr'\]"):
        pacer({**named, "ctr": np.zeros(4)})
    with pytest.raises(PacerError, match="different lengths"):
        pacer({**named, "plan": np.zeros(3)})
    with pytest.raises(PacerError, match=r"allowed \(n, 14\)"):
        pacer(recorded_obs[:4, :13])


def test_caller_feature_list_checked_at_load(ppo_artifact):
    load_pacer(ppo_artifact, features=list(reversed(OBS_NAMES)))
    with pytest.raises(PacerError, match="needs \\['exhausted'\\]"):
        load_pacer(ppo_artifact, features=OBS_NAMES[:-1])
    with pytest.raises(PacerError, match="does not take \\['ctr'\\]"):
        load_pacer(ppo_artifact, features=[*OBS_NAMES, "ctr"])


@pytest.mark.parametrize("version", [1, 3])
def test_unknown_schema_version_refused(artifact, version):
    _edit_manifest(artifact, lambda m: m.update(schema_version=version))
    with pytest.raises(PacerError, match=f"schema_version = {version}: this runtime serves"):
        load_pacer(artifact)


def test_tampered_weights_refused(artifact):
    w = artifact / "weights.npz"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0x01
    w.write_bytes(bytes(data))
    with pytest.raises(PacerError, match="sha256 mismatch"):
        load_pacer(artifact)


def test_weights_swapped_with_matching_checksum_still_checked(artifact):
    # re-saved weights with a fresh checksum but a different shape: refused by the shape check
    from pacegym.agents.export.runtime import sha256_file

    with np.load(artifact / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["layer0.weight"] = arrays["layer0.weight"][:13]
    np.savez(artifact / "weights.npz", **arrays)
    _edit_manifest(
        artifact, lambda m: m["weights"].update(sha256=sha256_file(str(artifact / "weights.npz")))
    )
    with pytest.raises(PacerError, match=r"layer0\.weight"):
        load_pacer(artifact)


def test_manifest_features_must_fit_weights(artifact):
    _edit_manifest(artifact, lambda m: m["observation"]["features"].pop())
    with pytest.raises(PacerError, match="do not fit an input of width 13"):
        load_pacer(artifact)


def test_pickled_weights_refused(artifact):
    from pacegym.agents.export.runtime import sha256_file

    with np.load(artifact / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["layer0.bias"] = np.array([{"x": 1}] * 64, dtype=object)
    np.savez(artifact / "weights.npz", **arrays)
    _edit_manifest(
        artifact, lambda m: m["weights"].update(sha256=sha256_file(str(artifact / "weights.npz")))
    )
    with pytest.raises(PacerError, match="pickle"):
        load_pacer(artifact)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.pop("safety"), "safety is missing"),
        (lambda m: m["action"].update(mapping="sigmoid"), "action.mapping = 'sigmoid'"),
        (lambda m: m["policy"]["layers"][0].update(activation="gelu"), "activation = 'gelu'"),
        (
            lambda m: m["safety"].update(fallback_throttle=2.0),
            r"fallback_throttle = 2.0: allowed a number in \[0, 1\]",
        ),
        (lambda m: m["weights"].update(file="../weights.npz"), "inside the artifact"),
        (lambda m: m.update(schema="other"), "manifest field schema = 'other'"),
    ],
)
def test_bad_manifest_fields_refused(artifact, edit, match):
    _edit_manifest(artifact, edit)
    with pytest.raises(PacerError, match=match):
        load_pacer(artifact)


def test_budget_guard(ppo_artifact, recorded_obs):
    x = recorded_obs[:4].copy()
    x[1, OBS_INDEX["reported_spend"]] = 0.7
    x[1, OBS_INDEX["in_flight"]] = 0.3  # reported + in flight = budget
    x[2, OBS_INDEX["reported_spend"]] = 0.7
    x[2, OBS_INDEX["in_flight"]] = 0.2
    off = load_pacer(ppo_artifact)(x)
    guarded = load_pacer(ppo_artifact, budget_guard=True)
    on = guarded(x)
    assert on[1] == 0.0 and off[1] > 0.0
    np.testing.assert_array_equal(np.delete(on, 1), np.delete(off, 1))
    assert guarded.last_guarded.tolist() == [False, True, False, False]
