"""Publishing: an export replaces only a previous pacer artifact, atomically, never anything else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacegym.agents.export.exporter import export_controller
from pacegym.agents.export.publish import ARTIFACT_FILES, ArtifactTargetError, check_target
from pacegym.agents.export.runtime import load_pacer

PID = {"kind": "pid", "params": {}}
ON_OFF = {"kind": "on_off", "params": {}}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_new_and_empty_dirs_take_an_artifact(tmp_path):
    assert load_pacer(export_controller(PID, tmp_path / "new" / "pacer")).kind == "rule"
    (tmp_path / "empty").mkdir()
    assert load_pacer(export_controller(PID, tmp_path / "empty")).kind == "rule"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_previous_artifact_replaced_only_with_overwrite(tmp_path):
    out = export_controller(PID, tmp_path / "pacer")
    with pytest.raises(ArtifactTargetError, match="pass overwrite=true"):
        export_controller(ON_OFF, out)
    (out / "verification.json").write_text("{}")  # pacegym-export publishes it with the pacer
    export_controller(ON_OFF, out, overwrite=True)
    assert load_pacer(out).policy.controller.kind == "on_off"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pacer"]  # old one and temp gone


@pytest.mark.parametrize("where", [".", "..", "~", "/"])
def test_cwd_its_parents_home_and_root_refused(tmp_path, monkeypatch, where):
    work = tmp_path / "work"
    work.mkdir()
    (work / "mlflow.db").write_text("precious")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    before = _tree(tmp_path)
    with pytest.raises(ArtifactTargetError, match="refusing to write there") as e:
        export_controller(PID, Path(where).expanduser(), overwrite=True)
    assert "\n" not in str(e.value)
    assert _tree(tmp_path) == before


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(
        st.text("abcdefgh._-", min_size=1, max_size=12).filter(lambda n: n not in (".", "..")),
        min_size=1,
        max_size=3,
        unique=True,
    )
)
def test_foreign_files_never_replaced(tmp_path_factory, names):
    """A folder holding anything an export does not write is refused, even with a manifest."""
    out = export_controller(PID, tmp_path_factory.mktemp("p") / "pacer")
    foreign = [n for n in names if n not in ARTIFACT_FILES]
    for n in foreign:
        (out / n).write_text("someone's file")
    before = _tree(out)
    if foreign:
        with pytest.raises(ArtifactTargetError, match="is not a pacer artifact"):
            export_controller(ON_OFF, out, overwrite=True)
        assert _tree(out) == before
    else:
        export_controller(ON_OFF, out, overwrite=True)


@pytest.mark.parametrize(
    "setup",
    [
        lambda d: (d / "notes.txt").write_text("mine"),
        lambda d: (d / "manifest.json").write_text(json.dumps({"schema": "other"})),
        lambda d: (d / "manifest.json").write_text("not json"),
        lambda d: (d / "sub").mkdir(),
    ],
)
def test_non_artifact_dirs_refused(tmp_path, setup):
    out = tmp_path / "d"
    out.mkdir()
    setup(out)
    before = _tree(out)
    with pytest.raises(ArtifactTargetError, match="is not a pacer artifact"):
        export_controller(PID, out, overwrite=True)
    assert _tree(out) == before and sorted(os.listdir(tmp_path)) == ["d"]


def test_file_and_symlink_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ArtifactTargetError, match="is a file"):
        check_target(tmp_path / "f", True)
    art = export_controller(PID, tmp_path / "pacer")
    (tmp_path / "link").symlink_to(art)
    with pytest.raises(ArtifactTargetError, match="is a symlink"):
        check_target(tmp_path / "link", True)


def test_failure_while_building_leaves_old_artifact_intact(tmp_path, monkeypatch):
    from pacegym.agents.export import artifact

    out = export_controller(PID, tmp_path / "pacer")
    before = _tree(out)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(artifact, "build_runtime_source", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export_controller(ON_OFF, out, overwrite=True)
    assert _tree(out) == before and sorted(os.listdir(tmp_path)) == ["pacer"]


def test_failed_rename_puts_old_artifact_back(tmp_path, monkeypatch):
    from pacegym.agents.export import publish

    out = export_controller(PID, tmp_path / "pacer")
    before = _tree(out)
    real = Path.rename

    def rename(self, target):
        if self.name.startswith(".pacer.new-"):
            raise OSError("rename failed")
        return real(self, target)

    monkeypatch.setattr(publish.Path, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        export_controller(ON_OFF, out, overwrite=True)
    assert _tree(out) == before


def _runtime_schemas() -> set[str]:
    """Every manifest schema the runtime package declares (``*_SCHEMA`` / ``SCHEMA``)."""
    import importlib
    import pkgutil

    import pacegym.agents.export.runtime as rt

    found = set()
    for info in pkgutil.iter_modules(rt.__path__):
        mod = importlib.import_module(f"{rt.__name__}.{info.name}")
        for key, value in vars(mod).items():
            if key.endswith("SCHEMA") and isinstance(value, str) and value.startswith("pacegym."):
                found.add(value)
    return found


def test_every_kind_an_export_writes_may_be_replaced(tmp_path):
    """A previous artifact of every kind (rule/MLP, segment, lstm, segment_residual) is a
    pacer artifact to check_target: overwrite=true replaces it, without it it is refused."""
    schemas = _runtime_schemas()
    assert {"pacegym.segment_residual_pacer", "pacegym.recurrent_pacer"} <= schemas
    for i, schema in enumerate(sorted(schemas)):
        out = tmp_path / f"a{i}"
        out.mkdir()
        (out / "manifest.json").write_text(json.dumps({"schema": schema}))
        (out / "weights.npz").write_bytes(b"")
        check_target(out, True)
        with pytest.raises(ArtifactTargetError, match="pass overwrite=true"):
            check_target(out, False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text(json.dumps({"schema": "pacegym.other"}))
    with pytest.raises(ArtifactTargetError, match="not a pacer artifact"):
        check_target(tmp_path / "other", True)
