"""Every policy of a benchmark scenario against its comparators, paired on the same episodes.

An agent that beats the reference proves little; issue 23 asks what it gains over what a
careful engineer would deploy instead. ``COMPARATORS``, per scenario:

- ``best_baseline``: the scenario's best tuned baseline (``leaderboard.build``'s choice,
  by the mean score): a set tuned for this scenario alone;
- ``single_set``: the best single baseline set tuned for the whole suite
  (``benchmark.single_set``, e.g. ``value_generalist/dual_price_tuned``): the fair
  comparator for one policy that runs with the same weights everywhere;
- ``switch``: the per-episode best of the scenario's tuned baselines, chosen in hindsight
  (``switch_scores``; no causal policy can switch like this: it bounds any selector among
  or ensemble of the baselines);
- ``oracle``: the clairvoyant (the row's regret, in both units).

Each difference is the policy minus the comparator, in normalised points (paired CI that
resamples the policy, the comparator, the reference and the oracle together,
``baselines.normalise.normalised_difference``) and in raw ``pacing_score_v2``
(``baselines.stats.paired_difference``). ``experiments.benchmark_report`` writes the table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pacegym.baselines.drift_bound import ROLE as BOUND
from pacegym.baselines.factory import YARDSTICKS
from pacegym.baselines.normalise import normalised_difference
from pacegym.baselines.stats import paired_difference
from pacegym.experiments import leaderboard as lb

COMPARATORS = ("best_baseline", "single_set", "switch", "oracle")
"""What every policy is measured against (module docstring), in table order."""
NOT_POLICIES = (*YARDSTICKS, BOUND)
"""Row types no switch chooses among: the yardsticks and the clairvoyant bounds."""
SWITCH = "hindsight switch"
"""The ``switch`` comparator's name in the tables."""


def switch_scores(entries: list[lb.Entry], pool: str) -> tuple[list[lb.Entry], np.ndarray]:
    """The members of ``pool`` (``baselines``: the tuned baselines; ``deployable``: every
    policy but the yardsticks and the clairvoyant bounds) and their per-episode scores, (members, episodes); the
    switch in hindsight scores their maximum on every episode."""
    members = [
        e
        for e in entries
        if e.type not in NOT_POLICIES and (pool == "deployable" or e.type == "baseline")
    ]
    if not members:
        return [], np.empty((0, 0))
    return members, np.stack([e.rollout.metrics[lb.PRIMARY] for e in members])


def comparators(
    entries: list[lb.Entry], best: str | None, single: str | None, n_boot: int, level: float
) -> dict[str, Any] | None:
    """Each deployable policy of one scenario against ``COMPARATORS``.

    ``best``: the best tuned baseline's row name; ``single``: the suite set's row name
    (None, or not among ``entries``: that comparator is left out). Returns
    ``{"names": {comparator: its row name}, "policies": {policy: {comparator:
    {"normalised": [mean, low, high], "raw": [mean, low, high]}}}}``; None without the
    oracle and reference rows (no normalised scale).
    """
    oracle = next((e for e in entries if e.type == "oracle"), None)
    ref = next((e for e in entries if e.type == "reference"), None)
    if oracle is None or ref is None:
        return None
    by = {e.name: e.rollout.metrics[lb.PRIMARY] for e in entries}
    targets: dict[str, tuple[str, np.ndarray]] = {}
    if best in by:
        targets["best_baseline"] = (str(best), by[best])
    if single in by:
        targets["single_set"] = (str(single), by[str(single)])
    _, pool = switch_scores(entries, "baselines")
    if pool.size:
        targets["switch"] = (SWITCH, pool.max(axis=0))
    targets["oracle"] = (oracle.name, by[oracle.name])
    yard = (by[ref.name], by[oracle.name], oracle.rollout.failed)
    boot = {"n_boot": n_boot, "seed": 0, "level": level}
    policies: dict[str, Any] = {}
    for e in entries:
        if e.type in YARDSTICKS:
            continue
        p = by[e.name]
        policies[e.name] = {
            c: {
                "normalised": list(normalised_difference(p, b, *yard, **boot)),
                "raw": list(
                    paired_difference({lb.PRIMARY: p}, {lb.PRIMARY: b}, lb.PRIMARY, **boot)
                ),
            }
            for c, (_, b) in targets.items()
        }
    return {"names": {c: n for c, (n, _) in targets.items()}, "policies": policies}


def suite_means(docs: dict[str, Any]) -> dict[str, Any]:
    """Per policy present on every scenario, the mean over the suite of each difference's
    mean (normalised points and raw score; no interval: the scenarios differ in scale)."""
    per = [d.get("comparators") for d in docs.values()]
    if not per or any(c is None for c in per):
        return {}
    out: dict[str, Any] = {}
    for name in per[0]["policies"]:
        if not all(name in c["policies"] for c in per):
            continue
        out[name] = {}
        for comp in COMPARATORS:
            cells = [c["policies"][name].get(comp) for c in per]
            if all(x is not None for x in cells):
                out[name][comp] = {
                    unit: float(np.mean([x[unit][0] for x in cells]))
                    for unit in ("normalised", "raw")
                }
    return out


def _diff(cell: dict[str, Any] | None) -> str:
    """``+n [lo, hi] (+raw [lo, hi])``: normalised points, the raw score in parentheses."""
    if cell is None:
        return "-"
    parts = []
    for unit, digits in (("normalised", 1), ("raw", 4)):
        m, lo, hi = cell[unit]
        if not math.isfinite(m):
            parts.append("-")
        elif not (math.isfinite(lo) and math.isfinite(hi)):
            parts.append(f"{m:+.{digits}f} [no CI]")
        else:
            parts.append(f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]")
    return f"{parts[0]} ({parts[1]})"


def comparator_lines(result: dict[str, Any]) -> list[str]:
    """The comparator table of a ``benchmark.json`` document: per scenario and deployable
    policy, its normalised and raw score and its paired difference to every comparator;
    then the suite means."""
    docs = result["scenarios"]
    if not any(d.get("comparators") for d in docs.values()):
        return []
    lines = [
        "",
        "Every policy against its comparators: policy minus comparator, normalised points "
        "[paired 95% CI] (raw pacing_score_v2 in parentheses); the best tuned baseline of "
        f"the scenario, the single set tuned for the whole suite, the {SWITCH} (each "
        "episode's best tuned baseline, chosen in hindsight) and the oracle",
        "",
        "| scenario | policy | normalised (raw) | - best tuned baseline | - single suite set "
        f"| - {SWITCH} | - oracle |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, doc in docs.items():
        comp = doc.get("comparators")
        if not comp:
            continue
        rows = {r["name"]: r for r in doc["rows"]}
        names = comp["names"]
        lines.append(
            f"| {key} | *comparators* | | {names.get('best_baseline', '-')} | "
            f"{names.get('single_set', '-')} | {SWITCH} | oracle |"
        )
        for name, c in comp["policies"].items():
            r = rows[name]
            score = f"{r.get('normalised', math.nan):.1f} ({r['pacing_score_v2']:.4f})"
            cells = " | ".join(_diff(c.get(k)) for k in COMPARATORS)
            lines.append(f"| {key} | {name} | {score} | {cells} |")
    means = result["summary"].get("comparators_mean") or {}
    if means:
        lines += [
            "",
            "Suite mean of each difference (normalised points; raw score in parentheses)",
            "",
            f"| policy | - best tuned baseline | - single suite set | - {SWITCH} | - oracle |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, m in means.items():
            cells = [
                f"{m[k]['normalised']:+.1f} ({m[k]['raw']:+.4f})" if k in m else "-"
                for k in COMPARATORS
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
