"""Output folders: where a command may write, and which folder is whose.

One source for every console command that writes an output folder (the Hydra apps' run
and sweep folders, ``pacegym-tune --out``, ``pacegym-simulate-logs --out``,
``pacegym-calibrate --report-dir`` / ``--conf-dir``, ``pacegym-sweep --out``, the export
artifact). The rules:

- **Never there** (``protected``): the filesystem root, the home folder or a folder above
  it, and the installed pacegym package (its folders, and anything inside them). A
  folder replaced as a whole (an export artifact) may not be the working directory or one
  above it either. Refused with ``OutputDirError``: one line naming the key and the value.
- **One run per folder** (``claim``): a run writes into a folder that is missing or empty,
  and marks it its own (``MARKER``, created exclusively: two runs started at once into one
  folder cannot both have it). A folder holding an earlier run's results is taken only
  with ``overwrite`` (``--overwrite`` / ``overwrite=true``, the same name in every
  command): the earlier run's folder is moved aside, and removed once the new run
  finishes (put back if it fails), so no stale file of it survives. A folder holding any
  file that no pacegym run listed as its own, or a run that has not finished (another run
  writing it now, or one that was interrupted), is refused even then.
- ``finish`` lists the run's files in its marker; ``abandon`` (a refused command) removes
  what the run wrote and puts the earlier run back: nothing half-written stays.

Standard library only (imported by every layer).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MARKER = ".pacegym-run.json"
"""In an output folder: the run that owns it (command, start time, finished, its files)."""
OVERWRITE = "overwrite"
"""The one name of the option that lets a run replace an earlier run's folder."""
PACKAGES = (
    "pacegym",
    "pacegym.conf",
    "pacegym.envs",
    "pacegym.baselines",
    "pacegym.agents",
    "pacegym.experiments",
)
"""The import packages whose folders ``protected`` covers (one folder each when editable)."""


class OutputDirError(ValueError):
    """An output folder a command may not write; the message starts ``<key> = <value>``."""


def package_dirs() -> list[Path]:
    """The installed package's folders (a wheel: one; an editable install: one each)."""
    out = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        for loc in (spec.submodule_search_locations or []) if spec else []:
            out.append(Path(loc).resolve())
    return out


def protected(path: str | os.PathLike[str], whole: bool = False) -> str | None:
    """Why ``path`` may never be written by a command, or None. ``whole``: the folder is
    replaced as a whole, so the working directory and the folders above it count too."""
    res = Path(path).expanduser().resolve()
    home = Path.home().resolve()
    if res == Path(res.anchor):
        return "it is the filesystem root"
    if res == home or res in home.parents:
        return "it is the home folder or a folder above it"
    for pkg in package_dirs():
        if res == pkg or pkg in res.parents:
            return f"it is inside the installed pacegym package ({pkg})"
    cwd = Path.cwd().resolve()
    if whole and (res == cwd or res in cwd.parents):
        return "it is the working directory or a folder above it"
    return None


def check_protected(key: str, path: str | os.PathLike[str], whole: bool = False) -> None:
    """``OutputDirError`` naming ``key`` when ``path`` is ``protected``."""
    why = protected(path, whole)
    if why is not None:
        raise OutputDirError(
            f"{key} = {str(path)!r}: refusing to write there, {why}; allowed a folder of "
            "your own (not the filesystem root, the home folder or the installed package)"
        )


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def _owner(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def unfinished(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` lies in a run folder whose marker says the run has not finished
    (still running, or stopped by an error): its results are not to be used as a run's."""
    for folder in (Path(path), *Path(path).parents):
        if (folder / MARKER).is_file():
            owner = _owner(folder)
            return owner is None or not owner.get("finished", False)
    return False


def check(
    key: str, path: str | os.PathLike[str], overwrite: bool, flag: str = f"--{OVERWRITE}"
) -> None:
    """Raise ``OutputDirError`` naming ``key`` unless a run may write into ``path`` now
    (module docstring); touches nothing. ``flag``: how the command spells ``overwrite``."""
    check_protected(key, path)
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{key} = {str(path)!r} is a file: allowed a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    owner = _owner(out)
    if owner is None:
        shown = sorted(_files(out) or os.listdir(out))[:3]
        raise OutputDirError(
            f"{key} = {str(path)!r} holds files no pacegym run wrote ({shown}): refusing to "
            "write there; allowed a new or empty folder"
        )
    if not owner.get("finished"):
        raise OutputDirError(
            f"{key} = {str(path)!r} holds a run that has not finished ({owner.get('command')}, "
            f"started {owner.get('started')}): another run is writing it, or it was "
            "interrupted; allowed a new or empty folder (remove that one yourself)"
        )
    foreign = sorted(_files(out) - set(owner.get("files", ())) - {MARKER})
    if foreign:
        raise OutputDirError(
            f"{key} = {str(path)!r} holds files its run did not write ({foreign[:3]}): "
            "refusing to replace them; allowed a new or empty folder"
        )
    if not overwrite:
        raise OutputDirError(
            f"{key} = {str(path)!r} holds the results of an earlier run ({owner.get('command')}"
            f", {owner.get('started')}): pass {flag} to replace them, or choose a new folder"
        )


@dataclass(frozen=True)
class Claim:
    """A folder a run has made its own (``claim``)."""

    key: str  # the setting that named it, for messages
    path: Path
    created: Path | None  # the topmost folder the claim made (None: the folder was there)
    aside: Path | None  # the earlier run's folder, moved aside until this run finishes


def claim(
    key: str,
    path: str | os.PathLike[str],
    overwrite: bool,
    command: str,
    flag: str = f"--{OVERWRITE}",
) -> Claim:
    """Make ``path`` this run's folder (``check``, then the marker, created exclusively)."""
    check(key, path, overwrite, flag)
    out = Path(path).expanduser()
    aside = None
    if out.is_dir() and any(out.iterdir()):  # an earlier run's, and overwrite: move it aside
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        aside.rmdir()
        out.rename(aside)
    created = None
    if not out.is_dir():
        created = out.absolute()
        while not created.parent.exists():
            created = created.parent
    out.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(out / MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise OutputDirError(
            f"{key} = {str(path)!r}: another run took this folder just now; allowed a new "
            "or empty folder"
        ) from None
    started = dt.datetime.now().isoformat(timespec="seconds")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"command": command, "started": started, "finished": False}, fh)
    return Claim(key, out, created, aside)


def finish(c: Claim) -> None:
    """Mark the run finished, listing its files (replaced atomically); drop the earlier run.
    A folder already removed (a multirun refused in a launcher's worker) is left absent."""
    if not (c.path / MARKER).is_file():
        return
    owner = _owner(c.path) or {}
    owner.update(finished=True, files=sorted(_files(c.path) - {MARKER}))
    tmp = c.path / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(owner, indent=1), encoding="utf-8")
    tmp.replace(c.path / MARKER)
    if c.aside is not None:
        shutil.rmtree(c.aside, ignore_errors=True)


def abandon(c: Claim) -> None:
    """Undo a refused run: remove what it wrote (the folders the claim made; in a folder
    that was there empty, its contents) and put the earlier run's folder back."""
    if c.aside is not None:
        shutil.rmtree(c.path, ignore_errors=True)
        c.aside.rename(c.path)
    elif c.created is not None:
        shutil.rmtree(c.created, ignore_errors=True)
    elif c.path.is_dir():
        for p in c.path.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


@contextlib.contextmanager
def owned(key: str, path: str | os.PathLike[str], overwrite: bool, command: str) -> Iterator[Claim]:
    """``claim`` the folder for the body; ``finish`` it after, ``abandon`` it when a user
    error (``pacegym.errors.user_message``) ends the body. A bug leaves the run unfinished
    (its traceback tells what it was doing; the folder is refused until removed)."""
    from pacegym import errors

    c = claim(key, path, overwrite, command)
    try:
        yield c
    except SystemExit as exc:  # argparse's error(): exit 2
        if exc.code == errors.EXIT_USER:
            abandon(c)
        raise
    except Exception as exc:
        if errors.user_message(exc) is not None:
            abandon(c)
        raise
    finish(c)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
