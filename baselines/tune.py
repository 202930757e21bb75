"""Tuning a baseline's parameters for one scenario with Optuna (the library part; the
app that writes and promotes configs is ``pacegym-tune``, ``pacegym.experiments.tune``).

For a controller kind and a scenario, Optuna's TPE sampler (seeded, multivariate)
maximises the mean score (``pacegym.envs.metrics.SCORE_KEY``) over ``train_episodes``
episodes seeded from ``train_seed``. The kind's defaults and the incumbent (the curated
parameters in use, if any) are enqueued as the first trials, so the search never returns
something that scores lower on the training seeds than what it started from. The best
parameters are then confirmed on ``test_episodes`` held-out episodes seeded from
``test_seed`` (a disjoint seed range), paired against the incumbent on the same episodes
(common random numbers), so the caller can decide whether to replace it.

The search spaces are data (``SPACES``): parameter -> ``Log(lo, hi)``, ``Uniform(lo,
hi)`` or ``Choice(values)``; parameters not listed keep the kind's defaults. Optuna is
imported by ``tune`` only (extra ``tune``): the rest of ``pacegym.baselines`` stays
numpy-only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.factory import CONTROLLERS, build_controller
from pacegym.baselines.harness import Rollout, run_episodes
from pacegym.baselines.stats import aggregate, paired_difference
from pacegym.envs.metrics import SCORE_KEY
from pacegym.envs.params import ScenarioParams


@dataclass(frozen=True)
class Log:
    """A positive parameter searched on a log scale in [lo, hi]."""

    lo: float
    hi: float


@dataclass(frozen=True)
class Uniform:
    """A parameter searched uniformly in [lo, hi]."""

    lo: float
    hi: float


@dataclass(frozen=True)
class Choice:
    """A categorical parameter (strings or numbers)."""

    values: tuple[Any, ...]


Dimension = Log | Uniform | Choice

_TRACKING: dict[str, Dimension] = {
    "decay_rate": Uniform(0.5, 3.5),  # [1/flight]
    "early_close": Uniform(0.0, 0.4),  # [share of flight]
    "in_flight_weight": Uniform(0.0, 1.0),  # [-]
}
_PROPORTIONAL: dict[str, Dimension] = {
    **_TRACKING,
    "rate": Log(0.02, 0.4),  # [-] per update
    "start": Choice(("capacity", "fixed")),
    "p_start": Log(1e-3, 0.3),  # [-]
    "deadband": Uniform(0.0, 0.02),  # [share of budget]
    "pace_limit": Choice((0.0, 1.1, 1.25, 1.5, 2.0, 3.0)),  # [x plan pace], 0: off
}

SPACES: dict[str, dict[str, Dimension]] = {
    "on_off": {**_TRACKING, "plan": Choice(("uniform", "forecast", "exp_decay"))},
    "proportional": {**_PROPORTIONAL, "plan": Choice(("uniform", "forecast", "exp_decay"))},
    "exp_decay": {**_PROPORTIONAL, "decay_rate": Uniform(0.5, 4.0)},
    "pid": {
        **_TRACKING,
        "plan": Choice(("uniform", "forecast", "exp_decay")),
        "kp": Log(1.0, 200.0),  # [decades / share]
        "ki": Log(1.0, 1000.0),  # [decades / (share x flight)]
        "kd": Choice((0.0, 0.001, 0.003, 0.01, 0.03, 0.1)),  # [decades / (share / flight)]
        "feedforward": Choice(("capacity", "none")),
        "p_base": Log(0.01, 0.5),  # [-]
        "i_limit": Uniform(0.5, 3.0),  # [decades]
    },
}
"""kind -> search space; every kind of ``CONTROLLERS`` has one (tested)."""


def suggest(trial: Any, space: Mapping[str, Dimension]) -> dict[str, Any]:
    """Parameters drawn by an Optuna ``trial`` from ``space``."""
    out: dict[str, Any] = {}
    for name, dim in space.items():
        if isinstance(dim, Log):
            out[name] = trial.suggest_float(name, dim.lo, dim.hi, log=True)
        elif isinstance(dim, Uniform):
            out[name] = trial.suggest_float(name, dim.lo, dim.hi)
        else:
            out[name] = trial.suggest_categorical(name, list(dim.values))
    return out


def in_space(params: Mapping[str, Any], space: Mapping[str, Dimension]) -> dict[str, Any]:
    """The subset of ``params`` that ``space`` can represent (to enqueue as a trial)."""
    out: dict[str, Any] = {}
    for name, dim in space.items():
        if name not in params:
            continue
        v = params[name]
        if isinstance(dim, Choice):
            if v in dim.values:
                out[name] = v
        elif isinstance(v, int | float) and dim.lo <= float(v) <= dim.hi:
            out[name] = float(v)
    return out


def full_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter of ``kind``'s config, ``params`` over the defaults (validated)."""
    return dataclasses.asdict(build_controller(kind, **dict(params)).config)  # type: ignore[attr-defined]


def rollout(
    kind: str, params: Mapping[str, Any], scenario: str | ScenarioParams, episodes: int, seed: int
) -> Rollout:
    """Episodes of one parameter set (common random numbers for a seed)."""
    return run_episodes(build_controller(kind, **dict(params)), scenario, episodes, seed)


def check_seeds(train_seed: int, train_episodes: int, test_seed: int, test_episodes: int) -> None:
    """Training and held-out seed ranges must be disjoint (the harness uses seed + i)."""
    if train_seed < test_seed + test_episodes and test_seed < train_seed + train_episodes:
        raise ValueError(
            f"train seeds [{train_seed}, {train_seed + train_episodes}) overlap held-out seeds "
            f"[{test_seed}, {test_seed + test_episodes}): choose disjoint --train-seed"
        )


def tune(
    kind: str,
    scenario: str | ScenarioParams = "live_commerce",
    trials: int = 60,
    train_episodes: int = 200,
    train_seed: int = 100_000,
    test_episodes: int = 1000,
    test_seed: int = 0,
    seed: int = 0,
    incumbent: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Tune ``kind`` on ``scenario``; confirm on held-out seeds against ``incumbent``.

    Returns ``{"kind", "params" (full config), "train" (best mean score), "trials",
    "test" (aggregate of the tuned set), "incumbent_test" (aggregate of the incumbent,
    defaults when None), "difference" ((mean, low, high) of tuned - incumbent on the
    held-out score), "score_key"}``.
    """
    import optuna

    if kind not in SPACES:
        raise ValueError(f"kind = {kind!r}: allowed {sorted(SPACES)}")
    if trials < 1 or train_episodes < 1 or test_episodes < 1:
        raise ValueError("trials, train_episodes and test_episodes must be >= 1")
    check_seeds(train_seed, train_episodes, test_seed, test_episodes)
    space = SPACES[kind]
    defaults = dataclasses.asdict(CONTROLLERS[kind][1]())
    base = full_params(kind, incumbent) if incumbent is not None else defaults
    fixed = {k: v for k, v in base.items() if k not in space}  # e.g. p_min, p_max

    def objective(trial: Any) -> float:
        params = {**fixed, **suggest(trial, space)}
        try:
            build_controller(kind, **params)
        except ControllerConfigError:
            return -math.inf
        metrics = rollout(kind, params, scenario, train_episodes, train_seed).metrics
        return float(metrics[SCORE_KEY].mean())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True)
    )
    study.enqueue_trial(in_space(defaults, space), skip_if_exists=True)
    study.enqueue_trial(in_space(base, space), skip_if_exists=True)
    study.optimize(objective, n_trials=trials)
    best = full_params(kind, {**fixed, **study.best_params})
    tuned_roll = rollout(kind, best, scenario, test_episodes, test_seed)
    base_roll = rollout(kind, base, scenario, test_episodes, test_seed)
    return {
        "kind": kind,
        "score_key": SCORE_KEY,
        "params": best,
        "train": float(study.best_value),
        "trials": len(study.trials),
        "best_trial": int(study.best_trial.number),
        "test": aggregate(tuned_roll.metrics, seed=test_seed),
        "incumbent_test": aggregate(base_roll.metrics, seed=test_seed),
        "difference": paired_difference(tuned_roll, base_roll, SCORE_KEY, seed=test_seed),
    }
