"""One way for every console command to find its configs: the package ``pacegym.conf``.

``hydra.main`` gets ``config_path="pkg://pacegym.conf"``, so the configs are read through
the installed package (importlib.resources) from any working directory, in a wheel as in
an editable install; never through the source tree. A user's own configs join the search
path without editing the package: ``--config-dir DIR`` (Hydra's flag; ``DIR`` holds
``scenario/``, ``controller/`` ... folders, searched before the package's), and
``./conf`` of the working directory is searched too, after the package (where
``pacegym-calibrate`` and ``pacegym-tune`` write by default).
"""

from __future__ import annotations

import importlib.resources
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from pacegym.envs.scenarios import anchor_trace
from pacegym.resources import find_config

CONFIG_PATH = "pkg://pacegym.conf"
"""Hydra's primary config source for every app."""

# ./conf is an optional search path (a user's own configs): its absence is the normal case,
# not worth the UserWarning Hydra prints on every command.
warnings.filterwarnings("ignore", message=r"provider=hydra\.searchpath in main, path=conf is not")


def hydra_app(config_name: str) -> Callable[[Callable[..., Any]], Callable[[], Any]]:
    """``hydra.main`` on ``pacegym.conf/<config_name>.yaml`` (version_base 1.3)."""
    return hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)


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
                return path
        return None
    name = cfg.get("scenario", {}).get("name")
    return find_config("scenario", str(name)) if name else None


def scenario_dict(cfg: DictConfig) -> dict[str, Any]:
    """``cfg.scenario`` as a plain dict, a relative ``traffic.trace_csv`` made absolute
    against the scenario file's folder (a trace path in a scenario file is relative to
    that file, wherever the command runs)."""
    data = OmegaConf.to_container(cfg.scenario, resolve=True)
    if not isinstance(data, dict):
        raise ValueError(f"scenario = {data!r}: must be a mapping of scenario sections")
    origin = scenario_file(cfg)
    return anchor_trace(data, origin.parent) if origin is not None else data  # type: ignore[arg-type]
