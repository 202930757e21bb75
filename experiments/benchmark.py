"""``pacegym-benchmark``: every policy on every scenario of the benchmark suite, normalised.

    pacegym-benchmark                                     # tuned baselines, the whole suite
    pacegym-benchmark 'benchmark.agents=[outputs/train/<date>/model]'
    pacegym-benchmark 'benchmark.only=[live_commerce,suite/surge_storm]' benchmark.episodes_short=50

For each scenario of ``benchmark.suite`` (``conf/benchmark.yaml``: the three presets and
the suite's hard cases in ``conf/scenario/suite/``) the app runs, on the same episodes
(common random numbers): the tuned baselines of the scenario (its own set
``conf/controller/<scenario>/``, kind by kind, else the set of the preset it varies,
``baselines_from``), every agent of ``benchmark.agents``, the naive ``reference`` and the
clairvoyant ``oracle``; ``benchmark.controllers`` adds controller configs that run unchanged
on every scenario, ranked like agents (the generalist's base); ``benchmark.single_set``, the
best single baseline set tuned for the whole suite, runs like them and is one of every
policy's comparators (``experiments.benchmark_comparators``); ``benchmark.drift_bound``
(set by the value suite) names a value-aware set that also runs told each episode's true
channel drift, a clairvoyant row of type ``bound`` (``baselines.drift_bound``), compared
but never crowned. Each row gets its normalised
score (0 reference, 100 oracle), its regret to the oracle (paired CIs;
``baselines.normalise``), delivery, waste and off-plan share (misplaced + burst), through
the same leaderboard code as ``pacegym-compare``. Short flights run ``episodes_short``
episodes, flights of ``long_flight_min`` or longer ``episodes_long``.

Writes to the run dir: ``benchmark.json`` (every scenario's leaderboard document plus the
summary), ``benchmark.md`` (scenario x policy table, the summary row: mean normalised
score over the suite; each agent against each scenario's best tuned baseline,
``verdicts``; every policy's paired differences to its comparators) and
``benchmark.png``; with tracking, one parent MLflow run (``run_type=benchmark``) with
per-scenario metrics and the files as artifacts. Oracle solver failures are counted per
scenario and excluded from the normalisation, never hidden.

``benchmark.workers=N`` evaluates N scenarios at once, each in its own process with one
BLAS/numba/torch thread (``benchmark.ray_address=host:port``: as tasks on that Ray
cluster); the results are those of a serial run (``experiments.benchmark_workers``). By
default (null) one scenario per usable CPU; ``workers=1`` runs them here, one by one. The
oracle's episodes run in batches of its ``warm_models`` (``batch_of``), so every one
re-plans warm; every other policy's in batches of ``batch_size``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from pacegym import progress
from pacegym.baselines.factory import YARDSTICKS, from_spec
from pacegym.baselines.harness import BATCH_SIZE, run_episodes
from pacegym.baselines.stats import LEVEL, N_BOOT
from pacegym.envs.checks import setting
from pacegym.envs.params import ScenarioParams, bounds
from pacegym.envs.scenarios import resolve
from pacegym.experiments import leaderboard as lb
from pacegym.experiments import tracking
from pacegym.experiments.benchmark_comparators import comparators
from pacegym.experiments.benchmark_policies import Agent, single_set_row
from pacegym.experiments.benchmark_policies import agents as _agents
from pacegym.experiments.benchmark_policies import suite_controllers as suite_controllers
from pacegym.experiments.benchmark_report import hindsight, markdown, plot, summary
from pacegym.experiments.benchmark_workers import (
    QUIET,
    one_thread,
    prestart,
    run_parallel,
    scenario_cost,
    worker_count,
)
from pacegym.experiments.config import (
    TrackingConfig,
    check_settings,
    count_setting,
    schema,
    seed_setting,
)
from pacegym.experiments.hydra_app import app_run_dir, hydra_app

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
    # the best single baseline set tuned for the whole suite (a controller config, e.g.
    # value_generalist/dual_price_tuned): runs on every scenario like a controller, and
    # every policy's paired difference to it is reported (benchmark_comparators)
    single_set: str | None = None
    # a value-aware controller config also run with each episode's true channel drift
    # (baselines.drift_bound, clairvoyant): a row of type "bound", the ceiling of what any
    # drift estimate is worth to that rule, paired with every comparator; never crowned
    drift_bound: str | None = None
    # an mpc controller config also run told each episode's world model (its hidden
    # parameters, never its draws; baselines.mpc.ModelMPC, clairvoyant): a row of type
    # "bound", what certainty-equivalent planning on a perfectly learned model is worth
    model_bound: str | None = None
    # [episodes] per policy on flights shorter than long_flight_min; on the others
    episodes_short: int = count_setting(200, 1_000_000)
    episodes_long: int = count_setting(50, 1_000_000)
    long_flight_min: float = setting(1440.0, 0.0, math.inf, low_open=True, high_open=True)  # [min]
    seed: int = seed_setting(3_000_000)  # test seeds: disjoint from compare's, training's, tuning's
    n_boot: int = count_setting(N_BOOT, 1_000_000)
    level: float = setting(LEVEL, 0.0, 1.0, low_open=True, high_open=True)
    batch_size: int = count_setting(BATCH_SIZE, 1_000_000)
    # scenarios evaluated at once, each in its own process with one BLAS/numba/torch thread
    # (experiments.benchmark_workers); 1: in this process; null (the default): the CPUs this
    # process may use, at most one per scenario (benchmark_workers.worker_count). The same
    # results either way.
    workers: int | None = setting(None, 1, 256, integer=True)
    # a Ray cluster (host:port, or auto) whose tasks run the scenarios, workers at a time
    ray_address: str | None = None


@dataclass
class BenchmarkApp:
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    overwrite: bool = False  # replace an earlier run's results in hydra.run.dir (pacegym.outdir)


ConfigStore.instance().store(name="benchmark_schema", node=schema(BenchmarkApp))

COLUMNS = ("normalised", "regret", "pacing_score_v2", "delivery", "waste", "off_plan")
"""Per-policy figures of the suite table (``waste`` = post-end + over budget,
``off_plan`` = misplaced + burst; shares of the budget)."""


def _check(b: Any) -> None:
    check_settings("benchmark", b, BenchmarkConfig)
    if b.ray_address:  # an address that never answers: refused in seconds, not a hang
        from pacegym.experiments.ray_connect import probe

        probe("benchmark.ray_address", str(b.ray_address))
    names = [str(e.scenario) for e in b.suite]
    unknown = sorted(set(b.only) - set(names))
    if unknown:
        raise ValueError(f"benchmark.only = {unknown[0]!r} is not in the suite: allowed {names}")
    families = tuned_families()
    for i, e in enumerate(b.suite):
        if e.baselines_from is not None and str(e.baselines_from) not in families:
            raise ValueError(
                f"benchmark.suite[{i}].baselines_from = {str(e.baselines_from)!r} has no tuned "
                f"sets: allowed {families}"
            )


def tuned_families() -> list[str]:
    """The presets whose tuned sets a suite entry may borrow (``baselines_from``): live
    commerce (the top-level sets) and every preset with a ``controller/<preset>/`` folder."""
    from pacegym.envs.scenarios import PRESETS
    from pacegym.resources import TUNED_DEFAULT_SCENARIO, config_files

    return sorted(
        p for p in PRESETS if p == TUNED_DEFAULT_SCENARIO or config_files(f"controller/{p}")
    )


def _policies(
    entry: Any, sc: ScenarioParams, patterns: list[str]
) -> list[tuple[str, dict[str, Any], Path]]:
    """(row name, controller spec, config path) of the baselines and yardsticks of suite
    entry ``entry`` (its scenario ``sc``)."""
    from pacegym.experiments.compare import find_baselines, yardstick_configs

    family = None if entry.baselines_from is None else str(entry.baselines_from)
    out = []
    for p in [*find_baselines(patterns, sc.name, stand_in=family), *yardstick_configs()]:
        spec = yaml.safe_load(p.read_text())
        out.append((p.stem, spec, p))
    return out


Plan = tuple[str, ScenarioParams, int, list[tuple[str, dict[str, Any], Path, Any]]]
"""(suite key, scenario, episodes, its baselines and yardsticks: (name, spec, path, controller))."""
Unit = tuple[str, ScenarioParams, int, list[tuple[str, dict[str, Any], Path]]]
"""A ``Plan`` without its controllers: what a worker of ``benchmark.workers`` is sent."""


def _plan(b: Any, e: Any) -> Plan:
    """Suite entry ``e`` resolved, with its policies built."""
    sc = resolve(str(e.scenario))
    long = bounds(sc.time.flight_min)[1] >= float(b.long_flight_min)
    episodes = int(b.episodes_long if long else b.episodes_short)
    ctrls = [(n, s, p, from_spec(s)) for n, s, p in _policies(e, sc, list(b.baselines))]
    return str(e.scenario), sc, episodes, ctrls


def _plans(b: Any) -> list[Plan]:
    """Every selected suite entry resolved, with its policies built (fails before any work);
    each set a scenario borrows (``baselines_from``) is said in the log."""
    plans = [_plan(b, e) for e in _selected(b)]
    for plan in plans:
        for family, names in _by_family(borrowed(b, plan)).items():
            log.info("%s runs %s from %s (baselines_from)", plan[0], ", ".join(names), family)
    return plans


def _selected(b: Any) -> list[Any]:
    """The suite entries this run evaluates (``benchmark.only``, else all)."""
    return [e for e in b.suite if not b.only or str(e.scenario) in set(b.only)]


def borrowed(b: Any, plan: Plan) -> dict[str, str]:
    """Row name -> the preset whose tuned set of that kind suite entry ``plan`` runs, for
    every set that is not the scenario's own (its entry's ``baselines_from``)."""
    key, sc, _, ctrls = plan
    family = next((e.baselines_from for e in b.suite if str(e.scenario) == key), None)
    if family is None:
        return {}
    return {
        name: str(family)
        for name, spec, path, _ in ctrls
        if str(spec["kind"]) not in YARDSTICKS and path.parent.name != sc.name
    }


def _by_family(names: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, family in names.items():
        out.setdefault(family, []).append(name)
    return out


def scenario_job(plain: Any, unit: Unit) -> dict[str, Any]:
    """One suite scenario's document from plain benchmark settings and its plan without the
    controllers (``_unit``): what a worker process or Ray task of ``benchmark.workers``
    runs (``experiments.benchmark_workers``). It builds the controllers from their specs,
    the oracle solving one episode at a time (``one_thread``: one core per worker)."""
    from omegaconf import OmegaConf

    b = OmegaConf.create(plain)
    key, sc, episodes, specs = unit
    ctrls = [(n, s, p, from_spec(one_thread(s))) for n, s, p in specs]
    return _scenario_doc(b, (key, sc, episodes, ctrls), _agents(b), QUIET)


def _unit(plan: Plan) -> Unit:
    """``plan`` as a worker gets it: the resolved scenario and the specs, not the controllers
    (a worker then needs neither the suite's config lookup nor its imports)."""
    key, sc, episodes, ctrls = plan
    return key, sc, episodes, [(n, s, p) for n, s, p, _ in ctrls]


def _docs(b: Any, plans: list[Plan], agents: list[Agent], pbar: Any) -> dict[str, Any]:
    """Every scenario's document, in suite order: here, or on ``benchmark.workers``."""
    if worker_count(b, len(plans)) <= 1 and not b.ray_address:
        return {plan[0]: _scenario_doc(b, plan, agents, pbar) for plan in plans}
    size = {p[0]: p[2] * (len(p[3]) + len(agents)) for p in plans}  # episodes to run
    cost = {
        p[0]: scenario_cost(p[2], bounds(p[1].time.flight_min)[1], len(p[3]) + len(agents))
        for p in plans
    }

    def done(key: str) -> None:
        pbar.set_postfix_str(key)
        pbar.update(size[key])

    return run_parallel(b, {p[0]: _unit(p) for p in plans}, cost, scenario_job, done)


def _scenario_doc(b: Any, plan: Plan, agents: list[Agent], pbar: Any) -> dict[str, Any]:
    """One scenario's leaderboard document: every policy on the same episodes, normalised."""
    key, sc, episodes, ctrls = plan
    t0 = time.perf_counter()
    rows: list[lb.Entry] = []
    failures = 0
    for name, spec, path, ctrl in ctrls:
        pbar.set_postfix_str(f"{sc.name}: {name}")
        roll = run_episodes(ctrl, sc, episodes, int(b.seed), batch_of(b, ctrl))
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
        rows.append(lb.Entry(name, getattr(agent, "role", "agent"), algo, roll, src))
    built, best = lb.build(rows, lb.PRIMARY, int(b.n_boot), float(b.level))
    for r in built:
        r["waste"] = r["wasted_post_end"] + r["wasted_over_budget"]
        r["off_plan"] = r["misplaced"] + r["burst"]
    doc = lb.document(
        built, best, sc.name, episodes, int(b.seed), lb.PRIMARY, int(b.n_boot), float(b.level), None
    )
    doc["oracle_failures"] = failures
    doc["borrowed"] = borrowed(b, plan)
    doc["hindsight"] = hindsight(rows, int(b.n_boot), float(b.level))
    doc["comparators"] = comparators(rows, best, single_set_row(b), int(b.n_boot), float(b.level))
    doc["seconds"] = time.perf_counter() - t0
    if failures:
        log.warning("%s: the oracle failed on %d episodes (excluded)", key, failures)
    return doc


def batch_of(b: Any, ctrl: Any) -> int:
    """Episodes per batch for controller ``ctrl``: ``benchmark.batch_size``, at most the
    controller's ``batch_limit`` (the oracle's ``warm_models``: so every episode re-plans
    warm, not only the first ``warm_models`` of a batch). The same results per episode
    whatever the batch (each row has its own seeds); only the oracle's cold rows, another
    optimal schedule of the same LP, become warm ones."""
    limit = getattr(ctrl, "batch_limit", None)
    return int(b.batch_size) if limit is None else min(int(b.batch_size), int(limit))


def _log_to_run(result: dict[str, Any], out: Path) -> None:
    """The suite's metrics and files on the open MLflow run."""
    metrics = {}
    for key, doc in result["scenarios"].items():
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


def run_suite(cfg: DictConfig, out: Path) -> dict[str, Any]:
    """Evaluate, normalise and write the suite; returns the ``benchmark.json`` document."""
    b = cfg.benchmark
    _check(b)
    prestart(b, len(_selected(b)))  # local workers: the forkserver imports meanwhile
    plans = _plans(b)  # resolve everything first: a bad scenario, baseline or agent fails
    agents = _agents(b, cfg)  # before any work
    out.mkdir(parents=True, exist_ok=True)
    total = sum(ep * (len(c) + len(agents)) for _, _, ep, c in plans)
    tags = {"run_type": "benchmark", "policy_kind": "suite"}
    with (
        tracking.start_run(cfg, "benchmark suite", tags) as parent,
        progress.bar(total, "benchmark", "episodes") as pbar,
    ):
        docs = _docs(b, plans, agents, pbar)
        result = {
            "seed": int(b.seed),
            "level": float(b.level),
            "scenarios": docs,
            "summary": summary(docs),
            "seconds": {key: doc["seconds"] for key, doc in docs.items()},
        }
        (out / "benchmark.json").write_text(json.dumps(result, indent=2))
        (out / "benchmark.md").write_text(markdown(result) + "\n")
        plot(result, out / "benchmark.png")
        if parent is not None:
            _log_to_run(result, out)
    return result


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


def _main(cfg: DictConfig) -> None:
    out = app_run_dir("benchmark")
    result = run_suite(cfg, out)
    log.info("%s", markdown(result))
    log.info("\nbenchmark.json: %s", out / "benchmark.json")


main = hydra_app("benchmark")(_main)


if __name__ == "__main__":
    main()
