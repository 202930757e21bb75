"""The export tests' shared checks: a ``pacegym-export`` config composed as the app does, the
command run as a user runs it, and the refusal on load of an artifact whose manifest was
edited."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from pacegym.agents.export.runtime.manifest import MANIFEST_FILE, PacerError


def assert_refused_on_load(
    artifact: Path, tmp_path: Path, edit: Callable[[dict], Any], load: Callable, field: str
) -> None:
    """A copy of ``artifact`` with ``edit(manifest)`` applied is refused by ``load`` in one
    line naming ``field`` (``manifest field <field> = ...: allowed ...``)."""
    bad = tmp_path / "bad"
    shutil.copytree(artifact, bad)
    m = json.loads((bad / MANIFEST_FILE).read_text())
    edit(m)
    (bad / MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(PacerError, match=rf"manifest field {field} = .*: allowed") as err:
        load(bad)
    assert "\n" not in str(err.value)


def export_cfg(overrides: list[str]) -> DictConfig:
    """``pacegym-export``'s config (``conf/export.yaml``) with ``overrides``, untracked."""
    from hydra import compose, initialize_config_dir

    conf = str(Path(__file__).resolve().parents[3] / "conf")
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        return compose(config_name="export", overrides=["tracking.enabled=false", *overrides])


def run_export_cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``pacegym-export <args>`` in a fresh interpreter in ``cwd``, the environment plus
    ``env``; its exit code and captured text (2 minutes at most)."""
    return subprocess.run(
        [sys.executable, "-m", "pacegym.experiments.export", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **env},
    )


def assert_verified_on_every_scenario(report: dict[str, Any], scenarios: int, rows: int) -> None:
    """``pacegym-export``'s report passed its checks on ``scenarios`` scenarios and ``rows``
    rows: actions within 1e-5 of the trained policy's, episode metrics within 1e-9."""
    from pacegym.experiments.export import check_report

    assert check_report(report) == []
    parity = report["action_parity"]
    assert parity["scenarios"] == scenarios and parity["rows"] == rows
    assert parity["max_abs_error"] <= 1e-5
    assert report["metric_parity"]["max_abs_diff"] <= 1e-9
