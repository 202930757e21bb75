"""``pacegym-pipeline``: the whole workbench in one command (Hydra app, ``conf/pipeline.yaml``).

1. train a small agent (``pipeline.train``; residual PPO on the tuned PID by default);
2. compare it with every tuned baseline on held-out live-commerce seeds, print the
   leaderboard, write ``<run_dir>/compare/leaderboard.json`` (``pipeline.compare``);
3. export the winner (``pipeline.export``) through ``experiments.export.run_export``
   with ``source.leaderboard`` set to that file; an export that fails fails the pipeline:
   a failed check publishes nothing and ends the command in one line, exit 1, its
   parent run FAILED and no ``pipeline.json``.

One MLflow parent run (``run_type=pipeline``) ties the steps together: the train run, the
compare run (with its nested run per policy) and the export run are its children, and it
carries the winner and the artifact's path; ``mlflow ui`` shows them as one tree. A bar
with ETA follows the stages (and the train and compare steps show their own). Sized for
< 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from pacegym import progress
from pacegym.agents.training import validate
from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments import config as _config  # noqa: F401  (registers the schemas)
from pacegym.experiments import leaderboard as lb
from pacegym.experiments import tracking
from pacegym.experiments.compare import check_config, compare
from pacegym.experiments.export import run_export
from pacegym.experiments.export_report import exit_on_failed_checks
from pacegym.experiments.hydra_app import app_run_dir, hydra_app
from pacegym.experiments.train import settings_of, train

log = logging.getLogger(__name__)


def export_winner(cfg: DictConfig, leaderboard: Path, out_dir: Path) -> dict[str, Any]:
    """Run the export step on the leaderboard's winner (tracked like the other steps, in
    the same store and experiment) and return its report."""
    overrides = [
        f"source.leaderboard={leaderboard.resolve()}",
        f"out_dir={out_dir.resolve()}",
        "overwrite=true",
        f"tracking.enabled={str(bool(cfg.tracking.enabled)).lower()}",
        f"tracking.experiment={cfg.tracking.experiment}",
    ]
    if cfg.tracking.uri:
        overrides.append(f"tracking.uri={cfg.tracking.uri}")
    export_cfg = hydra.compose(config_name="export", overrides=overrides)
    return run_export(export_cfg)


def pipeline(cfg: DictConfig, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Run the configured steps under one parent run; returns a summary (also written to
    ``pipeline.json``)."""
    out = app_run_dir("pipeline", run_dir)
    # every setting of every step is checked before the parent run opens or a file is written
    if cfg.pipeline.train:
        validate(*settings_of(cfg)[:3])
    if cfg.pipeline.compare:
        check_config(cfg.compare)
    out.mkdir(parents=True, exist_ok=True)
    if tracking.tracking_enabled(cfg):
        tracking.ensure_store(tracking.tracking_uri(cfg))  # fail fast, before training
    t0 = time.perf_counter()
    summary: dict[str, Any] = {}
    agents: list[str] = []
    steps = [s for s in ("train", "compare", "export") if cfg.pipeline[s]]
    if "compare" not in steps and "export" in steps:
        steps.remove("export")  # the export step exports compare's winner
    tags = {"run_type": "pipeline", "policy_kind": "pipeline", "run_dir": str(out.resolve())}
    with (
        tracking.start_run(cfg, f"pipeline {cfg.agent.name}", tags) as parent,
        progress.stages(steps, "pipeline") as stage,
    ):
        if "train" in steps:
            stage.next("train")
            res = train(cfg, out / "train")
            agents.append(str(res.model_dir))
            summary["train"] = {
                "model_dir": str(res.model_dir),
                "num_timesteps": res.num_timesteps,
                "steps_per_s": res.steps_per_s,
                "wall_s": res.wall_s,
                "eval": res.eval,
            }
        if "compare" in steps:
            stage.next("compare")
            doc = compare(cfg, out / "compare", agents=agents)
            log.info("%s", lb.markdown(doc))
            summary["leaderboard"] = str((out / "compare" / "leaderboard.json").resolve())
            keys = ("name", "type", "kind", SCORE_KEY, "winner_reason")
            summary["winner"] = {k: doc["winner"][k] for k in keys}
            log.info("winner: %s (%s)", doc["winner"]["name"], doc["winner"]["winner_reason"])
        if "export" in steps:
            stage.next("export")
            export_winner(cfg, out / "compare" / "leaderboard.json", out / "pacer")
            summary["export"] = str((out / "pacer").resolve())
        summary["wall_s"] = time.perf_counter() - t0
        summary["mlflow_run_id"] = parent.info.run_id if parent is not None else None
        (out / "pipeline.json").write_text(json.dumps(summary, indent=2, default=str))
        if parent is not None:
            import mlflow

            winner = summary.get("winner") or {}
            tracking.log_metrics({SCORE_KEY: winner.get(SCORE_KEY, float("nan"))})
            tracking.log_metrics({"wall_s": summary["wall_s"]})
            mlflow.set_tags(
                {"winner": str(winner.get("name")), "export_dir": str(summary.get("export"))}
            )
            tracking.log_artifact(out / "pipeline.json")
    log.info("\npipeline done in %.0f s; summary: %s", summary["wall_s"], out / "pipeline.json")
    return summary


def _main(cfg: DictConfig) -> None:
    exit_on_failed_checks("pacegym-pipeline", pipeline, cfg)


main = hydra_app("pipeline")(_main)


if __name__ == "__main__":
    main()
