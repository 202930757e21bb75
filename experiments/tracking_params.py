"""What a pacegym run records about its configuration: flat params and the scenario input.

- ``flatten(data)``: a nested config as dotted keys (``scenario.money.budget``), lists of
  mappings indexed (``scenario.channels.0.share``), other lists kept as text: every value
  its own param, so the runs table can show and filter it (``params.`scenario.money.budget`
  > 500``); no section goes in as one JSON blob.
- ``log_config(plain)``: those params, keys cut to ``MAX_KEY_LEN`` and values to
  ``MAX_PARAM_LEN`` (MLflow 3's limits), in batches of ``BATCH``; the whole config as
  ``config.yaml`` beside them.
- ``log_scenario_input(cfg, context)``: the run's scenario as an MLflow dataset input
  named after the scenario (one row, one column per flattened scenario key, digest of
  those values): the runs table's "Dataset" column and its filter tell runs on different
  scenarios, or on edited copies of one, apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_PARAM_LEN = 6000  # [chars] MLflow 3's param value limit
MAX_KEY_LEN = 250  # [chars] MLflow's param key limit
BATCH = 100  # [params] the most one MLflow batch holds


def plain(cfg: Any) -> Any:
    """A DictConfig as plain containers (resolved, unset keys left out); others as given."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        from pacegym.experiments.scenario_schema import without_missing

        if isinstance(cfg, DictConfig | ListConfig):  # the keys nothing set left out
            return without_missing(OmegaConf.to_container(cfg, resolve=True))
    except ImportError:  # pragma: no cover - omegaconf ships with hydra
        pass
    return cfg


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2], "d": [{"e": 3}]}`` -> ``{"a.b": 1, "c": "[1, 2]",
    "d.0.e": 3}``: mappings and lists of mappings become dotted keys, other lists text."""
    out: dict[str, Any] = {}
    if isinstance(data, Mapping) and data:
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list | tuple) and any(isinstance(v, Mapping) for v in data):
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix] = str(data) if isinstance(data, list | tuple | Mapping) else data
    return out


def log_config(plain: Mapping[str, Any]) -> None:
    """Log ``plain`` flattened as the active run's params, and as ``config.yaml``."""
    import mlflow

    items = [(k[:MAX_KEY_LEN], str(v)[:MAX_PARAM_LEN]) for k, v in flatten(plain).items()]
    for i in range(0, len(items), BATCH):
        mlflow.log_params(dict(items[i : i + BATCH]))
    mlflow.log_dict(dict(plain), "config.yaml")


def scenario_frame(scenario: Mapping[str, Any]) -> Any:
    """``scenario`` flattened into a one-row ``pandas.DataFrame`` (values as text: one
    column type whatever the key)."""
    import pandas as pd

    return pd.DataFrame({k: [str(v)] for k, v in flatten(scenario).items()})


def log_scenario_input(name: str, scenario: Any, context: str) -> None:
    """Log ``scenario`` (a plain mapping, or a scenario's name) to the active run as the
    dataset input ``name`` with ``context`` (``training``, ``evaluation``)."""
    import mlflow

    data = scenario if isinstance(scenario, Mapping) else {"name": str(scenario)}
    dataset = mlflow.data.from_pandas(scenario_frame(data), name=name)
    mlflow.log_input(dataset, context=context)
