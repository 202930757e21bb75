"""``pacegym-tune --start-from SCENARIO``: another scenario's tuned sets as the first trials.

A scenario that varies a preset (``value_channels`` the day of ``daily_budget``, the value
suite's scenarios ``value_channels``) starts its search from that preset's set of each
kind: ``experiments.tune.tune`` enqueues it before the defaults and the incumbent, so the
set it returns never scores below it on the training episodes. A kind the scenario has no
own set of starts as before (announced); a scenario with no tuned set at all is refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pacegym.baselines.tune import off_plan_constraint
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
