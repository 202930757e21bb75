"""What a ``pacegym-train`` resume continues: the run's own settings and its MLflow run.

A resume (``train.resume=<run dir or checkpoint>``) continues with the agent, the scenario
and every train setting the run was started with (its ``CONFIG_FILE``): its budget
(``train.total_timesteps``), evaluation and checkpoint settings too, unless the command line
names another value (``resumed_train``); naming another agent, scenario or state-shaping
setting (``RUN_STATE_KEYS``) is refused (``resumed_config``, ``resumed_train``). A run that
already reached its budget and saved its model is not trained on: ``finished_run`` ends
the command with one line and exit code 0 (``pacegym.errors.NothingToDo``).
``resume_run`` picks the MLflow run it logs into.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pacegym.agents.checkpoint import latest_checkpoint, read_state
from pacegym.agents.settings import AgentConfigError, TrainSettings
from pacegym.envs.scenarios import resolve
from pacegym.errors import NothingToDo
from pacegym.experiments import tracking
from pacegym.experiments.scenario_schema import without_missing

CONFIG_FILE = "train_config.yaml"
"""In a train run dir: the scenario, agent and train settings the run started with."""

SESSION_TAG = "pacegym.session"
"""MLflow tag of a train run: the session (one ``train`` call) writing to it now. Its
checkpoints record it too, so a second resume from a checkpoint older than another resume
of the same run is told apart (``resume_run``)."""


def resume_run(cfg: DictConfig, train: TrainSettings) -> tuple[str | None, dict[str, str]]:
    """The MLflow run a resume logs into, and the tags to set on it.

    An interrupted run is reopened: ``(its id, {"mlflow.runName": "<its name> (resumed)"})``. A run that finished (or is not in this store) is never reopened:
    ``(None, {"resumed_from_run_id": id})`` starts a new run (``train`` names it ``resume
    <agent>``). A
    resume from a checkpoint that another resume of the same run has continued since
    (another session whose run dir holds checkpoints) is refused naming that run dir: its
    metrics would repeat the steps already logged.
    """
    if not train.resume or not tracking.tracking_enabled(cfg):
        return None, {}
    extra = read_state(latest_checkpoint(train.resume)).get("extra") or {}
    old = extra.get("mlflow_run_id")
    if not old:
        return None, {}
    run = tracking.find_run(cfg, old)
    if run is None or run.info.status == "FINISHED":
        return None, {"resumed_from_run_id": str(old)}
    other = run.data.tags.get(SESSION_TAG)
    other_dir = run.data.tags.get("run_dir")
    mine = extra.get("session")
    if other and mine and other != mine and other_dir and _has_checkpoint(other_dir):
        raise AgentConfigError(
            f"train.resume = {train.resume!r}: MLflow run {old} was resumed since this "
            f"checkpoint, into {other_dir}: resume from there (train.resume={other_dir})"
        )
    name = run.info.run_name or "train"
    renamed = name if name.endswith(RESUMED) else f"{name} {RESUMED}"
    return str(old), {"mlflow.runName": renamed}


RESUMED = "(resumed)"
"""Appended to the name of an interrupted MLflow run a resume reopens."""


def _has_checkpoint(run_dir: str) -> bool:
    try:
        latest_checkpoint(run_dir)
    except FileNotFoundError:
        return False
    return True


def _named_on_command_line(group: str) -> bool:
    """True when the Hydra job's overrides set ``group`` (``agent=sac``, ``agent.x=...``)."""
    if not HydraConfig.initialized():
        return False
    keys = (str(o).split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task)
    return any(k == group or k.startswith(f"{group}.") for k in keys)


def resumed_config(
    resume: str, scenario: dict[str, Any], agent: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The scenario, agent and train settings of the run that ``resume`` continues (its
    ``train_config.yaml``, else its Hydra ``.hydra/config.yaml``). An agent or scenario named
    on the command line that differs from the run's is refused, naming both."""
    try:
        run_dir = latest_checkpoint(resume).parent.parent
    except FileNotFoundError as exc:
        raise AgentConfigError(str(exc)) from None
    for path in (run_dir / CONFIG_FILE, run_dir / ".hydra" / "config.yaml"):
        if path.is_file():
            saved = without_missing(yaml.safe_load(path.read_text()))  # Hydra's: ??? unset
            break
    else:
        raise AgentConfigError(
            f"train.resume = {resume!r}: no {CONFIG_FILE} or .hydra/config.yaml in {run_dir}: "
            "cannot tell which agent and scenario the run trained"
        )
    for group, now in (("agent", agent), ("scenario", scenario)):
        if _named_on_command_line(group) and not _same(group, now, saved[group]):
            raise AgentConfigError(
                f"train.resume = {resume!r}: {group} = {now.get('name')!r} differs from the "
                f"run's {saved[group].get('name')!r}: drop the {group} override to resume"
            )
    return saved["scenario"], saved["agent"], saved.get("train") or {}


def _same(group: str, now: dict[str, Any], saved: dict[str, Any]) -> bool:
    """The same agent settings, or the same scenario however it was written (a run saved
    before the scenario files held only what they change has every key)."""
    if group == "scenario":
        return resolve(now) == resolve(saved)
    return now == saved


RUN_STATE_KEYS = (
    "n_envs",
    "seed",
    "randomize",
    "scenarios",
    "jitter",
    "reward_scale",
    "discount",
    "eval_seed",
    "device",
    "torch_threads",
)
"""``train`` settings that shape a run's state: a resume keeps the run's own and refuses
another one named on the command line."""

_DEFAULTS = {f.name: f for f in dataclasses.fields(TrainSettings)}


def _default(key: str) -> Any:
    """``TrainSettings``' default of ``key`` as a plain value (None: no such key)."""
    f = _DEFAULTS.get(key)
    if f is None:
        return None
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _named(key: str, value: Any) -> bool:
    """True when ``train.<key>`` was given for this job: on the command line, or (where the
    command line cannot be read: ``hydra.compose``) a value other than its default (an
    ``experiment=`` file or an override)."""
    if HydraConfig.initialized():
        return _named_on_command_line(f"train.{key}") or value != _default(key)
    return value != _default(key)


def resumed_train(train: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
    """``train`` with the run's own settings: its ``RUN_STATE_KEYS`` (a differing one named
    on the command line is refused), and every other setting not given for this job (the
    budget, evaluation and checkpoint settings: a resume continues the run as it was
    started, not with the defaults)."""
    out = dict(train)
    for key, was in saved.items():
        if key == "resume" or key not in _DEFAULTS or was == train.get(key):
            continue
        if key in RUN_STATE_KEYS:
            if _named_on_command_line(f"train.{key}"):
                raise AgentConfigError(
                    f"train.resume = {train['resume']!r}: train.{key} = {train.get(key)!r} "
                    f"differs from the run's {was!r}: a resume keeps it; drop the override"
                )
            out[key] = was
        elif not _named(key, train.get(key)):
            out[key] = was
    return out


def finished_run(train: TrainSettings, saved: Mapping[str, Any]) -> None:
    """Raise ``NothingToDo`` when ``train.resume`` continues a run that reached the budget it
    was started with (``saved``: its train settings) and saved its model: a resume without
    a larger ``train.total_timesteps`` has nothing to train. A run that reached its budget
    without saving its model (stopped after its last checkpoint) is refused by
    ``agents.training.check_resume`` (exit 2), which names the budget to give."""
    if not train.resume or train.total_timesteps != saved.get("total_timesteps"):
        return
    ckpt = latest_checkpoint(train.resume)
    done = int(read_state(ckpt).get("num_timesteps", 0))
    model = Path(ckpt).parent.parent / "model"
    if done >= train.total_timesteps and (model / "agent.json").is_file():
        raise NothingToDo(
            f"train.resume = {train.resume!r}: the run finished ({done:,} env-steps of its "
            f"train.total_timesteps = {train.total_timesteps:,}; model in {model}): nothing "
            "to train; name a larger train.total_timesteps to train on"
        )


LOCK_FILE = ".train.lock"
"""In a train run dir: locked (``fcntl.flock``) by the process training into it, or resuming
from it, for as long as it runs; the lock goes with the process, even one killed."""


@contextlib.contextmanager
def run_lock(run_dir: Path, key: str) -> Iterator[None]:
    """Hold ``run_dir``'s ``LOCK_FILE`` while inside. A run dir another process holds (a run
    still training, or being resumed) is refused naming ``key``: two processes continuing one
    run would log the same steps twice into one MLflow run. No lock where ``fcntl`` is
    missing (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks
        yield
        return
    with open(run_dir / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AgentConfigError(
                f"{key}: {run_dir} is in use by another pacegym-train process (training it, "
                "or resuming from it): wait for it to end, or stop it first"
            ) from None
        yield


def resumed_dir(train: TrainSettings) -> Path | None:
    """The run dir a resume continues (its latest checkpoint's), else None."""
    return latest_checkpoint(train.resume).parent.parent if train.resume else None
