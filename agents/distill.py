"""Distillation: a policy pretrained to imitate a teacher controller before RL (DAgger).

``agent.distill`` (``agents.settings.DistillSettings``). A teacher that plans (the value
MPC, ``conf/controller/mpc_value.yaml``: an LP solved at each re-plan, which a numpy pacer
cannot carry) is turned into a network the export ships, and RL then goes on from it.

Contract (``pretrain``, called by ``agents.training.train_agent`` before ``model.learn``):

- **Data.** Round ``r`` (0 .. ``rounds - 1``) runs ``episodes`` episodes of each training
  scenario through ``baselines.harness.run_episodes`` from seed ``seed + r * episodes``
  (``DistillSettings.seed``: away from the training envs' and the validation's seeds). Every
  tick it records, for each campaign still flying, the policy's input before normalisation
  exactly as evaluation builds it (``SB3Controller.inputs``: the selected columns,
  ``base_log10``, the padded layout) and the teacher's throttles mapped into the action
  space: for a residual agent ``a* = clip(log10(max(p_T, FLOOR) / max(b, FLOOR)) /
  scale_decades, -1, 1)`` per segment (``b``: the base rule's throttles on the same
  observation), else ``envs.spaces.throttle_to_action(p_T)``. Round 0 executes the
  teacher's throttles; later rounds execute the student's (its deterministic actions) with
  the teacher attached to the same core, so it labels the states the student reaches
  (DAgger, Ross, Gordon & Bagnell 2011). The rounds' data aggregate.
- **Two teachers** (``alternative``, optional): in round 0 both drive the episodes of each
  training scenario (the same seeds) and the teacher labels that scenario from then on
  only where it leads the alternative significantly on those training episodes (never on
  validation or benchmark seeds): the paired 95% bootstrap interval of ``pacing_score_v2``
  above zero (``require_lead``; false: the better mean); else the alternative does. One
  network learns both (policy distillation of several experts, Rusu et al. 2016). With
  the residual base as the alternative, a scenario where the planner does not clearly win
  is labelled ``a* = 0``: leave the base alone. The lead rule matters because scenarios
  a policy cannot tell apart (``value_channels`` and ``value_drift`` differ only in a
  hidden drift) must get the same teacher: a mean-score choice by noise gave them the MPC
  and dual price, and the network fitted the average of two unlike actions
  (docs/training.md, "Distilled from the MPC").
- **Fit.** After each round the observation normalisation becomes the data's mean and
  variance (``VecNormalize.obs_rms``; RL updates it from there), and the actor's mean
  (``ActorCriticPolicy``: ``mlp_extractor.forward_actor`` then ``action_net``) is fitted by
  Adam to ``a*`` (mean squared error, ``epochs`` passes of shuffled minibatches). The
  critic and ``log_std`` are left to RL.
- PPO with an MLP policy only (``check``); other algorithms are refused in one line.

A teacher's trajectory decides nothing but the labels: whatever the student learns, it
acts from the observation alone, and is evaluated and exported like any trained agent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecNormalize

from pacegym.agents.callbacks import LogFn
from pacegym.agents.policy import SB3Controller, controller_from_model
from pacegym.agents.residual import FLOOR, build_base
from pacegym.agents.settings import AgentConfigError, AgentSettings, DistillSettings
from pacegym.baselines.harness import run_episodes
from pacegym.baselines.protocol import Clairvoyant
from pacegym.baselines.stats import paired_difference
from pacegym.envs.metrics import SCORE_KEY as SCORE
from pacegym.envs.params import ScenarioParams
from pacegym.envs.spaces import throttle_to_action

log = logging.getLogger(__name__)


def check(agent: AgentSettings) -> None:
    """Refuse ``agent.distill`` where it cannot fit the policy: PPO's ``MlpPolicy`` only."""
    if agent.distill.enabled and (agent.algo != "ppo" or agent.policy != "MlpPolicy"):
        raise AgentConfigError(
            f"agent.distill.enabled = true with agent.algo = {agent.algo!r}, agent.policy = "
            f"{agent.policy!r}: allowed with algo 'ppo' and policy 'MlpPolicy' (the actor's "
            "mean is what is fitted)"
        )


def teacher_targets(
    teacher: np.ndarray, base: np.ndarray | None, scale_decades: float
) -> np.ndarray:
    """The teacher's throttles ``(n,)`` or ``(n, S)`` as the student's actions in [-1, 1]:
    the residual correction onto ``base`` (same shape) when given, else the inverse of the
    throttle mapping. A teacher throttle of 0 maps to the floor (``a* = -1`` at most)."""
    p = np.asarray(teacher, dtype=np.float64)
    if base is None:
        return throttle_to_action(p).reshape(p.shape)
    p = (
        p.reshape(base.shape)
        if p.size == base.size
        else np.broadcast_to(p.reshape(len(p), -1), base.shape)
    )
    ratio = np.log10(np.maximum(p, FLOOR) / np.maximum(base, FLOOR))
    return np.clip(ratio / scale_decades, -1.0, 1.0)


@dataclass
class Dataset:
    """Aggregated ``(x, a*)`` rows: inputs before normalisation, target actions."""

    x: list[np.ndarray] = field(default_factory=list)
    a: list[np.ndarray] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return int(sum(len(v) for v in self.x))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.x), np.concatenate(self.a)


class DistillController:
    """Student and teacher on one core: records ``(x, a*)`` each tick, executes one of them.

    ``execute``: ``"teacher"`` or ``"student"``. A ``Clairvoyant`` (``attach``) so the
    harness hands it the core: the teacher (and a feedback student) attach to it; the core's
    ``done`` flags say which rows are recorded. A batch's rows reach ``data`` when the next
    batch starts or at ``flush``, less those of the episodes the teacher reports ``failed``
    (a planner whose solve failed labels throttle 0: never imitated); ``dropped`` counts
    those episodes."""

    def __init__(self, student: SB3Controller, teacher: Any, execute: str, data: Dataset) -> None:
        self.student, self.teacher, self.execute, self.data = student, teacher, execute, data
        self.name = f"distill({getattr(teacher, 'name', 'teacher')})"
        self.core: Any = None
        self.n = self.dropped = 0
        self._rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (campaigns, x, a*)

    @property
    def failed(self) -> np.ndarray:
        """``(n,)`` the teacher's solver failures (a ``Clairvoyant`` teacher's ``failed``)."""
        return np.asarray(getattr(self.teacher, "failed", np.zeros(self.n)), dtype=bool)

    def flush(self) -> None:
        """Move the batch's rows to ``data``, less the teacher's failed episodes'."""
        bad = np.flatnonzero(self.failed) if self._rows else np.zeros(0, dtype=int)
        self.dropped += len(bad)
        for rows, x, a in self._rows:
            keep = ~np.isin(rows, bad)
            self.data.x.append(x[keep])
            self.data.a.append(a[keep])
        self._rows = []

    def reset(self, n: int) -> None:
        self.flush()
        self.n = n
        self.student.reset(n)
        self.teacher.reset(n)

    def attach(self, core: Any) -> None:
        self.core = core
        for c in (self.teacher, self.student):
            if isinstance(c, Clairvoyant):
                c.attach(core)

    def act(self, obs: np.ndarray) -> np.ndarray:
        b, x = self.student.inputs(obs)
        p_t = np.asarray(self.teacher.act(obs), dtype=np.float64)
        scale = float((self.student.residual or {}).get("scale_decades", 1.0))
        target = teacher_targets(p_t, b, scale).reshape(len(obs), -1)
        live = np.flatnonzero(~np.asarray(self.core.done, dtype=bool))
        self._rows.append((live, x[live].astype(np.float32), target[live].astype(np.float32)))
        if self.execute == "teacher":
            return p_t
        return self.student.throttles_of(b, self.student.actions_of(x))


def set_normalisation(vecnorm: VecNormalize | None, x: np.ndarray) -> None:
    """``vecnorm``'s observation statistics become ``x``'s (count: its rows)."""
    if vecnorm is None or not vecnorm.norm_obs:
        return
    rms = RunningMeanStd(shape=x.shape[1:])
    rms.mean, rms.var, rms.count = x.mean(axis=0), x.var(axis=0), float(len(x))
    vecnorm.obs_rms = rms


def fit_actor(
    model: Any, vecnorm: VecNormalize | None, data: Dataset, cfg: DistillSettings, seed: int
) -> float:
    """Fit the actor's mean to the data's targets; returns the last epoch's mean squared
    error (in action units squared)."""
    x, a = data.arrays()
    z = vecnorm.normalize_obs(x) if vecnorm is not None else x
    zt = torch.as_tensor(np.asarray(z, dtype=np.float32))
    at = torch.as_tensor(a.reshape(len(a), -1))
    pol = model.policy
    params = [*pol.mlp_extractor.policy_net.parameters(), *pol.action_net.parameters()]
    if pol.share_features_extractor:
        params += list(pol.features_extractor.parameters())
    opt = torch.optim.Adam(params, lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(seed)
    pol.set_training_mode(True)
    loss_sum = 0.0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(zt), generator=gen)
        loss_sum, batches = 0.0, 0
        for start in range(0, len(zt), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            feats = pol.extract_features(zt[idx], pol.pi_features_extractor)
            mean = pol.action_net(pol.mlp_extractor.forward_actor(feats))
            loss = torch.mean((mean - at[idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum, batches = loss_sum + loss.item(), batches + 1
        loss_sum /= max(batches, 1)
    pol.set_training_mode(False)
    return loss_sum


def _name(spec: dict) -> str:
    return str(spec.get("name", spec["kind"]))


def _run(
    model: Any,
    vecnorm: Any,
    agent: AgentSettings,
    spec: dict,
    execute: str,
    sc: Any,
    seed: int,
    data: Dataset,
) -> np.ndarray:
    """One batch of ``agent.distill.episodes`` episodes of ``sc`` from ``seed``, labelled by
    the controller ``spec``, its rows into ``data``; each episode's ``pacing_score_v2``."""
    student = controller_from_model(model, vecnorm, agent, name="student")
    ctl = DistillController(student, build_base(spec), execute, data)
    roll = run_episodes(ctl, sc, agent.distill.episodes, seed)
    ctl.flush()
    if ctl.dropped:
        log.warning(
            f"distill: {ctl.dropped} of {agent.distill.episodes} {sc.name} episodes left out: "
            f"the teacher {_name(spec)} reported its plan failed"
        )
    return np.asarray(roll.metrics[SCORE], dtype=np.float64)  # as run: a failed plan scores low


def leads(
    teacher: np.ndarray, alternative: np.ndarray, require_lead: bool
) -> tuple[bool, tuple[float, float, float]]:
    """Whether the teacher's episode scores lead the alternative's on the same seeds: with
    ``require_lead`` the paired 95% bootstrap interval of the difference lies above zero
    (NaN below ``baselines.stats.min_episodes``: no lead), else the mean difference is
    positive; and ``(mean, low, high)`` of the difference."""
    diff, low, high = paired_difference({SCORE: teacher}, {SCORE: alternative}, SCORE)
    return (low > 0.0 if require_lead else diff > 0.0), (diff, low, high)


def choose_teachers(
    model: Any, vecnorm: Any, agent: AgentSettings, scenarios: list[ScenarioParams], data: Dataset
) -> tuple[list[dict], list[float]]:
    """Round 0: on each scenario, the teacher and the ``alternative`` (when set) each drive
    the round's episodes (the same seeds); the chosen one's rows join ``data`` and it labels
    that scenario from then on. With ``require_lead`` (the default) the teacher is chosen
    only where it leads the alternative significantly: the paired 95% bootstrap interval of
    its score minus the alternative's, episode by episode, lies above zero; without it, the
    better mean. Returns the chosen configs and their mean scores, in order."""
    cfg = agent.distill
    candidates = [cfg.teacher, *([cfg.alternative] if cfg.alternative else [])]
    chosen: list[dict] = []
    scores: list[float] = []
    for sc in scenarios:
        runs = []
        for spec in candidates:
            rows = Dataset()
            runs.append((_run(model, vecnorm, agent, spec, "teacher", sc, cfg.seed, rows), rows))
        said = ", ".join(
            f"{_name(c)} {v.mean():.4f}" for c, (v, _) in zip(candidates, runs, strict=True)
        )
        best = 0
        if len(runs) == 2:
            lead, (diff, low, high) = leads(runs[0][0], runs[1][0], cfg.require_lead)
            best = 0 if lead else 1
            said += f"; {_name(candidates[0])} - {_name(candidates[1])} {diff:+.4f}"
            said += f" [{low:+.4f}, {high:+.4f}]"
        data.x += runs[best][1].x
        data.a += runs[best][1].a
        chosen.append(candidates[best])
        scores.append(float(runs[best][0].mean()))
        log.info(f"distill teacher for {sc.name}: {_name(chosen[-1])} ({said})")
    return chosen, scores


def pretrain(
    model: Any,
    env: Any,
    agent: AgentSettings,
    scenarios: list[ScenarioParams],
    log_fn: LogFn,
) -> dict[str, float]:
    """Run ``agent.distill`` on ``model`` (module docstring); returns what it measured (also
    given to ``log_fn`` at step 0, e.g. MLflow): the rows, each round's fit error and the
    mean ``pacing_score_v2`` of what it executed (the chosen teachers in round 0, then the
    student)."""
    cfg = agent.distill
    vecnorm = env if isinstance(env, VecNormalize) else None
    data, out = Dataset(), {}
    teachers: list[dict] = []
    for r in range(cfg.rounds):
        t0 = time.perf_counter()
        if r == 0:
            teachers, scores = choose_teachers(model, vecnorm, agent, scenarios, data)
        else:
            seed = cfg.seed + r * cfg.episodes
            scores = [
                float(_run(model, vecnorm, agent, spec, "student", sc, seed, data).mean())
                for spec, sc in zip(teachers, scenarios, strict=True)
            ]
        set_normalisation(vecnorm, data.arrays()[0])
        mse = fit_actor(model, vecnorm, data, cfg, cfg.seed + r)
        execute, score = ("teacher" if r == 0 else "student"), float(np.mean(scores))
        out.update({f"distill/{execute}_score_{r}": score, f"distill/mse_{r}": mse})
        each = ", ".join(f"{sc.name} {v:.4f}" for sc, v in zip(scenarios, scores, strict=True))
        log.info(
            f"distill round {r + 1}/{cfg.rounds}: {execute} executed, mean score {score:.4f} "
            f"({each}), {data.rows:,} rows, fit mse {mse:.4f}, {time.perf_counter() - t0:.0f} s"
        )
    out["distill/rows"] = float(data.rows)
    log_fn(out, 0)
    return out


__all__ = [
    "DistillController",
    "check",
    "choose_teachers",
    "leads",
    "pretrain",
    "teacher_targets",
]
