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


LONGEST_FIRST = (
    "tests/test_docs.py",
    "tests/test_docs_other.py",
    "tests/test_battery.py",
    "tests/test_docs_ray.py",
    "tests/experiments/test_train_ray.py",
    "tests/envs/calibration/test_value_calibration.py",
    "tests/test_install.py",
    "tests/experiments/test_policy_names.py",
    "tests/test_console_scripts.py",
    "tests/experiments/test_sweep_runs.py",
    "tests/experiments/test_pipeline.py",
    "tests/envs/test_calibration.py",
    "tests/baselines/test_oracle_value.py",
    "tests/agents/export/test_cli.py",
    "tests/baselines/test_judgement.py",
)
"""Test files by how long they take on one worker, longest first (docs/testing.md lists the
measured times): under ``-n auto`` each file is one unit of work (``--dist=loadfile``), and
a long one handed out last would run alone at the end while the other cores idle."""


@pytest.hookimpl(trylast=True)  # after ``-m`` has deselected
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    """Files in ``LONGEST_FIRST`` order, then the others by their number of tests (what
    pytest-xdist does with ``--loadscope-reorder``, turned off in pyproject.toml so that this
    order is the one the workers take). A file's own tests keep their order."""
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    count: dict[str, int] = {}
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        count[path] = count.get(path, 0) + 1

    def key(item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        return (rank.get(path, len(rank)), -count[path] if path not in rank else 0)

    items.sort(key=key)
