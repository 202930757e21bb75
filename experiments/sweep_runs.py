"""Parent runs of sweeps: one MLflow run that the jobs of a Hydra multirun or the trials of
a Ray sweep nest under, in the store the user configured.

The jobs run in other processes (joblib, Ray), so the parent is created by id with
``MlflowClient`` rather than made active: ``open_parent`` creates it RUNNING, the jobs
nest under it by id (``tracking.parent_run_id``, or ``<sweep dir>/.mlflow_parent_run.json``
found by ``tracking.multirun_parent``), and ``finish_parent`` ends it FINISHED when every
child finished (else FAILED) with the best child's score.
"""

from __future__ import annotations

import atexit
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments.tracking import (
    PARENT_FILE,
    default_tags,
    tracking_enabled,
    tracking_uri,
    use_experiment,
)

SUMMARY_METRIC = SCORE_KEY
"""The metric a sweep's parent run reports the best child of (higher is better)."""
STOPPED_TAG = "stopped_early"
"""Tag (``true``) of a child run a Ray scheduler stopped (ASHA): ``KILLED``, yet not a failure."""


def open_parent(cfg: Any, name: str, tags: Mapping[str, str] | None = None) -> str:
    """Create a RUNNING parent run for jobs of other processes (a sweep); returns its id.

    Not made active here: jobs nest under it by id (``tracking.parent_run_id`` or the
    multirun marker file) and ``finish_parent`` ends it.
    """
    import mlflow

    exp = use_experiment(cfg)
    client = mlflow.MlflowClient(tracking_uri(cfg))
    run = client.create_run(
        exp.experiment_id,
        run_name=name,
        tags={**default_tags(cfg, policy_kind="sweep"), "run_type": "sweep", **dict(tags or {})},
    )
    return str(run.info.run_id)


def reopen_parent(cfg: Any, parent_id: str) -> None:
    """Set an ended parent run RUNNING again (a resumed sweep's children join it)."""
    import mlflow

    mlflow.MlflowClient(tracking_uri(cfg)).update_run(parent_id, status="RUNNING")


def interrupt_parent(cfg: Any, parent_id: str) -> None:
    """End an interrupted sweep's parent run ``KILLED`` (``reopen_parent`` resumes it)."""
    import mlflow

    mlflow.MlflowClient(tracking_uri(cfg)).set_terminated(parent_id, "KILLED")


def children_of(client: Any, parent_id: str) -> list[Any]:
    """Every child run of ``parent_id`` (in its experiment)."""
    exp_id = client.get_run(parent_id).info.experiment_id
    return client.search_runs(
        [exp_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'", max_results=50_000
    )


def settle(cfg: Any, parent_id: str, trials: Mapping[str, str]) -> None:
    """Settle the child runs of a Ray sweep after its fit (``trials``: run id -> ``DONE``,
    ``ERROR`` or ``INTERRUPTED``, how Ray left the trial).

    A trial Ray ended at a report (its scheduler, or Ctrl-C) ended its run ``KILLED``; one
    whose process went first left it ``RUNNING``: ``KILLED`` now (``FAILED`` for a trial in
    error). The run of a trial Ray counts as done that did not finish was stopped by the
    scheduler: tagged ``STOPPED_TAG``. An interrupted trial's run stays resumable (not
    FINISHED)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri(cfg))
    for child in children_of(client, parent_id):
        run_id = child.info.run_id
        if child.info.status == "FINISHED":
            continue
        status = trials.get(run_id)
        if status == "DONE":
            client.set_tag(run_id, STOPPED_TAG, "true")
        if child.info.status == "RUNNING":
            client.set_terminated(run_id, "FAILED" if status == "ERROR" else "KILLED")


def finish_parent(cfg: Any, parent_id: str) -> dict[str, Any]:
    """End a parent run: FINISHED when every child finished (or a scheduler stopped it,
    ``STOPPED_TAG``), else FAILED; log how many children, and the best finished child's
    ``SUMMARY_METRIC`` (metric ``best_<SCORE_KEY>``, tag ``best_run_id``). Returns those
    figures."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri(cfg))
    children = children_of(client, parent_id)
    ok = [c for c in children if c.info.status == "FINISHED"]
    stopped = [
        c for c in children if c.info.status == "KILLED" and c.data.tags.get(STOPPED_TAG) == "true"
    ]
    scored = [c for c in ok if SUMMARY_METRIC in c.data.metrics]
    summary: dict[str, Any] = {
        "children": len(children),
        "finished": len(ok),
        "stopped_early": len(stopped),
    }
    client.log_metric(parent_id, "children", len(children))
    if scored:
        best = max(scored, key=lambda c: c.data.metrics[SUMMARY_METRIC])
        summary["best_run_id"] = best.info.run_id
        summary[f"best_{SUMMARY_METRIC}"] = best.data.metrics[SUMMARY_METRIC]
        client.log_metric(parent_id, f"best_{SUMMARY_METRIC}", summary[f"best_{SUMMARY_METRIC}"])
        client.set_tag(parent_id, "best_run_id", best.info.run_id)
        client.set_tag(parent_id, "best_run_name", best.info.run_name)
    status = "FINISHED" if children and len(ok) + len(stopped) == len(children) else "FAILED"
    client.set_terminated(parent_id, status)
    summary["status"] = status
    return summary


def sweep_keys(overrides: list[str], sweeper_params: Mapping[str, Any]) -> list[str]:
    """The keys a multirun varies: command-line sweeps (``a=1,2``, ``range(...)``,
    ``choice(...)``, ``glob(...)``) and the sweeper's ``params`` (experiment files)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    keys = [o.key_or_group for o in parser.parse_overrides(overrides) if o.is_sweep_override()]
    return sorted({*keys, *(str(k) for k in sweeper_params)})


class MlflowStoreCallback(Callback):
    """Hydra callback: check/create the store once and open the parent run of a multirun.

    ``on_multirun_start`` runs once in the launching process: it creates the store and the
    experiment (no race between parallel jobs), opens the sweep's parent run and writes its
    id and experiment id to ``<sweep dir>/.mlflow_parent_run.json``, where every job finds
    them (``multirun_parent``, ``use_experiment``);
    ``on_multirun_end`` ends it (``finish_parent``).
    """

    def on_multirun_start(self, config: Any, **_: Any) -> None:
        if not tracking_enabled(config):
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        overrides = [str(o) for o in config.hydra.overrides.task]
        keys = sweep_keys(overrides, config.hydra.sweeper.get("params") or {})
        parent = open_parent(
            config,
            f"{config.hydra.job.name} sweep {sweep_dir.name}",
            {"sweep_dir": str(sweep_dir.resolve()), "overrides": " ".join(overrides)[:5000]},
        )
        # the jobs file their runs in the parent's experiment by id: created once, here,
        # before any job starts (parallel jobs never look it up or create it by name)
        import mlflow

        exp_id = mlflow.MlflowClient(tracking_uri(config)).get_run(parent).info.experiment_id
        marker = {"run_id": parent, "experiment_id": exp_id, "sweep_keys": keys}
        (sweep_dir / PARENT_FILE).write_text(json.dumps(marker))
        # a job that stops the multirun (a user error, exit 2) skips on_multirun_end: settle
        # the parent on the way out instead, never leave it RUNNING
        _OPEN_PARENTS[parent] = tracking_uri(config)
        atexit.register(settle_abandoned, parent)

    def on_multirun_end(self, config: Any, **_: Any) -> None:
        marker = Path(str(config.hydra.sweep.dir)) / PARENT_FILE
        if tracking_enabled(config) and marker.is_file():
            run_id = json.loads(marker.read_text())["run_id"]
            _OPEN_PARENTS.pop(run_id, None)
            finish_parent(config, run_id)


_OPEN_PARENTS: dict[str, str] = {}
"""Parent runs opened by ``on_multirun_start`` and not ended yet -> their tracking URI."""


def settle_abandoned(parent_id: str) -> None:
    """End a multirun's parent run that ``on_multirun_end`` never reached: deleted when no
    job finished (the sweep did nothing: absent, like its run folder), else FAILED."""
    uri = _OPEN_PARENTS.pop(parent_id, None)
    if uri is None:
        return
    import mlflow

    client = mlflow.MlflowClient(uri)
    run = client.get_run(parent_id)
    if run.info.status != "RUNNING":
        return
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    client.set_terminated(parent_id, "FAILED")
    if not any(c.info.status == "FINISHED" for c in children):
        client.delete_run(parent_id)
