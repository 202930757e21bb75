"""One way for every console command to find its configs: the package ``pacegym.conf``.

``hydra.main`` gets ``config_path="pkg://pacegym.conf"``, so the configs are read through
the installed package (importlib.resources) from any working directory, in a wheel as in
an editable install; never through the source tree. A user's own configs join the search
path without editing the package: ``--config-dir DIR`` (Hydra's flag; ``DIR`` holds
``scenario/``, ``controller/`` ... folders, searched before the package's), and
``./conf`` of the working directory is searched too, after the package (where
``pacegym-calibrate`` and ``pacegym-tune`` write by default).

Run folders follow ``pacegym.outdir`` (``run_folder.RunFolderCallback`` claims them before
Hydra writes there). Errors (``pacegym.errors``): a user error (bad override, unknown key,
missing config group option, a setting out of range) ends the app with one line on stderr
and exit code 2, and leaves no run folder behind: the claimed folder is abandoned (an
earlier run it was replacing is put back); without a claim, the folder Hydra made is
removed when it held nothing but Hydra's own files when the job started. Hydra's own error printing (a stripped traceback, exit 1) is
bypassed: Hydra is run with ``HYDRA_FULL_ERROR=1`` so that its errors reach
``pacegym.errors.report``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from pacegym import errors, outdir
from pacegym.envs.scenarios import anchor_trace
from pacegym.experiments import app_args, run_folder
from pacegym.experiments.override_checks import refuse_deletions, refuse_unknown_additions
from pacegym.experiments.scenario_schema import without_missing
from pacegym.resources import find_config

CONFIG_PATH = "pkg://pacegym.conf"
"""Hydra's primary config source for every app."""
USER_CONFIG_PATH = "file://conf"
"""A user's own configs (``./conf`` of the working directory), searched after the package."""


class _UserConfigs(SearchPathPlugin):
    """Adds ``USER_CONFIG_PATH`` to every app's search path, after ``CONFIG_PATH``.

    A plugin rather than a ``hydra.searchpath`` entry: Hydra reads that key only from the
    primary config, so it would be written again in every app's YAML. A missing ``./conf``
    (the normal case) is passed over silently.
    """

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append("pacegym", USER_CONFIG_PATH)


Plugins.instance().register(_UserConfigs)


def hydra_app(config_name: str) -> Callable[[Callable[..., Any]], Callable[[], Any]]:
    """``hydra.main`` on ``pacegym.conf/<config_name>.yaml`` (version_base 1.3), with the
    console error contract of ``pacegym.errors`` (module docstring)."""

    prog = f"pacegym-{config_name}"

    def decorate(task: Callable[..., Any]) -> Callable[[], Any]:
        hydra_main = hydra.main(
            version_base="1.3", config_path=CONFIG_PATH, config_name=config_name
        )(_clean_on_user_error(task, prog))

        @functools.wraps(task)
        def main() -> Any:
            with (
                errors.reported(prog),
                _env("HYDRA_FULL_ERROR", "1"),
                app_args.rewritten(config_name),
            ):
                return hydra_main()

        return main

    return decorate


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` for the body, restored after."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _clean_on_user_error(task: Callable[..., Any], prog: str) -> Callable[..., Any]:
    """``task`` that, on a user error, removes the run folder Hydra made for it (when it held
    only Hydra's files at the start) before ending the command (``errors.report``, exit 2).
    A run folder claimed by ``run_folder.RunFolderCallback`` is finished when the task
    returns and abandoned on a user error (an earlier run it replaces is put back).

    ``errors.NothingToDo`` (the work is already done) leaves nothing behind the same way
    and ends the command with its one line and exit code 0.

    A multirun on Hydra's basic launcher (jobs one after the other in this process) stops
    at the first user error the same way; with a launcher of other processes (joblib) the
    error is re-raised for the launcher to collect (a ``SystemExit`` would end its worker).
    """

    @functools.wraps(task)  # Hydra names the job (and its log file) after the task's module
    def wrapped(cfg: DictConfig) -> Any:
        hc = HydraConfig.get()
        out = Path(hc.runtime.output_dir)
        claim = run_folder.take(out) if hc.mode == RunMode.RUN else None
        fresh = _holds_only_hydra_files(out, hc)
        try:
            refuse_unknown_additions(cfg, list(hc.overrides.task), set(hc.runtime.choices))
            refuse_deletions(cfg, list(hc.overrides.task), prog)
            name_scenario(cfg)
            result = task(cfg)
        except Exception as exc:
            done = isinstance(exc, errors.NothingToDo)
            if not done and errors.user_message(exc) is None:
                raise
            if claim is not None and _keeps_checkpoints(exc, out):
                pass  # a full disk mid-training: the run stays unfinished, resumable
            elif claim is not None:
                _close_log_files(out.resolve())
                outdir.abandon(claim)
            elif fresh:
                _remove_run_dir(out)
                if hc.mode == RunMode.MULTIRUN:
                    _remove_sweep_dir(Path(str(hc.sweep.dir)))
            if hc.mode == RunMode.MULTIRUN and not _in_process(hc):
                raise
            if done:
                raise SystemExit(errors.nothing_to_do(prog, exc)) from None  # type: ignore[arg-type]
            raise SystemExit(errors.report(prog, exc)) from None
        if claim is not None:
            outdir.finish(claim)
        return result

    return wrapped


def _keeps_checkpoints(exc: BaseException, out: Path) -> bool:
    """True for a full or read-only disk (``errors.disk_error``) that stopped a job whose
    folder holds training checkpoints: hours of training are not removed with it."""
    return errors.disk_error(exc) is not None and (out / "checkpoints").is_dir()


def _in_process(hc: Any) -> bool:
    """True for Hydra's basic launcher, which runs a multirun's jobs in this process."""
    return str(hc.launcher.get("_target_", "")).endswith(".BasicLauncher")


def _hydra_files(hc: Any) -> set[str]:
    """What Hydra writes into a job's folder before the job runs (relative paths)."""
    files = {f"{hc.job.name}.log", outdir.MARKER}
    if hc.output_subdir is not None:
        sub = str(hc.output_subdir)
        files |= {sub, *(f"{sub}/{f}" for f in ("config.yaml", "hydra.yaml", "overrides.yaml"))}
    return files


def _holds_only_hydra_files(out: Path, hc: Any) -> bool:
    """True when the job folder holds nothing that Hydra did not write for this job."""
    if not out.is_dir():
        return False
    found = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    return found <= _hydra_files(hc)


def _remove_run_dir(out: Path) -> None:
    """Remove a failed job's folder and the parents left empty, never the working directory
    or a folder above it, and parents only inside the working directory."""
    cwd = Path.cwd().resolve()
    out = out.resolve()
    if out == cwd or out in cwd.parents:
        return
    _close_log_files(out)
    shutil.rmtree(out, ignore_errors=True)
    parent = out.parent
    while parent != cwd and cwd in parent.parents:
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break
        parent = parent.parent


def _remove_sweep_dir(sweep: Path) -> None:
    """Remove a multirun's folder when its first job failed: nothing in it but Hydra's
    ``multirun.yaml`` and the parent-run marker (a sweep with finished jobs is kept). The
    sweep's parent MLflow run is settled first (``sweep_runs.settle_abandoned``: deleted
    when no job finished)."""
    import json

    from pacegym.experiments.tracking import PARENT_FILE

    marker = sweep / PARENT_FILE
    if marker.is_file():
        from pacegym.experiments.sweep_runs import settle_abandoned

        settle_abandoned(str(json.loads(marker.read_text())["run_id"]))
    hydra_files = {"multirun.yaml", PARENT_FILE, outdir.MARKER}
    if sweep.is_dir() and {p.name for p in sweep.iterdir()} <= hydra_files:
        claim = run_folder.take(sweep)
        _remove_run_dir(sweep)
        if claim is not None:
            outdir.abandon(claim)


def _close_log_files(folder: Path) -> None:
    """Close and detach the log file handlers writing into ``folder`` (Hydra's ``<job>.log``)
    before it goes: a later message must not reopen a file there."""
    import logging

    for logger in (logging.getLogger(), *logging.Logger.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue
        for handler in list(logger.handlers):
            if isinstance(handler, logging.FileHandler) and (
                folder in Path(handler.baseFilename).resolve().parents
            ):
                handler.close()
                logger.removeHandler(handler)


def app_run_dir(app: str, given: str | Path | None = None) -> Path:
    """Where an app writes: ``given`` when a caller names it, else the Hydra job's output
    dir, else (called without Hydra: tests, notebooks) ``outputs/<app>``."""
    if given is not None:
        return Path(given)
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path("outputs") / app


def scenario_file(cfg: DictConfig) -> Path | None:
    """The YAML file the composed ``cfg.scenario`` came from, when it can be told.

    Inside a Hydra app: the ``scenario`` group choice looked up in the run's config
    sources, in search-path order. Otherwise (``hydra.compose`` in tests and notebooks):
    the scenario's ``name`` looked up by ``pacegym.resources.find_config``.
    """
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        choice = hc.runtime.choices.get("scenario")
        if not choice:
            return None
        for src in hc.runtime.config_sources:
            if src.schema == "file":
                root = Path(src.path)
            elif src.schema == "pkg":
                try:
                    root = Path(str(importlib.resources.files(src.path)))
                except ModuleNotFoundError:
                    continue
            else:
                continue
            path = root / "scenario" / f"{choice}.yaml"
            if path.is_file():
                return path.resolve()  # a linked file (experiments.app_args): the real one
        return None
    name = cfg.get("scenario", {}).get("name")
    return find_config("scenario", str(name)) if name else None


def name_scenario(cfg: DictConfig) -> None:
    """Give ``cfg.scenario`` the stem of its file as ``name`` when the file sets none (a
    custom scenario is labelled by its own name everywhere, never its ``base:``'s)."""
    node = cfg.get("scenario") if "scenario" in cfg else None
    if not isinstance(node, DictConfig) or "name" not in OmegaConf.to_container(node):
        return  # not a scenario app, or a schema without a name (a test's)
    if not OmegaConf.is_missing(node, "name"):
        return
    origin = scenario_file(cfg)
    if origin is not None:
        node.name = origin.stem


def config_dirs() -> tuple[Path, ...]:
    """The folders of the running app's config search path (``--config-dir``, ``./conf``,
    linked files), in order, for lookups outside Hydra (``pacegym.resources``); the package
    is searched after them anyway. Empty outside a Hydra app."""
    if not HydraConfig.initialized():
        return ()
    sources = HydraConfig.get().runtime.config_sources
    return tuple(Path(s.path) for s in sources if s.schema == "file")


def group_choice(cfg: DictConfig, group: str) -> str | None:
    """The option of config group ``group`` the app composed (``controller=pid_tuned`` ->
    ``pid_tuned``): Hydra's runtime choices, or ``cfg.hydra``'s (``compose`` with
    ``return_hydra_config=True``); None when unknown or deleted."""
    if HydraConfig.initialized():
        choices: Any = HydraConfig.get().runtime.choices
    else:
        choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None) or {}
    value = choices.get(group)
    return None if value in (None, "null") else str(value)


def scenario_dict(cfg: DictConfig) -> dict[str, Any]:
    """``cfg.scenario`` as a plain dict, a relative ``traffic.trace_csv`` made absolute
    against the scenario file's folder (a trace path in a scenario file is relative to
    that file, wherever the command runs); the keys nothing set (``???``) left out."""
    data = without_missing(OmegaConf.to_container(cfg.scenario, resolve=True))
    if not isinstance(data, dict):
        raise ValueError(f"scenario = {data!r}: must be a mapping of scenario sections")
    origin = scenario_file(cfg)
    return anchor_trace(data, origin.parent) if origin is not None else data  # type: ignore[arg-type]
