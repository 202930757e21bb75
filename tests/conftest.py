"""Session setup for every test run, serial or spread over the cores (``pytest -n auto``).

Under pytest-xdist the controller compiles the simulator's kernels once, into numba's
on-disk cache, before it starts the workers: otherwise every worker of a fresh clone
finds no cache, drops it (``envs.jit_cache``) and compiles the same kernels at the same
time [~10 s of CPU each]. Each test keeps its own files, MLflow store and working
directory (``tmp_path``, ``monkeypatch.chdir``); the tests of one file run on one worker
(``--dist=loadfile`` in pyproject.toml), so a file's ordered workspace (the doc-check)
or module fixture (the wheel install, the battery, a trained model) is made once.
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


def pytest_configure(config: pytest.Config) -> None:
    is_worker = hasattr(config, "workerinput")
    spreads = bool(getattr(config.option, "numprocesses", None))
    if spreads and not is_worker and not config.option.collectonly:
        _compile_kernels()
