"""Session setup for every test run, serial or spread over the cores (``pytest -n auto``).

Under pytest-xdist the controller compiles the simulator's kernels once, into numba's
on-disk cache, before it starts the workers: otherwise every worker of a fresh clone
finds no cache, drops it (``envs.jit_cache``) and compiles the same kernels at the same
time [~10 s of CPU each]. Each test keeps its own files, MLflow store and working
directory (``tmp_path``, ``monkeypatch.chdir``). Tests that share one ordered workspace
carry an ``xdist_group`` mark, and so, added here, does every test that uses a module- or
session-scoped fixture of the test suite (a trained model, an exported artifact): the
group runs on one worker (``--dist=loadgroup`` in pyproject.toml), which builds the
fixture once instead of once per worker.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _compile_kernels() -> None:
    """Run one tick of a small and a large batch: both kernels compile or load from cache."""
    import numpy as np

    from pacegym.envs import kernel as K
    from pacegym.envs.core import PacingCore

    for n in (2, K.PARALLEL_MIN_CAMPAIGNS):
        core = PacingCore("live_commerce", n)
        core.reset(np.arange(n), np.arange(n, dtype=np.uint64))
        core.step(np.ones(n))


def _shared_fixture(item: pytest.Item) -> str | None:
    """The group of the module- or session-scoped fixtures of ``tests/`` that ``item`` uses:
    named after the one the others build on (an artifact groups with the model it exports;
    a module fixture's group also names its module), else None."""
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    shared = {
        name: fds[-1]  # the definition the item gets (the closest override)
        for name, fds in defs.items()
        if fds[-1].scope in ("module", "session") and fds[-1].baseid.startswith("tests")
    }
    roots = sorted(n for n, fd in shared.items() if not set(fd.argnames) & set(shared))
    if not roots:
        return None
    name = roots[0]
    return name if shared[name].scope == "session" else f"{item.module.__name__}::{name}"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            group = _shared_fixture(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config: pytest.Config) -> None:
    is_worker = hasattr(config, "workerinput")
    spreads = bool(getattr(config.option, "numprocesses", None))
    if spreads and not is_worker and not config.option.collectonly:
        _compile_kernels()
