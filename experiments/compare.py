"""``pacegym-compare``: every tuned baseline and every trained agent on the same held-out
scenarios and seeds -> a leaderboard (Hydra app, ``conf/compare.yaml``).

Examples::

    pacegym-compare                                   # tuned baselines + latest agents
    pacegym-compare 'compare.agents=[outputs/train/<date>/model]' compare.discover_agents=false
    pacegym-compare 'compare.baselines=[pid_tuned,on_off]' compare.episodes=1024

Policies:
- baselines: every ``conf/controller/<name>.yaml`` matching a pattern of
  ``compare.baselines`` (globs such as ``*_tuned``, or paths to controller YAMLs);
- agents: ``compare.agents`` (model dirs, train run dirs, or MLflow run ids of train
  runs) plus, with ``compare.discover_agents``, the latest finished MLflow train run of
  every agent name on this scenario.

Yardsticks (``compare.oracle``, on by default): the clairvoyant ``oracle`` and the naive
``reference`` (``conf/controller/{oracle,reference}.yaml``) run on the same episodes;
every row then carries its regret and normalised score (0 reference, 100 oracle) and
the table ranks by it. ``compare.oracle=false`` leaves them out.

Writes ``leaderboard.json`` (layout: ``experiments.leaderboard``) and ``leaderboard.md``
in the run dir, prints the markdown table, and logs a parent MLflow run
(``run_type=compare``) with one nested run per policy (``run_type=compare_entry``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from pacegym import progress
from pacegym.agents.model_dir import read_agent_meta
from pacegym.agents.policy import load_controller, one_inference_thread
from pacegym.baselines.factory import YARDSTICKS, from_spec
from pacegym.baselines.harness import run_episodes
from pacegym.envs import yaml_io
from pacegym.envs.scenarios import resolve, to_dict
from pacegym.experiments import config as _config  # also registers the schemas
from pacegym.experiments import figures, policies, tracking
from pacegym.experiments import leaderboard as lb
from pacegym.experiments.hydra_app import app_run_dir, hydra_app, scenario_dict
from pacegym.resources import TUNED_DEFAULT_SCENARIO, config_files

log = logging.getLogger(__name__)


def find_baselines(
    patterns: Sequence[str],
    scenario: str = TUNED_DEFAULT_SCENARIO,
    search: Sequence[str | Path] = (),
    stand_in: str | None = None,
) -> list[Path]:
    """Controller YAMLs of ``patterns`` on ``scenario`` (``experiments.policies``): names,
    globs (``*_tuned``) or paths. A name or glob matches among the configs the scenario sees
    (``policies.scenario_configs``): its own tuned sets (``controller/<scenario>/``, the
    sets ``pacegym-tune`` writes per scenario), else those of ``stand_in`` (the preset
    whose sets a scenario without its own runs: by default the suites', ``suites.stand_in``),
    kind by kind, and the untuned configs; never a set tuned for another scenario.
    """
    return policies.controller_files(
        patterns, scenario, search, key="compare.baselines", stand_in=stand_in
    )


def check_config(c: Any) -> None:
    """Refuse a bad ``compare`` section before any run is opened (one line naming the key)."""
    from pacegym.envs.metrics import METRIC_KEYS

    _config.check_settings("compare", c, _config.CompareConfig)
    if c.primary not in METRIC_KEYS:
        raise ValueError(f"compare.primary = {c.primary!r}: allowed {list(METRIC_KEYS)}")


def yardstick_configs(search: Sequence[str | Path] = ()) -> list[Path]:
    """The ``reference`` and ``oracle`` controller configs (./conf's own first)."""
    files = config_files("controller", search)
    missing = [k for k in YARDSTICKS if k not in files]
    if missing:
        raise ValueError(f"compare.oracle = true needs controller configs {missing}")
    return [files[k] for k in YARDSTICKS]


def discover_agents(cfg: DictConfig, scenario_name: str) -> list[str]:
    """MLflow run ids of the latest finished train run per agent name on this scenario."""
    if not tracking.tracking_enabled(cfg):
        return []
    import mlflow

    client = mlflow.MlflowClient(tracking.tracking_uri(cfg))
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    if exp is None:
        return []
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=(
            f"tags.run_type = 'train' and attributes.status = 'FINISHED' "
            f"and tags.scenario = '{scenario_name}'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=500,
    )
    seen: dict[str, str] = {}
    for r in runs:
        seen.setdefault(r.data.tags.get("agent_name", r.info.run_id), r.info.run_id)
    return list(seen.values())


def _log_entry(cfg: DictConfig, e: lb.Entry, agg: dict[str, Any]) -> str | None:
    tags = {"run_type": "compare_entry", "policy_name": e.name, "policy_kind": e.kind}
    with tracking.start_run(cfg, e.name, tags, nested=True, log_config=False) as run:
        if run is None:
            return None
        import mlflow

        mlflow.log_params({"type": e.type, "kind": e.kind, "source": json.dumps(e.source)[:6000]})
        tracking.log_metrics(lb.metric_summary(agg))
        return run.info.run_id


def compare(
    cfg: DictConfig, run_dir: str | Path | None = None, agents: Sequence[str] = ()
) -> dict[str, Any]:
    """Evaluate, rank and log; returns the ``leaderboard.json`` document."""
    out = app_run_dir("compare", run_dir)
    out.mkdir(parents=True, exist_ok=True)
    c = cfg.compare
    check_config(c)
    one_inference_thread()  # small-batch agents: torch's extra threads only spin
    scenario = resolve(scenario_dict(cfg))
    # resolve every policy before evaluating anything: bad entries fail fast
    baselines = [
        (p, yaml_io.load(p.read_text(encoding="utf-8")))
        for p in find_baselines(list(c.baselines), scenario.name)
    ]
    if c.oracle:
        baselines += [(p, yaml_io.load(p.read_text(encoding="utf-8"))) for p in yardstick_configs()]
    controllers = [(p, spec, from_spec(spec)) for p, spec in baselines]
    if tracking.tracking_enabled(cfg):
        tracking.ensure_store(tracking.tracking_uri(cfg))
    models = _models(cfg, agents, scenario.name)
    for path, _, ctrl in controllers:
        log.info("%s: %s", ctrl.name, path)
    for md, rid in models:
        log.info("agent: %s%s", md.resolve(), f" (MLflow run {rid})" if rid else "")
    tags = {"run_type": "compare", "policy_kind": "leaderboard"}
    episodes = int(c.episodes)
    with (
        tracking.start_run(cfg, f"compare {scenario.name}", tags) as parent,
        progress.bar(episodes * (len(controllers) + len(models)), "compare", "episodes") as pbar,
    ):
        entries: list[lb.Entry] = []
        for path, spec, ctrl in controllers:
            name = str(spec.get("name") or path.stem)
            pbar.set_postfix_str(name)
            roll = run_episodes(
                ctrl, scenario, episodes, int(c.seed), int(c.batch_size), on_batch=pbar.update
            )
            src = {"controller": spec, "config": str(path)}
            kind = str(spec["kind"])
            role = kind if kind in YARDSTICKS else "baseline"
            entries.append(lb.Entry(name, role, kind, roll, src))
        names = {e.name for e in entries}
        for md, rid in models:
            meta = read_agent_meta(md)
            name = str(meta["name"])
            while name in names:
                name += "'"
            names.add(name)
            pbar.set_postfix_str(name)
            ctrl = load_controller(md, name)
            roll = run_episodes(
                ctrl, scenario, episodes, int(c.seed), int(c.batch_size), on_batch=pbar.update
            )
            src = {
                "model_dir": str(md.resolve()),
                "train_run_id": rid or meta.get("mlflow_run_id"),
                "residual": meta.get("residual"),
            }
            entries.append(lb.Entry(name, "agent", str(meta["algo"]), roll, src))
        pbar.set_postfix_str("bootstrap CIs")
        rows, best = lb.build(entries, str(c.primary), int(c.n_boot), float(c.level))
        _log_rows(cfg, rows, entries)
        doc = lb.document(
            rows,
            best,
            scenario.name,
            int(c.episodes),
            int(c.seed),
            str(c.primary),
            int(c.n_boot),
            float(c.level),
            parent.info.run_id if parent is not None else None,
            to_dict(scenario),
        )
        _write(out, doc, str(c.primary), logged=parent is not None)
    return doc


def _log_rows(cfg: DictConfig, rows: list[dict[str, Any]], entries: list[lb.Entry]) -> None:
    """One nested MLflow run per row (``mlflow_run_id``), and what pacegym-export reads:
    the run holding the model (agents' ``run_id``), the params (baselines' ``params``)."""
    by_name = {e.name: e for e in entries}
    for r in rows:
        r["mlflow_run_id"] = _log_entry(cfg, by_name[r["name"]], r)
        r["run_id"] = r["source"].get("train_run_id")
        if r["type"] == "baseline":
            r["params"] = dict(r["source"]["controller"].get("params") or {})


def _models(
    cfg: DictConfig, agents: Sequence[str], scenario_name: str
) -> list[tuple[Path, str | None]]:
    """``(model dir, MLflow run id or None)`` of every agent entry (``agents``, then
    ``compare.agents``, then the discovered ones), each model dir once."""
    c = cfg.compare
    entries = [*agents, *c.agents]
    if c.discover_agents:
        entries += discover_agents(cfg, scenario_name)
    models: list[tuple[Path, str | None]] = []
    for entry in entries:
        md, rid = policies.agent_dir(str(entry), cfg, key="compare.agents entry")
        if all(md.resolve() != m.resolve() for m, _ in models):
            models.append((md, rid))
    return models


def _write(out: Path, doc: dict[str, Any], primary: str, logged: bool) -> None:
    """``leaderboard.json`` and ``leaderboard.md`` in ``out``; with ``logged`` (a parent
    run is active) also as artifacts, with the bar chart and the winner's tags."""
    (out / "leaderboard.json").write_text(json.dumps(doc, indent=2))
    (out / "leaderboard.md").write_text(lb.markdown(doc) + "\n")
    if not logged:
        return
    import mlflow

    tracking.log_artifact(out / "leaderboard.json")
    tracking.log_artifact(out / "leaderboard.md")
    fig = figures.leaderboard_bars(doc["rows"], primary)
    tracking.log_figure(fig, "plots/leaderboard.png")
    figures.close(fig)
    w = doc["winner"]
    if w is not None:
        mlflow.set_tags({"winner": w["name"], "winner_kind": w["kind"]})
        tracking.log_metrics({f"winner_{primary}": w[primary]})


def _main(cfg: DictConfig) -> float:
    doc = compare(cfg)
    log.info("%s", lb.markdown(doc))
    if doc["winner"] is not None:
        log.info("winner: %s (%s)", doc["winner"]["name"], doc["winner"]["winner_reason"])
    log.info("\nleaderboard.json: %s", app_run_dir("compare") / "leaderboard.json")
    w = doc["winner"]
    return float(w[str(cfg.compare.primary)]) if w is not None else float("nan")


main = hydra_app("compare")(_main)


if __name__ == "__main__":
    main()
