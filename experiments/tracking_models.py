"""A training run's models as MLflow 3 LoggedModels: every checkpoint and the selected model.

``log_model_dir(folder, name, step, kind, metrics, upload)`` makes one LoggedModel of the
active run (``mlflow.initialize_logged_model``): its files (with ``upload``; a
checkpoint's replay buffer left out, it is data, not the model), the tags ``pacegym.kind``
(``checkpoint`` or ``final``) and ``pacegym.step``, the run's output at ``step`` (the
run page's "Logged models", the experiment's "Models" tab), and ``metrics`` logged at
``step`` with its ``model_id`` (the model's metrics, also the run's). The files are plain
data (an SB3 zip of JSON and torch state dicts, npz arrays, JSON) that pacegym reads
without unpickling anything (``agents.model_io``); the LoggedModel has no flavour, so
``mlflow.<flavour>.load_model`` runs no code of it. A served pacer is the exported
artifact, registered as a models-from-code pyfunc (``agents.export.registry``).

``CheckpointModels(guard, name, upload)`` is the training callback's ``on_checkpoint`` hook:
through the run's ``TrackingGuard``, so a failing store never stops training (the step's
metrics then go to the guard's local buffer).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pacegym.experiments.tracking_guard import TrackingGuard

KIND_TAG = "pacegym.kind"
STEP_TAG = "pacegym.step"
LEFT_OUT = frozenset({"replay_buffer.npz"})
"""Files of a checkpoint that its LoggedModel does not upload (``agents.replay_io``)."""


def log_model_dir(
    folder: str | Path,
    name: str,
    step: int,
    kind: str,
    metrics: Mapping[str, float],
    upload: bool = True,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log ``folder`` as a LoggedModel of the active run (module docstring); its id."""
    import mlflow
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_model_dir needs an active MLflow run")
    model = mlflow.initialize_logged_model(
        name=name,
        source_run_id=run.info.run_id,
        tags={KIND_TAG: kind, STEP_TAG: str(int(step)), **dict(tags or {})},
        model_type=kind,
    )
    try:
        if upload:
            _upload(mlflow.MlflowClient(), model.model_id, Path(folder))
        clean = {k: float(v) for k, v in metrics.items() if v == v}  # NaN is no metric
        if clean:
            mlflow.log_metrics(clean, step=int(step), model_id=model.model_id)
        mlflow.MlflowClient().log_outputs(
            run.info.run_id, [LoggedModelOutput(model.model_id, int(step))]
        )
    except BaseException:
        mlflow.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    mlflow.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return str(model.model_id)


def _upload(client: Any, model_id: str, folder: Path) -> None:
    files = [p for p in folder.iterdir() if p.is_file() and p.name not in LEFT_OUT]
    with tempfile.TemporaryDirectory() as tmp:
        for p in files:  # hard links where the filesystem allows: no copy of the weights
            try:
                (Path(tmp) / p.name).hardlink_to(p)
            except OSError:
                shutil.copy2(p, Path(tmp) / p.name)
        client.log_model_artifacts(model_id, tmp)


class CheckpointModels:
    """``on_checkpoint`` hook: each checkpoint a LoggedModel ``<name>-step-<n>`` with the
    evaluation metrics of its step; ``ids`` maps the steps to the models' ids."""

    def __init__(self, guard: TrackingGuard, name: str, upload: bool) -> None:
        self.guard = guard
        self.name = name
        self.upload = upload
        self.ids: dict[int, str] = {}

    def __call__(self, folder: Path, step: int, metrics: Mapping[str, float]) -> None:
        model_id = None
        if not self.guard.degraded:
            model_id = self.guard.call(
                log_model_dir,
                folder,
                f"{self.name}-step-{step}",
                step,
                "checkpoint",
                metrics,
                self.upload,
            )
        if model_id is None:  # tracking failed (now or before): the metrics go to the buffer
            self.guard.log_metrics(metrics, step)
        else:
            self.ids[step] = model_id
