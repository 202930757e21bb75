"""The doc-check's ``ray`` workspace (``tests/docs_check.py``, ``GROUPS``): the Ray Tune
sweeps and the MLflow tracking server they report to, in document order, beside
``tests/test_docs.py``'s and ``tests/test_docs_other.py``'s (a worker each under ``-n auto``)."""

from __future__ import annotations

import pytest

from tests.docs_check import DocCommand, Workspace, all_commands, check_command, group_of, segments

RAY = [c for c in all_commands() if segments(c)[0] and group_of(c) == "ray"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("docs_ray"))
    yield ws
    ws.close()


@pytest.mark.slow
@pytest.mark.parametrize("cmd", RAY, ids=[c.id for c in RAY])
def test_documented_command_runs(cmd: DocCommand, workspace: Workspace):
    check_command(cmd, workspace)
