"""Hydra-style ``key=value`` arguments for the argparse commands (one command convention).

``pacegym-simulate``, ``-tune``, ``-calibrate`` and ``-simulate-logs`` take their options as
flags (``--episodes 64``) or as the Hydra apps take settings (``episodes=64``): ``FlagParser``
turns each ``key=value`` into ``--key=value`` before argparse reads it (``_`` and ``-`` alike
in ``key``; a positional argument by its name, ``log=events.csv``). A switch takes a
boolean (``overwrite=true``; ``false`` leaves it off), an option of several values a list
(``kinds=[pid,on_off]`` or ``kinds=pid,on_off``). A ``+`` before the key (Hydra's
"add") is accepted for a key the command has; an unknown key is refused in one line naming
it and the keys there are (exit 2). An argument that is an existing file, whose key is not
a plain name (``logs/date=2024-01-01/x.csv``), or that is an option's value (``--fix
plan=observed``; every argument after an option of several values, up to the next flag)
is left as it is.

Standard library only.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pacegym.errors import ArgumentParser

_KEY = re.compile(r"^([+~]*)([A-Za-z][A-Za-z0-9_-]*)=(.*)$", re.DOTALL)
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _values(action: argparse.Action) -> float:
    """How many arguments after ``action``'s flag are its values (``inf``: all up to the
    next flag)."""
    if action.nargs in ("+", "*", argparse.REMAINDER):
        return float("inf")
    if isinstance(action.nargs, int):
        return float(action.nargs)
    return 0.0 if action.nargs == 0 else 1.0


class FlagParser(ArgumentParser):
    """``errors.ArgumentParser`` that also takes ``key=value`` (module docstring)."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        import sys

        given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(self.flag_args(given), namespace)

    def keys(self) -> dict[str, argparse.Action]:
        """Every key this command takes -> its action (options by long name, positionals)."""
        out: dict[str, argparse.Action] = {}
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            longs = [s for s in action.option_strings if s.startswith("--")]
            if longs:
                out[longs[0][2:]] = action
            elif not action.option_strings:
                out[action.dest.replace("_", "-")] = action
        return out

    def flag_args(self, args: list[str]) -> list[str]:
        """``args`` with every ``key=value`` as the flag argparse reads (module docstring)."""
        keys = self.keys()
        out: list[str] = []
        owned = 0.0  # arguments still taken by the option before as its values
        for arg in args:
            if arg.startswith("-"):
                action = self._option_string_actions.get(arg.split("=", 1)[0])
                owned = 0.0 if action is None or "=" in arg else _values(action)
                out.append(arg)
                continue
            m = _KEY.match(arg)
            if owned > 0 or m is None or Path(arg).exists():
                owned -= 1
                out.append(arg)
                continue
            prefix, key, value = m.groups()
            action = keys.get(key.replace("_", "-"))
            if action is None or "~" in prefix:
                self.error(
                    f"{key} = {value}: no such key; allowed keys: "
                    + ", ".join(k.replace("-", "_") for k in sorted(keys))
                )
            out.extend(self._flag(key, value, action))
        return out

    def _flag(self, key: str, value: str, action: argparse.Action) -> list[str]:
        if not action.option_strings:  # a positional argument
            return [value]
        flag = next(s for s in action.option_strings if s.startswith("--"))
        if action.nargs == 0:  # a switch
            word = value.strip().lower()
            if word not in _TRUE | _FALSE:
                self.error(f"{key} = {value}: allowed true or false")
            on = word in _TRUE
            if isinstance(action, argparse.BooleanOptionalAction):
                return [flag if on else "--no-" + flag[2:]]
            wanted = isinstance(action, argparse._StoreTrueAction) == on
            return [flag] if wanted else []
        if action.nargs in ("+", "*") or isinstance(action.nargs, int):
            items = value.strip()
            if items.startswith("[") and items.endswith("]"):
                items = items[1:-1]
            return [flag, *(v.strip() for v in items.split(",") if v.strip())]
        return [f"{flag}={value}"]
