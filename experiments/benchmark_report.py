"""What ``pacegym-benchmark`` reports: the hindsight switch, the suite summary, the agents'
verdicts, and ``benchmark.md`` / ``benchmark.png`` from a ``benchmark.json`` document
(``experiments.benchmark.run_suite`` builds it)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.baselines.factory import YARDSTICKS
from pacegym.baselines.normalise import normalise
from pacegym.experiments import leaderboard as lb
from pacegym.experiments.benchmark_comparators import comparator_lines, suite_means, switch_scores

HINDSIGHT_POOLS = ("baselines", "deployable")
"""The policy pools of ``hindsight``: the tuned baselines, or every policy but the yardsticks."""


def hindsight(entries: list[lb.Entry], n_boot: int, level: float) -> dict[str, Any] | None:
    """A perfect per-episode switch among the benchmarked policies, chosen in hindsight.

    For each pool of ``HINDSIGHT_POOLS``, the best ``pacing_score_v2`` of its policies on
    every episode, normalised like a row (CI by the same paired bootstrap), and how often
    each policy is the one chosen. No causal policy can switch like this (it sees the
    episode's outcome); it bounds what any ensemble of, or selector among, these policies
    could score, and shows how far their strengths complement each other. None without
    the oracle and reference rows.
    """
    oracle = next((e for e in entries if e.type == "oracle"), None)
    ref = next((e for e in entries if e.type == "reference"), None)
    if oracle is None or ref is None:
        return None
    out: dict[str, Any] = {}
    for pool in HINDSIGHT_POOLS:
        members, scores = switch_scores(entries, pool)
        if not members:
            continue
        pick = scores.argmax(axis=0)
        norm = normalise(
            scores.max(axis=0),
            ref.rollout.metrics[lb.PRIMARY],
            oracle.rollout.metrics[lb.PRIMARY],
            oracle.rollout.failed,
            n_boot=n_boot,
            seed=0,
            level=level,
        )
        out[pool] = {
            "normalised": norm.normalised,
            "normalised_ci": list(norm.normalised_ci),
            lb.PRIMARY: float(scores.max(axis=0).mean()),
            "chosen": {e.name: float(np.mean(pick == i)) for i, e in enumerate(members)},
        }
    return out


def summary(docs: dict[str, Any]) -> dict[str, Any]:
    """Mean normalised score over the suite per policy (policies present on every
    scenario), and where each scenario's best deployable policy loses most to the oracle."""
    per: dict[str, list[float]] = {}
    for doc in docs.values():
        for r in doc["rows"]:
            per.setdefault(r["name"], []).append(r.get("normalised", float("nan")))
    n = len(docs)
    mean = {k: float(np.mean(v)) for k, v in per.items() if len(v) == n}
    losses = {}
    for key, doc in docs.items():
        o = next((r for r in doc["rows"] if r["type"] == "oracle"), None)
        w = doc["winner"]
        if w is None or o is None:
            continue
        gap = {
            "delivery": o["delivery"] - w["delivery"],
            "waste": w["waste"] - o["waste"],
            "off_plan": w["off_plan"] - o["off_plan"],
        }
        losses[key] = {"best": w["name"], "gap": gap, "most": max(gap, key=lambda k: gap[k])}
    switch = {}
    for pool in HINDSIGHT_POOLS:
        vals = [(d.get("hindsight") or {}).get(pool, {}).get("normalised") for d in docs.values()]
        if vals and all(v is not None for v in vals):
            switch[pool] = float(np.mean(vals))
    return {
        "mean_normalised": mean,
        "headroom": losses,
        "agents": verdicts(docs),
        "hindsight_mean": switch,
        "comparators_mean": suite_means(docs),
    }


HEADROOM_POINTS = 2.0
"""[normalised points] a scenario's best tuned baseline "leaves headroom" when it scores
below ``100 - HEADROOM_POINTS``: there an agent must beat it significantly."""
MEAN_GAIN_POINTS = 5.0
"""[normalised points] the suite mean an agent must add to the per-scenario best baselines."""
REGRET_SHARE = 1.0 / 3.0
"""Share of the best baselines' regret to the oracle (normalised points, suite mean) that an
agent must close."""


def verdicts(docs: dict[str, Any]) -> dict[str, Any]:
    """Each agent against each scenario's best tuned baseline, and the generalist's tests.

    Per scenario: the best baseline (by the score, ``leaderboard.build``), its normalised
    score, the agent's, and their paired difference in normalised points with its CI. The
    tests (issue 15): ``never_worse`` (no scenario's CI lies below zero),
    ``better_where_headroom`` (CI above zero on every scenario where the best baseline is
    below 100 - ``HEADROOM_POINTS``), ``mean_gain`` (suite mean of the agent minus suite
    mean of the per-scenario best baselines, >= ``MEAN_GAIN_POINTS``) and
    ``regret_closed`` (that gain over the baselines' mean distance to 100, >=
    ``REGRET_SHARE``). Scenarios without an oracle scale are skipped, and the tests fail.
    """
    out: dict[str, Any] = {}
    agents = dict.fromkeys(
        r["name"] for d in docs.values() for r in d["rows"] if r["type"] == "agent"
    )
    for name in agents:
        per: dict[str, Any] = {}
        for key, doc in docs.items():
            by = {r["name"]: r for r in doc["rows"]}
            best = by.get(doc.get("best_baseline") or "")
            a = by.get(name)
            if a is None or best is None or "normalised_diff_vs_best_baseline" not in a:
                continue
            lo, hi = a["normalised_diff_vs_best_baseline_ci"]
            headroom = 100.0 - best["normalised"]
            per[key] = {
                "best_baseline": best["name"],
                "best_normalised": best["normalised"],
                "normalised": a["normalised"],
                "diff": a["normalised_diff_vs_best_baseline"],
                "diff_ci": [lo, hi],
                "headroom": headroom,
                "worse": bool(hi < 0.0),
                "better": bool(lo > 0.0),
                "must_beat": bool(headroom > HEADROOM_POINTS),
            }
        complete = len(per) == len(docs) and all(math.isfinite(v["diff"]) for v in per.values())
        gain = float(np.mean([v["diff"] for v in per.values()])) if per else float("nan")
        room = float(np.mean([v["headroom"] for v in per.values()])) if per else float("nan")
        closed = gain / room if room > 0 else float("nan")
        out[name] = {
            "scenarios": per,
            "mean_gain": gain,
            "mean_headroom": room,
            "regret_closed": closed,
            "never_worse": complete and not any(v["worse"] for v in per.values()),
            "better_where_headroom": complete
            and all(v["better"] for v in per.values() if v["must_beat"]),
            "mean_gain_met": complete and gain >= MEAN_GAIN_POINTS,
            "regret_closed_met": complete and closed >= REGRET_SHARE,
        }
    return out


def policy_order(result: dict[str, Any]) -> list[str]:
    """Policies in table order: the oracle, the deployable policies by mean normalised
    score over the suite (best first), then the reference."""
    names = list(dict.fromkeys(r["name"] for d in result["scenarios"].values() for r in d["rows"]))
    types = {r["name"]: r["type"] for d in result["scenarios"].values() for r in d["rows"]}
    mean = result["summary"]["mean_normalised"]
    mid = [n for n in names if types[n] not in YARDSTICKS]
    mid.sort(key=lambda n: -mean.get(n, -math.inf))
    return (
        [n for n in names if types[n] == "oracle"]
        + mid
        + [n for n in names if types[n] == "reference"]
    )


def _cell(r: dict[str, Any], key: str, digits: int) -> str:
    v = r.get(key)
    if v is None or not math.isfinite(v):
        return "-"
    ci = r.get(f"{key}_ci")
    if ci is None:
        return f"{v:.{digits}f}"
    if not math.isfinite(ci[0]):  # too few episodes for an interval (stats.min_episodes)
        return f"{v:.{digits}f} [no CI]"
    return f"{v:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def markdown(result: dict[str, Any]) -> str:
    """The suite table: one row per scenario, one column per policy (normalised score with
    its CI), the summary row, then per-scenario detail (regret, delivery, waste, off-plan)."""
    docs = result["scenarios"]
    policies = policy_order(result)
    head = "| scenario | episodes | " + " | ".join(policies) + " |"
    lines = [
        f"Normalised score (0 = reference, 100 = oracle), mean [95% CI], seed {result['seed']}",
        "",
        head,
        "|---|---:|" + "---:|" * len(policies),
    ]
    for key, doc in docs.items():
        by = {r["name"]: r for r in doc["rows"]}
        cells = [_cell(by[p], "normalised", 1) if p in by else "" for p in policies]
        lines.append(f"| {key} | {doc['episodes']} | " + " | ".join(cells) + " |")
    mean = result["summary"]["mean_normalised"]
    lines.append(
        "| **mean over the suite** | | "
        + " | ".join(f"**{mean[p]:.1f}**" if p in mean else "" for p in policies)
        + " |"
    )
    lines += ["", "Per scenario: regret to the oracle, delivery, waste, off-plan share", ""]
    lines.append(
        "| scenario | policy | normalised | regret | pacing_score_v2 | delivery | waste | off_plan |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for key, doc in docs.items():
        for r in doc["rows"]:
            lines.append(
                f"| {key} | {r['name']} | {_cell(r, 'normalised', 1)} | {_cell(r, 'regret', 4)} "
                f"| {_cell(r, 'pacing_score_v2', 4)} | {r['delivery']:.3f} | {r['waste']:.3f} "
                f"| {r['off_plan']:.3f} |"
            )
        if doc.get("oracle_failures"):
            lines.append(
                f"| {key} | oracle failures excluded | {doc['oracle_failures']} | | | | | |"
            )
    lent = {k: d["borrowed"] for k, d in docs.items() if d.get("borrowed")}
    if lent:
        lines += ["", "Sets not the scenario's own (its suite entry's baselines_from)", ""]
        lines += [
            f"- {k}: " + ", ".join(f"{n} from {f}" for n, f in v.items()) for k, v in lent.items()
        ]
    lines += _verdict_lines(result["summary"].get("agents") or {})
    lines += _hindsight_lines(result)
    lines += comparator_lines(result)
    head_room = result["summary"]["headroom"]
    if head_room:
        lines += ["", "Where the best deployable policy loses most to the oracle", ""]
        lines.append("| scenario | best policy | delivery gap | waste gap | off-plan gap | most |")
        lines.append("|---|---|---:|---:|---:|---|")
        for key, h in head_room.items():
            g = h["gap"]
            lines.append(
                f"| {key} | {h['best']} | {g['delivery']:+.4f} | {g['waste']:+.4f} | "
                f"{g['off_plan']:+.4f} | {h['most']} |"
            )
    return "\n".join(lines)


def _verdict_lines(agents: dict[str, Any]) -> list[str]:
    """Each agent against every scenario's best tuned baseline, and the tests' outcome."""
    lines: list[str] = []
    for name, v in agents.items():
        lines += [
            "",
            f"{name} against each scenario's best tuned baseline (normalised points; paired "
            "95% CI; `must beat`: the baseline leaves more than "
            f"{HEADROOM_POINTS:g} points to the oracle)",
            "",
            "| scenario | best tuned baseline | its score | agent | agent - baseline | must beat | outcome |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for key, s in v["scenarios"].items():
            lo, hi = s["diff_ci"]
            outcome = "worse" if s["worse"] else "better" if s["better"] else "tie"
            lines.append(
                f"| {key} | {s['best_baseline']} | {s['best_normalised']:.1f} | "
                f"{s['normalised']:.1f} | {s['diff']:+.1f} [{lo:+.1f}, {hi:+.1f}] | "
                f"{'yes' if s['must_beat'] else 'no'} | {outcome} |"
            )
        yes = {True: "met", False: "not met"}
        lines += [
            "",
            f"- never worse than the best tuned baseline: {yes[v['never_worse']]}",
            f"- better (CI above 0) wherever it leaves > {HEADROOM_POINTS:g} points: "
            f"{yes[v['better_where_headroom']]}",
            f"- suite mean gain {v['mean_gain']:+.1f} points (needs >= {MEAN_GAIN_POINTS:g}): "
            f"{yes[v['mean_gain_met']]}",
            f"- regret closed {100 * v['regret_closed']:.0f}% of {v['mean_headroom']:.1f} points "
            f"(needs >= {100 * REGRET_SHARE:.0f}%): {yes[v['regret_closed_met']]}",
        ]
    return lines


def _hindsight_lines(result: dict[str, Any]) -> list[str]:
    """The per-episode switch in hindsight (``hindsight``) per scenario, and its suite mean."""
    docs = result["scenarios"]
    if not any(d.get("hindsight") for d in docs.values()):
        return []
    lines = [
        "",
        "A perfect per-episode switch, chosen in hindsight (not a causal policy: it bounds "
        "any selector among or ensemble of the policies above); normalised (raw "
        "pacing_score_v2 in parentheses), with the policy chosen most often",
        "",
        "| scenario | among tuned baselines | most chosen | among all deployable | most chosen |",
        "|---|---:|---|---:|---|",
    ]
    for key, doc in docs.items():
        h = doc.get("hindsight") or {}
        cells = []
        for pool in HINDSIGHT_POOLS:
            v = h.get(pool)
            if v is None:
                cells += ["-", "-"]
                continue
            top = max(v["chosen"], key=lambda n: v["chosen"][n])
            raw = f" ({v[lb.PRIMARY]:.4f})" if lb.PRIMARY in v else ""
            cells += [_cell(v, "normalised", 1) + raw, f"{top} ({100 * v['chosen'][top]:.0f}%)"]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    mean = result["summary"].get("hindsight_mean") or {}
    cells = [f"**{mean[p]:.1f}**" if p in mean else "" for p in HINDSIGHT_POOLS]
    lines.append(f"| **mean over the suite** | {cells[0]} | | {cells[1]} | |")
    return lines


def plot(result: dict[str, Any], path: Path) -> None:
    """Normalised score per scenario and policy, with CI whiskers (0 and 100 marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = result["scenarios"]
    keys = list(docs)
    types = {r["name"]: r["type"] for d in docs.values() for r in d["rows"]}
    policies = [p for p in policy_order(result) if types[p] not in YARDSTICKS]
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.45 * len(keys) * max(1, len(policies)) / 2.5))
    height = 0.8 / max(1, len(policies))
    for j, pol in enumerate(policies):
        ys, xs, lo, hi = [], [], [], []
        for i, key in enumerate(keys):
            r = next((r for r in docs[key]["rows"] if r["name"] == pol), None)
            if r is None or not math.isfinite(r.get("normalised", float("nan"))):
                continue
            ys.append(i + (j - (len(policies) - 1) / 2) * height)
            xs.append(r["normalised"])
            lo.append(r["normalised"] - r["normalised_ci"][0])
            hi.append(r["normalised_ci"][1] - r["normalised"])
        ax.barh(ys, xs, height=height, xerr=[lo, hi], label=pol, capsize=2)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.axvline(100.0, color="k", lw=0.8, ls="--")
    ax.set_yticks(range(len(keys)), keys)
    ax.invert_yaxis()
    ax.set_xlabel("normalised score (0 = reference, 100 = oracle)")
    finite = [
        r["normalised"]
        for d in docs.values()
        for r in d["rows"]
        if math.isfinite(r.get("normalised", float("nan")))
    ]
    ax.set_xlim(max(-50.0, min([0.0, *finite]) - 5), 105)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("pacegym benchmark suite")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
