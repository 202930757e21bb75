"""The ``pacegym-sweep`` command line (``experiments.sweep_ray``) and its range checks."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pacegym import errors
from pacegym.experiments.sweep_space import SEARCHES

EXPERIMENT = "sweep_ppo_live"
"""The experiment file swept when ``--experiment`` is not given."""
CPUS_PER_TRIAL = 1.0
"""[CPUs] Ray resources reserved per trial when ``--cpus-per-trial`` is not given."""
SCHEDULERS = ("fifo", "asha")
"""``--scheduler``: run every trial to its budget, or stop trailing ones (ASHA)."""


def parser(doc: str | None) -> argparse.ArgumentParser:
    ap = errors.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--experiment", default=EXPERIMENT)
    ap.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the sweep's folder (default multirun/ray/<time>, a new one per sweep, as Hydra's)",
    )
    ap.add_argument("--overwrite", action="store_true", help="replace an earlier sweep's --out")
    ap.add_argument("--resume", action="store_true", help="continue the interrupted sweep in --out")
    ap.add_argument("--num-cpus", type=int, default=None, help="local Ray only")
    ap.add_argument("--address", default=None, help="an existing Ray cluster: host:port or auto")
    ap.add_argument("--cpus-per-trial", type=float, default=CPUS_PER_TRIAL)
    ap.add_argument("--search", choices=SEARCHES, default="grid")
    ap.add_argument("--num-samples", type=int, default=1, help="trials (grid: repeats of it)")
    ap.add_argument("--scheduler", choices=SCHEDULERS, default="fifo")
    ap.add_argument(
        "--grace-period",
        type=int,
        default=None,
        help="[env-steps] ASHA's first rung (default train.eval_freq)",
    )
    ap.add_argument("--reduction-factor", type=float, default=2.0, help="ASHA's, > 1")
    ap.add_argument("--seed", type=int, default=0, help="the Optuna sampler's")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides; 'key=a,b' adds an axis")
    return ap


def check_args(ap: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """``ap.error`` (one line, exit 2) naming the option for a value out of range."""
    if a.num_cpus is not None and a.num_cpus < 1:
        ap.error(f"--num-cpus = {a.num_cpus}: allowed an integer >= 1 (or leave it out)")
    if not a.cpus_per_trial > 0:
        ap.error(f"--cpus-per-trial = {a.cpus_per_trial}: allowed > 0")
    if a.num_samples < 1:
        ap.error(f"--num-samples = {a.num_samples}: allowed an integer >= 1")
    if a.grace_period is not None and a.grace_period < 1:
        ap.error(f"--grace-period = {a.grace_period}: allowed an integer >= 1 (env-steps)")
    if not a.reduction_factor > 1:
        ap.error(f"--reduction-factor = {a.reduction_factor}: allowed > 1")
    if a.seed < 0:
        ap.error(f"--seed = {a.seed}: allowed [0, inf)")
    if a.resume and a.out is None:
        ap.error("--out = None: --resume continues the sweep in --out; allowed its folder")
    if a.address is None:  # a local Ray: a trial that needs more CPUs than it has waits forever
        local = a.num_cpus if a.num_cpus is not None else (os.cpu_count() or 1)
        if a.cpus_per_trial > local:
            ap.error(
                f"--cpus-per-trial = {a.cpus_per_trial}: allowed (0, {local}], the CPUs of the "
                f"local Ray ({'--num-cpus' if a.num_cpus is not None else 'this machine'})"
            )
