"""Trust boundaries of an artifact folder: its code runs only pinned, and every size, depth
and path in it is bounded and confined before anything is read in full."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pacegym.agents.export.runtime import MANIFEST_FILE, PacerError, load_pacer, sha256_file
from pacegym.agents.export.runtime.manifest import MAX_FILE_BYTES
from pacegym.agents.export.runtime.schema import manifest_digest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def artifact(ppo_artifact, tmp_path) -> Path:
    return Path(shutil.copytree(ppo_artifact, tmp_path / "pacer"))


def _edit(art: Path, edit) -> None:
    m = json.loads((art / MANIFEST_FILE).read_text())
    edit(m)
    (art / MANIFEST_FILE).write_text(json.dumps(m))


def _bootstrap() -> str:
    """The ``import_pacer`` bootstrap exactly as docs/export.md documents it."""
    text = (REPO / "docs" / "export.md").read_text()
    m = re.search(r"\ndef import_pacer\(.*?\n    return module\n", text, re.S)
    assert m is not None, "docs/export.md lost its import_pacer bootstrap"
    return "import hashlib, importlib.util, json, sys\n" + m.group(0)


def _serve(art: Path, digest: str, cwd: Path) -> subprocess.CompletedProcess:
    script = _bootstrap() + (
        f"pacer = import_pacer({str(art)!r}, {digest!r})\n"
        f"p = pacer.load({str(art)!r}, expected_digest={digest!r})\n"
        "print(p(__import__('numpy').zeros((2, 14), 'float32')).shape)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_planted_modules_beside_pacer_py_never_run(artifact, tmp_path):
    marker = tmp_path / "ran"
    for name in ("json.py", "numpy.py", "hashlib.py", "io.py"):
        (artifact / name).write_text(f"open({str(marker)!r}, 'w').write('{name}')\n")
    r = _serve(artifact, manifest_digest(artifact), tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "(2,)" and not marker.exists()


def test_a_changed_pacer_py_is_refused_before_it_runs(artifact, tmp_path):
    marker = tmp_path / "ran"
    approved = manifest_digest(artifact)
    (artifact / "pacer.py").write_text(f"open({str(marker)!r}, 'w')\n")
    r = _serve(artifact, approved, tmp_path)
    assert "pacer.py differs from the approved manifest" in r.stderr and not marker.exists()
    # and with the manifest's digest updated too: the pinned manifest refuses it
    _edit(
        artifact, lambda m: m["files"].update({"pacer.py": sha256_file(str(artifact / "pacer.py"))})
    )
    r = _serve(artifact, approved, tmp_path)
    assert "manifest.json is not the approved one" in r.stderr and not marker.exists()


def test_a_huge_sparse_weights_file_is_refused_before_hashing(artifact):
    w = artifact / "weights.npz"
    with open(w, "r+b") as f:
        f.truncate(200 << 30)  # 200 GiB, sparse: nothing written
    start = time.perf_counter()
    with pytest.raises(
        PacerError,
        match=f"weights.file = 'weights.npz': {200 << 30} bytes: allowed at most {MAX_FILE_BYTES}",
    ):
        load_pacer(artifact, expected_digest=manifest_digest(artifact))
    assert time.perf_counter() - start < 5.0


def _bomb_npz(shape: tuple[int, ...]) -> bytes:
    """An npz whose member's npy header declares ``shape`` float32; its data is 16 bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("layer0.weight.npy", buf.getvalue() + bytes(16))
    return out.getvalue()


def test_a_weights_zip_bomb_is_refused_from_its_headers(artifact):
    w = artifact / "weights.npz"
    w.write_bytes(_bomb_npz((1 << 20, 1 << 10)))  # declares 4 GiB

    def declare(m):
        m["weights"]["sha256"] = sha256_file(str(w))
        m["weights"]["arrays"] = {
            "layer0.weight": {"shape": [1 << 20, 1 << 10], "dtype": "float32"}
        }

    _edit(artifact, declare)
    start = time.perf_counter()
    with pytest.raises(
        PacerError, match=r"layer0\.weight is float32 \(1048576, 1024\): allowed at most"
    ):
        load_pacer(artifact)
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_deeply_nested_manifest_is_one_line(artifact, depth):
    m = json.loads((artifact / MANIFEST_FILE).read_text())
    text = json.dumps(m)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    (artifact / MANIFEST_FILE).write_text(text)
    with pytest.raises(PacerError, match=r"manifest\.json: .*nested.*allowed") as e:
        load_pacer(artifact)
    assert "\n" not in str(e.value)


def test_manifest_paths_stay_inside_the_artifact(artifact, tmp_path):
    outside = tmp_path / "elsewhere.npz"
    shutil.move(artifact / "weights.npz", outside)
    os.symlink(outside, artifact / "weights.npz")
    with pytest.raises(
        PacerError, match=r"weights\.file = 'weights\.npz': a link out of the artifact"
    ):
        load_pacer(artifact)
    _edit(artifact, lambda m: m["weights"].update(file="../elsewhere.npz"))
    with pytest.raises(PacerError, match=r"weights\.file = '\.\./elsewhere\.npz'"):
        load_pacer(artifact)


def test_a_link_inside_the_artifact_still_loads(artifact):
    os.rename(artifact / "weights.npz", artifact / ".weights-v1.npz")
    os.symlink(".weights-v1.npz", artifact / "weights.npz")  # e.g. a ConfigMap's layout
    assert load_pacer(artifact)(np.zeros((2, 14), np.float32)).shape == (2,)
