"""Structured config of ``pacegym-evaluate`` (registered in Hydra's ConfigStore).

YAML under ``conf/`` only sets values; these dataclasses fix the keys and types.
``scenario`` is ``experiments.scenario_schema.ScenarioNode`` (keys checked at compose
time, values by ``envs.scenarios.from_dict``).
A controller is ``{kind, name, params}`` (``conf/controller/<name>.yaml``); ``params``
depends on ``kind`` and is validated by ``baselines.build_controller``. The ``controller``
choice is named as in every app (``experiments.policies``): ``controller=pid_tuned`` is the
set tuned for the scenario being run (its own, else its suite stand-in's; refused when it
has none), and the file that ran is each row's ``source``. ``agents`` (``agent=<entry>`` on
the command line, ``experiments.app_args``) adds trained agents: model dirs, train run
dirs, MLflow run ids or ``models:/`` URIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.factory import from_spec
from pacegym.baselines.harness import BATCH_SIZE
from pacegym.baselines.protocol import Controller
from pacegym.baselines.stats import N_BOOT
from pacegym.envs.params import ScenarioParams
from pacegym.envs.scenarios import resolve
from pacegym.experiments import policies
from pacegym.experiments.config import (
    TrackingConfig,
    check_settings,
    count_setting,
    schema,
    seed_setting,
)
from pacegym.experiments.hydra_app import scenario_dict
from pacegym.experiments.scenario_schema import ScenarioNode
from pacegym.resources import find_config


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
    agents: list[str] = field(default_factory=list)  # model dirs, train run dirs, run ids,
    # models:/<name>/<version> (command line: agent=<entry>)
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


def build_all(
    cfg: Any, choice: str | None = None, search: tuple[Path, ...] = ()
) -> tuple[ScenarioParams, list[Controller]]:
    """Validate the whole config and build the scenario and controllers, before any run.

    ``choice``: the ``controller`` group option composed (``hydra_app.group_choice``), named
    again on the scenario (``policies.controller_file``; ``search``: the app's config
    folders); when that is another file, ``cfg.controller`` is replaced by what runs. Each
    controller gets ``source``: the file or run it came from. Raises
    ``ValueError`` (``ScenarioError`` / ``ControllerConfigError``) naming the key.
    """
    check_settings("", cfg, EvaluateConfig)
    scenario = resolve(scenario_dict(cfg))
    specs = _plain(cfg.controllers) or {}
    sources: dict[str, str] = {}
    if not specs and cfg.controller is not None:
        spec, sources["controller"] = _chosen_spec(cfg, choice, scenario.name, search)
        if spec != _plain(cfg.controller):  # the config logged (MLflow params) says what runs
            for key in ("kind", "name", "params"):
                if key in spec:
                    cfg.controller[key] = spec[key]
        specs = {"controller": spec}
    if not specs and not cfg.get("agents"):
        raise ControllerConfigError(
            "no controller: set controller=<name> (conf/controller/), agent=<model dir> or a "
            "controllers: mapping (an experiment)"
        )
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
            ctrl = from_spec(spec)
        except ControllerConfigError as err:
            raise ControllerConfigError(f"controllers.{key}: {err}") from None
        _label(ctrl, sources.get(key, f"controllers.{key} (config)"))
        controllers.append(ctrl)
    controllers += load_agents(cfg, [c.name for c in controllers])
    if cfg.get("oracle", False):
        from pacegym.baselines.factory import YARDSTICKS, load_controller_yaml

        have = {getattr(c, "kind", None) for c in controllers}
        for k in YARDSTICKS:
            if k not in have:
                path = policies.controller_file(k, scenario.name, search)
                controllers.append(_label(load_controller_yaml(path), str(path)))
    names = [c.name for c in controllers]
    if len(set(names)) != len(names):
        raise ControllerConfigError(f"controller names must be unique, got {names}")
    if cfg.baseline is not None and cfg.baseline not in names:
        raise ControllerConfigError(f"baseline = {cfg.baseline!r}: allowed one of {names}")
    return scenario, controllers


def _label(ctrl: Any, source: str) -> Any:
    """``ctrl`` with ``source`` (the file or run it came from) as an attribute."""
    ctrl.source = source
    return ctrl


def _chosen_spec(
    cfg: Any, choice: str | None, scenario: str, search: tuple[Path, ...]
) -> tuple[dict[str, Any], str]:
    """The ``controller`` spec and its source: the composed node, or, when ``choice`` names
    another file on ``scenario`` (``pid_tuned`` on a scenario with its own set), that file
    with the command line's changes to the composed one applied over it."""
    spec = _plain(cfg.controller)
    if choice is None:
        return spec, "controller (config)"
    path = policies.controller_file(choice, scenario, search)
    composed = find_config("controller", choice, search)
    if composed is None or composed == path:
        return spec, str(path)
    loaded = yaml.safe_load(composed.read_text()) or {}
    wanted = yaml.safe_load(path.read_text()) or {}
    return _merge(wanted, _changes(loaded, spec)), str(path)


def _changes(before: Any, after: Any) -> dict[str, Any]:
    """The keys of mapping ``after`` whose values differ from ``before``'s, recursively."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key) if isinstance(before, Mapping) else None
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            sub = _changes(old, value)
            if sub:
                out[key] = sub
        elif value != old:
            out[key] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def load_agents(cfg: Any, taken: list[str]) -> list[Controller]:
    """The trained agents of ``cfg.agents`` (``policies.agent_dir``), named by their
    ``agent.json`` (a ``'`` added while the name is ``taken``), ``source`` the model dir
    (and the MLflow run id when one named it). Needs the ``train`` extra."""
    entries = [str(e) for e in (cfg.get("agents") or [])]
    if not entries:
        return []
    from pacegym.cli import missing_extra

    if missing_extra(("train",)) is not None:
        raise ControllerConfigError(
            f"agent = {entries[0]!r}: needs the 'train' extra: pip install 'pacegym[train]'"
        )
    from pacegym.agents.model_dir import read_agent_meta
    from pacegym.agents.policy import load_controller, one_inference_thread

    one_inference_thread()
    out: list[Controller] = []
    names = list(taken)
    for entry in entries:
        md, run_id = policies.agent_dir(entry, cfg, key="agent")
        name = str(read_agent_meta(md)["name"])
        while name in names:
            name += "'"
        names.append(name)
        source = str(md.resolve()) + (f" (MLflow run {run_id})" if run_id else "")
        out.append(_label(load_controller(md, name), source))
    return out
