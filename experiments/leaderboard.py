"""Leaderboard rows from per-episode rollouts: CIs, paired differences, ranking, JSON, markdown.

``leaderboard.json`` layout (written by ``pacegym-compare`` in its run dir)::

    {
      "scenario": "live_commerce",          # scenario name
      "scenario_config": {...},             # the whole scenario (what an export re-runs)
      "episodes": 512, "seed": 2000000,      # test episodes i = 0..episodes-1 use the
                                             # seeds of PacingEnv.reset(seed=seed + i)
      "level": 0.95, "n_boot": 2000,
      "primary": "pacing_score_v2",          # ranking key (SCORE_KEY) (higher is better)
      "best_baseline": "<name>",             # reference of the paired differences
      "normalised": true | false,            # rows carry regret / normalised (oracle and
                                             # reference rows present); ranked by it
      "mlflow_run_id": "<parent run id>",    # null without tracking
      "rows": [                              # best first
        {"rank": 1, "name": "...", "type": "agent" | "baseline" | "oracle" | "reference",
         "kind": "ppo" | "pid" | ...,        # algorithm or controller kind
         "mlflow_run_id": "<nested compare-entry run id>",
         "run_id": "<train run id holding model/ artifacts>" | null,   # agents
         "params": {...},                    # baselines: the controller's params
         "source": {"model_dir": "/abs/path/model", "train_run_id": "...",
                    "residual": {...} | null}             # agents
                 | {"controller": {"kind", "name", "params"}, "config": "conf/..yaml"},
         "<metric>": mean, "<metric>_ci": [lo, hi],       # every envs.metrics.METRIC_KEYS
         "diff_vs_best_baseline": mean, "diff_vs_best_baseline_ci": [lo, hi],
         "significant": true | false,       # CI of the difference excludes 0
         "regret": mean, "regret_ci": [lo, hi],           # oracle - policy, paired
         "normalised": x, "normalised_ci": [lo, hi],      # 0 reference, 100 oracle
         "normalised_diff_vs_best_baseline": d, "..._ci": [lo, hi],  # in normalised points
         "normalised_episodes": n, "oracle_failures_excluded": k}
      ],
      "winner": {...}                        # a copy of the row to deploy (never the oracle
                                             # or the reference; an agent only when its lead
                                             # over the best baseline is significant), with
                                             # "winner_reason"
    }
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pacegym.baselines.harness import Rollout
from pacegym.baselines.normalise import normalise, normalised_difference
from pacegym.baselines.stats import LEVEL, N_BOOT, aggregate, min_episodes, paired_difference
from pacegym.envs.metrics import METRIC_KEYS, SCORE_KEY

PRIMARY = SCORE_KEY
"""Default ranking metric (``compare.primary``; higher is better): the env's score."""


@dataclass
class Entry:
    """One evaluated policy."""

    name: str
    type: str  # agent | baseline | oracle | reference (YARDSTICKS) | bound (clairvoyant)
    kind: str
    rollout: Rollout
    source: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None


def build(
    entries: Sequence[Entry],
    primary: str = PRIMARY,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
) -> tuple[list[dict[str, Any]], str | None]:
    """Rows (best first) and the best baseline's name (None when there is no baseline).

    With one ``oracle`` and one ``reference`` entry every row gets its regret and
    normalised score (``baselines.normalise``) and rows are ranked by the normalised
    score; otherwise by ``primary``. Oracle and reference rows are ranked with the rest
    (the oracle is first by construction) but never chosen as the best baseline.
    """
    if not entries:
        raise ValueError("compare: nothing to rank (no baselines and no agents)")
    if primary not in METRIC_KEYS:
        raise ValueError(f"compare.primary = {primary!r}: allowed {list(METRIC_KEYS)}")
    aggs = {
        e.name: aggregate(e.rollout.metrics, n_boot=n_boot, seed=0, level=level) for e in entries
    }
    baselines = [e for e in entries if e.type == "baseline"]
    oracle = next((e for e in entries if e.type == "oracle"), None)
    reference = next((e for e in entries if e.type == "reference"), None)
    scaled = oracle is not None and reference is not None
    best = max(baselines, key=lambda e: aggs[e.name][primary]) if baselines else None
    rows = []
    for e in entries:
        row: dict[str, Any] = {
            "name": e.name,
            "type": e.type,
            "kind": e.kind,
            "mlflow_run_id": e.mlflow_run_id,
            "source": e.source,
        }
        for k in METRIC_KEYS:
            row[k] = aggs[e.name][k]
            row[f"{k}_ci"] = aggs[e.name][f"{k}_ci"]
        if best is not None:
            d, lo, hi = paired_difference(
                e.rollout, best.rollout, primary, n_boot=n_boot, seed=0, level=level
            )
            row["diff_vs_best_baseline"] = d
            row["diff_vs_best_baseline_ci"] = [lo, hi]
            row["significant"] = bool(lo > 0.0 or hi < 0.0)
        if scaled:
            assert oracle is not None and reference is not None
            yard = (reference.rollout.metrics[primary], oracle.rollout.metrics[primary])
            boot = {"n_boot": n_boot, "seed": 0, "level": level}
            score = e.rollout.metrics[primary]
            row.update(normalise(score, *yard, oracle.rollout.failed, **boot).as_dict())
            if best is not None:
                best_score = best.rollout.metrics[primary]
                d, lo, hi = normalised_difference(
                    score, best_score, *yard, oracle.rollout.failed, **boot
                )
                row["normalised_diff_vs_best_baseline"] = d
                row["normalised_diff_vs_best_baseline_ci"] = [lo, hi]
        rows.append(row)
    key = "normalised" if scaled else primary
    rows.sort(key=lambda r: (not math.isnan(r[key]), r[key]), reverse=True)
    for i, r in enumerate(rows, start=1):
        r["rank"] = i
    return [{"rank": r.pop("rank"), **r} for r in rows], (best.name if best else None)


def winner(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The policy to deploy, or None: the best agent or baseline row, except that an agent
    wins only when its lead over the best baseline is significant (the paired CI of the
    difference lies above zero); otherwise the best baseline wins. ``winner_reason`` says
    which rule chose it."""
    deployable = [r for r in rows if r["type"] in ("agent", "baseline")]
    if not deployable:
        return None
    top = dict(deployable[0])
    base = next((dict(r) for r in deployable if r["type"] == "baseline"), None)
    if top["type"] != "agent" or base is None:
        top["winner_reason"] = "best deployable policy"
        return top
    d = top.get("diff_vs_best_baseline", 0.0)
    lo, hi = top.get("diff_vs_best_baseline_ci", (0.0, 0.0))
    if lo > 0.0:
        top["winner_reason"] = f"agent leads the best baseline by {d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        return top
    base["winner_reason"] = (
        f"agent {top['name']!r} ranks first by {d:+.4f} [{lo:+.4f}, {hi:+.4f}] over the best "
        "baseline, not significantly: the best baseline is exported"
    )
    return base


def metric_summary(agg: Mapping[str, Any]) -> dict[str, float]:
    """``{key, key_ci_lo, key_ci_hi}`` of every metric of an aggregate (one MLflow write),
    and of ``regret`` and ``normalised`` when the row has them (finite values only)."""
    out: dict[str, float] = {}
    for k in (*METRIC_KEYS, "regret", "normalised"):
        if k not in agg or math.isnan(agg[k]):
            continue
        lo, hi = agg[f"{k}_ci"]
        out.update({k: agg[k], f"{k}_ci_lo": lo, f"{k}_ci_hi": hi})
    return out


def document(
    rows: list[dict[str, Any]],
    best_baseline: str | None,
    scenario: str,
    episodes: int,
    seed: int,
    primary: str,
    n_boot: int,
    level: float,
    mlflow_run_id: str | None,
    scenario_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``leaderboard.json`` document (module docstring). ``scenario_config``: the whole
    scenario as plain data, so a reader can rebuild it (a suite scenario's name alone,
    ``plentiful_traffic``, is not a config it can look up)."""
    return {
        "scenario": scenario,
        "scenario_config": dict(scenario_config) if scenario_config is not None else None,
        "episodes": episodes,
        "seed": seed,
        "level": level,
        "n_boot": n_boot,
        "primary": primary,
        "best_baseline": best_baseline,
        "normalised": bool(rows) and "normalised" in rows[0],
        "mlflow_run_id": mlflow_run_id,
        "rows": rows,
        "winner": winner(rows),
    }


def _ci(r: Mapping[str, Any], key: str, digits: int = 4) -> str:
    lo, hi = r[f"{key}_ci"]
    return f"{r[key]:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _fmt_ci(r: Mapping[str, Any], key: str, digits: int, sign: str = "") -> str:
    if key not in r or math.isnan(r[key]):
        return "-"
    lo, hi = r[f"{key}_ci"]
    if math.isnan(lo):  # too few episodes for an interval (baselines.stats.min_episodes)
        return f"{r[key]:{sign}.{digits}f} [no CI]"
    return f"{r[key]:{sign}.{digits}f} [{lo:{sign}.{digits}f}, {hi:{sign}.{digits}f}]"


def markdown(doc: Mapping[str, Any]) -> str:
    """The leaderboard as a markdown table (means with 95% CIs)."""
    p = doc["primary"]
    scaled = bool(doc.get("normalised"))
    extra = "normalised (0 ref, 100 oracle) | regret | " if scaled else ""
    head = (
        f"| # | policy | type | {extra}{p} | diff vs {doc['best_baseline']} | delivery | "
        "wasted_post_end | wasted_over_budget | misplaced | burst |"
    )
    lines = [
        f"Leaderboard: {doc['scenario']}, {doc['episodes']} held-out episodes "
        f"(seed {doc['seed']}), means with {int(100 * doc['level'])}% bootstrap CIs",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for r in doc["rows"]:
        if "diff_vs_best_baseline" in r:
            star = " *" if r["significant"] else ""
            diff = _fmt_ci(r, "diff_vs_best_baseline", 4, "+") + star
        else:
            diff = "-"
        cells = [str(r["rank"]), r["name"], f"{r['type']} ({r['kind']})"]
        if scaled:
            cells += [_fmt_ci(r, "normalised", 1), _fmt_ci(r, "regret", 4)]
        cells += [_fmt_ci(r, p, 4), diff]
        cells += [_fmt_ci(r, k, 3) for k in ("delivery", "wasted_post_end")]
        cells += [_fmt_ci(r, k, 3) for k in ("wasted_over_budget", "misplaced", "burst")]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "`*`: the paired difference's CI excludes 0 (same episodes, common random numbers)."
    )
    if doc["episodes"] < min_episodes(doc["level"]):
        lines.append(
            f"no CI, no `*`: {doc['episodes']} episodes, fewer than the "
            f"{min_episodes(doc['level'])} an interval at this level needs (min_episodes)."
        )
    if scaled:
        lines.append(
            "normalised = 100 (policy - reference) / (oracle - reference) on the same episodes; "
            "regret = oracle - policy per episode (docs/oracle.md)."
        )
    return "\n".join(lines)
