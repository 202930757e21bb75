"""Worker threads that share the blocks of a large call, one BLAS thread each.

numpy releases the GIL inside ufuncs and BLAS, so independent row blocks run in parallel
on threads. ``Workers.run(fn, n, step)`` is the one way a pacer spreads work; with one
thread (or ``n <= step``) it is ``run_serial``, in the caller's thread.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MAX_THREADS = 8  # default worker threads: the usable CPUs, at most this many [threads]

Runner = Callable[[Callable[[int, int], None], int, int], None]
"""``run(fn, n, step)``: call ``fn(start, end)`` on blocks of ``step`` rows covering ``[0, n)``."""


def run_serial(fn: Callable[[int, int], None], n: int, step: int) -> None:
    """Call ``fn(start, end)`` on consecutive blocks of ``step`` rows covering ``[0, n)``."""
    for s in range(0, n, step):
        fn(s, min(s + step, n))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@functools.cache  # resolved once per process; a racing second lookup finds the same
def _openblas_thread_setter() -> Any:
    """OpenBLAS's ``openblas_set_num_threads_local`` (0.3.27+) if numpy's BLAS has it.

    Found among the shared libraries this process has mapped (``/proc/self/maps``; Linux);
    ``None`` elsewhere, with another BLAS, or with an older OpenBLAS.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("openblas_set_num_threads_local", "scipy_openblas_set_num_threads_local"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
                return fn
    return None


def _one_blas_thread() -> None:
    """Worker initialiser: one BLAS thread for this worker thread only.

    Each worker is already one of the pacer's threads; if every matrix product also fans
    out to all cores, workers and BLAS threads oversubscribe them (2 workers on 2 cores:
    0.87-0.92 s per million rows without this, 0.40-0.43 s with it). The setting is per thread, so the host's own numpy
    calls keep their BLAS threads. With a BLAS that lacks it this does nothing: set that
    BLAS's thread count to 1 yourself, or load the pacer with ``threads=1``.
    """
    setter = _openblas_thread_setter()
    if setter is not None:
        setter(1)


class Workers:
    """A pool of ``threads`` worker threads, started on the first call that needs it.

    ``run`` re-raises a worker's exception in the caller. The pool starts again in a forked
    child (threads do not survive ``fork``) and after ``close``; it shuts down when this
    object is collected.
    """

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, int(threads))
        self.pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def run(self, fn: Callable[[int, int], None], n: int, step: int) -> None:
        """``fn(start, end)`` over blocks of ``step`` rows, on the worker threads if n > step.

        One task per thread, each taking the next block until none is left (the GIL makes
        the shared iterator's ``next`` atomic): a thread slowed by other jobs takes fewer
        blocks, and a call costs ``threads`` task hand-offs, not one per block."""
        if self.threads <= 1 or n <= step:
            run_serial(fn, n, step)
            return
        starts = iter(range(0, n, step))  # shared: each ``next`` hands one block out once

        def drain() -> None:
            for s in starts:
                fn(s, min(s + step, n))

        pool = self.executor()
        blocks = -(-n // step)
        for f in [pool.submit(drain) for _ in range(min(self.threads, blocks))]:
            f.result()  # re-raises a worker's exception here

    def executor(self) -> ThreadPoolExecutor:
        """The pool, started on first use (and again in a forked child: a pool inherited
        without its threads would never run a task)."""
        with self._lock:
            if self.pool is None or self._pid != os.getpid():
                self.pool = ThreadPoolExecutor(
                    self.threads, thread_name_prefix="pacer", initializer=_one_blas_thread
                )
                self._pid = os.getpid()
                weakref.finalize(self, self.pool.shutdown, wait=False)
            return self.pool

    def close(self) -> None:
        """Stop the worker threads (a later large call starts them again)."""
        with self._lock:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
                self.pool = None
