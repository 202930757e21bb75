"""Training callbacks: learning curves, held-out evaluation, checkpoints and a time budget.

All work happens between rollouts (``_on_rollout_start``: after a policy update,
before the next collection), so checkpoints are exact resume points and evaluation
never perturbs the training random streams (the harness has its own core and seeds).
Metrics go to ``log_fn(metrics, step)`` (the experiments layer passes MLflow's).
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from pacegym import interrupt, progress
from pacegym.agents.checkpoint import AGENT_KEY, save_checkpoint
from pacegym.agents.policy import controller_from_model, save_model
from pacegym.agents.settings import AgentSettings, TrainSettings
from pacegym.baselines.harness import joined_metrics, run_split
from pacegym.baselines.weighting import NORMALISED_KEY, normalised
from pacegym.envs.metrics import METRIC_KEYS, SCORE_KEY
from pacegym.progress import bar

LogFn = Callable[[Mapping[str, float], int], None]
CheckpointFn = Callable[[Path, int, Mapping[str, float]], None]
"""``on_checkpoint(folder, step, metrics)``: after each checkpoint, its folder and env-step
and the ``eval/*`` metrics of that step (empty when no evaluation ran at it)."""
EvalFn = Callable[[Mapping[str, float], int, Mapping[str, Any], bool], None]
"""``on_eval(means, step, meta, final)``: called after each held-out evaluation, once the
checkpoint due at that step (if any) is written; ``meta`` is the callback's ``meta`` (e.g.
the MLflow run id), ``final`` True for the evaluation at the end of training. A sweep
reports each evaluation to its scheduler through it."""


def _no_log(metrics: Mapping[str, float], step: int) -> None:
    return None


class TrainingCallback(BaseCallback):
    """Learning curve + evaluation on held-out seeds + checkpoints + wall-clock budget.

    - every rollout: ``train/ep_return``, ``train/<metric>`` (means over episodes that
      ended in it), ``train/steps_per_s``, and SB3's own values of the last update
      (``train/value_loss``, ``train/approx_kl``, ``train/entropy_loss``, ... for PPO;
      ``train/actor_loss``, ``train/critic_loss``, ``train/ent_coef`` for SAC);
    - every ``train.eval_freq`` env-steps and at the end: ``eval/<metric>`` over
      ``train.eval_episodes`` episodes seeded from ``train.eval_seed`` (held out from
      training), split evenly over the scenarios when ``scenario`` is a list (then also
      ``eval/<scenario>/pacing_score_v2``); the best ``eval/pacing_score_v2`` model is
      saved to ``<run_dir>/best_model``. Given ``reference`` (the reference's mean score per
      scenario on the same episodes, ``baselines.weighting``) it also logs
      ``eval/<scenario>/normalised`` and their mean ``eval/normalised``, and the best
      ``eval/normalised`` model is kept instead (``select_key``);
    - every ``train.checkpoint_freq`` env-steps and at the end: a checkpoint, handed to
      ``on_checkpoint`` (the experiments layer logs it as an MLflow LoggedModel); the
      evaluation metrics of the same step then go to that hook instead of ``log_fn``, so
      that they are logged once, linked to the checkpoint;
    - stops training once ``train.max_seconds`` (> 0) have passed;
    - given ``on_eval`` (``EvalFn``), calls it after every evaluation and its checkpoint;
    - given ``tensorboard`` (anything with ``add_scalar(tag, value, step)``, e.g.
      ``torch.utils.tensorboard.SummaryWriter``), writes every ``train/*`` and ``eval/*``
      value there too, at the same env-step as in MLflow.
    """

    def __init__(
        self,
        run_dir: str | Path,
        agent: AgentSettings,
        scenario: Any,
        scenario_name: str,
        train: TrainSettings,
        log_fn: LogFn = _no_log,
        meta: Mapping[str, Any] | None = None,
        state: Mapping[str, Any] | None = None,
        reference: Sequence[float] | np.ndarray | None = None,
        on_checkpoint: CheckpointFn | None = None,
        on_eval: EvalFn | None = None,
        tensorboard: Any = None,
    ) -> None:
        super().__init__()
        self.tensorboard = tensorboard
        self.on_checkpoint = on_checkpoint
        self.on_eval = on_eval
        self._pending: tuple[int, dict[str, float]] | None = None  # eval metrics for the hook
        self.reference = None if reference is None else np.asarray(reference, dtype=np.float64)
        self.select_key = SCORE_KEY if reference is None else NORMALISED_KEY
        self.run_dir = Path(run_dir)
        self.agent = agent
        self.scenario = scenario
        self.scenario_name = scenario_name
        self.eval_freq = train.eval_freq
        self.eval_episodes = train.eval_episodes
        self.eval_seed = train.eval_seed
        self.checkpoint_freq = train.checkpoint_freq
        self.max_seconds = train.max_seconds
        self.log_fn = log_fn
        self.meta = dict(meta or {})
        st = dict(state or {})
        self.best = float(st.get("best", -np.inf))
        self.last_eval = int(st.get("last_eval", 0))
        self.last_ckpt = int(st.get("last_ckpt", 0))
        self.history: list[dict[str, float]] = list(st.get("history", []))
        self._returns: list[float] = []
        self._metrics: dict[str, list[float]] = {k: [] for k in METRIC_KEYS}
        self._t0 = time.perf_counter()
        self._steps0 = 0
        self._sb3: dict[str, float] = {}
        self.stopped_early = False

    @property
    def vecnorm(self) -> VecNormalize | None:
        env = self.model.get_env()
        return env if isinstance(env, VecNormalize) else None

    def bookkeeping(self) -> dict[str, Any]:
        """What a checkpoint keeps besides the model: evaluation state, the agent settings
        (a resume must match them, ``agents.training.check_resume``) and ``meta``."""
        return {
            "best": self.best,
            "last_eval": self.last_eval,
            "last_ckpt": self.last_ckpt,
            "history": self.history,
            AGENT_KEY: dataclasses.asdict(self.agent),
            **self.meta,
        }

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()
        self._steps0 = self.model.num_timesteps

    def _on_step(self) -> bool:
        interrupt.check()  # a Ctrl-C whose KeyboardInterrupt was lost in a __del__ or GC callback
        dones = self.locals.get("dones")
        if dones is not None and np.any(dones):
            infos = self.locals["infos"]
            for i in np.flatnonzero(dones):
                info = infos[i]
                if "episode" in info:
                    self._returns.append(info["episode"]["r"])
                for k, v in info.get("metrics", {}).items():  # value scenarios add VALUE_KEYS
                    self._metrics.setdefault(k, []).append(v)
        if self.max_seconds > 0 and time.perf_counter() - self._t0 > self.max_seconds:
            self.stopped_early = True
            return False
        return True

    def _on_rollout_start(self) -> None:
        step = self.model.num_timesteps
        self._sb3 = self.sb3_values()  # logged with this rollout's metrics: one write
        ckpt = self.checkpoint_freq > 0 and step - self.last_ckpt >= self.checkpoint_freq
        means = None
        if self.eval_freq > 0 and step - self.last_eval >= self.eval_freq:
            means = self.evaluate(defer=ckpt)
        if ckpt:
            self.checkpoint()
        if means is not None and self.on_eval is not None:
            self.on_eval(means, step, self.meta, False)

    def sb3_values(self) -> dict[str, float]:
        """SB3's ``train/*`` values of the update that just ran (its logger keeps them until
        it dumps them, after the next rollout; read right after the update)."""
        return {
            k: float(v)
            for k, v in self.model.logger.name_to_value.items()
            if k.startswith("train/") and isinstance(v, int | float | np.number)
        }

    def _on_rollout_end(self) -> None:
        step = self.model.num_timesteps
        out: dict[str, float] = {}
        if self._returns:
            out["train/ep_return"] = float(np.mean(self._returns))
        for k, vals in self._metrics.items():
            if vals:
                out[f"train/{k}"] = float(np.mean(vals))
        elapsed = time.perf_counter() - self._t0
        if elapsed > 0:
            out["train/steps_per_s"] = (step - self._steps0) / elapsed
        out.update(self._sb3)
        self.log_fn(out, step)
        self._to_tensorboard(out, step)
        self._returns.clear()
        for vals in self._metrics.values():
            vals.clear()

    def _on_training_end(self) -> None:
        means = None
        if self.model.num_timesteps > self.last_eval or not self.history:
            means = self.evaluate(defer=True)
        self.checkpoint()
        if means is not None and self.on_eval is not None:
            self.on_eval(means, self.model.num_timesteps, self.meta, True)

    def _to_tensorboard(self, values: Mapping[str, float], step: int) -> None:
        if self.tensorboard is not None:
            for k, v in values.items():
                self.tensorboard.add_scalar(k, v, step)
            self.tensorboard.flush()

    def evaluate(self, defer: bool = False) -> dict[str, float]:
        """Mean metrics of the current deterministic policy on the held-out seeds; with
        ``defer`` (a checkpoint follows at this step) and an ``on_checkpoint`` hook they are
        logged by the hook, not ``log_fn``."""
        step = self.model.num_timesteps
        ctrl = controller_from_model(self.model, self.vecnorm, self.agent)
        scenarios = self.scenario if isinstance(self.scenario, list) else [self.scenario]
        rolls = run_split(ctrl, scenarios, self.eval_episodes, self.eval_seed)
        means = {k: float(np.mean(v)) for k, v in joined_metrics(rolls).items()}
        logged: dict[str, float] = {}
        if len(scenarios) > 1:
            for sc, roll in zip(scenarios, rolls, strict=True):
                logged[f"eval/{sc.name}/{SCORE_KEY}"] = float(np.mean(roll.metrics[SCORE_KEY]))
        if self.reference is not None:
            per = [
                float(normalised(np.mean(roll.metrics[SCORE_KEY]), ref))
                for roll, ref in zip(rolls, self.reference, strict=True)
            ]
            for sc, v in zip(scenarios, per, strict=True):
                logged[f"eval/{sc.name}/{NORMALISED_KEY}"] = v
            means[NORMALISED_KEY] = float(np.mean(per))
        self.history.append({"step": float(step), **means})
        batch = {**{f"eval/{k}": v for k, v in means.items()}, **logged}
        self._to_tensorboard(batch, step)
        if defer and self.on_checkpoint is not None:
            self._pending = (step, batch)
        else:
            self.log_fn(batch, step)
        self.last_eval = step
        if means[self.select_key] > self.best:
            self.best = means[self.select_key]
            save_model(
                self.run_dir / "best_model",
                self.model,
                self.agent,
                self.vecnorm,
                self.scenario_name,
                {**self.meta, f"eval_{self.select_key}": self.best, "eval_seed": self.eval_seed},
            )
        return means

    def checkpoint(self) -> Path:
        """Save a checkpoint; hand it to ``on_checkpoint`` with its step's eval metrics."""
        step = self.last_ckpt = self.model.num_timesteps
        path = save_checkpoint(self.run_dir, self.model, self.bookkeeping())
        pending, self._pending = self._pending, None
        if self.on_checkpoint is not None:
            metrics = pending[1] if pending is not None and pending[0] == step else {}
            self.on_checkpoint(path, step, metrics)
        return path

    def write_history(self, path: str | Path) -> Path:
        """The evaluation curve as CSV (``step``, ``METRIC_KEYS``, then ``normalised`` when
        the run selects on it)."""
        p = Path(path)
        keys = ["step", *METRIC_KEYS]
        if self.select_key != SCORE_KEY:
            keys.append(self.select_key)
        with open(p, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            for row in self.history:
                w.writerow({k: row.get(k) for k in keys})
        return p


class ProgressBar(BaseCallback):
    """The run's env-steps out of ``total`` with an ETA (``pacegym.progress.bar``).

    Counts the whole run: a resumed run starts at its checkpoint's step count, not at 0.
    The bar stops at ``total``; SB3 finishes its last rollout (``n_steps x n_envs``
    env-steps for PPO) even past the budget, which ``TrainResult.num_timesteps`` reports.
    Off a terminal (a log file, CI, a pipe) it prints instead, at the end of a rollout and at
    most one per ``progress.LINE_EVERY_S`` (none before), one line in the spirit of SB3's
    ``verbose=1`` table: ``rollout_line``.
    """

    def __init__(self, total: int, lines: bool | None = None) -> None:
        super().__init__()
        self.total = int(total)
        self.lines = not progress.on_terminal() if lines is None else lines
        self.bar: Any = None
        self._t0 = self._last = 0.0
        self._steps0 = 0

    def _on_training_start(self) -> None:
        start = min(int(self.model.num_timesteps), self.total)
        self._t0 = self._last = time.perf_counter()
        self._steps0 = int(self.model.num_timesteps)
        # off a terminal the bar only counts (disabled): the lines below say more
        self.bar = bar(self.total, "train", "env-steps", initial=start, enabled=not self.lines)

    def _on_step(self) -> bool:
        done = min(int(self.model.num_timesteps), self.total)
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)
        return True

    def _on_rollout_end(self) -> None:
        now = time.perf_counter()
        if self.lines and now - self._last >= progress.LINE_EVERY_S:
            self._last = now
            print(self.rollout_line(now), file=sys.stderr, flush=True)

    def rollout_line(self, now: float) -> str:
        """``train: 40960/200000 env-steps (20%) | elapsed 17s | eta 69s | fps 2310 |
        ep_rew_mean 0.712 | ep_len_mean 360 | value_loss 0.0123 | ...``: the run's steps,
        SB3's ``rollout/`` means over its last 100 episodes and the last update's ``train/``
        values (the names of SB3's table)."""
        step, elapsed = int(self.model.num_timesteps), now - self._t0
        fps = (step - self._steps0) / elapsed if elapsed > 0 else 0.0
        left = max(self.total - step, 0) / fps if fps > 0 else float("nan")
        parts = [
            f"train: {step}/{self.total} env-steps ({100 * min(step / self.total, 1):.0f}%)",
            f"elapsed {elapsed:.0f}s",
            f"eta {left:.0f}s",
            f"fps {fps:.0f}",
        ]
        episodes = self.model.ep_info_buffer or []
        if episodes:
            parts.append(f"ep_rew_mean {np.mean([e['r'] for e in episodes]):.4g}")
            parts.append(f"ep_len_mean {np.mean([e['l'] for e in episodes]):.4g}")
        for k, v in self.model.logger.name_to_value.items():
            if k.startswith("train/") and isinstance(v, int | float | np.number):
                parts.append(f"{k[len('train/') :]} {float(v):.4g}")
        return " | ".join(parts)

    def _on_training_end(self) -> None:
        self.bar.close()
