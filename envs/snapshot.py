"""A core's state as named plain arrays: ``state_dict(core)`` and ``load_state_dict``.

``state_dict`` maps every state array of a ``PacingCore`` (the names of
``envs.state.state_arrays``) to the live array, or for a ``CoreMixture`` its own result
buffers (``obs``, ``reward``, ``terms``, ``finished``, ``invalid``) and each block's arrays
as ``blocks.<i>.<name>``. What a core holds besides them is fixed by its scenario (the
world the kernels read), so a core built from the same scenario and batch size and given
these arrays continues exactly where the saved one was: same episodes, same random
streams. ``load_state_dict`` checks every name, shape and dtype against the core it fills
before copying anything, and copies in place (the kernels' bound argument lists stay
valid). ``generator_state``/``set_generator_state``: an ``np.random.Generator`` (PCG64)
as six ``uint64``, for the views' episode-seed streams.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pacegym.envs.core import PacingCore
from pacegym.envs.mixture import CoreMixture
from pacegym.envs.state import state_arrays

MIXTURE_BUFFERS = ("obs", "reward", "terms", "finished", "invalid")
"""A ``CoreMixture``'s own arrays (the gathered results of its blocks' last step)."""
_MASK = (1 << 64) - 1


class SnapshotError(ValueError):
    """Saved arrays that do not fit the object they would fill (one line: the array)."""


def state_dict(core: PacingCore | CoreMixture) -> dict[str, np.ndarray]:
    """Name -> the live state array of ``core`` (not copies; see the module docstring)."""
    if isinstance(core, CoreMixture):
        out = {name: getattr(core, name) for name in MIXTURE_BUFFERS}
        for i, block in enumerate(core.cores):
            out.update({f"blocks.{i}.{k}": v for k, v in state_dict(block).items()})
        return out
    return {name: getattr(core, name) for name in state_arrays(core.scenario, core.n)}


def check_arrays(
    saved: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], where: str
) -> None:
    """Raise ``SnapshotError`` naming the first array of ``saved`` that is missing, extra,
    or of another shape or dtype than ``expected``'s."""
    for name, want in expected.items():
        got = saved.get(name)
        if got is None:
            raise SnapshotError(f"{where}: array {name!r} is missing: start the run again")
        if got.shape != want.shape or got.dtype != want.dtype:
            raise SnapshotError(
                f"{where}: array {name!r} is {got.dtype} {got.shape}: allowed {want.dtype} "
                f"{want.shape} (what the run's env holds)"
            )
    extra = sorted(set(saved) - set(expected))
    if extra:
        raise SnapshotError(f"{where}: array {extra[0]!r} is not part of the run's env state")


def load_state_dict(
    core: PacingCore | CoreMixture, arrays: Mapping[str, np.ndarray], where: str = "state"
) -> None:
    """Copy ``state_dict``-named ``arrays`` into ``core`` (checked first: ``check_arrays``)."""
    live = state_dict(core)
    check_arrays(arrays, live, where)
    for name, target in live.items():
        np.copyto(target, arrays[name])


def generator_state(gen: np.random.Generator) -> np.ndarray:
    """A PCG64 generator's state as ``uint64[6]``: state (high, low), increment (high,
    low), ``has_uint32``, ``uinteger``."""
    st = gen.bit_generator.state
    if st.get("bit_generator") != "PCG64":
        raise SnapshotError(f"bit generator {st.get('bit_generator')!r}: allowed 'PCG64'")
    s, inc = int(st["state"]["state"]), int(st["state"]["inc"])
    return np.array(
        [s >> 64, s & _MASK, inc >> 64, inc & _MASK, st["has_uint32"], st["uinteger"]],
        dtype=np.uint64,
    )


def set_generator_state(gen: np.random.Generator, packed: np.ndarray) -> None:
    """Put ``generator_state``'s ``uint64[6]`` back into a PCG64 generator."""
    v = [int(x) for x in np.asarray(packed, dtype=np.uint64).reshape(6)]
    gen.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": (v[0] << 64) | v[1], "inc": (v[2] << 64) | v[3]},
        "has_uint32": v[4],
        "uinteger": v[5],
    }
