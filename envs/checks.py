"""The vocabulary of scenario validation: ``ScenarioError``, values that may be ranges, and
``check``, the one range check every parameter section uses (``envs.params``).

Every validation error names the config key, the value and the allowed range, e.g.
``money.budget = -5.0 is out of range: allowed (0, 1e+12] [currency]``. NaN, infinities,
booleans and numbers too large for a float are refused whatever the interval.
"""

from __future__ import annotations

import math
from typing import Union

Value = Union[float, tuple[float, float]]
"""A number, or a ``(low, high)`` range sampled per episode."""


class ScenarioError(ValueError):
    """A scenario parameter is invalid; the message names key, value and allowed range."""


def is_range(value: object) -> bool:
    return isinstance(value, tuple | list) and len(value) == 2


def bounds(value: Value) -> tuple[float, float]:
    """``(low, high)`` of a value (a number is its own range)."""
    if is_range(value):
        lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
        return lo, hi
    v = float(value)  # type: ignore[arg-type]
    return v, v


def check(
    key: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    unit: str = "",
    allow_range: bool = True,
) -> None:
    """Raise ``ScenarioError`` unless every end of ``value`` is a finite number in the interval.

    Non-finite values (NaN, +-inf), booleans and integers too large for a float are refused
    even where the interval is open-ended; the message names ``key``, the value and the
    interval.
    """
    suffix = f" [{unit}]" if unit else ""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if is_range(value):
        if not allow_range:
            raise ScenarioError(
                f"{key} = {list(value)} is a range, but {key} sets array shapes and must be "  # type: ignore[arg-type]
                f"a single number in {interval}{suffix}"
            )
        ends = list(value)  # type: ignore[arg-type]
    else:
        ends = [value]
    for v in ends:
        try:
            if isinstance(v, bool):
                raise TypeError("a boolean is not a number")
            x = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise ScenarioError(
                f"{key} = {_short(v)} is not a finite number; allowed {interval}{suffix}"
            ) from None
        bad = (
            not math.isfinite(x)
            or x < low
            or x > high
            or (low_open and x == low)
            or (high_open and x == high)
        )
        if bad:
            raise ScenarioError(f"{key} = {_short(v)} is out of range: allowed {interval}{suffix}")
    if is_range(value):
        lo, hi = bounds(value)  # type: ignore[arg-type]
        if lo > hi:
            raise ScenarioError(f"{key} = {list(value)} is an empty range: low must be <= high")  # type: ignore[arg-type]


def _short(value: object) -> str:
    """``repr`` of a value, cut to one short line (a hostile value may be huge)."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def check_whole(key: str, value: object, unit: str = "") -> None:
    """Raise ``ScenarioError`` unless ``value`` (already range-checked) is a whole number."""
    if float(value) != int(float(value)):  # type: ignore[arg-type]
        suffix = f" [{unit}]" if unit else ""
        raise ScenarioError(f"{key} = {_short(value)}: allowed a whole number{suffix}")
