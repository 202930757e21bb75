"""``pacegym-evaluate``: evaluate controllers on a scenario, print and save their metrics.

    pacegym-evaluate scenario=live_commerce controller=exp_decay episodes=200 seed=0
    pacegym-evaluate experiment=seed_live_commerce
    pacegym-evaluate scenario=daily_budget controller=pid_tuned   # daily_budget's tuned PID
    pacegym-evaluate agent=outputs/train/<time>/model             # a trained agent

Policies are named as in every app (``experiments.policies``); ``scenario`` and
``controller`` also take a path to a YAML file (``experiments.app_args``).

Every controller runs the same ``episodes`` episodes (episode ``i`` seeded ``seed + i``,
common random numbers). Writes to the run's output directory (``hydra.run.dir``):

- ``metrics.json``: ``{controller name: {key: mean, key_ci: [low, high], ..., episodes,
  source}}`` for every key of ``envs.metrics.METRIC_KEYS`` (95% bootstrap intervals;
  ``source``: the controller file, model dir or MLflow run that ran, also printed);
- with ``oracle=true`` (the default) the naive ``reference`` and the clairvoyant
  ``oracle`` run too, and every controller's entry also holds ``regret`` (oracle -
  controller, paired) and ``normalised`` (0 reference, 100 oracle) with CIs
  (``baselines.normalise``, docs/oracle.md); ``oracle=false`` leaves them out;
- ``comparison.json``: paired differences against the baseline controller
  (``{name: {key: [mean, low, high]}}``), when there are several controllers;
- PNG plots (``experiments.plots``) unless ``plots=false``.

Tracked by default, like ``pacegym-compare`` (``tracking=local``, or ``server``; opt out with
``tracking=off``; without MLflow installed, the base install, it runs untracked): the
evaluation is an MLflow run (``run_type=evaluate``) with the scenario as its dataset input,
the files as artifacts and one nested run per controller holding its metric means and CIs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from pacegym import progress
from pacegym.baselines.factory import YARDSTICKS
from pacegym.baselines.harness import Rollout, run_episodes
from pacegym.baselines.normalise import normalise
from pacegym.baselines.stats import aggregate, min_episodes, paired_difference
from pacegym.envs.core import PacingCore
from pacegym.envs.metrics import METRIC_KEYS, SCORE_KEY
from pacegym.experiments import tracking
from pacegym.experiments.evaluate_config import build_all, register
from pacegym.experiments.hydra_app import app_run_dir, config_dirs, group_choice, hydra_app
from pacegym.experiments.leaderboard import metric_summary

register()
log = logging.getLogger(__name__)


def format_table(results: dict[str, dict[str, Any]], keys: tuple[str, ...] = METRIC_KEYS) -> str:
    """Markdown table: one row per controller, ``mean [low, high]`` per metric."""
    lines = ["| controller | " + " | ".join(keys) + " |", "|---" + "|---:" * len(keys) + "|"]
    for name, agg in results.items():
        cells = [f"{agg[k]:.3f} [{agg[f'{k}_ci'][0]:.3f}, {agg[f'{k}_ci'][1]:.3f}]" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate(cfg: Any, out_dir: Path) -> dict[str, dict[str, Any]]:
    """Run the evaluation described by ``cfg`` and write its files to ``out_dir``."""
    scenario, controllers = build_all(cfg, group_choice(cfg, "controller"), config_dirs())
    PacingCore(scenario, 1)  # what only the core checks (a trace, its days) before a run opens
    out_dir.mkdir(parents=True, exist_ok=True)
    for ctrl in controllers:
        log.info("%s: %s", ctrl.name, _source(ctrl))
    tags = {"run_type": "evaluate", "policy_kind": "baselines"}
    with tracking.start_run(cfg, f"evaluate {scenario.name}", tags) as run:
        results = _evaluate(cfg, out_dir, scenario, controllers)
        if run is not None:
            for name, agg in results.items():
                _log_controller(cfg, name, agg, str(agg["source"]))
            tracking.log_artifact(out_dir)
    log.info("wrote %s", out_dir / "metrics.json")
    return results


def _source(ctrl: Any) -> str:
    """The file or run a controller came from (``evaluate_config.build_all``)."""
    return str(getattr(ctrl, "source", "") or "unknown")


def _log_controller(cfg: Any, name: str, agg: dict[str, Any], source: str) -> None:
    tags = {"run_type": "evaluate_entry", "policy_name": name, "policy_source": source[:5000]}
    with tracking.start_run(cfg, name, tags, nested=True, log_config=False):
        tracking.log_metrics(metric_summary(agg))


def _evaluate(
    cfg: Any, out_dir: Path, scenario: Any, controllers: list[Any]
) -> dict[str, dict[str, Any]]:
    rollouts: list[Rollout] = []
    recorded: list[Rollout] = []
    results: dict[str, dict[str, Any]] = {}
    with progress.bar(cfg.episodes * len(controllers), "evaluate", "episodes") as pbar:
        for ctrl in controllers:
            pbar.set_postfix_str(ctrl.name)
            roll = run_episodes(
                ctrl, scenario, cfg.episodes, cfg.seed, cfg.batch_size, on_batch=pbar.update
            )
            rollouts.append(roll)
            results[ctrl.name] = aggregate(roll.metrics, n_boot=cfg.n_boot, seed=cfg.seed)
            results[ctrl.name]["source"] = _source(ctrl)
            if cfg.plots and getattr(ctrl, "kind", None) not in YARDSTICKS:
                n_rec = min(cfg.plot_episodes, cfg.episodes)
                recorded.append(run_episodes(ctrl, scenario, n_rec, cfg.seed, cfg.batch_size, True))
    kinds = {getattr(c, "kind", None): r for c, r in zip(controllers, rollouts, strict=True)}
    if "oracle" in kinds and "reference" in kinds:
        o, ref = kinds["oracle"], kinds["reference"]
        for roll in rollouts:
            ns = normalise(
                roll.metrics[SCORE_KEY],
                ref.metrics[SCORE_KEY],
                o.metrics[SCORE_KEY],
                o.failed,
                n_boot=cfg.n_boot,
                seed=cfg.seed,
            )
            results[roll.name].update(ns.as_dict())
    (out_dir / "metrics.json").write_text(json.dumps(results, indent=2))
    log.info("%s: %d episodes from seed %d (mean [95%% CI])", scenario.name, cfg.episodes, cfg.seed)
    log.info("%s", format_table(results))
    if cfg.episodes < min_episodes():
        log.info("no intervals (nan): %d episodes, fewer than %d", cfg.episodes, min_episodes())
    if "oracle" in kinds and "reference" in kinds:
        log.info("normalised score (0 reference, 100 oracle) and regret to the oracle:")
        for name, agg in results.items():
            lo, hi = agg["normalised_ci"]
            rlo, rhi = agg["regret_ci"]
            log.info(
                "  %-28s %6.1f [%6.1f, %6.1f]   regret %.4f [%.4f, %.4f]",
                name,
                agg["normalised"],
                lo,
                hi,
                agg["regret"],
                rlo,
                rhi,
            )
    if len(rollouts) > 1:
        base_name = cfg.baseline or rollouts[0].name
        base = next(r for r in rollouts if r.name == base_name)
        comparison = {
            r.name: {
                k: list(paired_difference(r, base, k, n_boot=cfg.n_boot, seed=cfg.seed))
                for k in METRIC_KEYS
            }
            for r in rollouts
            if r is not base
        }
        (out_dir / "comparison.json").write_text(
            json.dumps({"baseline": base_name, "differences": comparison}, indent=2)
        )
        for name, diffs in comparison.items():
            m, lo, hi = diffs["wasted_post_end"]
            log.info("%s - %s: wasted_post_end %+.4f [%+.4f, %+.4f]", name, base_name, m, lo, hi)
    if cfg.plots:
        from pacegym.experiments.plots import plot_rollouts

        plot_rollouts(recorded, out_dir, scenario)
    return results


@hydra_app("evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (console script ``pacegym-evaluate``)."""
    evaluate(cfg, app_run_dir("evaluate"))


if __name__ == "__main__":
    main()
