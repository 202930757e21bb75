"""A full disk or a read-only location: one line naming the file, exit 2, no traceback, and
nothing half-written (the run folder removed, an atomic write leaving the old file whole),
but a training run's checkpoints kept. Injected ``OSError``s: a real full disk needs root."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pacegym import errors, outdir

INJECT = """
import errno, pathlib, sys
target = sys.argv.pop(1)
real = pathlib.Path.write_text
def full(self, *a, **k):
    if self.name == target:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))
    return real(self, *a, **k)
pathlib.Path.write_text = full
from pacegym.cli import {command}
sys.argv[0] = "pacegym-{command}"
{command}()
"""


def _run(command: str, target: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PACEGYM_DEBUG": "0"}
    code = INJECT.format(command=command)
    return subprocess.run(
        [sys.executable, "-c", code, target, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "no space left"),
        (errno.EDQUOT, "quota"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_a_disk_error_is_one_line_naming_the_file(code, words):
    exc = OSError(code, os.strerror(code), "/data/run/metrics.json")
    line = errors.user_message(exc)
    assert line is not None and line.startswith("/data/run/metrics.json: ")
    assert words in line and errno.errorcode[code] in line
    assert errors.user_message(PermissionError(errno.EACCES, "denied")).startswith("writing")
    assert errors.user_message(OSError(errno.ENOENT, "gone", "x")) is None  # not a disk's


@pytest.mark.parametrize("where", ["write", "replace"])
def test_write_atomic_on_a_full_disk_leaves_the_old_file_whole(tmp_path, monkeypatch, where):
    path = tmp_path / "report.json"
    path.write_text("old")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "replace":
        monkeypatch.setattr(os, "replace", full)
    else:
        real = os.fdopen
        monkeypatch.setattr(
            os,
            "fdopen",
            lambda fd, *a, **k: (
                type(
                    "F",
                    (),
                    {
                        "__enter__": lambda s: s,
                        "__exit__": lambda s, *e: os.close(fd),
                        "write": full,
                    },
                )()
                if a and a[0] == "w"
                else real(fd, *a, **k)
            ),
        )
    with pytest.raises(OSError):
        outdir.write_atomic(path, "new")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_trace_csv_on_a_full_disk_is_not_left_truncated(tmp_path, monkeypatch):
    import numpy as np

    from pacegym.envs.calibration import trace_twin

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(trace_twin.os, "replace", full)
    with pytest.raises(OSError):
        trace_twin.write_csv(np.ones(10), tmp_path / "twin.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_evaluate_on_a_full_disk_exits_2_in_one_line_and_leaves_no_folder(tmp_path):
    r = _run("evaluate", "metrics.json", "episodes=2", "plots=false", cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("pacegym-evaluate: error: ") and "metrics.json: no space left" in last
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_train_on_a_full_disk_keeps_its_checkpoints(tmp_path):
    from tests.experiments.tiny import TINY_TRAIN

    args = [*TINY_TRAIN, "agent=ppo", "train.checkpoint_freq=128", "tracking=off"]
    r = _run("train", "train_result.json", "hydra.run.dir=run", *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert "train_result.json: no space left" in r.stderr.strip().splitlines()[-1]
    assert (tmp_path / "run" / "checkpoints" / "LATEST").is_file()  # resumable
