"""Numba's on-disk cache, kept honest about constants the kernels read from other modules.

``cache=True`` keys a compiled function on its own source file only (numba's
documentation, "Cache invalidation"): a global it reads from another module is frozen
into the cached machine code, and so is every jitted function it calls or inlines. The
kernels read their column indices from ``envs.layout``, their observation bounds from
``envs.spaces`` and their samplers from ``envs.rng``; after an edit of one of those,
the cache would go on running the old code.

``refresh_kernels()`` (run by ``envs.core`` at import, before any kernel runs) compares
a fingerprint of the kernel sources, and of their modules' constants (``RANDOMIZABLE``
is derived from ``envs.params``' declarations, not written in ``envs.layout``), with the one the cached code was compiled against,
which a compiled probe (cached like the kernels) returns; when they differ it drops the
cached code of every kernel module, which then recompiles on first use.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import numba as nb
from numba.core.dispatcher import Dispatcher

KERNEL_MODULES: tuple[str, ...] = (
    "pacegym.envs.rng",
    "pacegym.envs.borrow",
    "pacegym.envs.spaces",
    "pacegym.envs.layout",
    "pacegym.envs.traffic",
    "pacegym.envs.nowcast",
    "pacegym.envs.nowcast_linear",
    "pacegym.envs.params_departures",
    "pacegym.envs.departure_gen",
    "pacegym.envs.observe",
    "pacegym.envs.ledger",
    "pacegym.envs.binomial_tab",
    "pacegym.envs.kernel_value",
    "pacegym.envs.delay_bins",
    "pacegym.envs.reset_kernel",
    "pacegym.envs.kernel",
)
"""Modules whose compiled code or constants end up in each other's cached machine code."""


def fingerprint(paths: Iterable[str | Path], extra: bytes = b"") -> int:
    """A 56-bit hash of the files' bytes and ``extra`` (fits numba's int64)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    h.update(extra)
    return int.from_bytes(h.digest()[:7], "little")


def constants(modules: Iterable[ModuleType]) -> bytes:
    """The values of the modules' upper-case number, string and tuple constants: a constant
    computed at import from another module changes with it, though its own source does not."""
    found = [
        (m.__name__, k, v)
        for m in modules
        for k, v in sorted(vars(m).items())
        if k.isupper() and isinstance(v, int | float | str | tuple)
    ]
    return repr(found).encode()


def dispatchers(modules: Iterable[ModuleType]) -> list[Dispatcher]:
    """The jitted functions defined in ``modules`` (not the ones they import)."""
    return [
        obj
        for m in modules
        for obj in vars(m).values()
        if isinstance(obj, Dispatcher) and obj.py_func.__module__ == m.__name__
    ]


def drop_stale(probe: Dispatcher, expected: int, modules: Iterable[ModuleType]) -> bool:
    """Drop the cached code of ``modules`` unless ``probe()``, loaded from the cache, returns
    ``expected``; True when it did. Call it before any of their functions runs.

    A probe that was not in the cache (first run, or its own file changed) says nothing
    about the other entries, so they are dropped too.
    """
    if not isinstance(probe, Dispatcher):  # NUMBA_DISABLE_JIT: nothing is compiled or cached
        return False
    if probe() == expected and sum(probe.stats.cache_hits.values()) > 0:
        return False
    for d in dispatchers(modules):
        if d.overloads:  # already loaded in this process: compile afresh now
            d.recompile()
        else:
            d._cache.flush()  # numba has no public API for this; flush() empties the index
    probe.recompile()  # the probe itself now returns ``expected``, also on disk
    return True


# the kernel sources' fingerprint, set by ``refresh_kernels`` before the probe compiles
_SOURCES = 0


@nb.njit(cache=True)
def _compiled_sources() -> int:
    return _SOURCES


def refresh_kernels() -> bool:
    """Recompile the kernels if their sources changed since they were cached (True then)."""
    global _SOURCES
    modules = [importlib.import_module(name) for name in KERNEL_MODULES]
    _SOURCES = fingerprint((m.__file__ for m in modules), constants(modules))
    return drop_stale(_compiled_sources, _SOURCES, modules)
