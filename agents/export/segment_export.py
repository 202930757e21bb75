"""Export a value-aware baseline (kind ``dual_price``) as a per-segment pacer (writer side).

``segment_manifest(controller, segments)`` is the artifact's one file, ``manifest.json``
(``runtime.segment_pacer``: schema, name, the policy's kind, base rule and every parameter,
the observation layout of the scenario's segments, the action, a free-form source);
``export_segment_controller(controller, scenario, out_dir)`` writes it for the segments of
a value scenario, loads it once (``load_segment_pacer``) and publishes it
(``publish.publish``). Only data is written: the arithmetic is the runtime's.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pacegym.agents.export.publish import check_target, publish, temp_sibling
from pacegym.agents.export.runtime.manifest import MANIFEST_FILE, PacerError
from pacegym.agents.export.runtime.segment_pacer import (
    SEGMENT_COLUMNS,
    SEGMENT_KINDS,
    SEGMENT_SCHEMA,
    SEGMENT_SCHEMA_VERSION,
    load_segment_pacer,
)
from pacegym.envs.spaces import OBS_NAMES, SEGMENT_FEATURES


def segment_manifest(
    controller: Any,
    segments: Sequence[str],
    *,
    name: str | None = None,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of ``controller`` (a value-aware baseline or its ``{"kind", "name",
    "params"}`` spec, validated by ``baselines.factory.from_spec``) for ``segments``."""
    from pacegym.baselines.factory import from_spec

    ctrl = from_spec(dict(controller)) if isinstance(controller, Mapping) else controller
    if ctrl.kind not in SEGMENT_KINDS:
        raise PacerError(
            f"controller.kind = {ctrl.kind!r}: allowed {list(SEGMENT_KINDS)} for a segment pacer"
        )
    if [f.name for f in SEGMENT_FEATURES] != list(SEGMENT_COLUMNS):
        raise PacerError("envs.spaces.SEGMENT_FEATURES differ from the runtime's SEGMENT_COLUMNS")
    if not segments:
        raise PacerError("segments = []: a segment pacer needs a value scenario's segments")
    params = dataclasses.asdict(ctrl.config)
    return {
        "schema": SEGMENT_SCHEMA,
        "schema_version": SEGMENT_SCHEMA_VERSION,
        "name": str(name or ctrl.name),
        "policy": {"kind": ctrl.kind, "base": SEGMENT_KINDS[ctrl.kind][0], "params": params},
        "observation": {
            "base_features": list(OBS_NAMES),
            "segment_features": list(SEGMENT_COLUMNS),
            "segments": [str(s) for s in segments],
            "n_segments": len(segments),
            "width": len(OBS_NAMES) + len(SEGMENT_COLUMNS) * len(segments),
        },
        "action": {"per": "segment", "low": 0.0, "high": 1.0},
        "source": {"kind": "baseline", "controller_kind": ctrl.kind, **dict(source or {})},
    }


def scenario_segments(scenario: Any) -> tuple[str, ...]:
    """The segment names of ``scenario`` (a name, path, mapping or ``ScenarioParams``)."""
    from pacegym.envs.core import PacingCore
    from pacegym.envs.scenarios import resolve

    return tuple(PacingCore(resolve(scenario), 1).segments)


def export_segment_controller(
    controller: Any,
    scenario: Any,
    out_dir: str | Path,
    *,
    name: str | None = None,
    source: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``segment_manifest`` for the segments of ``scenario`` to ``out_dir`` (new or
    empty; with ``overwrite`` a previous artifact), loaded once before it is published."""
    segments = scenario_segments(scenario)
    src = {"scenario": scenario if isinstance(scenario, str) else "custom", **dict(source or {})}
    m = segment_manifest(controller, segments, name=name, source=src)
    out = Path(out_dir).expanduser()
    check_target(out, overwrite)
    tmp = temp_sibling(out)
    try:
        text = json.dumps(m, indent=2, allow_nan=False) + "\n"
        (tmp / MANIFEST_FILE).write_text(text, encoding="utf-8")
        load_segment_pacer(tmp)
        publish(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
