"""Ctrl-C that is not lost: the request is remembered as well as raised.

Python's own SIGINT handler raises ``KeyboardInterrupt`` in whatever the main thread runs
at that moment; when that is a ``__del__`` method or a garbage-collector callback, the
exception is printed as "Exception ignored" and dropped, and a long job goes on. ``install``
(the console scripts, ``pacegym.cli``) replaces the handler with one that also sets a flag;
long loops call ``check`` (the training callback, every env step), which raises
``KeyboardInterrupt`` from an ordinary frame once Ctrl-C was pressed. Standard library only.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

_requested = threading.Event()


def _handler(signum: int, frame: Any) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install() -> None:
    """SIGINT sets the flag, then raises as Python's default handler does (main thread only,
    and only where SIGINT is not ignored, e.g. under ``nohup``)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _handler)


def requested() -> bool:
    """Whether Ctrl-C was pressed since ``install``."""
    return _requested.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed (even if its first raise was lost)."""
    if _requested.is_set():
        raise KeyboardInterrupt("interrupted")
