"""Structured config of ``pacegym-evaluate`` (registered in Hydra's ConfigStore).

YAML under ``conf/`` only sets values; these dataclasses fix the keys and types.
``scenario`` is ``experiments.scenario_schema.ScenarioNode`` (keys checked at compose
time, values by ``envs.scenarios.from_dict``).
A controller is ``{kind, name, params}`` (``conf/controller/<name>.yaml``); ``params``
depends on ``kind`` and is validated by ``baselines.build_controller``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.factory import from_spec
from pacegym.baselines.harness import BATCH_SIZE
from pacegym.baselines.protocol import Controller
from pacegym.baselines.stats import N_BOOT
from pacegym.envs.params import ScenarioParams
from pacegym.envs.scenarios import resolve
from pacegym.experiments.config import (
    TrackingConfig,
    check_settings,
    count_setting,
    schema,
    seed_setting,
)
from pacegym.experiments.hydra_app import scenario_dict
from pacegym.experiments.scenario_schema import ScenarioNode


@dataclass
class ControllerSpec:
    """One controller: ``kind`` (see ``baselines.factory.CONTROLLERS``), display name, params."""

    kind: str = MISSING
    name: str = ""  # display name in tables, plots and metrics.json (default: kind)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvaluateConfig:
    """Top-level config: evaluate ``controllers`` (or, when empty, ``controller``) on ``scenario``."""

    scenario: ScenarioNode = field(default_factory=ScenarioNode)  # type: ignore[valid-type]
    controller: ControllerSpec | None = None
    controllers: dict[str, ControllerSpec] = field(default_factory=dict)
    episodes: int = count_setting(200, 10_000_000)  # [episodes] per controller, i seeded seed + i
    seed: int = seed_setting(0)
    batch_size: int = count_setting(BATCH_SIZE, 1_000_000)  # [campaigns] stepped together
    n_boot: int = count_setting(N_BOOT, 1_000_000)  # bootstrap resamples for the 95% intervals
    baseline: str | None = None  # display name to pair the others against (default: first)
    plots: bool = True  # write PNGs next to metrics.json
    plot_episodes: int = count_setting(200, 100_000)  # [episodes] recorded for the plots
    oracle: bool = True  # add the reference and oracle rows: regret + normalised score
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # conf: tracking=off
    overwrite: bool = False  # replace an earlier run's results in hydra.run.dir (pacegym.outdir)


def register() -> None:
    """Store the schema as ``evaluate_schema`` (referenced by ``conf/evaluate.yaml``)."""
    ConfigStore.instance().store(name="evaluate_schema", node=schema(EvaluateConfig))


def _plain(node: Any) -> Any:
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(node):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf comes with hydra
        pass
    return node


def build_all(cfg: Any) -> tuple[ScenarioParams, list[Controller]]:
    """Validate the whole config and build the scenario and controllers, before any run.

    Raises ``ValueError`` (``ScenarioError`` / ``ControllerConfigError``) naming the key.
    """
    check_settings("", cfg, EvaluateConfig)
    scenario = resolve(scenario_dict(cfg))
    specs = _plain(cfg.controllers) or {}
    if not specs:
        if cfg.controller is None:
            raise ControllerConfigError(
                "no controller: set controller=<name> (conf/controller/) or a controllers: "
                "mapping (an experiment)"
            )
        specs = {"controller": _plain(cfg.controller)}
    controllers: list[Controller] = []
    for key, spec in specs.items():
        if not isinstance(spec, Mapping):
            raise ControllerConfigError(
                f"controllers.{key} = {spec!r}: expected {{kind, name, params}}"
            )
        spec = dict(spec)
        if not spec.get("name"):
            spec["name"] = key if key != "controller" else spec.get("kind", key)
        try:
            controllers.append(from_spec(spec))
        except ControllerConfigError as err:
            raise ControllerConfigError(f"controllers.{key}: {err}") from None
    if cfg.get("oracle", False):
        from pacegym.baselines.factory import YARDSTICKS, load_controller_yaml

        have = {getattr(c, "kind", None) for c in controllers}
        controllers += [load_controller_yaml(k) for k in YARDSTICKS if k not in have]
    names = [c.name for c in controllers]
    if len(set(names)) != len(names):
        raise ControllerConfigError(f"controller names must be unique, got {names}")
    if cfg.baseline is not None and cfg.baseline not in names:
        raise ControllerConfigError(f"baseline = {cfg.baseline!r}: allowed one of {names}")
    return scenario, controllers
