"""pacer.py: the runtime package, written as small modules, shipped as one checked file."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pacegym.agents.export import bundle, runtime
from pacegym.agents.export.bundle import (
    BundleError,
    _Body,
    _link,
    build_runtime_source,
    check_runtime_source,
)
from pacegym.agents.export.exporter import export_controller
from pacegym.envs.spaces import OBS_INDEX

from .synthetic import residual_artifact


def _import_file(path: Path) -> Any:
    name = f"_pacer_under_test_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_artifact_ships_the_bundled_package(ppo_artifact):
    assert (ppo_artifact / "pacer.py").read_text(encoding="utf-8") == build_runtime_source()


def test_bundle_imports_only_numpy_and_stdlib():
    tree = ast.parse(build_runtime_source())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import left in pacer.py"
            top.add(node.module.split(".")[0])
    assert top - set(sys.stdlib_module_names) == {"numpy"}
    nested = {
        a.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import) and n not in tree.body
        for a in n.names
    }
    assert nested - set(sys.stdlib_module_names) == {"onnxruntime"}  # the optional backend


def test_bundle_defines_each_name_once_and_every_public_name():
    tree = ast.parse(build_runtime_source())
    names = Counter(
        n
        for node in tree.body
        if not isinstance(node, ast.Import | ast.ImportFrom)
        for n in bundle._defined_names(node)
    )
    assert [n for n, c in names.items() if c > 1] == []
    assert set(runtime.__all__) <= set(names)
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    for kind in ("MlpPolicy", "RulePolicy", "ResidualPolicy", "OnnxPolicy", "Pacer"):
        assert kind in classes


def test_bundle_is_the_package_source_verbatim():
    text = build_runtime_source()
    for mod in bundle.RUNTIME_MODULES:
        module = importlib.import_module(f"{bundle.RUNTIME_PACKAGE}.{mod}")
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) == module.__name__ and callable(obj):
                assert inspect.getsource(obj) in text, f"{mod}.{name}"


@pytest.mark.parametrize("kind", ["mlp", "pid", "residual"])
def test_bundled_and_project_runtime_agree_bit_for_bit(kind, ppo_artifact, recorded_obs, tmp_path):
    if kind == "mlp":
        art = ppo_artifact
    elif kind == "pid":
        art = export_controller({"kind": "pid", "params": {"kp": 10.0}}, tmp_path / "pid")
    else:
        art = residual_artifact(tmp_path / "res")
    shipped = _import_file(Path(art) / "pacer.py")
    x = np.resize(recorded_obs, (3 * runtime.CHUNK_ROWS + 77, recorded_obs.shape[1])).copy()
    x[::9, OBS_INDEX["plan"]] = np.nan
    x[5::11, OBS_INDEX["serving_rate"]] = 1e9
    for threads in (1, 2):
        a = runtime.load(art, threads=threads, budget_guard=True)
        b = shipped.load(art, threads=threads, budget_guard=True)
        assert type(b).__module__ == shipped.__name__
        for rows in (1, 4, 5, 200, len(x)):
            a.reset(rows)
            b.reset(rows)
            for _ in range(2):  # stateful rules: a second step from the same state
                np.testing.assert_array_equal(a(x[:rows]), b(x[:rows]))
                np.testing.assert_array_equal(a.last_invalid, b.last_invalid)
                np.testing.assert_array_equal(a.last_guarded, b.last_guarded)
        if kind != "pid":
            a.reset(len(x))
            b.reset(len(x))
            np.testing.assert_array_equal(a.actions(x), b.actions(x))
        a.close()
        b.close()


def _body(module: str, defined=(), siblings=(), imports=()) -> _Body:
    return _Body(module, "", tuple(imports), tuple(siblings), frozenset(defined))


@pytest.mark.parametrize(
    "bodies, match",
    [
        ([_body("p.a", {"f"}), _body("p.b", siblings=[("p.a", "g", None)])], "does not define"),
        ([_body("p.b", siblings=[("p.a", "f", None)]), _body("p.a", {"f"})], "not bundled before"),
        ([_body("p.a", {"f"}), _body("p.b", siblings=[("p.a", "f", "h")])], "cannot be bundled"),
        ([_body("p.a", {"f"}), _body("p.b", {"f"})], "'f' is bound by"),
        (
            [
                _body("p.a", imports=[ast.parse("from typing import Callable").body[0]]),
                _body("p.b", imports=[ast.parse("from collections.abc import Callable").body[0]]),
            ],
            "'Callable' is bound by",
        ),
    ],
)
def test_link_refuses_what_one_file_would_break(bodies, match):
    with pytest.raises(BundleError, match=match):
        _link(bodies)


def test_every_runtime_module_must_be_listed(monkeypatch):
    monkeypatch.setattr(bundle, "RUNTIME_MODULES", bundle.RUNTIME_MODULES[:-1])
    with pytest.raises(BundleError, match="list each module once"):
        build_runtime_source()


@pytest.mark.parametrize(
    "extra, match",
    [
        ("\nimport torch\n", "imports 'torch'"),
        ("\ndef later():\n    import mlflow\n", "imports 'mlflow'"),
        ("\nfrom . import rules\n", "relative import"),
        ("\ndel load\n", r"does not define \['load'"),
    ],
)
def test_check_refuses_heavy_imports_and_missing_names(extra, match):
    with pytest.raises(BundleError, match=match):
        check_runtime_source(build_runtime_source() + extra, runtime.__all__)
