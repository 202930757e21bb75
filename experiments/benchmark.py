"""``pacegym-benchmark``: every policy on every scenario of the benchmark suite, normalised.

    pacegym-benchmark                                     # tuned baselines, the whole suite
    pacegym-benchmark 'benchmark.agents=[outputs/train/<date>/model]'
    pacegym-benchmark 'benchmark.only=[live_commerce,suite/surge_storm]' benchmark.episodes_short=50

For each scenario of ``benchmark.suite`` (``conf/benchmark.yaml``: the three presets and
the suite's hard cases in ``conf/scenario/suite/``) the app runs, on the same episodes
(common random numbers): the tuned baselines of the scenario (its own set
``conf/controller/<scenario>/`` when there is one, else the set of the preset it varies,
``baselines_from``), every agent of ``benchmark.agents``, the naive ``reference`` and the
clairvoyant ``oracle``; ``benchmark.controllers`` adds controller configs that run unchanged
on every scenario, ranked like agents (the generalist's base). Each row gets its normalised score (0 reference, 100 oracle),
its regret to the oracle (paired CIs; ``baselines.normalise``), delivery, waste and
off-plan share (misplaced + burst), through the same leaderboard code as
``pacegym-compare``. Short flights run ``episodes_short`` episodes, flights of
``long_flight_min`` or longer ``episodes_long``.

Writes to the run dir: ``benchmark.json`` (every scenario's leaderboard document plus the
summary), ``benchmark.md`` (scenario x policy table, the summary row: mean normalised
score over the suite; each agent against each scenario's best tuned baseline,
``verdicts``) and ``benchmark.png``; with tracking, one parent MLflow run
(``run_type=benchmark``) with per-scenario metrics and the files as artifacts. Oracle
solver failures are counted per scenario and excluded from the normalisation, never
hidden.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pacegym import progress
from pacegym.baselines.factory import YARDSTICKS, from_spec
from pacegym.baselines.harness import BATCH_SIZE, run_episodes
from pacegym.baselines.normalise import normalise
from pacegym.baselines.stats import LEVEL, N_BOOT
from pacegym.envs.params import ScenarioParams, bounds
from pacegym.envs.scenarios import resolve
from pacegym.experiments import leaderboard as lb
from pacegym.experiments import tracking
from pacegym.experiments.config import SEED_LIMITS, TrackingConfig, check_ints, schema
from pacegym.experiments.hydra_app import hydra_app
from pacegym.resources import find_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuiteEntry:
    scenario: str = ""  # a scenario name (preset, suite/<name>) or a path to a YAML file
    baselines_from: str | None = None  # preset whose tuned set stands in (no own set)


@dataclass(frozen=True)
class BenchmarkConfig:
    suite: list[SuiteEntry] = field(default_factory=list)  # conf/benchmark.yaml lists it
    only: list[str] = field(default_factory=list)  # run these suite scenarios only (all: [])
    baselines: list[str] = field(default_factory=lambda: ["*_tuned"])  # controller globs
    agents: list[str] = field(default_factory=list)  # model dirs (with agent.json)
    # controller configs that run unchanged on every scenario, ranked like agents (one
    # policy for the whole suite, e.g. the generalist's base, generalist/pid_tuned)
    controllers: list[str] = field(default_factory=list)
    episodes_short: int = 200  # [episodes] per policy on flights shorter than long_flight_min
    episodes_long: int = 50  # [episodes] per policy on flights of long_flight_min or more
    long_flight_min: float = 1440.0  # [min]
    seed: int = 3_000_000  # test seeds: disjoint from compare's, training's and tuning's
    n_boot: int = N_BOOT
    level: float = LEVEL
    batch_size: int = BATCH_SIZE


@dataclass
class BenchmarkApp:
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


ConfigStore.instance().store(name="benchmark_schema", node=schema(BenchmarkApp))

COLUMNS = ("normalised", "regret", "pacing_score_v2", "delivery", "waste", "off_plan")
"""Per-policy figures of the suite table (``waste`` = post-end + over budget,
``off_plan`` = misplaced + burst; shares of the budget)."""


def _check(b: Any) -> None:
    limits = {
        "episodes_short": (1, 1_000_000),
        "episodes_long": (1, 1_000_000),
        "batch_size": (1, 1_000_000),
        "n_boot": (1, 1_000_000),
        "seed": SEED_LIMITS,
    }
    check_ints("benchmark.", b, limits)
    lf = float(b.long_flight_min)
    if not math.isfinite(lf) or lf <= 0:
        raise ValueError(f"benchmark.long_flight_min = {lf}: allowed (0, inf) [min]")
    names = [str(e.scenario) for e in b.suite]
    unknown = sorted(set(b.only) - set(names))
    if unknown:
        raise ValueError(f"benchmark.only = {unknown[0]!r} is not in the suite: allowed {names}")


def _policies(
    entry: Any, sc: ScenarioParams, patterns: list[str]
) -> list[tuple[str, dict[str, Any], Path]]:
    """(row name, controller spec, config path) of the baselines and yardsticks of suite
    entry ``entry`` (its scenario ``sc``)."""
    from pacegym.experiments.compare import find_baselines, yardstick_configs
    from pacegym.resources import config_files

    own = config_files(f"controller/{sc.name}")
    family = sc.name if own or not entry.baselines_from else str(entry.baselines_from)
    out = []
    for p in [*find_baselines(patterns, family), *yardstick_configs()]:
        spec = yaml.safe_load(p.read_text())
        out.append((p.stem, spec, p))
    return out


def run_suite(cfg: DictConfig, out: Path) -> dict[str, Any]:
    """Evaluate, normalise and write the suite; returns the ``benchmark.json`` document."""
    b = cfg.benchmark
    _check(b)
    entries = [e for e in b.suite if not b.only or str(e.scenario) in set(b.only)]
    # resolve everything first: a bad scenario, baseline or agent fails before any work
    plans = []
    for e in entries:
        sc = resolve(str(e.scenario))
        long = bounds(sc.time.flight_min)[1] >= float(b.long_flight_min)
        episodes = int(b.episodes_long if long else b.episodes_short)
        ctrls = [(n, s, p, from_spec(s)) for n, s, p in _policies(e, sc, list(b.baselines))]
        plans.append((str(e.scenario), sc, episodes, ctrls))
    # (row name, kind, source path, controller): loaded once, reset by every rollout
    agents: list[tuple[str, str, Path, Any]] = []
    for c in b.controllers:
        from pacegym.baselines.factory import load_controller_yaml

        path = find_config("controller", str(c))
        if path is None:
            raise ValueError(f"benchmark.controllers entry {str(c)!r}: no such controller config")
        ctrl = load_controller_yaml(path)
        agents.append((str(c).replace("/", "."), ctrl.kind, path, ctrl))
    if b.agents:
        from pacegym.agents.policy import load_controller

        for a in b.agents:
            md = Path(str(a))
            md = md / "model" if (md / "model" / "agent.json").is_file() else md
            if not (md / "agent.json").is_file():
                raise ValueError(f"benchmark.agents entry {str(a)!r}: no agent.json in it")
            meta = json.loads((md / "agent.json").read_text())
            name = str(meta["name"])
            agents.append((name, str(meta["algo"]), md, load_controller(md, name)))
    out.mkdir(parents=True, exist_ok=True)
    total = sum(ep * (len(c) + len(agents)) for _, _, ep, c in plans)
    docs: dict[str, Any] = {}
    timing: dict[str, float] = {}
    tags = {"run_type": "benchmark", "policy_kind": "suite"}
    with (
        tracking.start_run(cfg, "benchmark suite", tags) as parent,
        progress.bar(total, "benchmark", "episodes") as pbar,
    ):
        for key, sc, episodes, ctrls in plans:
            t0 = time.perf_counter()
            rows: list[lb.Entry] = []
            failures = 0
            for name, spec, path, ctrl in ctrls:
                pbar.set_postfix_str(f"{sc.name}: {name}")
                roll = run_episodes(ctrl, sc, episodes, int(b.seed), int(b.batch_size))
                pbar.update(episodes)
                kind = str(spec["kind"])
                role = kind if kind in YARDSTICKS else "baseline"
                if kind == "oracle":
                    failures = int(getattr(ctrl, "failures", 0))
                src = {"controller": spec, "config": str(path)}
                rows.append(lb.Entry(name, role, kind, roll, src))
            for name, algo, md, agent in agents:
                pbar.set_postfix_str(f"{sc.name}: {name}")
                roll = run_episodes(agent, sc, episodes, int(b.seed), int(b.batch_size))
                pbar.update(episodes)
                src = {"model_dir": str(md.resolve())} if md.is_dir() else {"config": str(md)}
                rows.append(lb.Entry(name, "agent", algo, roll, src))
            built, best = lb.build(rows, lb.PRIMARY, int(b.n_boot), float(b.level))
            for r in built:
                r["waste"] = r["wasted_post_end"] + r["wasted_over_budget"]
                r["off_plan"] = r["misplaced"] + r["burst"]
            doc = lb.document(
                built,
                best,
                sc.name,
                episodes,
                int(b.seed),
                lb.PRIMARY,
                int(b.n_boot),
                float(b.level),
                None,
            )
            doc["oracle_failures"] = failures
            doc["hindsight"] = hindsight(rows, int(b.n_boot), float(b.level))
            doc["seconds"] = time.perf_counter() - t0
            docs[key] = doc
            timing[key] = doc["seconds"]
            if failures:
                log.warning("%s: the oracle failed on %d episodes (excluded)", key, failures)
        result = {
            "seed": int(b.seed),
            "level": float(b.level),
            "scenarios": docs,
            "summary": summary(docs),
            "seconds": timing,
        }
        (out / "benchmark.json").write_text(json.dumps(result, indent=2))
        (out / "benchmark.md").write_text(markdown(result) + "\n")
        plot(result, out / "benchmark.png")
        if parent is not None:
            metrics = {}
            for key, doc in docs.items():
                for r in doc["rows"]:
                    for col in ("normalised", "regret"):
                        v = r.get(col)
                        if v is not None and math.isfinite(v):
                            metrics[f"{_slug(key)}.{_slug(r['name'])}.{col}"] = v
            for pol, v in result["summary"]["mean_normalised"].items():
                metrics[f"suite.{_slug(pol)}.mean_normalised"] = v
            tracking.log_metrics(metrics)
            for f in ("benchmark.json", "benchmark.md", "benchmark.png"):
                tracking.log_artifact(out / f)
    return result


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


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
        members = [
            e
            for e in entries
            if e.type not in YARDSTICKS and (pool == "deployable" or e.type == "baseline")
        ]
        if not members:
            continue
        scores = np.stack([e.rollout.metrics[lb.PRIMARY] for e in members])
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
    lines += _verdict_lines(result["summary"].get("agents") or {})
    lines += _hindsight_lines(result)
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
        "any selector among or ensemble of the policies above); normalised, with the "
        "policy chosen most often",
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
            cells += [_cell(v, "normalised", 1), f"{top} ({100 * v['chosen'][top]:.0f}%)"]
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


def _run_dir() -> Path:
    try:
        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path("outputs/benchmark")


def _main(cfg: DictConfig) -> None:
    result = run_suite(cfg, _run_dir())
    log.info("%s", markdown(result))
    log.info("\nbenchmark.json: %s", _run_dir() / "benchmark.json")


main = hydra_app("benchmark")(_main)


if __name__ == "__main__":
    main()
