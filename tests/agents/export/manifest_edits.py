"""Refusal on load of an artifact whose manifest was edited (the export tests' shared check)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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
