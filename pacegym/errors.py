"""User errors of the console commands: which exceptions are the user's, and the one line each
prints.

Contract (every ``pacegym-<command>``, through ``pacegym.cli.run`` and
``experiments.hydra_app.hydra_app``):

- A *user error* (a bad setting, override, option or input file) ends the command with ONE
  line on stderr, ``pacegym-<command>: error: <key> = <value>: <allowed range>``, and exit
  code 2 (``EXIT_USER``); no traceback. ``user_message`` decides what is one and words it.
- With ``PACEGYM_DEBUG=1`` (``DEBUG_ENV``) or ``--debug`` on the command line (``DEBUG_FLAG``,
  removed before the command parses its arguments), the traceback is printed above that
  line; the exit code stays 2.
- Anything else is a bug: its traceback, then one line naming the exception, exit code 1.
- A full disk or a read-only or protected location (``OSError`` ``ENOSPC``, ``EDQUOT``,
  ``EFBIG``, ``EROFS``, ``EACCES``, ``EPERM``: ``disk_error``) is the machine's, not a bug:
  one line naming the file, exit code 2. The apps then remove the run folder they were
  writing (nothing half-written stays), except one holding a training run's checkpoints,
  which is left unfinished (``train.resume`` continues it).
- ``NothingToDo`` is no error: the work asked for is already done (``pacegym-train`` resuming
  a run that finished). One line on stdout, ``pacegym-<command>: <message>``, exit code 0
  (``EXIT_DONE``), and like a user error nothing is written (no run folder, no MLflow run).

User errors are: the project's configuration error classes (``USER_ERRORS``, matched by
qualified name so this module imports none of them), Hydra's composition and override errors
(unknown key, bad syntax, missing config group option), a YAML error in a config file Hydra
read (a repeated key: line and column, never the file's text), OmegaConf's errors that carry the
key, and any ``ValueError`` or ``OSError`` (a missing file a setting names) whose message
starts by naming the key the way those classes do (``<key> = <value>...`` or a dotted
``<group>.<key> ...``). Errors wrapped by Hydra
(instantiation, composition) are judged by their cause.

Nothing heavier than the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

EXIT_USER = 2
"""Exit code of a user error (the same as argparse's and a missing extra's)."""
EXIT_BUG = 1
"""Exit code of an unexpected exception."""
EXIT_DONE = 0
"""Exit code of ``NothingToDo``."""
DEBUG_ENV = "PACEGYM_DEBUG"
"""Environment variable: ``1`` shows the traceback of a user error too."""
DEBUG_FLAG = "--debug"
"""Command-line flag with the same effect, taken out of ``sys.argv`` by ``pacegym.cli``."""

USER_ERRORS: tuple[str, ...] = (
    "pacegym.outdir.OutputDirError",
    "pacegym.envs.checks.ScenarioError",
    "pacegym.envs.calibration.logs.LogError",
    "pacegym.envs.forecast.ForecastError",
    "pacegym.baselines.controllers.ControllerConfigError",
    "pacegym.agents.settings.AgentConfigError",
    "pacegym.agents.export.sb3_policy.ExportError",
    "pacegym.agents.export.runtime.manifest.PacerError",
    "pacegym.agents.export.bundle.BundleError",
    "pacegym.experiments.export.ExportConfigError",
    "pacegym.experiments.tracking_store.TrackingError",
    "pacegym.experiments.override_checks.OverrideError",
)
"""Qualified names of the project's exception classes that always mean a bad setting or input
(their messages name the key); subclasses count too."""

_KEY_FIRST = re.compile(
    r"^(--)?[A-Za-z_][\w\-]*(\[\d+\])*(\.[\w\-]+(\[\d+\])*)* = "  # key = value ...
    r"|^[A-Za-z_]\w*(\.\w+)+[ :]"  # group.key ...
)
_WRAPPERS = ("InstantiationException", "ConfigCompositionException")
"""Hydra exceptions judged by their cause when they have one."""


class NothingToDo(Exception):
    """The command has nothing to do (its work is already done): one line, exit 0."""


def nothing_to_do(prog: str, exc: NothingToDo) -> int:
    """Print ``exc`` as ``<prog>: <message>`` on stdout; returns ``EXIT_DONE``."""
    print(f"{prog}: {_one_line(str(exc))}", file=sys.stdout)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return EXIT_DONE


def debug_requested() -> bool:
    """True when ``PACEGYM_DEBUG`` is set to a true value (not empty, 0, false or no)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def take_debug_flag(argv: list[str]) -> bool:
    """Remove every ``--debug`` from ``argv`` (in place); True when there was one. Arguments
    after a ``--`` separator are left alone."""
    end = argv.index("--") if "--" in argv else len(argv)
    found = DEBUG_FLAG in argv[1:end]
    if found:
        argv[1:end] = [a for a in argv[1:end] if a != DEBUG_FLAG]
    return found


def _names(exc: BaseException) -> set[str]:
    return {f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _omegaconf_message(exc: BaseException, value: object = None) -> str | None:
    """``<key> = <value>: <what is wrong>`` for an OmegaConf error that carries its key."""
    key = getattr(exc, "full_key", None) or getattr(exc, "key", None)
    if not key:
        return None
    what = _first_line(getattr(exc, "msg", None) or str(exc))
    value = getattr(exc, "value", None) if value is None else value
    if type(exc).__name__ in ("ConfigAttributeError", "ConfigKeyError"):
        # an unknown key: say so, with the list of the keys there are when it can be told
        node = getattr(exc, "parent_node", None)
        known = sorted(str(k) for k in node) if node is not None and hasattr(node, "keys") else []
        known = [k for k in known if k != "hydra"]
        shown = f" = {value}" if value is not None else ""
        allowed = f"allowed keys: {', '.join(known)}" if known else what
        return f"{key}{shown}: no such key; {allowed}"
    if value is not None:
        return f"{key} = {value!r}: {what}"
    return f"{key}: {what}"


def _hydra_message(exc: BaseException) -> str:
    """One line for one of Hydra's own errors (composition, override, missing option)."""
    name = type(exc).__name__
    if name == "OverrideParseException":
        what = _first_line(getattr(exc, "message", str(exc)))
        return (
            f"override {getattr(exc, 'override', '?')!r}: {what} (override syntax: "
            "https://hydra.cc/docs/advanced/override_grammar/basic/)"
        )
    if name == "MissingConfigException":
        missing = str(getattr(exc, "missing_cfg_file", "") or "")
        options = getattr(exc, "options", None)
        if options is not None and "/" in missing:
            group, _, choice = missing.rpartition("/")
            return f"{group} = {choice!r}: no such {group} config; allowed {', '.join(options)}"
        return f"--config-name = {missing!r}: no such config ({_first_line(str(exc))})"
    cause = exc.__cause__
    if cause is not None and _is_omegaconf(cause):
        value = _override_value(str(exc), str(getattr(cause, "full_key", "") or ""))
        msg = _omegaconf_message(cause, value)
        if msg is not None:
            return msg
    return _one_line(str(exc))


def _override_value(text: str, key: str) -> str | None:
    """The value that the override of ``key`` quoted in a Hydra composition message sets
    (``merging override key=value``, ``use +key=value``); None when it is another key's."""
    for pattern in (r"use \+([^=\s]+)=(.*)$", r"merging override [+~]*([^=\s]+)=(.*)$"):
        m = re.search(pattern, text, re.MULTILINE)
        if m and m.group(1) == key:
            return m.group(2).strip()
    return None


def _is_omegaconf(exc: BaseException) -> bool:
    return "omegaconf.errors.OmegaConfBaseException" in _names(exc)


def _is_hydra(exc: BaseException) -> bool:
    return "hydra.errors.HydraException" in _names(exc)


DISK_ERRNOS: dict[int, str] = {
    errno.ENOSPC: "no space left on the device: free some, or write elsewhere",
    errno.EDQUOT: "disk quota exceeded: free some space, or write elsewhere",
    errno.EFBIG: "file too large for the file system: write elsewhere",
    errno.EROFS: "read-only file system: write elsewhere",
    errno.EACCES: "permission denied: write elsewhere, or fix the folder's permissions",
    errno.EPERM: "operation not permitted: write elsewhere, or fix the folder's permissions",
}
"""``OSError`` numbers of a full disk or a read-only or protected location, and what to do."""


def disk_error(exc: BaseException) -> str | None:
    """One line for an ``OSError`` of ``DISK_ERRNOS`` (``<file>: <what and what to do>
    (ENOSPC)``), else None."""
    if not isinstance(exc, OSError) or exc.errno not in DISK_ERRNOS:
        return None
    where = exc.filename if exc.filename is not None else "writing results"
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return f"{where}: {DISK_ERRNOS[exc.errno]} ({name})"


def _yaml_message(exc: BaseException) -> str:
    """``<file>: a duplicate key at line 4, column 1`` for a YAML error (OmegaConf refuses
    a repeated key; PyYAML a bad syntax), naming where, never quoting the file."""
    mark = getattr(exc, "problem_mark", None)
    name = getattr(mark, "name", None) or ""
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = "a duplicate key" if "duplicate key" in str(getattr(exc, "problem", "")) else None
    what = what or "not valid YAML"
    return f"{name if name and not name.startswith('<') else 'a YAML config'}: {what}{where}"


def user_message(exc: BaseException) -> str | None:
    """The one-line message of ``exc`` when it is a user error (module docstring), else None."""
    disk = disk_error(exc)
    if disk is not None:
        return _one_line(disk)
    if "yaml.error.YAMLError" in _names(exc):  # a config file Hydra read: never quote it
        return _one_line(_yaml_message(exc))
    if _is_hydra(exc) and type(exc).__name__ in _WRAPPERS and exc.__cause__ is not None:
        inner = user_message(exc.__cause__)
        if inner is not None and not _is_omegaconf(exc.__cause__):
            return inner
    if _names(exc) & set(USER_ERRORS):
        return _one_line(str(exc))
    if _is_hydra(exc):
        return _one_line(_hydra_message(exc))
    if _is_omegaconf(exc):
        msg = _omegaconf_message(exc)
        return None if msg is None else _one_line(msg)
    if isinstance(exc, ValueError | OSError) and _KEY_FIRST.match(str(exc)):
        return _one_line(str(exc))
    return None


def error_line(prog: str, message: str) -> str:
    """``<prog>: error: <message>`` on one line."""
    return f"{prog}: error: {_one_line(message)}"


def report(prog: str, exc: BaseException, debug: bool | None = None) -> int:
    """Print ``exc`` for a console user (module docstring); returns the exit code."""
    message = user_message(exc)
    user = message is not None
    show_traceback = not user or (debug if debug is not None else debug_requested())
    if show_traceback:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if message is None:
        message = f"{type(exc).__name__}: {_first_line(str(exc))} (unexpected; traceback above)"
    print(error_line(prog, message), file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return EXIT_USER if user else EXIT_BUG


@contextlib.contextmanager
def reported(prog: str) -> Iterator[None]:
    """Run the body; an ``Exception`` escaping it is ``report``-ed and ends the command with
    ``SystemExit`` (2 for a user error, else 1; 0 for ``NothingToDo``). ``SystemExit`` and
    ``KeyboardInterrupt`` pass through."""
    try:
        yield
    except NothingToDo as exc:
        raise SystemExit(nothing_to_do(prog, exc)) from None
    except Exception as exc:
        raise SystemExit(report(prog, exc)) from None


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line (``error_line``) and exit 2,
    without the usage block argparse prints first (``--help`` still shows it)."""

    def error(self, message: str) -> NoReturn:
        print(error_line(self.prog, message), file=sys.stderr)
        raise SystemExit(EXIT_USER)

    def check_flags(self, args: argparse.Namespace, flags: Mapping[str, Any]) -> None:
        """``error`` (exit 2) for the first ``--<name>`` outside its ``flags[name]``, an
        ``envs.checks.Allowed``: ``--episodes = 0 is out of range: allowed [1, inf)``."""
        for name, allowed in flags.items():
            try:
                allowed.check(f"--{name.replace('_', '-')}", getattr(args, name), ValueError)
            except ValueError as e:
                self.error(str(e))
