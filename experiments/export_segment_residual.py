"""``pacegym-export`` of a padded residual agent as a ``segment_residual`` pacer.

A source whose ``agent.json`` records ``max_segments`` (an agent trained with
``agent.max_segments``, ``agents.features``) and is not recurrent (``source.model_path``
to its model folder, ``source.run_id``, ``source.model_uri``, or a leaderboard whose
winner is one: ``agents.export.source``) exports
``agents.export.segment_residual_export``'s artifact (``manifest.json`` +
``weights.npz``, ``runtime.segment_residual``). It is verified on ``verify.record_episodes``
episodes of each scenario it serves: the leaderboard's, else the scenarios ``agent.json``
names (``scenarios``: every scenario of a training mixture, of every segment count it
was trained on; else ``scenario``). The loaded pacer drives the env while the trained
policy (``agents.policy.SB3Controller``) acts beside it on the same observations
(``ResidualLockstep``): every correction must agree within ``verify.action_tolerance``;
with ``verify.metrics`` the episodes' metrics must equal the policy's own episodes
(episode by episode, ``verify.metric_tolerance``). ``safety.budget_guard`` is not
available for this pacer; ``register.enabled`` registers it like the other pacers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class SegmentResidualExportError(ValueError):
    """A ``pacegym-export`` setting or source a segment_residual pacer cannot take."""


def is_segment_residual_source(src: Any) -> bool:
    """``src`` is a padded, non-recurrent agent's model folder (``Source.padded_dir``)."""
    return getattr(src, "padded_dir", None) is not None


def check_segment_residual(cfg: Any, src: Any) -> None:
    """Refuse, before any work, what the pacer cannot honour: the budget guard, and an agent
    that is not a residual on a base the pacer carries (one line naming the key)."""
    from pacegym.agents.export.segment_residual_export import BASE_KINDS
    from pacegym.agents.model_dir import read_agent_meta

    if bool(cfg.safety.budget_guard):
        raise SegmentResidualExportError(
            "safety.budget_guard = true: a segment_residual pacer has no budget guard; "
            "allowed false"
        )
    meta = read_agent_meta(src.padded_dir)
    kind = ((meta.get("residual") or {}).get("base") or {}).get("kind")
    if kind not in BASE_KINDS:
        raise SegmentResidualExportError(
            f"agent.residual.base.kind = {kind!r} ({src.padded_dir}): a padded agent exports as a"
            f" segment_residual pacer, allowed a residual agent on one of {list(BASE_KINDS)}"
        )


def export_segment_residual(
    cfg: Any, src: Any, chosen: dict[str, Any], name: str, stage: Any
) -> dict[str, Any]:
    """Write, load and verify the segment_residual pacer of ``src``; the export report."""
    from pacegym.agents.export.runtime.segment_residual import load_segment_residual_pacer
    from pacegym.agents.export.segment_residual_export import (
        ResidualLockstep,
        export_segment_residual_model_dir,
    )
    from pacegym.agents.export.verify import episode_metric_parity, lockstep_checks
    from pacegym.agents.policy import load_controller
    from pacegym.experiments.export_recurrent import model_scenarios

    check_segment_residual(cfg, src)
    out = Path(cfg.out_dir)
    info = {k: v for k, v in src.info.items() if isinstance(v, str | int | float | type(None))}
    export_segment_residual_model_dir(
        src.padded_dir, out, overwrite=cfg.overwrite, name=name, source=info
    )
    stage.next("verify")
    episodes, seed = int(cfg.verify.record_episodes), int(chosen.get("seed") or 0)
    report: dict[str, Any] = {"artifact": str(out.resolve()), "name": name, "source": src.info}
    scenarios = model_scenarios(src.padded_dir, chosen)
    locks, diffs, mismatched = lockstep_checks(
        scenarios,
        lambda: ResidualLockstep(load_segment_residual_pacer(out), load_controller(src.padded_dir)),
        lambda: load_controller(src.padded_dir),
        episodes,
        seed,
        bool(cfg.verify.metrics),
    )
    report["action_parity"] = {
        "rows": sum(lock.rows for lock in locks),
        "episodes": episodes,
        "scenarios": len(scenarios),
        "against": "the trained policy (SB3Controller) on the same observations, each tick",
        "max_abs_error": max(lock.max_error for lock in locks),
        "tolerance": float(cfg.verify.action_tolerance),
    }
    if cfg.verify.metrics:
        report["metric_parity"] = episode_metric_parity(
            "the trained policy's own episodes, episode by episode",
            episodes,
            seed,
            diffs,
            mismatched,
        )
        report["metric_parity"]["enforced"] = True
        report["metric_tolerance"] = float(cfg.verify.metric_tolerance)
    return report
