"""Every third-party module the package imports is declared in pyproject.toml, and the
simulator and baselines import only the base dependencies."""

from __future__ import annotations

import ast
import functools
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("pacegym", "envs", "baselines", "agents", "experiments")
BASE_ONLY = ("pacegym", "envs", "baselines")
"""Folders that must run on the base install (``envs/calibration`` is the calibrate extra)."""


def _imports(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module.split(".")[0])
    return mods - set(sys.stdlib_module_names) - {"pacegym", "__future__"}


def _names(reqs: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = _names(project["dependencies"])
    extras = set().union(*(_names(v) for v in project["optional-dependencies"].values()))
    return base, base | extras


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return packages_distributions()


def _dists(module: str) -> set[str]:
    return {d.lower().replace("_", "-") for d in _distributions().get(module, [module])}


def test_every_imported_distribution_is_declared():
    _, declared = _declared()
    missing = {}
    for folder in PACKAGE_DIRS:
        for path in (REPO / folder).rglob("*.py"):
            for mod in _imports(path):
                if not _dists(mod) & declared:
                    missing.setdefault(mod, []).append(str(path.relative_to(REPO)))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_simulator_and_baselines_import_only_base_dependencies():
    base, _ = _declared()
    optional = {"threadpoolctl"}  # imported inside try/except ImportError, never required
    for folder in BASE_ONLY:
        for path in (REPO / folder).rglob("*.py"):
            if "calibration" in path.parts:
                continue
            for mod in _imports(path) - optional:
                assert _dists(mod) & base, f"{path.relative_to(REPO)} imports {mod}"
