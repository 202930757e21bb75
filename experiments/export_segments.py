"""``pacegym-export`` of a value-aware baseline (``dual_price``, ``smart_pacing``, ``lp_split``)
as a per-segment pacer.

``source.controller_yaml=value_channels/<kind>_tuned`` (or a leaderboard whose winner
is one) exports ``agents.export.segment_export``'s artifact (``manifest.json``: the kind,
every parameter, the observation layout of the scenario's segments) for the scenario it was
chosen on: the leaderboard's, else the scenario folder of its controller YAML
(``conf/controller/<scenario>/``). Verified by running the baseline and the loaded pacer
over the same ``verify.record_episodes`` episodes (an ``lp_split`` pacer given each
campaign's own split, ``segment_export.planned``): every metric must agree within
``verify.metric_tolerance``. ``register.enabled`` registers it in MLflow like the volume
pacers (``agents.export.registry``: a pyfunc served by named columns, state in and out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class SegmentExportError(ValueError):
    """A ``pacegym-export`` setting a segment pacer cannot take; the message names the key."""


def is_segment_source(src: Any) -> bool:
    """``src`` is a baseline of a kind that exports as a segment pacer."""
    from pacegym.agents.export.runtime.segment_pacer import SEGMENT_KINDS

    return src.controller is not None and src.controller.get("kind") in SEGMENT_KINDS


def segment_scenario(src: Any, chosen: dict[str, Any]) -> Any:
    """The scenario to export for: the leaderboard's, else the YAML's scenario folder."""
    from pacegym.envs.scenarios import resolve

    if chosen.get("scenario"):
        return chosen["scenario"]
    path = src.info.get("controller_yaml")
    folder = Path(str(path)).parent.name if path else ""
    try:
        resolve(folder)
    except Exception:
        raise SegmentExportError(
            f"source.controller_yaml = {path!r}: a {src.controller['kind']} pacer needs the value"
            " scenario it was tuned for; allowed <scenario>/<kind>_tuned (a set in"
            " conf/controller/<scenario>/) or a leaderboard naming the scenario"
        ) from None
    return folder


def export_segments(
    cfg: Any, src: Any, chosen: dict[str, Any], name: str, stage: Any
) -> dict[str, Any]:
    """Write, load and verify the segment pacer of ``src``; the export report."""
    from pacegym.agents.export.runtime.segment_pacer import load_segment_pacer
    from pacegym.agents.export.segment_export import export_segment_controller, planned
    from pacegym.baselines import run_episodes
    from pacegym.baselines.factory import from_spec

    scenario = segment_scenario(src, chosen)
    out = Path(cfg.out_dir)
    export_segment_controller(
        src.controller, scenario, out, name=name, source=src.info, overwrite=cfg.overwrite
    )
    stage.next("verify")
    report: dict[str, Any] = {"artifact": str(out.resolve()), "name": name, "source": src.info}
    episodes, seed = int(cfg.verify.record_episodes), int(chosen.get("seed") or 0)
    want = run_episodes(from_spec(src.controller), scenario, episodes, seed).metrics
    got = run_episodes(planned(load_segment_pacer(out)), scenario, episodes, seed).metrics
    diff = max(float(np.max(np.abs(got[k] - want[k]), initial=0.0)) for k in want)
    report["metric_parity"] = {
        "checked": True,
        "against": "the baseline controller, episode by episode",
        "episodes": episodes,
        "seed": seed,
        "max_abs_diff": diff,
        "enforced": True,
    }
    report["metric_tolerance"] = float(cfg.verify.metric_tolerance)
    return report
