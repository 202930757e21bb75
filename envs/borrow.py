"""Compile helpers of the step: borrowed arrays, a cache prefetch, a renamed function.

Inside a jitted function numba counts the references of every array value: each view
(``streams[b, s]``), each array a call passes on, each variable an inlined helper binds
one to, is an atomic increment and decrement of the owner's count. In a step of a
thousand campaigns that is a few dozen atomics per campaign (a fifth of the step's time on
one thread), and with ``prange`` the threads contend for the same counts' cache lines.

``borrowed(a)`` is ``a`` with no owner (a null ``meminfo``): numba's increments and
decrements of it, and of views of it, are then no-ops. The caller's own reference keeps
the memory alive, so a borrowed array must not outlive the call that borrowed it: never
return or store one. The values, and every result computed from them, are unchanged.
"""

from __future__ import annotations

import types as pytypes
from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def borrowed(typingctx: Any, arr: types.Type) -> Any:
    """``arr`` (a numba array) without its owner: same data, shape and strides."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        src = context.make_array(arr)(context, builder, value=args[0])
        out = context.make_array(arr)(context, builder, value=src._getvalue())
        out.meminfo = cgutils.get_null_value(out.meminfo.type)
        return out._getvalue()

    return arr(arr), codegen


@intrinsic
def prefetch(typingctx: Any, arr: types.Type, i: types.Type, j: types.Type) -> Any:
    """Hint the cache to fetch ``arr[i, j]`` (a 2-D array) for writing; no effect on values,
    and no fault for an address out of range (``llvm.prefetch``)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ary = context.make_array(arr)(context, builder, value=args[0])
        idx = [
            context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], (i, j), strict=True)
        ]
        ptr = cgutils.get_item_pointer(context, builder, arr, ary, idx, wraparound=False)
        i32, i8p = ir.IntType(32), ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # write, keep in every cache level, data
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i, j), codegen


def renamed(func: pytypes.FunctionType, name: str) -> pytypes.FunctionType:
    """A copy of ``func`` under another name: numba's on-disk cache is keyed by name, and
    two compilations of one function (serial and parallel, inlined and called) must not
    share an entry."""
    code = func.__code__.replace(co_name=name, co_qualname=name)
    clone = pytypes.FunctionType(code, func.__globals__, name, func.__defaults__, func.__closure__)
    clone.__qualname__ = name
    return clone
