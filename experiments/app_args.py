"""Command-line spellings the Hydra apps take beyond Hydra's own, turned into Hydra's.

- ``scenario=<path.yaml>`` and ``controller=<path.yaml>`` (a file anywhere, not only in a
  config folder): the file is linked into a temporary config folder that joins the search
  path (``hydra.searchpath``) as ``<group>/_file/<stem>.yaml``, and the override becomes
  ``<group>=_file/<stem>``. The scenario keeps its own name (``experiments.hydra_app``
  names a scenario without ``name:`` by its file's stem, never its base's), and a relative
  ``traffic.trace_csv`` in it stays relative to the real file.
- ``pacegym-evaluate agent=<entry>`` (a model dir, train run dir, MLflow run id or
  ``models:/`` URI; ``experiments.policies``): ``agent`` is also a config group (the
  training agents), so Hydra would take the value for one of them; it becomes
  ``agents=['<entry>']``, and, unless a ``controller=`` is given, ``~controller`` (the
  agent alone, with the yardsticks).

A comma-separated value (a multirun sweep) is rewritten item by item.
"""

from __future__ import annotations

import contextlib
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from pacegym.resources import is_config_path

PATH_GROUPS = ("scenario", "controller")
"""Config groups whose value may be a path to a YAML file."""
FILE_FOLDER = "_file"
"""The sub-folder of a group, in the temporary config folder, holding the linked files."""
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@contextlib.contextmanager
def rewritten(app: str) -> Iterator[list[str]]:
    """``sys.argv`` rewritten for Hydra (module docstring) for the body; restored after.
    ``ValueError`` naming the key for a path that is not a file."""
    before = list(sys.argv)
    with tempfile.TemporaryDirectory(prefix="pacegym-conf-") as tmp:
        args, linked = rewrite(before[1:], app, Path(tmp))
        if linked:
            args = _with_searchpath(args, Path(tmp).as_uri())
        sys.argv = [before[0], *args]
        try:
            with warnings.catch_warnings():
                # Hydra warns of every search-path folder missing once hydra.searchpath is
                # set (./conf, usually absent: passed over silently without the link)
                warnings.filterwarnings("ignore", "provider=.* is not available", UserWarning)
                yield sys.argv
        finally:
            sys.argv = before


def rewrite(args: list[str], app: str, tmp: Path) -> tuple[list[str], bool]:
    """``args`` with the app's extra spellings in Hydra's; True when a file was linked
    into ``tmp`` (which must then join the search path)."""
    out: list[str] = []
    linked = False
    agent_given = False
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and key in PATH_GROUPS and value:
            items = [_link(key, v, tmp) if is_config_path(v) else v for v in value.split(",")]
            linked |= any(is_config_path(v) for v in value.split(","))
            out.append(f"{key}={','.join(items)}")
        elif app == "evaluate" and eq and key == "agent" and value:
            agent_given = True
            out.append("agents=" + ",".join(f"[{_quoted(v)}]" for v in value.split(",")))
        else:
            out.append(arg)
    chosen = any(a.partition("=")[0].lstrip("+~") in ("controller", "experiment") for a in args)
    if agent_given and not chosen:
        out.append("~controller")
    return out, linked


def _link(group: str, value: str, tmp: Path) -> str:
    """Link file ``value`` into ``tmp/<group>/_file/``; its choice name."""
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(
            f"{group} = {value!r}: no such file; allowed a config name or a path to a YAML file"
        )
    stem = _SAFE.sub("_", path.stem)
    dst = tmp / group / FILE_FOLDER / f"{stem}.yaml"
    if dst.exists() and dst.resolve() != path.resolve():
        raise ValueError(
            f"{group} = {value!r}: another {group} file of this command has the name {stem!r}; "
            "allowed one file per name"
        )
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        dst.symlink_to(path.resolve())
    return f"{FILE_FOLDER}/{stem}"


def _quoted(value: str) -> str:
    """``value`` as a quoted Hydra string."""
    return f'"{value}"' if "'" in value else f"'{value}'"


def _with_searchpath(args: list[str], uri: str) -> list[str]:
    """``args`` with ``uri`` appended to ``hydra.searchpath`` (the given list, if any)."""
    for i, arg in enumerate(args):
        key, _, value = arg.partition("=")
        if key == "hydra.searchpath" and value.startswith("[") and value.endswith("]"):
            inner = value[1:-1].strip()
            args = list(args)
            args[i] = f"{key}=[{inner + ',' if inner else ''}{_quoted(uri)}]"
            return args
    return [*args, f"hydra.searchpath=[{_quoted(uri)}]"]
