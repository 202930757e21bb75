"""One command convention, for every console script of pyproject's ``[project.scripts]``:
``--help`` exits 0, Hydra-style ``key=value`` settings are taken (the argparse commands map
them to their flags: ``pacegym.flags``), and an unknown addition (``+nonsense=1``) is refused
in one line naming the key, exit code 2.

``--help`` runs the installed scripts themselves (their entry points and imports); the
settings and the refusals run the same code as fresh processes forked from one interpreter
that imported the scripts once (``tests/forked.py``), without 2-4 s of imports each."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import forked

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _scripts() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return re.findall(r"^(pacegym-[\w-]+)\s*=", section, re.MULTILINE)


SCRIPTS = _scripts()
HYDRA_APPS = {
    "pacegym-evaluate": ("episodes=3", "episodes: 3"),
    "pacegym-train": ("train.seed=3", "seed: 3"),
    "pacegym-compare": ("compare.episodes=3", "episodes: 3"),
    "pacegym-benchmark": ("benchmark.episodes_short=3", "episodes_short: 3"),
    "pacegym-pipeline": ("compare.episodes=3", "episodes: 3"),
    "pacegym-export": ("out_dir=elsewhere", "out_dir: elsewhere"),
    "pacegym-enjoy": ("episodes=3", "episodes: 3"),
}
"""Hydra app -> (a setting, what ``--cfg job`` prints for it)."""
ARGPARSE_APPS = {
    "pacegym-simulate": "episodes=3",
    "pacegym-tune": "trials=3",
    "pacegym-calibrate": "smooth_min=20",
    "pacegym-simulate-logs": "days=2",
    "pacegym-sweep": "train.seed=3",  # its positional Hydra overrides of the train app
}
"""argparse command -> a ``key=value`` setting it takes."""


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / script), *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = forked.Server(dict(os.environ), cwd=tmp_path_factory.mktemp("server"))
    yield srv
    srv.close()


def test_every_console_script_is_covered():
    assert SCRIPTS and set(SCRIPTS) == set(HYDRA_APPS) | set(ARGPARSE_APPS)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_help_exits_zero(script, tmp_path):
    proc = _run(script, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_key_value_settings_are_taken(script, tmp_path, server):
    if script in HYDRA_APPS:
        setting, shown = HYDRA_APPS[script]
        proc = server.run(script, ["--cfg", "job", setting], tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert shown in proc.stdout
    else:  # mapped to the flags before argparse reads them; --help then runs nothing
        proc = server.run(script, [ARGPARSE_APPS[script], "--help"], tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_an_unknown_key_is_refused_in_one_line(script, tmp_path, server):
    proc = server.run(script, ["+nonsense=1"], tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: nonsense = 1"), lines
    assert "allowed keys" in lines[0]
    assert not (tmp_path / "outputs").exists()


def test_output_is_line_buffered_when_redirected():
    """A command's stdout into a pipe flushes at each line (a long tune or benchmark shows its
    lines in a log as they come), where Python would buffer it in blocks."""
    code = (
        "import sys; from pacegym import cli; before = sys.stdout.line_buffering; "
        "cli.line_buffered_output(); print(before, sys.stdout.line_buffering, "
        "sys.stderr.line_buffering)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout.split()
    assert out == ["False", "True", "True"]
