"""The delay fit's BLAS limit: threadpoolctl is a declared dependency of the calibrate extra."""

import pytest
from threadpoolctl import threadpool_info

from pacegym.cli import EXTRAS
from pacegym.envs.calibration.delay_fit import _one_blas_thread
from pacegym.resources import conf_dir


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_one_blas_thread_limits_and_restores():
    before = _blas_threads()
    if not before:
        pytest.skip("numpy links no BLAS that threadpoolctl can see")
    with _one_blas_thread():
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before


def test_calibrate_extra_declares_threadpoolctl():
    tomllib = pytest.importorskip("tomllib")
    pyproject = conf_dir().parent / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not a source checkout")
    extra = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["calibrate"]
    assert "threadpoolctl>=3" in extra
    assert "threadpoolctl" in EXTRAS["calibrate"]  # pacegym-calibrate names the extra if missing
