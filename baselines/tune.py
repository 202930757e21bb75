"""Random search, then local refinement, over each baseline's parameters on training seeds,
scored on held-out seeds (the library part; the app is ``pacegym-tune``,
``pacegym.experiments.tune``).

For each kind: ``trials`` parameter draws (plus the kind's defaults) are scored by mean
``pacing_score`` on ``train_episodes`` episodes seeded from ``train_seed``; then
``refine`` hill-climbing steps perturb the best numeric parameters (log-normal, 30%) and
keep a perturbation when it scores higher on the same training seeds; the best is
re-evaluated on ``test_episodes`` held-out episodes seeded from ``test_seed`` (disjoint
seed ranges). ``tune`` returns the result; it writes nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from pacegym.baselines.factory import CONTROLLERS, build_controller
from pacegym.baselines.harness import run_episodes
from pacegym.baselines.stats import aggregate
from pacegym.progress import bar

Sampler = Callable[[np.random.Generator], dict[str, Any]]


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _tracking(rng: np.random.Generator, plans: tuple[str, ...]) -> dict[str, Any]:
    return {
        "plan": str(rng.choice(plans)),
        "decay_rate": round(float(rng.uniform(0.5, 3.5)), 2),
        "early_close": round(
            float(rng.choice([0.0, rng.uniform(0.0, 0.2), rng.uniform(0.2, 0.5)])), 3
        ),
        "in_flight_weight": round(float(rng.choice([0.0, rng.uniform(0.0, 1.0), 1.0])), 2),
    }


def _proportional(rng: np.random.Generator, plans: tuple[str, ...]) -> dict[str, Any]:
    return {
        **_tracking(rng, plans),
        "rate": round(_log_uniform(rng, 0.02, 0.4), 3),
        "start": str(rng.choice(["capacity", "fixed"])),
        "p_start": round(_log_uniform(rng, 0.001, 0.3), 4),
        "p_min": 0.001,
        "deadband": round(float(rng.choice([0.0, rng.uniform(0.0, 0.02)])), 4),
        "pace_limit": round(float(rng.choice([0.0, rng.uniform(1.05, 3.0)])), 2),
    }


SPACES: dict[str, Sampler] = {
    "on_off": lambda rng: _tracking(rng, ("uniform", "exp_decay")),
    "proportional": lambda rng: _proportional(rng, ("uniform", "forecast")),
    "exp_decay": lambda rng: {**_proportional(rng, ("exp_decay",)), "plan": "exp_decay"},
    "pid": lambda rng: {
        **_tracking(rng, ("uniform", "exp_decay")),
        "kp": round(_log_uniform(rng, 1.0, 200.0), 2),
        "ki": round(_log_uniform(rng, 1.0, 1000.0), 2),
        "kd": round(float(rng.choice([0.0, _log_uniform(rng, 0.001, 0.1)])), 4),
        "feedforward": str(rng.choice(["capacity", "none"])),
        "p_base": round(_log_uniform(rng, 0.01, 0.5), 3),
        "i_limit": round(float(rng.uniform(0.5, 3.0)), 2),
    },
}
"""kind -> sampler of a parameter dict (the search space)."""


def perturb(rng: np.random.Generator, params: dict[str, Any], scale: float = 0.3) -> dict[str, Any]:
    """A neighbour of ``params``: each positive numeric value scaled by exp(scale * z) with
    probability 1/2 (categorical values, zeros and booleans are kept)."""
    out = dict(params)
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            continue
        if rng.random() < 0.5:
            out[key] = round(float(value) * math.exp(scale * rng.standard_normal()), 4)
    return out


def score(kind: str, params: dict[str, Any], scenario: str, episodes: int, seed: int) -> dict:
    """Aggregate metrics (``baselines.stats.aggregate``) of one parameter set."""
    roll = run_episodes(build_controller(kind, **params), scenario, episodes, seed)
    return aggregate(roll.metrics, n_boot=500, seed=seed)


def tune(
    kind: str,
    scenario: str = "live_commerce",
    trials: int = 40,
    train_episodes: int = 300,
    train_seed: int = 100_000,
    test_episodes: int = 1000,
    test_seed: int = 0,
    seed: int = 0,
    refine: int = 40,
    progress: bool = False,
) -> dict[str, Any]:
    """Best parameters of ``kind`` by train mean pacing_score, with default/tuned test scores.

    ``progress``: a bar with ETA over the scored parameter sets (``pacegym.progress``).
    """
    if train_seed < test_seed + test_episodes and test_seed < train_seed + train_episodes:
        raise ValueError(
            f"train seeds [{train_seed}, {train_seed + train_episodes}) overlap held-out seeds "
            f"[{test_seed}, {test_seed + test_episodes}): choose disjoint --train-seed"
        )
    rng = np.random.default_rng(seed)
    defaults = dataclasses.asdict(CONTROLLERS[kind][1]())
    candidates = [defaults] + [SPACES[kind](rng) for _ in range(trials)]
    best, best_score = defaults, -math.inf
    with bar(len(candidates) + refine + 2, f"tune {kind}", "sets", enabled=progress) as pbar:
        for params in candidates:
            s = score(kind, params, scenario, train_episodes, train_seed)["pacing_score"]
            if s > best_score:
                best, best_score = params, s
            pbar.update(1)
            pbar.set_postfix(best=f"{best_score:.4f}")
        for _ in range(refine):
            params = perturb(rng, best)
            pbar.update(1)
            try:
                build_controller(kind, **params)
            except ValueError:  # a perturbation left the parameter's allowed range
                continue
            s = score(kind, params, scenario, train_episodes, train_seed)["pacing_score"]
            if s > best_score:
                best, best_score = params, s
                pbar.set_postfix(best=f"{best_score:.4f}")
        test = score(kind, best, scenario, test_episodes, test_seed)
        pbar.update(1)
        test_default = score(kind, defaults, scenario, test_episodes, test_seed)
        pbar.update(1)
    return {
        "kind": kind,
        "params": dataclasses.asdict(build_controller(kind, **best).config),  # type: ignore[attr-defined]
        "train": best_score,
        "test": test,
        "test_default": test_default,
    }
