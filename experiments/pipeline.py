"""``pacegym-pipeline``: the whole workbench in one command (Hydra app, ``conf/pipeline.yaml``).

1. train a small agent (``pipeline.train``; residual PPO on the tuned PID by default);
2. compare it with every tuned baseline on held-out live-commerce seeds, print the
   leaderboard, write ``<run_dir>/compare/leaderboard.json`` (``pipeline.compare``);
3. export the winner (``pipeline.export``) through ``experiments.export.run_export``
   with ``source.leaderboard`` set to that file; an export that fails fails the pipeline.

Every step is an MLflow run (train, compare parent + nested entries, export); ``mlflow ui``
shows them. Sized for < 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments import config as _config  # noqa: F401  (registers the schemas)
from pacegym.experiments import leaderboard as lb
from pacegym.experiments import tracking
from pacegym.experiments.compare import compare
from pacegym.experiments.export import run_export
from pacegym.experiments.hydra_app import hydra_app
from pacegym.experiments.train import train


def export_winner(cfg: DictConfig, leaderboard: Path, out_dir: Path) -> dict[str, Any]:
    """Run the export step on the leaderboard's winner and return its report."""
    overrides = [
        f"source.leaderboard={leaderboard.resolve()}",
        f"out_dir={out_dir.resolve()}",
        "overwrite=true",
    ]
    if cfg.tracking.uri:
        overrides.append(f"tracking.uri={cfg.tracking.uri}")
    export_cfg = hydra.compose(config_name="export", overrides=overrides)
    return run_export(export_cfg)


def pipeline(cfg: DictConfig, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Run the configured steps; returns a summary (also written to ``pipeline.json``)."""
    out = Path(run_dir) if run_dir is not None else Path(HydraConfig.get().runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if tracking.tracking_enabled(cfg):
        tracking.ensure_store(tracking.tracking_uri(cfg))  # fail fast, before training
    t0 = time.perf_counter()
    summary: dict[str, Any] = {}
    agents: list[str] = []
    if cfg.pipeline.train:
        res = train(cfg, out / "train")
        agents.append(str(res.model_dir))
        summary["train"] = {
            "model_dir": str(res.model_dir),
            "num_timesteps": res.num_timesteps,
            "steps_per_s": res.steps_per_s,
            "wall_s": res.wall_s,
            "eval": res.eval,
        }
    if cfg.pipeline.compare:
        doc = compare(cfg, out / "compare", agents=agents)
        print(lb.markdown(doc))
        summary["leaderboard"] = str((out / "compare" / "leaderboard.json").resolve())
        summary["winner"] = {k: doc["winner"][k] for k in ("name", "type", "kind", SCORE_KEY)}
        if cfg.pipeline.export:
            export_winner(cfg, out / "compare" / "leaderboard.json", out / "pacer")
            summary["export"] = str((out / "pacer").resolve())
    summary["wall_s"] = time.perf_counter() - t0
    (out / "pipeline.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\npipeline done in {summary['wall_s']:.0f} s; summary: {out / 'pipeline.json'}")
    return summary


def _main(cfg: DictConfig) -> None:
    pipeline(cfg)


main = hydra_app("pipeline")(_main)


if __name__ == "__main__":
    main()
