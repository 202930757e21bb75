"""Export a value-aware baseline (``dual_price``, ``smart_pacing``, ``lp_split``) as a
per-segment pacer (writer side).

``segment_manifest(controller, segments)`` is the artifact's one file, ``manifest.json``
(``runtime.segment_pacer``: schema, name, the policy's kind, base rule and every parameter,
for ``lp_split`` its solved ``split``, the observation layout of the scenario's segments,
the action, a free-form source); ``export_segment_controller(controller, scenario,
out_dir)`` writes it for the segments of a value scenario (for ``lp_split`` the LP's split
of the scenario's expected campaign, ``baselines.controllers_lp.expected_split`` over
``SPLIT_CAMPAIGNS`` campaigns of seed 0), loads it once (``load_segment_pacer``) and
publishes it (``publish.publish``). Only data is written: the arithmetic is the runtime's.

``planned(pacer)``: an ``lp_split`` pacer whose campaigns get their own split at
``attach(core)``, solved offline as the baseline does (scipy, writer side): what a server
does before a campaign's first tick, and how the pacer meets the baseline episode by
episode (``baselines.harness.run_episodes``). Other kinds are returned as they are.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.agents.export.publish import check_target, staged
from pacegym.agents.export.runtime.manifest import MANIFEST_FILE, PacerError
from pacegym.agents.export.runtime.segment_pacer import (
    SEGMENT_COLUMNS,
    SEGMENT_DATA,
    SEGMENT_KINDS,
    SEGMENT_SCHEMA,
    SEGMENT_SCHEMA_VERSION,
    SegmentPacer,
    load_segment_pacer,
)
from pacegym.envs.spaces import OBS_NAMES, SEGMENT_FEATURES


def segment_manifest(
    controller: Any,
    segments: Sequence[str],
    *,
    name: str | None = None,
    source: Mapping[str, Any] | None = None,
    split: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The manifest of ``controller`` (a value-aware baseline or its ``{"kind", "name",
    "params"}`` spec, validated by ``baselines.factory.from_spec``) for ``segments``;
    ``split`` (kind ``lp_split`` only, one number per segment) its default split."""
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
    policy = {"kind": ctrl.kind, "base": SEGMENT_KINDS[ctrl.kind][0], "params": params}
    if (ctrl.kind in SEGMENT_DATA) != (split is not None):
        raise PacerError(
            f"split = {split!r}: a {ctrl.kind} pacer takes {SEGMENT_DATA.get(ctrl.kind)}"
        )
    if split is not None:
        policy["split"] = [float(x) for x in split]
    return {
        "schema": SEGMENT_SCHEMA,
        "schema_version": SEGMENT_SCHEMA_VERSION,
        "name": str(name or ctrl.name),
        "policy": policy,
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


SPLIT_CAMPAIGNS = 64
"""Campaigns (seed 0) whose mean forecast and budget make ``lp_split``'s default split."""


def scenario_segments(scenario: Any) -> tuple[str, ...]:
    """The segment names of ``scenario`` (a name, path, mapping or ``ScenarioParams``)."""
    from pacegym.envs.core import PacingCore
    from pacegym.envs.scenarios import resolve

    return tuple(PacingCore(resolve(scenario), 1).segments)


def default_split(scenario: Any, slack: float, price_cap: float = 0.0) -> list[float]:
    """``lp_split``'s split of ``scenario``'s expected campaign (module docstring)."""
    from pacegym.baselines.controllers_lp import expected_split
    from pacegym.baselines.harness import episode_seeds
    from pacegym.envs.core import PacingCore
    from pacegym.envs.scenarios import resolve

    core = PacingCore(resolve(scenario), SPLIT_CAMPAIGNS)
    core.reset(np.arange(SPLIT_CAMPAIGNS), episode_seeds(0, SPLIT_CAMPAIGNS))
    return [float(x) for x in expected_split(core, slack, price_cap)]


class PlannedPacer:
    """An ``lp_split`` ``SegmentPacer`` whose campaigns get their own LP split at
    ``attach(core)`` (``baselines.controllers_lp.campaign_splits``: the scenario's expected
    tables and each campaign's forecast, as the baseline reads them); ``reset``/``act``
    are the pacer's."""

    def __init__(self, pacer: SegmentPacer) -> None:
        self.pacer, self.name, self.kind = pacer, pacer.name, pacer.kind

    def reset(self, n: int) -> None:
        """Start ``n`` campaigns on the manifest's split (until ``attach``)."""
        self.pacer.reset(n)

    def attach(self, core: Any) -> None:
        """Each campaign's own split into its state row (the reset rule's other branch)."""
        from pacegym.agents.export.runtime.lp_split import lp_split_state
        from pacegym.baselines.controllers_lp import campaign_splits

        params = self.pacer.params
        split = campaign_splits(core, params["slack"], params["price_cap"])
        self.pacer.reset(core.n, lp_split_state(split))

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The pacer's ``(n, S)`` throttles."""
        return self.pacer.act(obs)


def planned(pacer: SegmentPacer) -> Any:
    """``PlannedPacer(pacer)`` for kind ``lp_split``, else ``pacer`` itself."""
    return PlannedPacer(pacer) if pacer.kind == "lp_split" else pacer


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
    from pacegym.baselines.factory import from_spec

    ctrl = from_spec(dict(controller)) if isinstance(controller, Mapping) else controller
    segments = scenario_segments(scenario)
    src = {"scenario": scenario if isinstance(scenario, str) else "custom", **dict(source or {})}
    split = None
    if ctrl.kind == "lp_split":
        split = default_split(scenario, ctrl.config.slack, ctrl.config.price_cap)
    m = segment_manifest(ctrl, segments, name=name, source=src, split=split)
    out = Path(out_dir).expanduser()
    check_target(out, overwrite)
    with staged(out, overwrite, load_segment_pacer) as tmp:
        text = json.dumps(m, indent=2, allow_nan=False) + "\n"
        (tmp / MANIFEST_FILE).write_text(text, encoding="utf-8")
    return out
