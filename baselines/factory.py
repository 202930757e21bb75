"""Build controllers by kind: ``build_controller(kind, name=None, **params)``.

A controller is fully described by ``{"kind": ..., "name": ..., "params": ...}``,
the format of ``conf/controller/<name>.yaml``; ``spec(controller)`` writes it and
``from_spec`` / ``load_controller_yaml`` read it back, so tuned or exported
baselines are rebuilt from ``kind`` + ``dataclasses.asdict(controller.config)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pacegym.baselines.controllers import (
    ControllerConfigError,
    ExpDecayController,
    OnOffController,
    ProportionalController,
)
from pacegym.baselines.controllers_lp import LPSplitController
from pacegym.baselines.controllers_pid import PIDController
from pacegym.baselines.controllers_value import DualPriceController, SmartPacingController
from pacegym.baselines.mpc import MPCConfig, MPCController
from pacegym.baselines.oracle import OracleConfig, OracleController
from pacegym.baselines.protocol import Controller
from pacegym.baselines.reference import ReferenceConfig, ReferenceController

CONTROLLERS: dict[str, tuple[type, type]] = {
    c.kind: (c, c.config_class)
    for c in (OnOffController, ProportionalController, PIDController, ExpDecayController)
}
"""kind -> (controller class, config dataclass): the deployable baselines (tuned, exported)."""

VALUE_AWARE: dict[str, tuple[type, type]] = {
    c.kind: (c, c.config_class)
    for c in (DualPriceController, SmartPacingController, LPSplitController)
}
"""Controllers with one throttle per segment of a value scenario (``baselines.segments``):
tuned and benchmarked beside the rules, not exported (yet). ``dual_price`` acts as its PID
in the volume world; the others refuse it in one line."""

YARDSTICKS: dict[str, tuple[type, type]] = {
    "reference": (ReferenceController, ReferenceConfig),
    "oracle": (OracleController, OracleConfig),
}
"""The normalised score's 0 and 100 (``baselines.normalise``): built like controllers, but
never tuned, crowned or exported; the oracle is clairvoyant (``Clairvoyant``) and runs
only through ``baselines.harness``."""


SERVER_SIDE: dict[str, tuple[type, type]] = {"mpc": (MPCController, MPCConfig)}
"""Causal controllers that read the ad server's state through the core (``Clairvoyant``:
run only through ``baselines.harness``) and solve an LP per campaign: benchmarked beside
the rules, never exported (``baselines.mpc``)."""


def _registry(kind: str) -> tuple[type, type]:
    for table in (CONTROLLERS, VALUE_AWARE, YARDSTICKS, SERVER_SIDE):
        if kind in table:
            return table[kind]
    raise ControllerConfigError(
        f"controller.kind = {kind!r} is not a controller kind: allowed "
        f"{sorted(CONTROLLERS) + sorted(VALUE_AWARE) + sorted(YARDSTICKS) + sorted(SERVER_SIDE)}"
    )


def config_class(kind: str) -> type:
    """The frozen config dataclass of ``kind``; raises naming the allowed kinds."""
    return _registry(kind)[1]


def build_controller(kind: str, name: str | None = None, **params: Any) -> Controller:
    """A validated controller of ``kind`` with config fields ``params`` (defaults elsewhere).

    Unknown parameter names and out-of-range values raise ``ControllerConfigError``
    naming ``controller.params.<key>``, the value and the allowed range.
    """
    cls, cfg_cls = _registry(kind)
    allowed = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ControllerConfigError(
            f"controller.params.{unknown[0]} is not a parameter of kind {kind!r}: "
            f"allowed {sorted(allowed)}"
        )
    config = cfg_cls(**params)
    return cls(config) if name is None else cls(config, name=name)


def from_spec(spec: Mapping[str, Any]) -> Controller:
    """Build from ``{"kind": ..., "name": ... (optional), "params": {...} (optional)}``."""
    extra = sorted(set(spec) - {"kind", "name", "params"})
    if extra:
        raise ControllerConfigError(
            f"controller.{extra[0]} is not a controller key: allowed ['kind', 'name', 'params']"
        )
    if "kind" not in spec:
        raise ControllerConfigError(f"controller spec {dict(spec)} has no 'kind'")
    params = dict(spec.get("params") or {})
    return build_controller(str(spec["kind"]), spec.get("name"), **params)


def spec(controller: Any) -> dict[str, Any]:
    """``{"kind", "name", "params"}`` of a baseline: the YAML format and the export format."""
    return {
        "kind": controller.kind,
        "name": controller.name,
        "params": dataclasses.asdict(controller.config),
    }


def load_controller_yaml(path: str | Path) -> Controller:
    """Build the controller described by a controller YAML: a path, or the name of a
    ``controller`` config (``pid_tuned``; ./conf/controller, then the package's)."""
    import yaml  # PyYAML (a Hydra dependency); imported here so controllers stay numpy-only

    from pacegym.envs import yaml_io
    from pacegym.resources import config_names, find_config

    found = find_config("controller", str(path))
    if found is None:
        raise ControllerConfigError(
            f"controller = {str(path)!r}: no such file or controller config; allowed a path "
            f"or one of {config_names('controller')}"
        )
    path = found
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml_io.load(fh)
    except yaml.YAMLError as e:  # its message quotes the file: only say where
        raise ControllerConfigError(f"controller = {str(path)!r}: {yaml_io.problem(e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ControllerConfigError(
            f"controller = {str(path)!r}: cannot read it as UTF-8 text ({type(e).__name__})"
        ) from None
    if not isinstance(data, Mapping):
        raise ControllerConfigError(
            f"controller = {str(path)!r}: expected a mapping with 'kind', got a "
            f"{type(data).__name__}"
        )
    return from_spec(data)
