"""``pacegym-export`` of a RecurrentPPO model as an ``lstm`` pacer (state in, state out).

A source whose ``agent.json`` says ``recurrent`` (``source.model_path`` to its model
folder, ``source.run_id``, ``source.model_uri``, or a leaderboard whose winner is one:
``agents.export.source``) exports ``agents.export.recurrent_export``'s artifact
(``manifest.json`` + ``weights.npz``, ``runtime.recurrent``). Verified on
``verify.record_episodes`` episodes of each scenario of ``model_scenarios`` (the
leaderboard's, else a training mixture's or the one in ``agent.json``) driven by the loaded
pacer, sb3_contrib's ``predict`` of the model beside it (``recurrent_export.Lockstep``): each tick's actions from ``predict``'s own state must agree
within ``verify.action_tolerance`` (``action_parity.max_abs_error``; the pacer on its own
carried state: ``free_running_max_abs_error``, reported), and with ``verify.metrics`` the
leaderboard's metric means re-run with the pacer (``agents.export.verify.metric_parity``),
else the episodes' metrics against the model's own (``agents.policy.SB3Controller``, as
``pacegym-compare`` evaluates it), within ``verify.metric_tolerance``. ``register.enabled``
registers it like the other pacers (``agents.export.registry``: a pyfunc served by named
columns, the campaign's state in and out). ``safety.fallback_throttle`` is the manifest's
``action.fallback``; ``safety.budget_guard`` is not available for an lstm pacer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class RecurrentExportError(ValueError):
    """A ``pacegym-export`` setting an lstm pacer cannot take; the message names the key."""


def is_recurrent_source(src: Any) -> bool:
    """``src`` is a RecurrentPPO model folder (``Source.recurrent_dir``)."""
    return getattr(src, "recurrent_dir", None) is not None


def check_recurrent(cfg: Any) -> None:
    """Refuse the settings an lstm pacer cannot honour (before any work)."""
    if bool(cfg.safety.budget_guard):
        raise RecurrentExportError(
            "safety.budget_guard = true: an lstm pacer has no budget guard yet; allowed false"
        )


def model_scenarios(model_dir: Path, chosen: dict[str, Any]) -> list[Any]:
    """The scenarios to verify a model folder's pacer on: the leaderboard's, else the
    ``scenarios`` of a training mixture that its ``agent.json`` names (every segment count a
    padded agent serves), else its ``scenario``."""
    from pacegym.agents.model_dir import read_agent_meta

    if chosen.get("scenario"):
        return [chosen["scenario"]]
    meta = read_agent_meta(model_dir)
    return [named_scenario(s) for s in meta.get("scenarios") or [meta.get("scenario")]]


def named_scenario(name: Any) -> Any:
    """``name`` as ``envs.scenarios.resolve`` takes it: as it is when it resolves, else the
    one scenario file of that stem in a folder of the scenario group (``agent.json`` names
    a scenario by its ``name``: ``value_multi_day`` for ``suite/value_multi_day``). A name
    that is neither, or that two folders hold, is returned as it is (resolve's error names
    it)."""
    from pacegym.envs.params import ScenarioError
    from pacegym.envs.scenarios import resolve
    from pacegym.resources import USER_CONF, conf_dir

    try:
        resolve(name)
        return name
    except (ScenarioError, TypeError):
        pass
    hits = {
        p.relative_to(base / "scenario").with_suffix("").as_posix()
        for base in (USER_CONF, conf_dir())
        for p in (base / "scenario").glob(f"*/{name}.yaml")
    }
    return hits.pop() if len(hits) == 1 else name


def export_lstm(cfg: Any, src: Any, chosen: dict[str, Any], name: str, stage: Any) -> dict:
    """Write, load and verify the lstm pacer of ``src`` (module docstring); the report."""
    from pacegym.agents.export.recurrent_export import Lockstep, export_recurrent_model_dir
    from pacegym.agents.export.runtime.recurrent import load_recurrent_pacer
    from pacegym.agents.export.verify import (
        episode_metric_parity,
        lockstep_checks,
        metric_parity,
    )
    from pacegym.agents.policy import load_controller

    check_recurrent(cfg)
    out = Path(cfg.out_dir)
    info = {k: v for k, v in src.info.items() if isinstance(v, str | int | float | type(None))}
    export_recurrent_model_dir(
        src.recurrent_dir,
        out,
        overwrite=cfg.overwrite,
        name=name,
        source=info,
        fallback=float(cfg.safety.fallback_throttle),
    )
    stage.next("verify")
    episodes, seed = int(cfg.verify.record_episodes), int(chosen.get("seed") or 0)
    report: dict[str, Any] = {"artifact": str(out.resolve()), "name": name, "source": src.info}
    scenarios = model_scenarios(src.recurrent_dir, chosen)
    locks, diffs, mismatched = lockstep_checks(
        scenarios,
        lambda: Lockstep.of_model_dir(load_recurrent_pacer(out), src.recurrent_dir),
        lambda: load_controller(src.recurrent_dir),
        episodes,
        seed,
        bool(cfg.verify.metrics) and not chosen.get("metrics"),
    )
    report["action_parity"] = {
        "rows": sum(lock.rows for lock in locks),
        "episodes": episodes,
        "scenarios": len(scenarios),
        "against": "sb3_contrib predict, from its own state at each tick",
        "max_abs_error": max(lock.step_error for lock in locks),
        "free_running_max_abs_error": max(lock.free_error for lock in locks),
        "tolerance": float(cfg.verify.action_tolerance),
    }
    if cfg.verify.metrics and chosen.get("metrics"):
        report["metric_parity"] = metric_parity(load_recurrent_pacer(out), chosen)
    elif cfg.verify.metrics:
        report["metric_parity"] = episode_metric_parity(
            "the model (sb3_contrib predict), episode by episode", episodes, seed, diffs, mismatched
        )
    if "metric_parity" in report:
        report["metric_parity"]["enforced"] = True
        report["metric_tolerance"] = float(cfg.verify.metric_tolerance)
    return report
