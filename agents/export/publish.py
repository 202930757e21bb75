"""Put an artifact directory in place: never over anything that is not a pacer artifact.

Contract of ``publish(tmp, out, overwrite)`` (``tmp``: a finished artifact built in a
sibling folder of ``out``, e.g. by ``temp_sibling``):

- ``out`` missing, or an empty directory: ``tmp`` is renamed to ``out``;
- ``out`` a previous pacegym artifact (``manifest.json`` with ``schema: pacegym.pacer``
  and nothing but the files an export writes, ``ARTIFACT_FILES``) and ``overwrite``:
  the old one is renamed aside, ``tmp`` renamed into place, then the old one removed;
  if the second rename fails the old one is put back, so a reader sees the old artifact
  or the new one, never a mix and never nothing for longer than a rename;
- anything else is refused with ``ArtifactTargetError`` before anything is touched: a
  file, a directory holding any other file or folder, a symlink, and the folders
  ``pacegym.outdir.protected`` names (with ``whole``: the working directory too).

``check_target`` runs the same checks alone, so a command can refuse a bad ``out_dir``
before it starts any work. ``building(out_dir)`` gives a command a private folder to
write, load and check a whole artifact in before it publishes it (``pacegym-export``
publishes only an artifact that passed its checks).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.agents.export.runtime.manifest import SCHEMA
from pacegym.agents.export.runtime.recurrent_manifest import RECURRENT_SCHEMA
from pacegym.agents.export.runtime.segment_pacer import SEGMENT_SCHEMA
from pacegym.agents.export.runtime.segment_residual import SEGMENT_RESIDUAL_SCHEMA
from pacegym.outdir import protected

ARTIFACT_SCHEMA = SCHEMA
ARTIFACT_SCHEMAS = (SCHEMA, SEGMENT_SCHEMA, RECURRENT_SCHEMA, SEGMENT_RESIDUAL_SCHEMA)
"""Every manifest schema an export writes: a directory holding one may be replaced."""
ARTIFACT_FILES = frozenset(
    {
        "manifest.json",
        "pacer.py",
        "weights.npz",
        "policy.onnx",
        "verification.json",
        "rules.py",  # written by exports of schema version 1
    }
)
"""Every file name an export writes into an artifact directory (no folders)."""


class ArtifactTargetError(ValueError):
    """``out_dir`` may not be written or replaced; the message names it and why."""


def _is_artifact(out: Path) -> str | None:
    """None when ``out`` is a pacegym artifact directory; else why it is not."""
    entries = sorted(os.listdir(out))
    foreign = [e for e in entries if e not in ARTIFACT_FILES or not (out / e).is_file()]
    if foreign:
        return f"it holds {foreign[:3]} that no export writes"
    try:
        m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "it has no readable manifest.json"
    if not isinstance(m, dict) or m.get("schema") not in ARTIFACT_SCHEMAS:
        return f"its manifest.json is not a {ARTIFACT_SCHEMA!r} manifest"
    return None


def check_target(out_dir: str | os.PathLike[str], overwrite: bool) -> None:
    """Raise ``ArtifactTargetError`` unless an artifact may be published at ``out_dir``."""
    out = Path(out_dir).expanduser()
    if out.is_symlink():
        raise ArtifactTargetError(f"out_dir = {str(out)!r} is a symlink: allowed a directory path")
    why = protected(out, whole=True)
    if why is not None:
        raise ArtifactTargetError(
            f"out_dir = {str(out)!r}: refusing to write there, {why}; allowed a new or"
            " empty directory, or a previous pacer artifact (with overwrite=true)"
        )
    if not out.exists():
        return
    if not out.is_dir():
        raise ArtifactTargetError(f"out_dir = {str(out)!r} is a file: allowed a directory path")
    if not any(out.iterdir()):
        return
    why = _is_artifact(out)
    if why is not None:
        raise ArtifactTargetError(
            f"out_dir = {str(out)!r} is not a pacer artifact ({why}): refusing to replace"
            " it; choose a new or empty directory"
        )
    if not overwrite:
        raise ArtifactTargetError(
            f"out_dir = {str(out)!r} holds a pacer artifact: pass overwrite=true to replace it"
        )


def temp_sibling(out_dir: str | os.PathLike[str]) -> Path:
    """A new private directory beside ``out_dir`` (same filesystem: renames are atomic)."""
    out = Path(out_dir).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))


def publish(tmp: Path, out_dir: str | os.PathLike[str], overwrite: bool) -> Path:
    """Move the finished artifact ``tmp`` to ``out_dir`` (see the module docstring)."""
    out = Path(out_dir).expanduser()
    check_target(out, overwrite)
    tmp.chmod(0o755)  # mkdtemp makes it private; the artifact is read by a service
    if not out.exists():
        tmp.rename(out)
        return out
    if not any(out.iterdir()):
        out.rmdir()
        tmp.rename(out)
        return out
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()  # a free name on the same filesystem
    out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return out


@contextlib.contextmanager
def building(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """A path (not yet created) inside a new private folder beside ``out_dir``, named like
    it, for an artifact that is written and checked there first; the caller publishes it
    (``publish``) before the block ends, or not at all. When the block ends the private
    folder is removed, and on an exception so are the folders above ``out_dir`` that it
    had to create (when still empty): a refused or failed artifact leaves nothing behind."""
    out = Path(out_dir).expanduser().absolute()
    made = [p for p in out.parents if not p.exists()]
    root = temp_sibling(out)
    try:
        yield root / out.name
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        for folder in made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def staged(out: Path, overwrite: bool, load: Callable[[Path], object]) -> Iterator[Path]:
    """A temporary sibling folder of ``out`` to build an artifact in: once the block ends
    the artifact must load (``load``, the runtime's loader of its kind) and is then
    published as ``out``; on any failure the folder is removed and ``out`` is left as it was."""
    tmp = temp_sibling(out)
    try:
        yield tmp
        load(tmp)  # the artifact must load before it is published
        publish(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish_npz_artifact(
    out_dir: str | os.PathLike[str],
    overwrite: bool,
    load: Callable[[Path], object],
    manifest: dict[str, Any],
    weights_file: str,
    arrays: Mapping[str, np.ndarray],
) -> Path:
    """Publish ``manifest.json`` (``manifest`` with its ``files``: ``weights_file``'s
    sha256) and ``weights_file`` (``arrays`` as an npz, read back without pickle) as
    ``out_dir`` (new or empty; with ``overwrite`` a previous artifact), once ``load`` (the
    runtime's loader of the kind) has loaded them (``staged``)."""
    from pacegym.agents.export.runtime.manifest import MANIFEST_FILE, sha256_file

    out = Path(out_dir).expanduser()
    check_target(out, overwrite)
    with staged(out, overwrite, load) as tmp:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        (tmp / weights_file).write_bytes(buf.getvalue())
        manifest["files"] = {weights_file: sha256_file(str(tmp / weights_file))}
        text = json.dumps(manifest, indent=2, allow_nan=False) + "\n"
        (tmp / MANIFEST_FILE).write_text(text, encoding="utf-8")
    return out
