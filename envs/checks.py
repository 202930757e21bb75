"""The vocabulary of validation: ``ScenarioError``, values that may be ranges, and the one
declaration of a validated numeric setting (``setting``, checked by ``check_section``).

A numeric setting is declared once, on its dataclass field; the declaration is its
documentation (name, default, unit, allowed interval, whole numbers or not, may be a
range), and a short comment says what it means::

    @dataclass(frozen=True)
    class ServingParams:
        fill_rate: Value = setting(0.5, 0.0, 1.0, may_range=True)  # P(won and served)

        def __post_init__(self) -> None:
            check_section(self, "serving")  # every declared field, in declaration order
            ...  # then the cross-field checks, by hand (tick_s <= slot_s, ...)

A new section (or a nested one, such as ``traffic.departures``): declare its numbers with
``setting``, call ``check_section(self, "<its key prefix>")`` first in ``__post_init__``,
and make it a field of its parent with ``field(default_factory=...)``; ``settings_of``
walks nested sections, so a nested ``may_range`` setting is randomisable without further
edits (``envs.layout.RANDOMIZABLE`` is derived from these declarations: a real-valued
``may_range`` setting is one column the core draws uniformly per episode, in declaration
order, and adding one shifts the draws of every column after it).

Every scenario validation error names the config key, the value and the allowed range in
one line, e.g. ``money.budget = -5.0 is out of range: allowed (0, 1e+12] [currency]``.
NaN, infinities, booleans and numbers too large for a float are refused whatever the
interval. ``check_section(..., error=E, short=True)`` raises ``E`` with the shorter
wording of the agent and app settings: ``train.n_envs = 0: allowed an integer in [1,
65536]``.

Why the standard library and not a validation library: Hydra's structured configs
(OmegaConf 2.3) take plain dataclasses only (a pydantic model is refused) and validate no
ranges: the ``Annotated[int, annotated_types.Ge(1)]`` constraint is ignored (-5 is
accepted), and ``annotated-types`` is no dependency of ours (only pydantic's) and checks
nothing itself. The simulator must stay importable with numpy alone; a
``dataclasses.field`` with metadata fits both.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

Value = Union[float, tuple[float, float]]
"""A number, or a ``(low, high)`` range sampled per episode."""

ALLOWED = "allowed"
"""The metadata key of a field declared by ``setting``."""


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


@dataclass(frozen=True)
class Allowed:
    """The allowed values of a numeric setting: ``low``..``high``, each end open or closed.

    ``integer``: whole numbers only (a count, a seed, a day). ``may_range``: a ``(low,
    high)`` range may be given, drawn per episode. ``each``: the value is a tuple of
    numbers, each in the interval. ``str`` reads as the agent settings print it: ``a
    finite number in (0, 1]``; ``interval`` as the scenario errors do: ``(0, 1] [s]``.
    """

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    unit: str = ""
    may_range: bool = False
    each: bool = False

    def __contains__(self, value: object) -> bool:
        """A finite real number (not a boolean) in the interval, whole where ``integer``."""
        try:
            if isinstance(value, bool):
                return False
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return False
        return self._inside(v) and (not self.integer or v.is_integer())

    def _inside(self, v: float) -> bool:
        """Finite and inside the interval (whole or not)."""
        above = v > self.low if self.low_open else v >= self.low
        below = v < self.high if self.high_open else v <= self.high
        return math.isfinite(v) and above and below

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        lo, hi = _num(self.low), _num(self.high)
        return (
            f"{kind} in {'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"
        )

    @property
    def interval(self) -> str:
        """``(0, 1e+12] [currency]``: the interval and the unit, as scenario errors print it."""
        lo, hi = f"{self.low:g}", f"{self.high:g}"
        text = f"{'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"
        return text + (f" [{self.unit}]" if self.unit else "")

    def check(self, key: str, value: object, error: type[Exception] = ScenarioError) -> None:
        """Raise ``error`` (scenario wording) unless ``value`` is allowed; see ``check``."""
        if is_range(value) and not self.may_range:
            raise error(
                f"{key} = {_short(list(value))} is a range, but {key} is not randomisable: "  # type: ignore[arg-type]
                f"allowed a single number in {self.interval}"
            )
        for v in list(value) if is_range(value) else [value]:  # type: ignore[arg-type]
            if not _is_number(v):  # NaN and inf are numbers, out of every range
                raise error(f"{key} = {_short(v)} is not a finite number; allowed {self.interval}")
            if not self._inside(float(v)):  # type: ignore[arg-type]
                raise error(f"{key} = {_short(v)} is out of range: allowed {self.interval}")
            if self.integer and not float(v).is_integer():  # type: ignore[arg-type]
                unit = f" [{self.unit}]" if self.unit else ""
                raise error(f"{key} = {_short(v)}: allowed a whole number{unit}")
        if is_range(value) and bounds(value)[0] > bounds(value)[1]:  # type: ignore[arg-type]
            raise error(f"{key} = {_short(list(value))} is an empty range: low must be <= high")  # type: ignore[arg-type]

    def check_short(self, key: str, value: object, error: type[Exception]) -> None:
        """Raise ``error`` reading ``<key> = <value>: allowed <self>`` unless ``value`` is
        allowed (the agent and app settings' wording; an ``integer`` takes ints only)."""
        whole = isinstance(value, numbers.Integral) or not self.integer
        if not (whole and value in self):
            raise error(f"{key} = {value!r}: allowed {self}")


SHARE = Allowed(0.0, 1.0)
"""A share, a probability or a throttle: ``[0, 1]``."""
COUNT = Allowed(1, math.inf, high_open=True, integer=True)
"""A count of at least one (episodes, campaigns): ``[1, inf)``."""
SEED = Allowed(0, math.inf, high_open=True, integer=True)
"""A console option's seed: ``[0, inf)``."""


def setting(
    default: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    unit: str = "",
    may_range: bool = False,
    each: bool = False,
) -> Any:
    """A dataclass field with ``default`` whose metadata declares its ``Allowed`` values.

    ``check_section`` checks it; a ``None`` value is skipped where the default is None.
    """
    allowed = Allowed(low, high, low_open, high_open, integer, unit, may_range, each)
    return dataclasses.field(default=default, metadata={ALLOWED: allowed})


def allowed_of(field: dataclasses.Field[Any]) -> Allowed | None:
    """The ``Allowed`` declared on a field by ``setting`` (None: not a declared setting)."""
    return field.metadata.get(ALLOWED)


def settings_of(cls: type, prefix: str = "") -> Iterator[tuple[str, Allowed]]:
    """``(dotted key, Allowed)`` of every declared setting of dataclass ``cls``, in
    declaration order, nested sections (fields with a dataclass ``default_factory``)
    included at their place: ``settings_of(ScenarioParams)`` yields ``time.tick_s`` first.
    """
    for f in dataclasses.fields(cls):
        allowed = allowed_of(f)
        if allowed is not None:
            yield prefix + f.name, allowed
        elif dataclasses.is_dataclass(f.default_factory):
            yield from settings_of(f.default_factory, f"{prefix}{f.name}.")  # type: ignore[arg-type]


def randomizable(cls: type) -> tuple[str, ...]:
    """The keys of ``cls``'s settings drawn uniformly per episode where a range is given:
    the real-valued ``may_range`` ones, in declaration order (``envs.layout.RANDOMIZABLE``).
    A whole-number range (``time.start_day``) is drawn apart, as a whole number."""
    return tuple(k for k, a in settings_of(cls) if a.may_range and not a.integer)


def check_section(
    obj: Any,
    section: str,
    *,
    error: type[Exception] = ScenarioError,
    short: bool = False,
    schema: type | None = None,
) -> None:
    """Raise ``error`` for the first field of ``obj`` (in declaration order) that its
    ``setting`` does not allow, naming ``<section>.<field>``, the value and the interval.

    ``schema``: the dataclass that declares the fields, where ``obj`` is not one of its
    instances (a composed Hydra config node). ``short``: the agent and app wording.
    Nested sections check themselves (their own ``__post_init__``).
    """
    prefix = f"{section}." if section else ""
    for f in dataclasses.fields(schema or type(obj)):
        allowed = allowed_of(f)
        if allowed is None:
            continue
        value = getattr(obj, f.name)
        if value is None and f.default is None:
            continue
        key = prefix + f.name
        if allowed.each and not isinstance(value, tuple | list):
            raise error(f"{key} = {_short(value)}: allowed a list of numbers in {allowed.interval}")
        items = enumerate(value) if allowed.each else [(None, value)]
        for i, v in items:
            k = key if i is None else f"{key}[{i}]"
            if short:
                allowed.check_short(k, v, error)
            else:
                allowed.check(k, v, error)


def check(
    key: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    unit: str = "",
) -> None:
    """Raise ``ScenarioError`` unless ``value`` is one finite number in the interval.

    For bounds that depend on another field (the cross-field checks after
    ``check_section``); a field's own interval is declared with ``setting``.
    """
    Allowed(low, high, low_open, high_open, unit=unit).check(key, value)


def whole_multiple(key: str, value: float, step: float, what: str, unit: str) -> None:
    """Raise ``ScenarioError`` unless ``value`` is a whole number of ``step`` (a duration in
    whole plan slots or ticks, which the core would otherwise round without a word), naming
    the two nearest allowed values: ``score.granularity_min = 7.5 is not a whole number of
    plan slots (time.slot_s = 60 s = 1 min): allowed a multiple of 1 [min], e.g. 7 or 8``."""
    n = float(value) / step
    if abs(n - round(n)) <= 1e-9 * max(1.0, abs(n)):
        return
    near = [k * step for k in (math.floor(n), math.ceil(n)) if k >= 1]
    eg = " or ".join(f"{v:g}" for v in near)
    raise ScenarioError(
        f"{key} = {_short(value)} is not a whole number of {what}: allowed a multiple of "
        f"{step:g} [{unit}], e.g. {eg}"
    )


def _is_number(value: object) -> bool:
    """Converts to a float (NaN and inf included), and is not a boolean."""
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False
    return not isinstance(value, bool)


def _num(x: float) -> str:
    if isinstance(x, int):
        return str(x)
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e10 else f"{x:g}"


def _short(value: object) -> str:
    """``repr`` of a value, cut to one short line (a hostile value may be huge)."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."
