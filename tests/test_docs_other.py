"""The doc-check's ``other`` workspace (``tests/docs_check.py``, ``GROUPS``): the baselines,
benchmark, calibration, real-traffic and rendering docs, and the benchmark scripts and tunes
of any doc, in document order, beside ``tests/test_docs.py``'s and
``tests/test_docs_ray.py``'s (a worker each under ``-n auto``)."""

from __future__ import annotations

import pytest

from tests.docs_check import DocCommand, Workspace, all_commands, check_command, group_of, segments

OTHER = [c for c in all_commands() if segments(c)[0] and group_of(c) == "other"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("docs_other"))
    yield ws
    ws.close()


@pytest.mark.slow
@pytest.mark.parametrize("cmd", OTHER, ids=[c.id for c in OTHER])
def test_documented_command_runs(cmd: DocCommand, workspace: Workspace):
    check_command(cmd, workspace)
