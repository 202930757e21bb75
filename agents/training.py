"""Train an SB3 agent on the batched pacing env (no Hydra, no MLflow: plain mappings in).

``train_agent(scenario, agent, train, run_dir, log_fn)`` validates everything first
(agent/action space, scenario, domain randomisation), then trains, evaluates on held-out
seeds, checkpoints, and writes ``<run_dir>/model`` (see ``agents.policy``), the
evaluation curve ``<run_dir>/eval_history.csv`` and ``<run_dir>/last_model``.
With ``train.resume`` (a run dir or checkpoint) it continues from the latest checkpoint:
same step count, weights, optimiser, normalisation, replay buffer, env and RNG state.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecNormalize

from pacegym.agents.algos import AgentConfigError, build_model, check_agent, make_env
from pacegym.agents.callbacks import LogFn, ProgressBar, TrainingCallback, _no_log
from pacegym.agents.checkpoint import latest_checkpoint, load_checkpoint
from pacegym.agents.policy import save_model
from pacegym.agents.shaping import build_shaping
from pacegym.envs.core import RANDOMIZABLE
from pacegym.envs.params import ScenarioParams
from pacegym.envs.scenarios import resolve, to_dict


@dataclass
class TrainResult:
    """What a training run produced."""

    model_dir: Path  # the selected model (best on held-out seeds, or the last)
    last_model_dir: Path
    num_timesteps: int  # env-steps (campaign-steps) done in total
    steps_this_run: int
    wall_s: float
    steps_per_s: float
    eval: dict[str, float]  # held-out metrics of the selected model (means)
    history: list[dict[str, float]]
    stopped_early: bool
    resumed_from: str | None
    mlflow_run_id: str | None


def randomised_scenario(scenario: ScenarioParams, ranges: Mapping[str, Any]) -> ScenarioParams:
    """``scenario`` with ``{"section.key": [low, high]}`` (or nested) ranges for training.

    Only parameters in ``envs.core.RANDOMIZABLE`` may be ranges; others raise naming the key.
    """
    flat: dict[str, Any] = {}
    for k, v in ranges.items():
        if isinstance(v, Mapping):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    data = to_dict(scenario)
    for key, value in flat.items():
        if key not in RANDOMIZABLE:
            raise ValueError(
                f"train.randomize.{key}: not a randomisable parameter; allowed {list(RANDOMIZABLE)}"
            )
        section, name = key.split(".")
        data[section][name] = list(value) if isinstance(value, list | tuple) else value
    return resolve(data)


def validate(scenario: Any, agent: Mapping[str, Any], train: Mapping[str, Any]) -> None:
    """Every check that can fail, without training: scenario, ranges, agent, model build.

    Builds the env and the model once (well under a second) so that bad hyperparameter
    values fail here, before an MLflow run is opened or any time is spent.
    """
    check_agent(agent)
    sc = randomised_scenario(resolve(scenario), train.get("randomize") or {})
    if int(train["total_timesteps"]) < 1:
        raise AgentConfigError(f"train.total_timesteps = {train['total_timesteps']}: must be >= 1")
    if train.get("select", "best") not in ("best", "last"):
        raise AgentConfigError(f"train.select = {train.get('select')!r}: allowed ['best', 'last']")
    env, _ = make_env(sc, agent, int(train["n_envs"]), int(train["seed"]))
    build_shaping(agent.get("shaping"))
    build_model(agent, env, int(train["seed"]), str(train.get("device", "cpu")))
    if train.get("resume"):
        latest_checkpoint(str(train["resume"]))


def train_agent(
    scenario: Any,
    agent: Mapping[str, Any],
    train: Mapping[str, Any],
    run_dir: str | Path,
    log_fn: LogFn = _no_log,
    meta: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train (or resume) one agent; see the module docstring for what is written."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cls = check_agent(agent)
    eval_sc = resolve(scenario)
    train_sc = randomised_scenario(eval_sc, train.get("randomize") or {})
    total = int(train["total_timesteps"])
    if total < 1:
        raise AgentConfigError(f"train.total_timesteps = {total}: must be >= 1")
    seed = int(train["seed"])
    torch.set_num_threads(int(train.get("torch_threads", 1)))
    set_random_seed(seed)
    env, pacing = make_env(train_sc, agent, int(train["n_envs"]), seed)
    pacing.shaping = build_shaping(agent.get("shaping"))  # training reward only
    resumed_from = None
    state: dict[str, Any] = {}
    if train.get("resume"):
        ckpt = latest_checkpoint(str(train["resume"]))
        model, env, saved = load_checkpoint(ckpt, cls, env, str(train.get("device", "cpu")))
        state = dict(saved.get("extra") or {})
        resumed_from = str(ckpt)
    else:
        model = build_model(agent, env, seed, str(train.get("device", "cpu")))
    start = int(model.num_timesteps)
    extra = {"seed": seed, **dict(meta or {})}
    cb = TrainingCallback(
        run_dir,
        agent,
        eval_sc,
        eval_sc.name,
        eval_freq=int(train.get("eval_freq", 0)),
        eval_episodes=int(train.get("eval_episodes", 128)),
        eval_seed=int(train.get("eval_seed", 1_000_000)),
        checkpoint_freq=int(train.get("checkpoint_freq", 0)),
        max_seconds=60.0 * float(train.get("max_minutes", 0.0)),
        log_fn=log_fn,
        meta=extra,
        state=state,
    )
    t0 = time.perf_counter()
    callbacks = [cb, ProgressBar(total)] if train.get("progress_bar", False) else [cb]
    model.learn(
        total_timesteps=max(total - start, 0),
        callback=CallbackList(callbacks),
        reset_num_timesteps=False,
    )
    wall = time.perf_counter() - t0
    vecnorm = env if isinstance(env, VecNormalize) else None
    last_dir = save_model(run_dir / "last_model", model, agent, vecnorm, eval_sc.name, extra)
    model_dir = run_dir / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    best = run_dir / "best_model"
    chosen = best if train.get("select", "best") == "best" and best.is_dir() else last_dir
    shutil.copytree(chosen, model_dir)
    cb.write_history(run_dir / "eval_history.csv")
    hist = cb.history
    best_row = max(hist, key=lambda r: r["pacing_score"]) if hist else {}
    sel = best_row if chosen == best else (hist[-1] if hist else {})
    steps = int(model.num_timesteps) - start
    return TrainResult(
        model_dir=model_dir,
        last_model_dir=last_dir,
        num_timesteps=int(model.num_timesteps),
        steps_this_run=steps,
        wall_s=wall,
        steps_per_s=steps / wall if wall > 0 else 0.0,
        eval={k: v for k, v in sel.items() if k != "step"},
        history=hist,
        stopped_early=cb.stopped_early,
        resumed_from=resumed_from,
        mlflow_run_id=(meta or {}).get("mlflow_run_id"),
    )
