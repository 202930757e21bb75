"""``pacegym-train``: train one SB3 agent, tracked in MLflow (Hydra app, ``conf/train.yaml``).

Examples::

    pacegym-train                                    # PPO on live commerce
    pacegym-train agent=sac train.total_timesteps=200000
    pacegym-train experiment=train_residual_live
    pacegym-train train.resume=outputs/train/<date>   # continue an interrupted run
    pacegym-train -m hydra/launcher=joblib agent=ppo,sac train.seed=0,1

Writes into the Hydra run dir: ``model/`` (selected model), ``best_model/``,
``last_model/``, ``checkpoints/``, ``eval_history.csv``, ``learning_curve.png``,
``train_result.json``. The MLflow run (tags ``run_type=train``, ``agent_name``,
``model_dir``) gets the flattened config, learning curves (``train/*``, ``eval/*``),
final held-out metrics (``final/*``), the plots, the config and the model.
A resumed run reopens the interrupted run's MLflow run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pacegym.agents.checkpoint import latest_checkpoint, read_state
from pacegym.agents.settings import AgentSettings, TrainSettings
from pacegym.agents.training import TrainResult, train_agent, validate
from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments import config as _config  # noqa: F401  (registers the schemas)
from pacegym.experiments import figures, tracking
from pacegym.experiments.hydra_app import hydra_app, scenario_dict


def run_dir_of(cfg: DictConfig) -> Path:
    """The Hydra run dir (or ``./outputs/train`` when called without Hydra)."""
    try:
        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path("outputs/train")


def settings_of(cfg: DictConfig) -> tuple[dict[str, Any], AgentSettings, TrainSettings]:
    """The scenario (a plain dict) and the typed agent and train settings of a composed config.

    Raises ``AgentConfigError`` naming the key for an unknown key or a value out of range.
    """
    scenario = scenario_dict(cfg)
    return scenario, AgentSettings.from_mapping(cfg.agent), TrainSettings.from_mapping(cfg.train)


def _resume_run_id(train: TrainSettings) -> str | None:
    if not train.resume:
        return None
    state = read_state(latest_checkpoint(train.resume))
    return (state.get("extra") or {}).get("mlflow_run_id")


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> TrainResult:
    """Validate, then train with tracking; returns the ``TrainResult``."""
    out = Path(run_dir) if run_dir is not None else run_dir_of(cfg)
    scenario, agent, run_settings = settings_of(cfg)
    validate(scenario, agent, run_settings)  # config errors surface before any run exists
    if tracking.tracking_enabled(cfg):
        tracking.ensure_store(tracking.tracking_uri(cfg))
    tags = {
        "run_type": "train",
        "agent_name": agent.name,
        "policy_kind": agent.algo,
        "residual": str(agent.residual.enabled),
        "run_dir": str(out.resolve()),
    }
    with tracking.start_run(
        cfg, f"train-{agent.name}", tags, run_id=_resume_run_id(run_settings)
    ) as run:
        run_id = run.info.run_id if run is not None else None
        result = train_agent(
            scenario,
            agent,
            run_settings,
            out,
            log_fn=tracking.log_metrics,
            meta={"mlflow_run_id": run_id, "agent_name": agent.name},
        )
        summary = {
            "model_dir": str(result.model_dir.resolve()),
            "num_timesteps": result.num_timesteps,
            "steps_this_run": result.steps_this_run,
            "wall_s": result.wall_s,
            "steps_per_s": result.steps_per_s,
            "stopped_early": result.stopped_early,
            "resumed_from": result.resumed_from,
            "mlflow_run_id": run_id,
            "eval": result.eval,
        }
        (out / "train_result.json").write_text(json.dumps(summary, indent=2))
        if run is not None:
            import mlflow

            tracking.log_metrics(result.eval, prefix="final/")
            tracking.log_metrics(
                {"steps_per_s": result.steps_per_s, "wall_s": result.wall_s},
                prefix="final/",
            )
            mlflow.set_tag("model_dir", str(result.model_dir.resolve()))
            if result.history:
                fig = figures.learning_curve(
                    result.history, f"{agent.name} on {scenario.get('name')}"
                )
                fig.savefig(out / "learning_curve.png", dpi=100)
                tracking.log_figure(fig, "plots/learning_curve.png")
                figures.close(fig)
            tracking.log_artifact(out / "eval_history.csv")
            tracking.log_artifact(out / "train_result.json")
            if cfg.tracking.log_model:
                tracking.log_artifact(result.model_dir, "model")
    return result


def _main(cfg: DictConfig) -> float:
    """Console entry point; returns the held-out pacing score (for sweepers)."""
    result = train(cfg)
    score = result.eval.get(SCORE_KEY, float("nan"))
    print(
        f"trained {cfg.agent.name}: {result.num_timesteps} env-steps, "
        f"{result.steps_per_s:,.0f} env-steps/s, held-out {SCORE_KEY} {score:.4f}, "
        f"model in {result.model_dir}"
    )
    return float(score)


main = hydra_app("train")(_main)


if __name__ == "__main__":
    main()
