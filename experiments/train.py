"""``pacegym-train``: train one SB3 agent, tracked in MLflow (Hydra app, ``conf/train.yaml``).

Examples::

    pacegym-train                                    # residual PPO on the tuned PID, live commerce
    pacegym-train agent=sac train.total_timesteps=200000
    pacegym-train experiment=train_residual_live
    pacegym-train train.resume=outputs/train/<date>   # continue an interrupted run
    pacegym-train -m hydra/launcher=joblib agent=ppo,sac train.seed=0,1

Writes into the Hydra run dir: ``model/`` (selected model), ``best_model/``,
``last_model/``, ``checkpoints/``, ``eval_history.csv``, ``learning_curve.png``,
``train_result.json``, ``train_config.yaml`` (the scenario, agent and train settings a
resume reads back). The MLflow run (tags ``run_type=train``, ``agent_name``,
``model_dir``) gets the flattened config, learning curves (``train/*`` including SB3's
own losses, ``eval/*``), the selected model's held-out metrics (``final/*`` and, for
sorting the runs table, the plain metric names), the reference controller's score on
the same validation episodes (``eval/reference_pacing_score_v2``: the residual agent's base,
else the tuned PID), the plots, the config and the model. Every checkpoint and the selected
model are MLflow LoggedModels of the run (``<agent>-step-<n>`` and ``<agent>``; the
experiment's "Models" tab), each with the metrics of its step linked to it
(``experiments.tracking_models``); the scenario is the run's dataset input.

A resume (``train.resume=<run dir or checkpoint>``) continues with the agent, the scenario
and the train settings the run was started with (its ``train_config.yaml``): its budget,
evaluation and checkpoint settings unless this job names others, its state-shaping ones
(``RUN_STATE_KEYS``: n_envs, seeds, randomisation) always; naming a different agent,
scenario or state-shaping setting on the command line is refused, and so is one that does
not match its checkpoint (another scenario or agent, a budget below the steps done:
``agents.training.check_resume``). A run that finished its budget says so in one line and
exits 0 (``finished_run``). A resume reopens the interrupted run's MLflow run (renamed
``<name> (resumed)``); a run that finished is never reopened (the resume gets a new run,
``resume <agent>``, tagged ``resumed_from_run_id``), and a second resume from a checkpoint
that another resume has continued since is refused (``resume_run``; all in
``experiments.train_resume``).

Tracking never stops training: MLflow's HTTP retries are bounded during the run, and
should the server fail, the job says so in one line (stderr and ``TRACKING_STATUS`` in
the run dir), buffers its metrics locally and still saves its model and checkpoints
(``experiments.tracking_guard``). A job that fails before it trains leaves no MLflow run
and none of its files behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf

from pacegym.agents.callbacks import EvalFn
from pacegym.agents.settings import AgentSettings, TrainSettings
from pacegym.agents.training import RunScenarios, TrainResult, train_agent, validate
from pacegym.baselines.factory import from_spec, load_controller_yaml
from pacegym.baselines.harness import joined_metrics, run_split
from pacegym.baselines.weighting import NORMALISED_KEY, normalised, reference_scores
from pacegym.envs.metrics import SCORE_KEY
from pacegym.envs.mixture import unwidened_note
from pacegym.envs.params import ScenarioParams
from pacegym.experiments import config as _config  # noqa: F401  (registers the schemas)
from pacegym.experiments import figures, tracking
from pacegym.experiments.hydra_app import app_run_dir, hydra_app, scenario_dict
from pacegym.experiments.tracking_guard import TrackingGuard
from pacegym.experiments.tracking_models import CheckpointModels, log_model_dir
from pacegym.experiments.train_resume import (
    CONFIG_FILE,
    LOCK_FILE,
    SESSION_TAG,
    finished_run,
    resume_run,
    resumed_config,
    resumed_dir,
    resumed_train,
    run_lock,
)

log = logging.getLogger(__name__)

REFERENCE = "pid_tuned"
"""The controller a non-residual agent's learning curve is drawn against."""


def containers(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Plain (scenario, agent, train) dicts of a composed config (``settings_of`` types them)."""
    scenario = scenario_dict(cfg)
    agent = OmegaConf.to_container(cfg.agent, resolve=True)
    train = OmegaConf.to_container(cfg.train, resolve=True)
    return scenario, agent, train  # type: ignore[return-value]


def settings_of(
    cfg: DictConfig,
) -> tuple[dict[str, Any], AgentSettings, TrainSettings, dict[str, Any]]:
    """The scenario (a plain dict), the typed agent and train settings of a composed config,
    with a resume's own settings (``resumed_config``, ``resumed_train``: the run's agent,
    scenario, budget and evaluation settings unless given for this job), and the plain
    dicts saved for it.

    Raises ``AgentConfigError`` naming the key for an unknown key or a value out of range,
    and ``pacegym.errors.NothingToDo`` for a resume of a run that finished its own budget
    (``finished_run``).
    """
    scenario, agent, train_cfg = containers(cfg)
    saved: dict[str, Any] = {}
    if train_cfg.get("resume"):
        scenario, agent, saved = resumed_config(str(train_cfg["resume"]), scenario, agent)
        train_cfg = resumed_train(train_cfg, saved)
    plain = {"scenario": scenario, "agent": agent, "train": train_cfg}
    train_s = TrainSettings.from_mapping(train_cfg)
    finished_run(train_s, saved)
    return scenario, AgentSettings.from_mapping(agent), train_s, plain


def train_label(checked: RunScenarios, train: TrainSettings) -> str:
    """What the run trains on, for messages: the scenario, or ``N scenarios (a, b, ...)``."""
    if not train.scenarios:
        return checked.evaluation[0].name
    return f"{len(train.scenarios)} scenarios ({', '.join(train.scenarios)})"


def reference_controller(agent: AgentSettings) -> Any:
    """What an agent should at least match: a residual agent's base, else the tuned PID."""
    if agent.residual.enabled:
        return from_spec(agent.residual.base)
    return load_controller_yaml(REFERENCE)


def reference_score(
    agent: AgentSettings, scenarios: list[ScenarioParams], train: TrainSettings
) -> dict[str, Any]:
    """``name`` and mean ``pacing_score_v2`` of ``reference_controller`` on the validation
    episodes of ``scenarios`` (the run's ``RunScenarios.evaluation``: the same split over
    ``train.scenarios`` as the agent's, ``agents.callbacks``),
    and with ``train.reward_scale: normalised`` its mean ``normalised`` score, the agent's
    selection key (``baselines.weighting``)."""
    ctrl = reference_controller(agent)
    rolls = run_split(ctrl, scenarios, train.eval_episodes, train.eval_seed)
    out: dict[str, Any] = {
        "name": ctrl.name,
        SCORE_KEY: float(np.mean(joined_metrics(rolls)[SCORE_KEY])),
    }
    if train.reward_scale == "normalised":
        zero = reference_scores(scenarios, train.eval_episodes, train.eval_seed)
        per = [float(np.mean(r.metrics[SCORE_KEY])) for r in rolls]
        out[NORMALISED_KEY] = float(np.mean(normalised(per, zero)))
    return out


def train(
    cfg: DictConfig, run_dir: str | Path | None = None, on_eval: EvalFn | None = None
) -> TrainResult:
    """Validate, then train with tracking; returns the ``TrainResult``. ``on_eval``: called
    after each held-out evaluation (``agents.callbacks.EvalFn``; a Ray trial reports there).

    Every config check (``validate``, the resume's MLflow run ``resume_run``) runs before
    a run is opened or a file written. Should the job still fail on a config error
    (``ValueError``, ``FileNotFoundError``) before it trained anything (no metric logged, no
    checkpoint), the MLflow run it opened is deleted and the files it wrote removed; any
    other failure leaves the run ``FAILED`` and the files for a post-mortem. Tracking
    failures while training never stop it (``TrackingGuard``). The run dir, and a resume's
    source run dir, are locked while the job runs (``run_lock``): resuming a run another
    process still trains, or resuming one run twice at once, is refused in one line.
    """
    out = app_run_dir("train", run_dir)
    scenario, agent, train_s, plain = settings_of(cfg)
    checked = validate(scenario, agent, train_s)  # config errors surface before any run exists
    if tracking.tracking_enabled(cfg):
        tracking.ensure_store(tracking.tracking_uri(cfg))
    source = resumed_dir(train_s)
    with contextlib.ExitStack() as locks:
        if source is not None:  # no second process continues the same run at once
            locks.enter_context(run_lock(source, f"train.resume = {train_s.resume!r}"))
        resume = resume_run(cfg, train_s)
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        if source is None or source.resolve() != out.resolve():
            locks.enter_context(run_lock(out, f"hydra.run.dir = {str(out)!r}"))
        return _train_locked(cfg, checked, agent, train_s, plain, out, created, resume, on_eval)


def _train_locked(
    cfg: DictConfig,
    checked: RunScenarios,
    agent: AgentSettings,
    train_s: TrainSettings,
    plain: dict[str, Any],
    out: Path,
    created: bool,
    resume: tuple[str | None, dict[str, str]],
    on_eval: EvalFn | None = None,
) -> TrainResult:
    """``train`` once its run dirs are locked (``run_lock``): the MLflow run (``resume``: the
    one to reopen and the tags, ``resume_run``), the training."""
    resume_id, resume_tags = resume
    session = uuid.uuid4().hex
    config_file = out / CONFIG_FILE
    config_file.write_text(yaml.safe_dump(plain, sort_keys=False))
    tags = {
        "run_type": "train",
        "agent_name": agent.name,
        "policy_kind": agent.algo,
        "residual": str(agent.residual.enabled),
        "run_dir": str(out.resolve()),
        SESSION_TAG: session,
        **resume_tags,
    }
    guard = TrackingGuard(out)
    opened: list[str] = []  # a run this call created (not a reopened one)
    try:
        name = f"{'resume' if train_s.resume else 'train'} {agent.name}"
        with tracking.start_run(cfg, name, tags, run_id=resume_id) as run:
            run_id = run.info.run_id if run is not None else None
            if run_id is not None and resume_id is None:
                opened.append(run_id)
            result = _train_tracked(
                cfg, checked, agent, train_s, out, guard, run_id, session, on_eval
            )
    except (ValueError, FileNotFoundError):  # a config error (AgentConfigError, ScenarioError)
        if guard.logged == 0 and not guard.degraded and not (out / "checkpoints").exists():
            _undo(cfg, opened, out, config_file, created)
        raise
    return result


def _undo(cfg: DictConfig, opened: list[str], out: Path, config_file: Path, created: bool) -> None:
    """Remove what a job that failed before training left: its fresh MLflow run, its config
    file, its run dir if it created it and nothing else is in it."""
    for run_id in opened:
        try:
            tracking.delete_run(cfg, run_id)
        except Exception as exc:  # the store itself failed: the FAILED run stays
            log.warning("could not delete the MLflow run %s of the failed job: %s", run_id, exc)
    config_file.unlink(missing_ok=True)
    (out / LOCK_FILE).unlink(missing_ok=True)
    if created and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


def _train_tracked(
    cfg: DictConfig,
    checked: RunScenarios,
    agent: AgentSettings,
    train_s: TrainSettings,
    out: Path,
    guard: TrackingGuard,
    run_id: str | None,
    session: str,
    on_eval: EvalFn | None = None,
) -> TrainResult:
    """The body of ``train`` inside its MLflow run (``run_id`` None: tracking off)."""
    where = train_label(checked, train_s)
    mlflow_run = f"; MLflow run {run_id}" if run_id else ""
    steps = f"{train_s.total_timesteps:,}"
    log.info(
        "training %s (%s) on %s for %s env-steps; run dir %s%s",
        *(agent.name, agent.algo, where, steps, out, mlflow_run),
    )
    for line in unwidened_note(checked.training, train_s.jitter):
        log.info(line)
    upload = bool(cfg.tracking.log_model)
    hook = CheckpointModels(guard, agent.name, upload) if run_id else None
    result = train_agent(
        None,
        agent,
        train_s,
        out,
        log_fn=guard.log_metrics,
        meta={"mlflow_run_id": run_id, "agent_name": agent.name, "session": session},
        checked=checked,
        on_checkpoint=hook,
        on_eval=on_eval,
    )
    ref = reference_score(agent, checked.evaluation, train_s)
    ref_name, ref_score = ref["name"], ref[SCORE_KEY]
    summary = {
        "agent": agent.name,
        "residual": agent.residual.enabled,
        "model_dir": str(result.model_dir.resolve()),
        "num_timesteps": result.num_timesteps,
        "steps_this_run": result.steps_this_run,
        "wall_s": result.wall_s,
        "steps_per_s": result.steps_per_s,
        "stopped_early": result.stopped_early,
        "resumed_from": result.resumed_from,
        "mlflow_run_id": run_id,
        "tracking": guard.reason or ("ok" if run_id else "off"),
        "eval": result.eval,
        "reference": ref,
    }
    (out / "train_result.json").write_text(json.dumps(summary, indent=2))
    if run_id is None:
        return result
    import mlflow

    # the plain names too: the runs table's sort columns
    final = {**{f"final/{k}": v for k, v in result.eval.items()}, **result.eval}
    args = (result.model_dir, agent.name, result.num_timesteps, "final", final, upload)
    if guard.call(log_model_dir, *args) is None:
        guard.log_metrics(final)
    guard.log_metrics({"steps_per_s": result.steps_per_s, "wall_s": result.wall_s}, prefix="final/")
    guard.log_metrics({f"eval/reference_{k}": v for k, v in ref.items() if k != "name"})
    guard.call(
        mlflow.set_tags, {"model_dir": str(result.model_dir.resolve()), "reference": ref_name}
    )
    if result.history:
        fig = figures.learning_curve(
            result.history,
            f"{agent.name} on {where}",
            reference={ref_name: ref_score},
        )
        fig.savefig(out / "learning_curve.png", dpi=100)
        guard.call(tracking.log_figure, fig, "plots/learning_curve.png")
        figures.close(fig)
    guard.call(tracking.log_artifact, out / "eval_history.csv")
    guard.call(tracking.log_artifact, out / "train_result.json")
    if cfg.tracking.log_model:
        guard.call(tracking.log_artifact, result.model_dir, "model")
    return result


def _main(cfg: DictConfig) -> float:
    """Console entry point; returns the held-out pacing score (for sweepers)."""
    result = train(cfg)
    score = result.eval.get(SCORE_KEY, float("nan"))
    summary = json.loads((result.model_dir.parent / "train_result.json").read_text())
    ref = summary["reference"]
    log.info(
        "trained %s: %s env-steps, %s env-steps/s, held-out (validation) score %.4f "
        "against %.4f for %s on the same episodes; model in %s",
        summary["agent"],  # a resume's is the run's own, whatever cfg.agent says
        f"{result.num_timesteps:,}",
        f"{result.steps_per_s:,.0f}",
        score,
        ref[SCORE_KEY],
        ref["name"],
        result.model_dir,
    )
    if NORMALISED_KEY in ref:
        log.info(
            "selected on the mean normalised score (0 = reference, 100 = perfect): %.1f "
            "against %.1f for %s",
            result.eval.get(NORMALISED_KEY, float("nan")),
            ref[NORMALISED_KEY],
            ref["name"],
        )
    # the selection key decides "below": 0.01 of the score, or 1 normalised point
    key, tol = (NORMALISED_KEY, 1.0) if NORMALISED_KEY in ref else (SCORE_KEY, 0.01)
    mine = result.eval.get(key, float("nan"))
    if mine < ref[key] - tol:
        log.info(
            "below %s by %.3f (%s): %s",
            ref["name"],
            ref[key] - mine,
            key,
            "a residual agent (agent=ppo_residual) learns a correction of a tuned controller "
            "and starts at its score; an agent from scratch needs millions of env-steps "
            "(e.g. experiment=train_ppo_live)"
            if not summary["residual"]
            else "train longer (train.total_timesteps) or keep train.select=best",
        )
    return float(score)


main = hydra_app("train")(_main)


if __name__ == "__main__":
    main()
