"""One trial of a Ray sweep: a ``pacegym-train`` run that reports every evaluation to Tune.

The trial composes the train config with its typed parameters (``sweep_space.override``)
and runs ``experiments.train.train`` in its Ray trial folder (``folder``, in the sweep's
``--out``: a shared filesystem on a cluster, as Ray's storage path), under the sweep's MLflow
parent run (its own child run, with every learning curve). After each held-out
evaluation (``agents.callbacks.EvalFn``) it calls ``tune.report`` with ``SCORE_KEY``,
``env_steps`` and the MLflow run id, and, when a new training checkpoint was written,
a Ray ``Checkpoint`` of it (``checkpoints/<step>/``, ``LATEST`` and the run's
``train_config.yaml``: a folder ``train.resume`` accepts). A scheduler (ASHA) may stop the
trial at any report; a restored sweep (``Tuner.restore``) starts an unfinished trial again
from its last reported checkpoint (``tune.get_checkpoint``), as ``train.resume``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments.sweep_space import override, short

RUN_ID_KEY = "mlflow_run_id"
"""Reported with every result: the trial's MLflow child run."""
STEPS_KEY = "env_steps"
"""Reported with every result: env-steps trained so far (ASHA's time attribute)."""


def trial_name(params: Mapping[str, Any]) -> str:
    """``learning_rate=0.0001 scale_decades=0.5``: a trial's parameters, last key segment each."""
    return " ".join(f"{k.split('.')[-1]}={short(v)}" for k, v in params.items())


def folder(trial_id: str, params: Mapping[str, Any]) -> str:
    """A trial's folder in the sweep's: its Ray id and parameters."""
    name = trial_name(params).replace(" ", "_").replace("/", "_")
    return f"{trial_id}_{name}"[:120]


def dirname(trial: Any) -> str:
    """Ray's ``trial_dirname_creator``: ``folder`` (Ray's files and the train run's share it)."""
    return folder(trial.trial_id, trial.config.get("params", {}))


class TrialStopped(KeyboardInterrupt):
    """Ray stopped the trial at a report (its scheduler, or the sweep was interrupted): the
    train run ends ``KILLED``, as after Ctrl-C; the driver tags the scheduler's
    (``sweep_runs.settle``)."""


class Reporter:
    """``EvalFn`` of a trial: ``tune.report`` each evaluation, with a checkpoint when a new
    one was written. The final evaluation is held back until ``train`` has returned
    (``flush``): a scheduler that stops the trial there cannot cut its run short."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.reported: str | None = None  # the last checkpoint handed to Ray
        self.pending: tuple[dict[str, Any], int] | None = None  # the final evaluation

    def __call__(
        self, means: Mapping[str, float], step: int, meta: Mapping[str, Any], final: bool
    ) -> None:
        metrics: dict[str, Any] = {
            SCORE_KEY: float(means[SCORE_KEY]),
            STEPS_KEY: int(step),
            RUN_ID_KEY: str(meta.get("mlflow_run_id") or ""),
        }
        if final:
            self.pending = (metrics, step)
            return
        try:
            self._report(metrics)
        except SystemExit:  # Ray's way of ending a trial it stopped (in this thread)
            raise TrialStopped(f"stopped by Ray at {step:,} env-steps") from None

    def flush(self) -> None:
        """Report the final evaluation (after ``train`` returned)."""
        if self.pending is not None:
            metrics, _ = self.pending
            self.pending = None
            self._report(metrics)

    def _report(self, metrics: dict[str, Any]) -> None:
        from ray import tune

        from pacegym.agents.checkpoint import latest_checkpoint

        try:
            ckpt = latest_checkpoint(self.run_dir)
        except FileNotFoundError:
            ckpt = None
        if ckpt is None or ckpt.name == self.reported:
            tune.report(metrics)
            return
        stage = Path(tempfile.mkdtemp(prefix="pacegym-ckpt-"))
        try:
            shutil.copytree(ckpt, stage / "checkpoints" / ckpt.name)
            (stage / "checkpoints" / "LATEST").write_text(ckpt.name)
            config = self.run_dir / "train_config.yaml"
            if config.is_file():
                shutil.copy2(config, stage / config.name)
            self.reported = ckpt.name
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(stage)))
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def trial(config: dict[str, Any], setup: Mapping[str, Any]) -> None:
    """One Ray Tune trial: ``config["params"]`` (typed, one value per swept key) on top of
    ``setup`` (``experiment``, ``base_overrides``, ``conf_dir``, ``out``: the sweep's, passed with
    ``tune.with_parameters``); module docstring."""
    from hydra import compose, initialize_config_dir
    from ray import tune

    from pacegym.experiments.train import train

    ctx = tune.get_context()
    run_dir = Path(setup["out"]) / folder(ctx.get_trial_id(), config["params"])
    overrides = [
        *setup["base_overrides"],
        *(override(k, v) for k, v in config["params"].items()),
        f"tracking.run_name='{setup['experiment']} {trial_name(config['params'])}'",
    ]
    reporter = Reporter(run_dir)
    restored = tune.get_checkpoint()
    try:
        if restored is None:
            with initialize_config_dir(config_dir=setup["conf_dir"], version_base="1.3"):
                cfg = compose("train", overrides)
            train(cfg, run_dir, on_eval=reporter)
        else:
            with restored.as_directory() as ckpt:
                with initialize_config_dir(config_dir=setup["conf_dir"], version_base="1.3"):
                    cfg = compose("train", [*overrides, override("train.resume", str(ckpt))])
                train(cfg, run_dir, on_eval=reporter)
    except TrialStopped:
        sys.exit(0)  # what Ray's report raised: the trial thread ends as Ray expects
    reporter.flush()
