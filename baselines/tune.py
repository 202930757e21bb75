"""What tuning a baseline searches, and how a parameter set is scored (numpy only).

The search spaces are data (``SPACES``): parameter -> ``Log(lo, hi)``, ``Uniform(lo,
hi)`` or ``Choice(values)``; parameters not listed keep the kind's defaults. The search
itself (Optuna, the ``tune`` extra) is ``pacegym.experiments.tune``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pacegym.baselines.factory import build_controller, load_controller_yaml
from pacegym.baselines.harness import Rollout, joined_metrics, run_episodes, run_split
from pacegym.baselines.weighting import with_normalised
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

_PLANS = Choice(("uniform", "forecast", "exp_decay"))
VALUE_SPACES: dict[str, dict[str, Dimension]] = {
    "dual_price": {
        **{k: v for k, v in SPACES["pid"].items() if k != "plan"},
        "plan": _PLANS,
        "kp": Log(10.0, 1000.0),  # [decades / share]: the value loop tracks the plan closely
        "lambda_min": Uniform(0.0, 1.5),  # [x flight average]
        "softness": Log(0.3, 10.0),  # [1 / exponent]: 0 (the hard fill) is the default
    },
    "smart_pacing": {
        **_TRACKING,
        "plan": _PLANS,
        "rate": Log(0.002, 0.2),  # [-] per tick
        "trial": Log(1e-3, 0.2),  # [-]
        "deadband": Uniform(0.0, 0.02),  # [share of budget]
    },
    "lp_split": {
        **_TRACKING,
        "plan": _PLANS,
        "kp": Log(1.0, 200.0),  # [decades / share]
        "ki": Log(1.0, 1000.0),  # [decades / (share x flight)]
        "m_limit": Uniform(0.3, 2.0),  # [decades]
        "slack": Uniform(0.0, 1.0),  # [share of the hour's plan]
        "price_cap": Uniform(1.0, 2.5),  # [x uniform buying's impression price]
    },
}
"""The value-aware kinds' spaces (``factory.VALUE_AWARE``: value scenarios only)."""
TUNABLE: dict[str, dict[str, Dimension]] = {**SPACES, **VALUE_SPACES}
"""Every kind ``pacegym-tune`` can tune -> its search space."""


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


Scenarios = str | ScenarioParams | Sequence[str | ScenarioParams]
"""One scenario, or several tuned for at once (one parameter set for all of them)."""


def rollout(
    kind: str,
    params: Mapping[str, Any],
    scenario: Scenarios,
    episodes: int,
    seed: int,
    reference: Sequence[float] | None = None,
) -> Rollout:
    """Episodes of one parameter set (common random numbers for a seed).

    Several scenarios share ``episodes`` evenly (``ceil(episodes / k)`` each, the same seeds
    in each), metrics concatenated in scenario order, so the mean weighs them equally.
    ``reference`` (the reference's mean score per scenario on these episodes,
    ``baselines.weighting.reference_scores``) adds the per-episode ``normalised`` metric.
    """
    ctrl = build_controller(kind, **dict(params))
    single = isinstance(scenario, str | ScenarioParams)
    if single and reference is None:
        return run_episodes(ctrl, scenario, episodes, seed)
    scs = [scenario] if single else list(scenario)  # type: ignore[list-item]
    parts = run_split(ctrl, scs, episodes, seed)
    if reference is None:
        return Rollout(parts[0].name, joined_metrics(parts))
    return Rollout(parts[0].name, with_normalised(parts, reference))


def check_seeds(train_seed: int, train_episodes: int, test_seed: int, test_episodes: int) -> None:
    """Training and held-out seed ranges must be disjoint (the harness uses seed + i)."""
    if train_seed < test_seed + test_episodes and test_seed < train_seed + train_episodes:
        raise ValueError(
            f"train seeds [{train_seed}, {train_seed + train_episodes}) overlap held-out seeds "
            f"[{test_seed}, {test_seed + test_episodes}): choose disjoint --train-seed"
        )


OFF_PLAN_KEYS = ("misplaced", "burst")
"""Off-plan spend: the metrics summed by ``off_plan`` (issue 22's bar)."""
OFF_PLAN_ATTR = "off_plan_excess"
"""The Optuna trial attribute of a constrained search: off-plan spend - the cap (<= 0 ok)."""


def off_plan(metrics: Mapping[str, Any]) -> float:
    """Mean off-plan spend, misplaced + burst [share of budget], over the episodes."""
    return float(sum(metrics[k] for k in OFF_PLAN_KEYS).mean())


def reference_off_plan(reference: str, scenario: Scenarios, episodes: int, seed: int) -> float:
    """``off_plan`` of controller config ``reference`` (``load_controller_yaml``) on these
    episodes: the cap of a constrained search (``pacegym-tune --off-plan-ref``)."""
    ctrl = load_controller_yaml(reference)
    if isinstance(scenario, str | ScenarioParams):
        return off_plan(run_episodes(ctrl, scenario, episodes, seed).metrics)
    return off_plan(joined_metrics(run_split(ctrl, list(scenario), episodes, seed)))


def note_off_plan(trial: Any, metrics: Mapping[str, Any], cap: float | None) -> None:
    """Set the trial's ``OFF_PLAN_ATTR``, ``off_plan(metrics) - cap`` (nothing without a cap)."""
    if cap is not None:
        trial.set_user_attr(OFF_PLAN_ATTR, off_plan(metrics) - cap)


def off_plan_constraint(trial: Any) -> list[float]:
    """Optuna's ``constraints_func``: the trial's ``OFF_PLAN_ATTR`` (feasible at <= 0)."""
    return [float(trial.user_attrs.get(OFF_PLAN_ATTR, 1.0))]


def best_trial(trials: Sequence[Any], capped: bool) -> Any:
    """The completed trial of highest value; ``capped`` (a search with an off-plan cap,
    Optuna's ``constraints_func``): among those that meet the cap, else the closest."""
    done = [t for t in trials if t.value is not None]
    if not capped:
        return max(done, key=lambda t: t.value)
    ok = [t for t in done if off_plan_constraint(t)[0] <= 0.0]
    if ok:
        return max(ok, key=lambda t: t.value)
    return min(done, key=lambda t: off_plan_constraint(t)[0])


def off_plan_line(
    ref: str, cap: float, tuned: tuple[float, float | None], scenario: Scenarios, args: Any
) -> str:
    """The tuned file's header line of a constrained search: the cap (``ref``'s off-plan
    spend on the training episodes x ``args.off_plan_scale``) and whether the set met it, then the set's and
    ``ref``'s on the held-out episodes (``args.test_episodes`` from ``args.test_seed``);
    ``tuned``: (held-out off-plan, training off-plan - cap), ``tune``'s ``"off_plan"``."""
    held = reference_off_plan(ref, scenario, args.test_episodes, args.test_seed)
    met = "met" if tuned[1] is not None and tuned[1] <= 0.0 else "no trial met it: the closest"
    scale = "" if args.off_plan_scale == 1.0 else f"{args.off_plan_scale:g} x "
    return (
        f"constraint: training misplaced + burst at most {scale}{ref}'s ({cap:.4f}; {met});"
        f" held-out: tuned {tuned[0]:.4f}, {ref} {held:.4f}"
    )
