"""Where ``pacegym-tune``'s search starts (``--start-from SCENARIO``: another scenario's
tuned sets as the first trials), and the search itself (``search``).

A scenario that varies a preset (``value_channels`` the day of ``daily_budget``, the value
suite's scenarios ``value_channels``) starts its search from that preset's set of each
kind: ``experiments.tune.tune`` enqueues it before the defaults and the incumbent, so the
set it returns never scores below it on the training episodes. A kind the scenario has no
own set of starts as before (announced); a scenario with no tuned set at all is refused.
A start (or incumbent) that the search space cannot represent is scored exactly beside the
study (``unrepresentable``), so the guarantee holds for it too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pacegym.baselines.tune import in_space, off_plan_constraint
from pacegym.envs import yaml_io
from pacegym.resources import TUNED_DEFAULT_SCENARIO, config_files, tuned_config


def _own(kind: str, scenario: str) -> Path | None:
    """``scenario``'s own tuned set of ``kind`` (no stand-in), None when it has none."""
    path = tuned_config(kind, scenario)
    if path is None or scenario not in (path.parent.name, TUNED_DEFAULT_SCENARIO):
        return None
    return path


def _scenario(name: str) -> str:
    """``--start-from``'s value: a scenario with tuned sets (``controller/<name>/``)."""
    if name != TUNED_DEFAULT_SCENARIO and not config_files(f"controller/{name}"):
        raise argparse.ArgumentTypeError(f"{name!r} has no tuned sets (conf/controller/{name}/)")
    return name


def add_start_option(ap: argparse.ArgumentParser) -> None:
    """``--start-from SCENARIO`` on the ``pacegym-tune`` parser."""
    ap.add_argument(
        "--start-from",
        type=_scenario,
        default=None,
        metavar="SCENARIO",
        help="enqueue SCENARIO's tuned set of each kind (e.g. daily_budget) as the first trial",
    )


def start_params(kind: str, scenario: str | None) -> dict[str, Any] | None:
    """The params of ``scenario``'s own set of ``kind``, to enqueue first (a line says
    which file); None without ``--start-from`` (``scenario`` None)."""
    if scenario is None:
        return None
    path = _own(kind, scenario)
    if path is None:
        print(f"{kind}: --start-from {scenario}: no set of this kind, the usual start")
        return None
    print(f"{kind}: first trial {path} (--start-from {scenario})")
    return yaml_io.load(path.read_text(encoding="utf-8")).get("params")


def new_study(seed: int, capped: bool, firsts: list[dict[str, Any]]) -> Any:
    """A maximising Optuna study (multivariate TPE from ``seed``; with ``capped`` the
    off-plan constraint, ``baselines.tune.off_plan_constraint``) with ``firsts`` enqueued
    as its first trials, in order (a repeat is skipped)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cons = off_plan_constraint if capped else None
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constraints_func=cons)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for first in firsts:
        study.enqueue_trial(first, skip_if_exists=True)
    return study


Candidate = tuple[dict[str, Any], float, float | None]
"""(full params, training objective, off-plan spend - cap or None without a cap)."""


def unrepresentable(
    sets: list[dict[str, Any] | None], space: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The full parameter sets of ``sets`` that an enqueued trial cannot try as they are: a
    searched value outside its dimension (``dual_price``'s hard fill, ``softness`` 0, below
    the space's 0.3) is dropped by ``baselines.tune.in_space`` and drawn anew, so the trial
    runs another set. ``experiments.tune.tune`` scores these exactly, beside the study."""
    out = []
    for s in sets:
        if s is None:
            continue
        kept = in_space(s, space)
        if any(k not in kept or kept[k] != s[k] for k in space if k in s) and s not in out:
            out.append(dict(s))
    return out


def better(a: Candidate, b: Candidate) -> Candidate:
    """The better of two candidates by ``baselines.tune.best_trial``'s rule: the higher
    objective; with a cap, one that meets it (excess <= 0) first, else the closer."""
    (_, va, ea), (_, vb, eb) = a, b
    if ea is None or eb is None or (ea <= 0.0 and eb <= 0.0):
        return b if vb > va else a
    if (ea <= 0.0) != (eb <= 0.0):
        return a if ea <= 0.0 else b
    return b if eb < ea else a


def search(
    kind: str,
    space: Mapping[str, Any],
    fixed: Mapping[str, Any],
    firsts: list[dict[str, Any]],
    evaluate: Callable[[dict[str, Any]], tuple[float, float | None]],
    seed: int,
    trials: int,
    capped: bool,
) -> tuple[Candidate, int, int]:
    """Optuna over ``space`` (``fixed`` the other parameters) with the full sets ``firsts``
    enqueued first, in order; ``evaluate`` scores a set on the training episodes (objective,
    off-plan excess or None). Returns the best trial's candidate, or a first set that no
    trial could try as it is (``unrepresentable``) where it is ``better``; the number of
    trials; the chosen trial's number (-1: a first set, scored exactly)."""
    import math

    from pacegym.baselines.controllers import ControllerConfigError
    from pacegym.baselines.factory import build_controller
    from pacegym.baselines.tune import OFF_PLAN_ATTR, best_trial, full_params, suggest

    def objective(trial: Any) -> float:
        params = {**fixed, **suggest(trial, space)}
        try:
            build_controller(kind, **params)
        except ControllerConfigError:
            return -math.inf
        value, excess = evaluate(params)
        if excess is not None:
            trial.set_user_attr(OFF_PLAN_ATTR, excess)
        return value

    study = new_study(seed, capped, [in_space(x, space) for x in firsts])
    study.optimize(objective, n_trials=trials)
    top = best_trial(study.trials, capped)
    searched = full_params(kind, {**fixed, **top.params})
    found: Candidate = (searched, float(top.value), top.user_attrs.get(OFF_PLAN_ATTR))
    for exact in unrepresentable(list(firsts), space):
        found = better(found, (exact, *evaluate(exact)))
    return found, len(study.trials), int(top.number) if found[0] is searched else -1
