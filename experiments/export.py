"""``pacegym-export``: write the winning policy as a self-contained pacer artifact.

    pacegym-export                                        # winner of the newest leaderboard
    pacegym-export source.leaderboard=outputs/compare/<time>/leaderboard.json out_dir=artifacts/pacer
    pacegym-export source.leaderboard=null source.model_path=outputs/train/<time>/model
    pacegym-export source.leaderboard=null source.run_id=<mlflow run id>
    pacegym-export source.leaderboard=null source.model_uri=models:/pacegym-pacer/3
    pacegym-export source.leaderboard=null source.controller_yaml=pid_tuned
    pacegym-export register.enabled=true register.name=pacegym-pacer safety.budget_guard=true

Steps: resolve the source (``agents.export.source``), write the artifact
(``agents.export.exporter``), verify it (SB3 actions on recorded observations within
``verify.action_tolerance``; the leaderboard's metrics re-run through the ``Controller``
protocol on the same scenario and seeds), write ``verification.json`` into the artifact,
and optionally register it in the MLflow Model Registry (with a description and tags:
scenario, source run, the metrics it won with). All of it happens in a private folder
beside ``out_dir`` (``publish.building``): only an artifact that passed every check is
registered and published; one that failed is not (``out_dir`` stays as it was, exit 1).

``source.leaderboard`` takes a ``leaderboard.json``, a folder (the newest
``leaderboard.json`` at or below it: a compare run dir, ``outputs/compare``) or
``latest`` (the default: the newest of ``outputs/compare/*/`` and
``outputs/pipeline/*/compare/``). ``source.model_path`` takes an SB3 ``.zip`` or the model
folder ``pacegym-train`` prints. Tracked like the other apps (group ``tracking``: an
``export <name>`` run, ``run_type=export``, with the checks' figures as metrics, the
artifact, and the registered model; a child run inside ``pacegym-pipeline``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from pacegym import outdir, progress
from pacegym.agents.model_dir import MODEL_FILE
from pacegym.envs.checks import check_section, setting
from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments import export_segment_residual as padded
from pacegym.experiments import tracking
from pacegym.experiments.config import TrackingConfig, schema
from pacegym.experiments.export_recurrent import check_recurrent, export_lstm, is_recurrent_source
from pacegym.experiments.export_report import (
    ExportChecksFailed,
    check_report,
    exit_on_failed_checks,
    log_report,
)
from pacegym.experiments.export_segments import (
    export_segments,
    is_segment_source,
    segment_scenario,
)
from pacegym.experiments.hydra_app import hydra_app

log = logging.getLogger(__name__)

SOURCE_KEYS = ("leaderboard", "run_id", "model_uri", "model_path", "controller_yaml")


@dataclass
class SourceConfig:
    """Exactly one of the first five keys selects what to export."""

    leaderboard: str | None = None  # leaderboard.json, a folder holding one, or "latest"
    run_id: str | None = None  # MLflow run holding an SB3 .zip (+ normalisation statistics)
    model_uri: str | None = None  # models:/<name>/<version> (a pacer pyfunc or an SB3 model)
    model_path: str | None = None  # a local SB3 .zip, or the model folder pacegym-train prints
    controller_yaml: str | None = (
        None  # a baseline: controller config name (pid_tuned) or YAML path
    )
    normalization_path: str | None = None  # with model_path: .json/.npz (mean, var); never .pkl
    algo: str | None = None  # with model_path/run_id: PPO | A2C | SAC | TD3 | DDPG


@dataclass
class SafetyConfig:
    # [pass-through rate] for NaN/inf/out-of-range rows
    fallback_throttle: float = setting(0.0, 0.0, 1.0)
    budget_guard: bool = False  # throttle 0 once reported_spend + in_flight >= 1


@dataclass
class VerifyConfig:
    # [action units] max |pacer - SB3 action|
    action_tolerance: float = setting(1e-5, 0.0, 1e-2, low_open=True)
    # [episodes] replayed for the action check
    record_episodes: int = setting(8, 1, 1000, integer=True)
    metrics: bool = True  # re-run the leaderboard's scenario and seeds with the pacer
    # [metric units] max |metric mean difference|
    metric_tolerance: float = setting(1e-6, 0.0, 1e-2)


@dataclass
class RegisterConfig:
    enabled: bool = False
    name: str = "pacegym-pacer"  # MLflow registered model name


@dataclass
class ExportConfig:
    source: SourceConfig = field(default_factory=SourceConfig)
    out_dir: str = "artifacts/pacer"
    name: str | None = None  # artifact name (default: the source's)
    onnx: bool = True  # also write policy.onnx (MLP policies)
    overwrite: bool = False  # replace a previous artifact at out_dir, or run in hydra.run.dir
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


ConfigStore.instance().store(name="export_schema", node=schema(ExportConfig))


class ExportConfigError(ValueError):
    """An invalid ``pacegym-export`` setting; the message names the key."""


LATEST_GLOBS = ("outputs/compare/*/leaderboard.json", "outputs/pipeline/*/compare/leaderboard.json")
"""Where ``source.leaderboard=latest`` looks (relative to the working directory)."""


def find_leaderboard(value: str) -> Path:
    """The ``leaderboard.json`` that ``source.leaderboard`` names: a file, the newest one at or
    below a folder, or with ``latest`` the newest of ``LATEST_GLOBS`` in a finished run's
    folder (``pacegym.outdir.unfinished``: not one still running or stopped by an error)."""
    if value == "latest":  # a run that has not finished (running, failed) is not a result
        found = [p for g in LATEST_GLOBS for p in Path().glob(g) if not outdir.unfinished(p)]
        where = " or ".join(LATEST_GLOBS) + " of a finished run"
    else:
        p = Path(value).expanduser()
        if p.is_file():
            return p
        found = sorted(p.rglob("leaderboard.json")) if p.is_dir() else []
        where = f"{value} (no such file)" if not p.exists() else f"a leaderboard.json under {p}"
    if not found:
        raise ExportConfigError(
            f"source.leaderboard = {value!r}: found no {where}; run pacegym-compare (or "
            "pacegym-pipeline) first, or pass source.leaderboard=<path to leaderboard.json>"
        )
    return max(found, key=lambda f: f.stat().st_mtime)


def model_file(value: str) -> Path:
    """``source.model_path`` as an SB3 ``.zip``: the file itself, or ``model.zip`` in the
    model folder that ``pacegym-train`` prints."""
    p = Path(value).expanduser()
    if p.is_dir() and (p / MODEL_FILE).is_file():
        return p / MODEL_FILE
    if p.is_file():
        return p
    raise ExportConfigError(
        f"source.model_path = {value!r}: no such file or model folder (allowed an SB3 .zip or "
        "a folder with model.zip, e.g. outputs/train/<time>/model)"
    )


def resolve_source(cfg: Any) -> Any:
    """The ``agents.export.source.Source`` selected by ``cfg.source``."""
    from pacegym.agents.export import source as S

    chosen = [k for k in SOURCE_KEYS if cfg.source.get(k)]
    if len(chosen) != 1:
        raise ExportConfigError(
            f"source: set exactly one of {list(SOURCE_KEYS)}, got {chosen or 'none'}"
            " (e.g. source.leaderboard=null source.run_id=<id>)"
        )
    key = chosen[0]
    value = cfg.source[key]
    if key == "leaderboard":
        return S.from_leaderboard(find_leaderboard(str(value)))
    if key == "run_id":
        return S.from_run(value, cfg.source.algo)
    if key == "model_uri":
        return S.from_model_uri(value)
    if key == "model_path":
        return S.from_files(model_file(str(value)), cfg.source.normalization_path, cfg.source.algo)
    from pacegym.baselines.factory import CONTROLLERS, YARDSTICKS, load_controller_yaml, spec
    from pacegym.experiments import policies

    # named as in every app (experiments.policies), on the scenario the export verifies on
    # without a leaderboard: pid_tuned is live commerce's, daily_budget/pid_tuned names another
    path = policies.controller_file(
        str(value), policies.TUNED_DEFAULT_SCENARIO, key="source.controller_yaml"
    )
    ctrl = load_controller_yaml(path)
    if ctrl.kind in YARDSTICKS:
        raise ExportConfigError(
            f"source.controller_yaml = {value!r} is the {ctrl.kind!r} yardstick, not a "
            f"deployable policy: allowed kinds {sorted(CONTROLLERS)}"
        )
    return S.Source(ctrl.name, controller=spec(ctrl), info={"controller_yaml": str(path)})


def _scenario_dict(scenario: Any) -> Any:
    from pacegym.envs.scenarios import resolve, to_dict

    return None if scenario is None else to_dict(resolve(scenario))


def check_config(cfg: Any) -> None:
    """Raise ``ExportConfigError`` (one line: key, value, allowed range) unless every number
    of ``cfg`` is finite and in its declared interval (``setting``; docs/export.md lists
    them) and ``out_dir`` may take an artifact; runs before any work, so a bad setting
    leaves nothing behind."""
    from pacegym.agents.export.publish import ArtifactTargetError, check_target

    for section, cls in (("safety", SafetyConfig), ("verify", VerifyConfig)):
        check_section(cfg[section], section, error=ExportConfigError, short=True, schema=cls)
    if not isinstance(cfg.out_dir, str) or not cfg.out_dir.strip():
        raise ExportConfigError(f"out_dir = {cfg.out_dir!r}: allowed a directory path")
    try:
        check_target(cfg.out_dir, bool(cfg.overwrite))
    except ArtifactTargetError as e:
        raise ExportConfigError(str(e)) from None


def run_export(cfg: Any) -> dict[str, Any]:
    """Export, verify (and register) as configured; return the report written to the artifact."""
    check_config(cfg)
    src = resolve_source(cfg)
    chosen = dict(src.chosen_on)
    chosen["scenario"] = _scenario_dict(chosen.get("scenario"))
    if is_segment_source(src):
        segment_scenario(src, chosen)  # refused before the MLflow run starts
    if is_recurrent_source(src):
        check_recurrent(cfg)
    if padded.is_segment_residual_source(src):
        padded.check_segment_residual(cfg, src)
    name = cfg.name or src.name
    tags = {
        "run_type": "export",
        "policy_kind": str(src.info.get("winner_kind") or src.info.get("algo") or "pacer"),
        "scenario": str((chosen.get("scenario") or {}).get("name", "unknown")),
        "source_run_id": str(src.info.get("run_id") or ""),
        "out_dir": str(Path(cfg.out_dir).resolve()),
    }
    from pacegym.agents.export.publish import building, publish

    steps = ["write", "verify"] + (["register"] if cfg.register.enabled else [])
    out = Path(cfg.out_dir).expanduser()
    with (
        tracking.start_run(cfg, f"export {name}", tags) as run,
        progress.stages(steps, "export") as stage,
        building(out) as build,  # written and checked here; published only if it passes
    ):
        report = _export_and_verify(_building_cfg(cfg, build), src, chosen, name, stage)
        report["artifact"] = str(out.resolve())
        fails = check_report(report)
        report["checks"] = {"passed": not fails, "failures": fails}
        if cfg.register.enabled and not fails:
            stage.next("register")
            report["registered"] = _register(cfg, build, name, chosen, src.info)
        Path(build, "verification.json").write_text(
            json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8"
        )
        if run is not None:
            log_report(report, chosen, build, "rejected_pacer" if fails else "pacer")
        if fails:
            log.info("%s", json.dumps(report, indent=2, default=str))
            raise ExportChecksFailed(out, fails)
        publish(build, out, bool(cfg.overwrite))
    return report


def _building_cfg(cfg: Any, build: Path) -> Any:
    """``cfg`` writing its artifact to the private folder ``build`` (new: no overwrite)."""
    copy = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    copy.out_dir, copy.overwrite = str(build), False
    return copy


def _export_and_verify(
    cfg: Any, src: Any, chosen: dict[str, Any], name: str, stage: Any
) -> dict[str, Any]:
    """Write the artifact for ``src`` and run the checks; returns the report."""
    from pacegym.agents.export import runtime
    from pacegym.agents.export.artifact import Safety, copy_artifact
    from pacegym.agents.export.exporter import export_controller, export_residual, export_sb3
    from pacegym.agents.export.verify import action_parity, metric_parity, record_observations
    from pacegym.agents.policy import one_inference_thread

    one_inference_thread()  # small-batch SB3 inference in the checks
    stage.next("write")
    if is_segment_source(src):  # (n, S) throttles: experiments.export_segments
        return export_segments(cfg, src, chosen, name, stage)
    if is_recurrent_source(src):  # state in, state out: experiments.export_recurrent
        return export_lstm(cfg, src, chosen, name, stage)
    if padded.is_segment_residual_source(src):  # (n, S <= M) throttles
        return padded.export_segment_residual(cfg, src, chosen, name, stage)
    safety = Safety(float(cfg.safety.fallback_throttle), bool(cfg.safety.budget_guard))
    out = Path(cfg.out_dir)
    common = {"name": name, "chosen_on": chosen, "source": src.info, "safety": safety}
    if src.pacer_dir is not None:
        copy_artifact(src.pacer_dir, out, overwrite=cfg.overwrite)
    elif src.controller is not None:
        export_controller(src.controller, out, overwrite=cfg.overwrite, **common)
    elif src.residual is not None:
        res = src.residual
        export_residual(
            src.model,
            res["base"],
            res["scale_decades"],
            out,
            normalization=src.normalization,
            overwrite=cfg.overwrite,
            inputs=src.inputs,
            **common,
        )
    else:
        export_sb3(
            src.model,
            out,
            normalization=src.normalization,
            onnx=cfg.onnx,
            overwrite=cfg.overwrite,
            inputs=src.inputs,
            **common,
        )
    # verification runs the policy as served: the manifest's guard setting included
    stage.next("verify")
    pacer = runtime.load(out)
    report: dict[str, Any] = {"artifact": str(out.resolve()), "name": name, "source": src.info}
    scenario = chosen.get("scenario") or "live_commerce"
    if src.model is not None:
        from pacegym.agents.policy import SB3Controller

        residual = None if src.residual is None else {"enabled": True, **src.residual}
        ref = SB3Controller(src.model, src.normalization, residual, features=src.inputs or ())
        obs = record_observations(
            ref, scenario, int(cfg.verify.record_episodes), int(chosen.get("seed") or 0)
        )
        ref.reset(len(obs))
        pacer.reset(len(obs))
        err = action_parity(pacer, ref, obs)
        report["action_parity"] = {
            "rows": len(obs),
            "max_abs_error": err,
            "tolerance": cfg.verify.action_tolerance,
        }
    if cfg.verify.metrics:
        report["metric_parity"] = metric_parity(runtime.load(out), chosen)
        report["metric_tolerance"] = float(cfg.verify.metric_tolerance)
        # the guard stops serving where the ranked policy did not: its metrics differ by design
        report["metric_parity"]["enforced"] = not cfg.safety.budget_guard
    return report


def _register(
    cfg: Any, out: Path, name: str, chosen: dict[str, Any], info: dict[str, Any]
) -> dict[str, str]:
    """Register the artifact as ``cfg.register.name`` (inside the export run when tracked)."""
    from pacegym.agents.export.registry import register_pacer

    if not tracking.tracking_enabled(cfg):
        tracking.use_experiment(cfg)  # registering needs a store even when runs are off
    metrics = chosen.get("metrics") or {}
    scenario = (chosen.get("scenario") or {}).get("name", "unknown")
    score = metrics.get(SCORE_KEY)
    description = (
        f"pacegym pacer {name!r}: numpy-only pacing function exported by pacegym-export "
        f"from {info.get('winner_kind') or info.get('algo') or 'a model'} "
        f"(source run {info.get('run_id') or 'none'}); chosen on scenario {scenario!r}"
        + (f" with {SCORE_KEY} {score:.4f}" if isinstance(score, float) else "")
        + f" over {chosen.get('episodes')} episodes from seed {chosen.get('seed')}. "
        "Load with mlflow.pyfunc.load_model(...).predict(df) or the artifact's pacer.load()."
    )
    tags = {
        "source_run_id": str(info.get("run_id") or ""),
        "scenario": str(scenario),
        "policy_name": str(name),
        "policy_kind": str(info.get("winner_kind") or info.get("algo") or ""),
        **{f"metric.{k}": f"{v:.6g}" for k, v in metrics.items() if isinstance(v, float)},
    }
    model_uri, version = register_pacer(out, cfg.register.name, tags=tags, description=description)
    return {"model_uri": model_uri, "version": version}


@hydra_app("export")
def main(cfg: DictConfig) -> None:
    report = exit_on_failed_checks("pacegym-export", run_export, cfg)
    log.info("%s", json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
