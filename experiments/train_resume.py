"""What a ``pacegym-train`` resume continues: the run's own settings and its MLflow run.

A resume (``train.resume=<run dir or checkpoint>``) continues with the agent, the scenario
and the state-shaping train settings (``RUN_STATE_KEYS``) the run was started with (its
``CONFIG_FILE``); naming different ones on the command line is refused
(``resumed_config``, ``resumed_train``). ``resume_run`` picks the MLflow run it logs into.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pacegym.agents.checkpoint import latest_checkpoint, read_state
from pacegym.agents.settings import AgentConfigError, TrainSettings
from pacegym.envs.scenarios import resolve
from pacegym.experiments import tracking
from pacegym.experiments.scenario_schema import without_missing

CONFIG_FILE = "train_config.yaml"
"""In a train run dir: the scenario, agent and train settings the run started with."""

SESSION_TAG = "pacegym.session"
"""MLflow tag of a train run: the session (one ``train`` call) writing to it now. Its
checkpoints record it too, so a second resume from a checkpoint older than another resume
of the same run is told apart (``resume_run``)."""


def resume_run(cfg: DictConfig, train: TrainSettings) -> tuple[str | None, dict[str, str]]:
    """The MLflow run a resume logs into, and the tags of a new one.

    An interrupted run is reopened: ``(its id, {})``. A run that finished (or is not in this
    store) is never reopened: ``(None, {"resumed_from_run_id": id})`` starts a new run. A
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
    return str(old), {}


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
"""``train`` settings that shape a run's state: a resume keeps the run's own; the others
(budget, evaluation and checkpoint frequency, selection, progress bar) may change."""


def resumed_train(train: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
    """``train`` with the run's ``RUN_STATE_KEYS`` (a differing one named on the command line
    is refused)."""
    out = dict(train)
    for key in RUN_STATE_KEYS:
        if key not in saved or saved[key] == train.get(key):
            continue
        if _named_on_command_line(f"train.{key}"):
            raise AgentConfigError(
                f"train.resume = {train['resume']!r}: train.{key} = {train.get(key)!r} differs "
                f"from the run's {saved[key]!r}: a resume keeps it; drop the override"
            )
        out[key] = saved[key]
    return out
