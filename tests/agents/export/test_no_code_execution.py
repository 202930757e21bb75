"""No loading path runs code from an artifact: every kind loads with exec, compile, imports
from files and unpickling all forbidden, and a booby-trapped pacer.py is never run."""

from __future__ import annotations

import ast
import builtins
import importlib.util
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from pacegym.agents.export.exporter import export_controller
from pacegym.agents.export.runtime import MANIFEST_FILE, load_pacer, sha256_file

from .synthetic import residual_artifact

KINDS = ["on_off", "proportional", "pid", "exp_decay", "mlp", "residual", "onnx"]


@pytest.fixture
def artifact(request, tmp_path, ppo_artifact) -> tuple[Path, str]:
    """(artifact dir, backend) of one kind, writable."""
    kind = request.param
    if kind in ("mlp", "onnx"):
        return Path(shutil.copytree(ppo_artifact, tmp_path / kind)), kind.replace("mlp", "numpy")
    if kind == "residual":
        return residual_artifact(tmp_path / kind), "numpy"
    return export_controller({"kind": kind, "params": {}}, tmp_path / kind), "numpy"


def _trap(art: Path, marker: Path) -> None:
    """Replace pacer.py by code that leaves ``marker``, with a matching manifest digest."""
    (art / "pacer.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    m = json.loads((art / MANIFEST_FILE).read_text())
    m["files"]["pacer.py"] = sha256_file(str(art / "pacer.py"))
    (art / MANIFEST_FILE).write_text(json.dumps(m))


def _forbid(monkeypatch) -> list[str]:
    calls: list[str] = []

    def refuse(name):
        def f(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called while loading an artifact")

        return f

    monkeypatch.setattr(builtins, "exec", refuse("exec"))
    monkeypatch.setattr(builtins, "eval", refuse("eval"))
    real_compile = builtins.compile

    def compile_ast_only(source, filename, mode, flags=0, *args, **kwargs):
        # numpy reads an .npy header with ast.literal_eval: a parse to a syntax tree, never
        # code; anything compiled to a code object is refused
        if not flags & ast.PyCF_ONLY_AST:
            return refuse("compile")()
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", compile_ast_only)
    monkeypatch.setattr(importlib.util, "spec_from_file_location", refuse("import by path"))
    monkeypatch.setattr(pickle, "load", refuse("pickle.load"))
    monkeypatch.setattr(pickle, "loads", refuse("pickle.loads"))
    return calls


@pytest.mark.parametrize("artifact", KINDS, indirect=True)
def test_loading_and_serving_run_no_artifact_code(artifact, tmp_path, monkeypatch):
    import onnxruntime  # noqa: F401  (imported before the traps: its own import machinery)

    art, backend = artifact
    marker = tmp_path / "ran"
    _trap(art, marker)
    x = np.zeros((3, 14), np.float32)
    x[:, 1], x[:, 2], x[:, 12] = 1.0, 4.7, -4.0
    calls = _forbid(monkeypatch)
    try:
        pacer = load_pacer(art, backend=backend, threads=1)
        pacer.reset(3)
        out = pacer(x)
    finally:
        monkeypatch.undo()
    assert calls == [] and not marker.exists()
    assert np.isfinite(out).all() and ((out >= 0) & (out <= 1)).all()
    assert {p.name for p in art.iterdir()} <= {
        "manifest.json",
        "pacer.py",
        "weights.npz",
        "policy.onnx",
    }
