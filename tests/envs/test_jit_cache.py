"""Cached kernels recompile when a module they take constants from changes."""

import os
import subprocess
import sys
import textwrap

import pytest

from pacegym.envs import jit_cache
from pacegym.envs import layout as L

KERN = textwrap.dedent(
    """
    import importlib.util
    import sys

    import numba as nb

    import consts

    # by path: importing pacegym.envs would cost seconds per run
    spec = importlib.util.spec_from_file_location("jit_cache", {path!r})
    jit_cache = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(jit_cache)

    @nb.njit(cache=True)
    def value():
        return consts.X

    _SOURCES = jit_cache.fingerprint([consts.__file__, __file__])

    @nb.njit(cache=True)
    def _probe():
        return _SOURCES

    stale = jit_cache.drop_stale(_probe, _SOURCES, [sys.modules[__name__]])
    print(stale, value())
    """
)


def _run(tmp_path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", "import kern"], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.slow
def test_a_changed_constant_module_drops_the_stale_cache(tmp_path):
    (tmp_path / "kern.py").write_text(KERN.format(path=jit_cache.__file__))
    (tmp_path / "consts.py").write_text("X = 1\n")
    assert _run(tmp_path) == "True 1"  # nothing cached yet: nothing to trust
    assert _run(tmp_path) == "False 1"  # cached, sources unchanged
    (tmp_path / "consts.py").write_text("X = 2\n")  # kern.py unchanged: numba alone keeps 1
    assert _run(tmp_path) == "True 2"
    assert _run(tmp_path) == "False 2"


def test_the_kernels_were_compiled_against_their_current_sources():
    assert jit_cache._compiled_sources() == jit_cache._SOURCES != 0
    modules = [sys.modules[m] for m in jit_cache.KERNEL_MODULES]
    files = (m.__file__ for m in modules)
    assert jit_cache.fingerprint(files, jit_cache.constants(modules)) == jit_cache._SOURCES
    assert repr(L.RANDOMIZABLE).encode() in jit_cache.constants(modules)
    names = {d.py_func.__name__ for d in jit_cache.dispatchers(modules)}
    assert {"step_serial", "step_parallel", "init_rows", "write_obs", "shape_at"} <= names


def test_kernel_modules_cover_what_the_kernels_import():
    """Every ``pacegym.envs`` module a kernel module imports is itself a kernel module, when
    it holds compiled code or constants the kernels read: a module left out would be frozen
    into the cached machine code and never recompiled after an edit."""
    import ast
    import importlib
    from pathlib import Path

    listed = set(jit_cache.KERNEL_MODULES)
    missing = set()
    for name in jit_cache.KERNEL_MODULES:
        tree = ast.parse(Path(importlib.import_module(name).__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "pacegym.envs":
                imported = [f"pacegym.envs.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "pacegym.envs."
            ):
                imported = [node.module]
            else:
                continue
            for mod in imported:
                source = Path(importlib.import_module(mod).__file__).read_text()
                if mod not in listed and ("nb.njit" in source or "numba" in source):
                    missing.add(f"{mod} (imported by {name})")
    assert not missing, f"not in jit_cache.KERNEL_MODULES: {sorted(missing)}"
