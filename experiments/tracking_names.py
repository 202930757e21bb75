"""Names and places of pacegym's MLflow runs: a run's readable name, a sweep's parent, the
UI's link to an experiment's runs (see ``experiments.tracking``, which re-exports them).

- ``readable_name(cfg, base, experiment_id)``: ``tracking.run_name``, else ``base`` plus a
  multirun job's swept values, else (a run of its own) plus its start time, unique in
  the experiment.
- ``multirun_parent()``: in a Hydra multirun job, the sweep's parent run (``PARENT_FILE``).
- ``scenario_name(cfg)``: the run's scenario tag and dataset name (a sweep's swept
  scenarios as written); ``scenario_of(app, overrides)`` composes the config first.
- ``runs_url(uri, experiment_id)``: the UI page of the experiment's runs in its "Machine
  learning" view (``RUNS_VIEW``), for a server URI.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pacegym.experiments.tracking_params import plain
from pacegym.experiments.tracking_store import config_value

RUNS_VIEW = "runs?workflowType=machine_learning"
"""The experiment page's runs table in the UI's "Machine learning" view (``runs_url``)."""
PARENT_FILE = ".mlflow_parent_run.json"
"""In a Hydra multirun's sweep dir: ``{"run_id": parent run, "experiment_id": its experiment,
"sweep_keys": [...]}``, the parent its jobs nest under, the experiment they file their runs
in (created once, before the jobs start), and the keys the sweep varies (the jobs' names)."""


def _multirun_marker() -> dict[str, Any]:
    """In a Hydra multirun job: the sweep's ``PARENT_FILE`` (written by
    ``sweep_runs.MlflowStoreCallback``), else ``{}``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return {}
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return {}
    marker = Path(hc.sweep.dir) / PARENT_FILE
    return json.loads(marker.read_text()) if marker.is_file() else {}


def multirun_parent() -> str | None:
    """In a Hydra multirun job: the sweep's parent run id, else None."""
    return _multirun_marker().get("run_id")


def runs_url(uri: str, experiment_id: str) -> str | None:
    """The MLflow UI page of an experiment's runs on server ``uri`` (None for a local store:
    ``mlflow ui --backend-store-uri <uri>`` serves it at ``http://127.0.0.1:5000``)."""
    if not uri.startswith(("http://", "https://")):
        return None
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/{RUNS_VIEW}"


def readable_name(cfg: Any, base: str, experiment_id: str | None = None) -> str:
    """``cfg.tracking.run_name``, else ``base`` plus, in a Hydra multirun, the job's values of
    the keys the sweep varies (``train ppo lr=0.0003 seed=1``): a sweep's runs differ.
    Given ``experiment_id`` (a run of its own), ``base`` plus its start time, made unique
    in that experiment."""
    explicit = config_value(cfg, "tracking.run_name")
    if explicit:
        return str(explicit)
    keys = set(_multirun_marker().get("sweep_keys", []))
    if not keys:
        return base if experiment_id is None else _unique(f"{base} {_stamp()}", experiment_id)
    from hydra.core.hydra_config import HydraConfig

    parts = []
    for override in HydraConfig.get().overrides.task:
        key, _, value = str(override).partition("=")
        if key.lstrip("+~") in keys:
            parts.append(f"{key.lstrip('+~').split('.')[-1]}={value}")
    return " ".join([base, *parts])


def _stamp() -> str:
    return time.strftime("%m-%d %H:%M:%S")


def _unique(name: str, experiment_id: str) -> str:
    """``name``, or ``name #2``, ``#3``... where the experiment holds a run named so."""
    import mlflow

    taken = {
        r.info.run_name
        for r in mlflow.MlflowClient().search_runs(
            [experiment_id],
            filter_string=f"attributes.run_name LIKE '{name.replace(chr(39), '_')}%'",
            max_results=1000,
        )
    }
    out, n = name, 1
    while out in taken:
        n += 1
        out = f"{name} #{n}"
    return out


def scenario_name(cfg: Any) -> str:
    """The name of ``cfg``'s scenario: its ``scenario.name``, else (a file that takes its name
    from its ``base:``, a ``traces/train/`` twin) the resolved scenario's; ``unknown``. For a
    multirun that sweeps the scenario (the sweep parent's config: ``scenario=a,b`` on the
    command line or in the sweeper's params), the swept values as written (``a,b``)."""
    swept = _swept_scenarios(cfg)
    if swept:
        return swept
    name = config_value(cfg, "scenario.name")
    node = config_value(cfg, "scenario")
    if name or not node:
        return str(name or "unknown")
    if isinstance(node, str):
        return node
    from pacegym.envs.scenarios import resolve

    try:
        return resolve(plain(node)).name
    except (ValueError, TypeError, OSError):  # an invalid scenario: the app refuses it itself
        return "unknown"


def _swept_scenarios(cfg: Any) -> str | None:
    params = config_value(cfg, "hydra.sweeper.params") or {}
    overrides = [str(o) for o in config_value(cfg, "hydra.overrides.task") or []]
    for key, value in [o.partition("=")[::2] for o in overrides] + list(params.items()):
        if str(key).lstrip("+~") == "scenario" and any(c in str(value) for c in ",("):
            return str(value)
    return None


def scenario_of(app: str, overrides: list[str]) -> str:
    """The scenario name of ``conf/<app>.yaml`` composed with ``overrides`` (for a parent run
    opened outside Hydra: a Ray sweep's)."""
    from hydra import compose, initialize_config_dir

    from pacegym.experiments.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return scenario_name(compose(app, overrides))
