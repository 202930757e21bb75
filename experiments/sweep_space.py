"""The search space of a Ray sweep, typed: Hydra sweep syntax in, Ray Tune domains out.

An experiment's ``hydra.sweeper.params`` (and ``key=...`` sweep overrides on the command
line) are read with Hydra's own override parser, so numbers stay numbers:

============================================  =====================  ======================
Hydra value                                   ``Axis``               Ray domain
============================================  =====================  ======================
``1e-4,3e-4`` / ``choice(a,b)`` / ``range``   ``values`` (typed)     ``grid_search`` (grid)
                                                                     or ``choice``
``interval(0.25,1.5)``                        ``low``, ``high``      ``uniform``
``tag(log,interval(1e-5,1e-3))``              ``low``, ``high``, log ``loguniform``
============================================  =====================  ======================

``SEARCHES``: ``grid`` (Ray's basic variant generator: every value crossed, intervals
sampled, ``num_samples`` repeats of the grid), ``random`` (every axis sampled,
``num_samples`` trials), ``optuna`` (Ray's ``OptunaSearch``, TPE, seeded; ``num_samples``
trials).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

from pacegym.experiments import hydra_app  # noqa: F401  (./conf on the search path, as the apps)
from pacegym.experiments.config import CONF_DIR

SEARCHES = ("grid", "random", "optuna")
"""``--search``: how trials are drawn from the space (module docstring)."""

Value = bool | int | float | str | None


@dataclass(frozen=True)
class Axis:
    """One swept key: a list of typed values, or a float interval (``log``: log-uniform)."""

    values: tuple[Value, ...] = ()
    low: float = math.nan
    high: float = math.nan
    log: bool = False

    @property
    def is_interval(self) -> bool:
        return not self.values


def _axis(key: str, text: str) -> Axis:
    """The axis of ``key=text`` (Hydra's override grammar); one fixed value is a 1-value axis."""
    ov = OverridesParser.create().parse_override(f"{key}={text}")
    v = ov.value()
    if isinstance(v, IntervalSweep):
        lo, hi = float(v.start), float(v.end)
        if not lo < hi or ("log" in v.tags and lo <= 0):
            raise ValueError(
                f"{key} = {text!r}: allowed interval(low, high) with low < high (and low > 0 "
                "with tag(log, ...))"
            )
        return Axis(low=lo, high=hi, log="log" in v.tags)
    if isinstance(v, ChoiceSweep | RangeSweep):
        return Axis(values=tuple(ov.sweep_iterator()))
    return Axis(values=(v,))


def _is_sweep(override: str) -> bool:
    """A command-line override that sweeps (``a=1,2``, ``a=interval(...)``, ...)."""
    if "=" not in override:
        return False
    return OverridesParser.create().parse_override(override).is_sweep_override()


def fixed(overrides: list[str]) -> list[str]:
    """The overrides that set one value (passed to every trial as they are)."""
    return [o for o in overrides if not _is_sweep(o)]


def search_space(experiment: str, overrides: list[str]) -> dict[str, Axis]:
    """``{key: Axis}`` from the experiment's ``hydra.sweeper.params`` and the sweep overrides
    (a command-line value replaces the file's axis for that key; a fixed one removes it)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train", [f"experiment={experiment}", *fixed(overrides)], return_hydra_config=True
        )
    params = {str(k): str(v) for k, v in (cfg.hydra.sweeper.params or {}).items()}
    for o in overrides:
        key, _, value = o.partition("=")
        if _is_sweep(o):
            params[key] = value
        else:
            params.pop(key, None)
    return {k: _axis(k, v) for k, v in params.items()}


def domains(space: dict[str, Axis], search: str) -> dict[str, Any]:
    """Ray Tune domains of ``space`` for ``search`` (one of ``SEARCHES``)."""
    from ray import tune

    out: dict[str, Any] = {}
    for key, ax in space.items():
        if ax.is_interval:
            out[key] = (tune.loguniform if ax.log else tune.uniform)(ax.low, ax.high)
        elif search == "grid":
            out[key] = tune.grid_search(list(ax.values))
        else:
            out[key] = tune.choice(list(ax.values))
    return out


def describe(space: dict[str, Axis]) -> dict[str, Any]:
    """The space as plain JSON (an MLflow tag, ``best.json``)."""
    return {
        k: list(a.values) if not a.is_interval else {"low": a.low, "high": a.high, "log": a.log}
        for k, a in space.items()
    }


def override(key: str, value: Value) -> str:
    """``key=value`` in Hydra's grammar for a typed value (strings quoted, floats exact)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"{key}={text}"


def short(value: Value) -> str:
    """A value for a trial's name: floats with 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
