"""The manifest schema: every field checked (type, range) with one line naming it; digests."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacegym.agents.export.runtime import (
    MANIFEST_FILE,
    PacerError,
    check_manifest,
    load_pacer,
    manifest_digest,
)

from ..synthetic import residual_artifact

# (path in the manifest, allowed low, allowed high) of every number the runtime serves with
NUMBERS = [
    ("action.decades", 1.0, 8.0),
    ("action.low", -1.0, 1.0),
    ("safety.fallback_throttle", 0.0, 1.0),
    ("policy.scale_decades", 0.0, 10.0),
    ("policy.floor", 1e-12, 1.0),
    ("policy.normalization.epsilon", 0.0, 1.0),
    ("policy.normalization.clip", 0.0, 1e6),
    ("policy.normalization.var[0]", 0.0, 1e12),
    ("policy.normalization.mean[3]", -1e12, 1e12),
    ("observation.features[2].low", -1e12, 1e12),
    ("policy.base.controller.params.kp", 0.0, 1e4),
]


@pytest.fixture(scope="module")
def residual(tmp_path_factory) -> dict:
    """The manifest of a residual artifact (it has every section but onnx)."""
    art = residual_artifact(tmp_path_factory.mktemp("res") / "r")
    return json.loads((art / MANIFEST_FILE).read_text())


def _set(m: dict, path: str, value) -> dict:
    m = json.loads(json.dumps(m))
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    node = m
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return m


def test_the_residual_manifest_passes(residual):
    check_manifest(residual)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(NUMBERS),
    bad=st.one_of(
        st.sampled_from([float("nan"), float("inf"), -float("inf"), "0.5", None, True, [1.0]]),
        st.floats(max_value=-1e13) | st.floats(min_value=1e13),
    ),
    side=st.booleans(),
)
def test_every_served_number_checked(residual, field, bad, side):
    path, lo, hi = field
    if isinstance(bad, float) and np.isfinite(bad):
        bad = lo - abs(bad) if side else hi + abs(bad)  # strictly outside [lo, hi]
    with pytest.raises(PacerError, match=rf"manifest field {__import__('re').escape(path)}") as e:
        check_manifest(_set(residual, path, bad))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        ("action.decades", -4.0, r"action\.decades = -4\.0: allowed a number in \[1, 8\]"),
        ("action.high", 2.0, r"action\.high = 2\.0"),
        ("action.mapping", "exp", r"action\.mapping = 'exp'"),
        ("safety.budget_guard", "yes", r"safety\.budget_guard = 'yes': allowed true or false"),
        ("weights.sha256", "abc", r"weights\.sha256 = 'abc': allowed a sha256"),
        ("policy.kind", "python", r"policy\.kind = 'python'"),
        ("policy.layers[0].activation", "eval", r"activation = 'eval'"),
        ("policy.base.kind", "code", r"policy\.base\.kind = 'code'"),
        ("policy.base.controller.params.p_min", 0.5, r"params\.p_base = 0\.05"),
        ("observation.features[1].index", 7, r"features\[1\]\.index = 7"),
        ("observation.dtype", "float64", r"observation\.dtype = 'float64'"),
    ],
)
def test_fields_checked_with_one_line_naming_them(residual, path, value, match):
    m = _set(residual, path, value)
    with pytest.raises(PacerError, match=match) as e:
        check_manifest(m)
    assert "\n" not in str(e.value)


def test_file_tables_checked(residual):
    m = json.loads(json.dumps(residual))
    m["files"]["pacer.py"] = "0" * 63
    with pytest.raises(PacerError, match=r"files\.pacer\.py = '0+': allowed a sha256"):
        check_manifest(m)
    m = json.loads(json.dumps(residual))
    m["files"]["../x.py"] = "0" * 64
    with pytest.raises(PacerError, match=r"files key = '\.\./x\.py': allowed a plain file name"):
        check_manifest(m)
    m = json.loads(json.dumps(residual))
    m["weights"]["arrays"]["layer0.weight"]["dtype"] = "object"
    with pytest.raises(PacerError, match=r"weights\.arrays\.layer0\.weight\.dtype = 'object'"):
        check_manifest(m)


@pytest.mark.parametrize("section", ["", "policy", "action", "safety", "policy.base.controller"])
def test_unknown_and_missing_fields_refused(residual, section):
    m = json.loads(json.dumps(residual))
    node = m
    for p in filter(None, section.split(".")):
        node = node[p]
    node["exec"] = "import os"
    with pytest.raises(PacerError, match=r"exec is not"):
        check_manifest(m)
    del node["exec"]
    node.pop(next(iter(node)))
    with pytest.raises(PacerError, match=r"is missing|allowed"):
        check_manifest(m)


@pytest.fixture
def art(tmp_path) -> Path:
    return residual_artifact(tmp_path / "res")


def test_duplicate_keys_and_nan_literals_refused(art):
    text = (art / MANIFEST_FILE).read_text()
    (art / MANIFEST_FILE).write_text(
        text.replace('"schema_version": 2,', '"schema_version": 2, "schema_version": 2,')
    )
    with pytest.raises(PacerError, match="appears twice"):
        load_pacer(art)
    (art / MANIFEST_FILE).write_text(text.replace('"scale_decades": 1.0', '"scale_decades": NaN'))
    with pytest.raises(PacerError, match="NaN is not a number JSON allows"):
        load_pacer(art)


def test_expected_digest_pins_the_manifest(art, tmp_path):
    digest = manifest_digest(art)
    assert digest == hashlib.sha256((art / MANIFEST_FILE).read_bytes()).hexdigest()
    pacer = load_pacer(art, expected_digest=digest.upper())
    assert pacer.manifest_sha256 == digest
    # a consistent, in-range edit (the issue's: invalid rows at full throttle) loads
    # without a pin, and is refused with it
    m = json.loads((art / MANIFEST_FILE).read_text())
    m["safety"]["fallback_throttle"] = 1.0
    m["policy"]["normalization"]["mean"][0] += 0.5
    (art / MANIFEST_FILE).write_text(json.dumps(m))
    assert load_pacer(art).fallback == 1.0
    with pytest.raises(PacerError, match="differs from expected_digest") as e:
        load_pacer(art, expected_digest=digest)
    assert "\n" not in str(e.value)
    for bad in ("abc", "g" * 64, 12):
        with pytest.raises(PacerError, match=r"expected_digest = .*: allowed a sha256"):
            load_pacer(art, expected_digest=bad)


def test_changed_pacer_py_refused(art):
    (art / "pacer.py").write_text("raise SystemExit('ran')\n")
    with pytest.raises(PacerError, match=r"files\.pacer\.py: sha256 differs"):
        load_pacer(art)


def test_single_row_path_never_serves_outside_unit_interval(tmp_path, ppo_artifact, recorded_obs):
    """Even a pinned-but-odd mapping cannot serve a throttle > 1 (the issue's 124.0)."""
    art = Path(shutil.copytree(ppo_artifact, tmp_path / "c"))
    pacer = load_pacer(art)
    pacer.action_map.decades = -4.0  # past the schema: the pacer still refuses to serve it
    row = recorded_obs[10]
    out = pacer(row)
    assert 0.0 <= out[0] <= 1.0
    assert pacer(np.stack([row] * 10)).max() <= 1.0
