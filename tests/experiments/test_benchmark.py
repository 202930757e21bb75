"""pacegym-benchmark on a two-scenario suite; the suite's files; compare's yardstick rows."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from hydra import compose, initialize_config_dir

from pacegym.envs.scenarios import resolve
from pacegym.experiments import benchmark, benchmark_report
from pacegym.experiments.compare import compare
from pacegym.experiments.config import CONF_DIR

ROOT = Path(__file__).resolve().parents[2]


def _cfg(app, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=app, overrides=overrides)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.end_run()


def test_every_suite_scenario_resolves_and_the_trace_regenerates():
    cfg = _cfg("benchmark", [])
    names = [e.scenario for e in cfg.benchmark.suite]
    assert len(names) >= 11 and len(set(names)) == len(names)
    budgets = []
    for name in names:
        sc = resolve(name)
        budgets.append(sc.money.budget)
    assert min(budgets) <= 1e3 and max(budgets) >= 1e7
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "make_bursty_trace.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_benchmark_writes_the_normalised_table(store, tmp_path):
    cfg = _cfg(
        "benchmark",
        [
            "benchmark.only=[live_commerce,suite/small_budget]",
            "benchmark.episodes_short=6",
            "benchmark.n_boot=200",
            f"tracking.uri={store}",
        ],
    )
    out = tmp_path / "run"
    result = benchmark.run_suite(cfg, out)
    assert set(result["scenarios"]) == {"live_commerce", "suite/small_budget"}
    for doc in result["scenarios"].values():
        rows = {r["name"]: r for r in doc["rows"]}
        assert rows["oracle"]["normalised"] == pytest.approx(100.0)
        assert rows["reference"]["normalised"] == pytest.approx(0.0, abs=1e-9)
        assert {"pid_tuned", "on_off_tuned", "proportional_tuned", "exp_decay_tuned"} <= set(rows)
        for r in doc["rows"]:
            for key in ("normalised", "regret", "delivery", "waste", "off_plan"):
                assert math.isfinite(r[key]), (r["name"], key)
        assert doc["winner"]["type"] in ("baseline", "agent")
        assert doc["oracle_failures"] == 0
    summary = result["summary"]["mean_normalised"]
    assert summary["oracle"] == pytest.approx(100.0)
    assert set(result["summary"]["headroom"]) == set(result["scenarios"])
    md = (out / "benchmark.md").read_text()
    assert "mean over the suite" in md and "suite/small_budget" in md
    assert json.loads((out / "benchmark.json").read_text())["seed"] == cfg.benchmark.seed
    assert (out / "benchmark.png").stat().st_size > 10_000
    run = mlflow.MlflowClient(store).search_runs(
        [mlflow.MlflowClient(store).get_experiment_by_name("pacegym").experiment_id],
        filter_string="tags.run_type = 'benchmark'",
    )[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["suite.oracle.mean_normalised"] == pytest.approx(100.0)


def test_benchmark_refuses_a_scenario_outside_the_suite(tmp_path):
    cfg = _cfg("benchmark", ["benchmark.only=[nowhere]"])
    with pytest.raises(ValueError, match=r"benchmark\.only = 'nowhere'"):
        benchmark.run_suite(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_compare_ranks_by_normalised_score_and_never_crowns_a_yardstick(store, tmp_path):
    doc = compare(_cfg("compare", cfg_overrides(store)), tmp_path / "c")
    assert doc["normalised"] is True
    types = [r["type"] for r in doc["rows"]]
    assert types[0] == "oracle" and set(types) == {"oracle", "reference", "baseline"}
    values = [r["normalised"] for r in doc["rows"]]
    assert values == sorted(values, reverse=True)
    assert doc["winner"]["type"] == "baseline"
    assert doc["best_baseline"] in ("pid (tuned)", "on_off (tuned)", "on/off (tuned)")
    off = compare(_cfg("compare", [*cfg_overrides(store), "compare.oracle=false"]), tmp_path / "d")
    assert off["normalised"] is False
    assert {r["type"] for r in off["rows"]} == {"baseline"}


def cfg_overrides(store):
    return [
        "compare.episodes=6",
        "compare.n_boot=200",
        "compare.discover_agents=false",
        "compare.baselines=[pid_tuned,on_off_tuned]",
        f"tracking.uri={store}",
    ]


def test_an_agent_wins_only_with_a_significant_lead():
    from pacegym.experiments.leaderboard import winner

    def row(name, type_, lo, hi):
        return {"name": name, "type": type_, "diff_vs_best_baseline_ci": [lo, hi]}

    rows = [
        {"name": "oracle", "type": "oracle"},
        row("agent", "agent", -0.001, 0.004),
        row("pid", "baseline", 0.0, 0.0),
        {"name": "reference", "type": "reference"},
    ]
    w = winner(rows)
    assert w["name"] == "pid" and "not significantly" in w["winner_reason"]
    rows[1] = row("agent", "agent", 0.001, 0.004)
    assert winner(rows)["name"] == "agent"
    assert winner([rows[0], rows[3]]) is None


def _doc(best_norm, agent_norm, lo, hi):
    return {
        "best_baseline": "pid_tuned",
        "rows": [
            {"name": "pid_tuned", "type": "baseline", "normalised": best_norm},
            {
                "name": "gen",
                "type": "agent",
                "normalised": agent_norm,
                "normalised_diff_vs_best_baseline": agent_norm - best_norm,
                "normalised_diff_vs_best_baseline_ci": [lo, hi],
            },
        ],
    }


def test_verdicts_apply_the_generalists_tests():
    docs = {
        "a": _doc(90.0, 97.0, 4.0, 10.0),  # better where the baseline leaves 10 points
        "b": _doc(99.0, 99.5, -0.5, 1.5),  # a tie where it leaves 1 point: allowed
    }
    v = benchmark_report.verdicts(docs)["gen"]
    assert v["never_worse"] and v["better_where_headroom"]
    assert v["mean_gain"] == pytest.approx(3.75) and not v["mean_gain_met"]
    assert v["regret_closed"] == pytest.approx(3.75 / 5.5) and v["regret_closed_met"]
    assert v["scenarios"]["b"]["must_beat"] is False
    docs["b"] = _doc(95.0, 94.0, -2.0, -0.1)  # worse, significantly
    v = benchmark_report.verdicts(docs)["gen"]
    assert not v["never_worse"] and not v["better_where_headroom"]
    md = "\n".join(benchmark_report._verdict_lines({"gen": v}))
    assert "| b | pid_tuned | 95.0 | 94.0 | -1.0 [-2.0, -0.1] | yes | worse |" in md
    assert "never worse than the best tuned baseline: not met" in md


@pytest.mark.slow
def test_a_controller_for_the_whole_suite_is_ranked_like_an_agent(store, tmp_path):
    cfg = _cfg(
        "benchmark",
        [
            "benchmark.only=[suite/small_budget]",
            "benchmark.episodes_short=6",
            "benchmark.n_boot=200",
            "benchmark.controllers=[generalist/pid_tuned]",
            "benchmark.single_set=generalist/pid_tuned",  # the same set: one row
            "tracking=off",
        ],
    )
    result = benchmark.run_suite(cfg, tmp_path / "run")
    rows = {r["name"]: r for r in result["scenarios"]["suite/small_budget"]["rows"]}
    assert rows["generalist.pid_tuned"]["type"] == "agent"
    comp = result["scenarios"]["suite/small_budget"]["comparators"]
    assert comp["names"]["single_set"] == "generalist.pid_tuned"
    assert set(comp["policies"]) == {
        n for n, r in rows.items() if r["type"] in ("baseline", "agent")
    }
    assert set(result["summary"]["comparators_mean"]) == set(comp["policies"])
    v = result["summary"]["agents"]["generalist.pid_tuned"]
    assert set(v["scenarios"]) == {"suite/small_budget"}
    md = (tmp_path / "run" / "benchmark.md").read_text()
    assert "generalist.pid_tuned against each scenario's best tuned baseline" in md
    # the switch in hindsight is at least every policy it chooses among
    h = result["scenarios"]["suite/small_budget"]["hindsight"]
    deploy = [r for r in rows.values() if r["type"] in ("baseline", "agent")]
    assert h["deployable"]["normalised"] >= max(r["normalised"] for r in deploy) - 1e-9
    assert h["baselines"]["normalised"] <= h["deployable"]["normalised"] + 1e-9
    assert set(h["baselines"]["chosen"]) == {r["name"] for r in deploy if r["type"] == "baseline"}
    assert sum(h["deployable"]["chosen"].values()) == pytest.approx(1.0)
    assert result["summary"]["hindsight_mean"]["deployable"] == h["deployable"]["normalised"]
    assert "A perfect per-episode switch, chosen in hindsight" in md
    assert "Every policy against its comparators" in md
    bad = _cfg("benchmark", ["benchmark.controllers=[nowhere]", "tracking=off"])
    with pytest.raises(ValueError, match=r"benchmark\.controllers entry = 'nowhere'"):
        benchmark.run_suite(bad, tmp_path / "bad")


def test_the_hindsight_switch_takes_each_episodes_best_policy():
    import numpy as np

    from pacegym.baselines.harness import Rollout
    from pacegym.experiments import leaderboard as lb

    def entry(name, kind, scores):
        roll = Rollout(name, {lb.PRIMARY: np.asarray(scores, dtype=float)})
        role = kind if kind in ("oracle", "reference") else "baseline"
        return lb.Entry(name, "agent" if kind == "agent" else role, kind, roll)

    entries = [
        entry("oracle", "oracle", [1.0, 1.0, 1.0, 1.0]),
        entry("reference", "reference", [0.0, 0.0, 0.0, 0.0]),
        entry("a", "pid", [0.9, 0.5, 0.9, 0.5]),
        entry("b", "on_off", [0.5, 0.9, 0.5, 0.8]),
        entry("g", "agent", [0.95, 0.1, 0.1, 0.1]),
    ]
    h = benchmark_report.hindsight(entries, 200, 0.95)
    assert h["baselines"]["normalised"] == pytest.approx(100 * np.mean([0.9, 0.9, 0.9, 0.8]))
    assert h["baselines"]["chosen"] == {"a": 0.5, "b": 0.5}
    assert h["deployable"]["normalised"] == pytest.approx(100 * np.mean([0.95, 0.9, 0.9, 0.8]))
    assert h["deployable"]["chosen"]["g"] == 0.25
    assert benchmark_report.hindsight(entries[2:], 200, 0.95) is None


def test_a_suite_entry_borrowing_an_unknown_family_is_refused():
    """A typo in baselines_from must not fall back to another family's sets."""
    cfg = _cfg(
        "benchmark",
        ["benchmark.suite=[{scenario: suite/small_budget, baselines_from: live_comerce}]"],
    )
    with pytest.raises(ValueError, match=r"benchmark\.suite\[0\]\.baselines_from = 'live_comerce'"):
        benchmark.run_suite(cfg, Path("/nonexistent/never-written"))
    assert benchmark.tuned_families() == [
        "daily_budget",
        "live_commerce",
        "multi_day_flight",
        "value_channels",
    ]


def _entries(scores: dict[str, tuple[str, list[float]]]):
    import numpy as np

    from pacegym.baselines.harness import Rollout
    from pacegym.experiments import leaderboard as lb

    return [
        lb.Entry(name, role, role, Rollout(name, {lb.PRIMARY: np.asarray(s, dtype=float)}))
        for name, (role, s) in scores.items()
    ]


def test_every_policy_is_paired_with_its_comparators():
    import numpy as np

    from pacegym.experiments import benchmark_comparators as bc

    g = [0.95, 0.1, 0.6, 0.7, 0.9, 0.2, 0.5, 0.6]
    entries = _entries(
        {
            "oracle": ("oracle", [1.0] * 8),
            "reference": ("reference", [0.5] * 8),
            "a": ("baseline", [0.9, 0.5, 0.9, 0.5, 0.9, 0.5, 0.9, 0.5]),
            "b": ("baseline", [0.5, 0.9, 0.5, 0.8, 0.5, 0.9, 0.5, 0.8]),
            "suite.set": ("agent", [0.8] * 8),
            "g": ("agent", g),
        }
    )
    c = bc.comparators(entries, "a", "suite.set", 200, 0.95)
    assert c["names"] == {
        "best_baseline": "a",
        "single_set": "suite.set",
        "switch": bc.SWITCH,
        "oracle": "oracle",
    }
    assert set(c["policies"]) == {"a", "b", "suite.set", "g"}  # never the yardsticks
    mine = c["policies"]["g"]
    switch = np.mean([0.9, 0.9, 0.9, 0.8, 0.9, 0.9, 0.9, 0.8])
    for comp, other in (("best_baseline", 0.7), ("single_set", 0.8), ("switch", switch)):
        raw, lo, hi = mine[comp]["raw"]
        assert raw == pytest.approx(np.mean(g) - other) and lo <= raw <= hi
        assert mine[comp]["normalised"][0] == pytest.approx(200 * (np.mean(g) - other))
    assert mine["oracle"]["raw"][0] == pytest.approx(np.mean(g) - 1.0)
    assert c["policies"]["a"]["best_baseline"]["raw"] == [0.0, 0.0, 0.0]
    # no suite set: that comparator is left out; no yardsticks: no comparators at all
    assert "single_set" not in bc.comparators(entries, "a", None, 200, 0.95)["policies"]["g"]
    assert bc.comparators(entries[2:], "a", None, 200, 0.95) is None


def test_the_comparator_table_and_its_suite_means():
    from pacegym.experiments import benchmark_comparators as bc

    entries = _entries(
        {
            "oracle": ("oracle", [1.0] * 8),
            "reference": ("reference", [0.5] * 8),
            "a": ("baseline", [0.9] * 8),
            "g": ("agent", [0.8] * 8),
        }
    )
    comp = bc.comparators(entries, "a", None, 200, 0.95)
    rows = [
        {"name": n, "type": t, "normalised": v, "pacing_score_v2": s}
        for n, t, v, s in (("a", "baseline", 80.0, 0.9), ("g", "agent", 60.0, 0.8))
    ]
    docs = {k: {"rows": rows, "comparators": comp} for k in ("x", "y")}
    means = bc.suite_means(docs)
    assert means["g"]["best_baseline"]["normalised"] == pytest.approx(-20.0)
    assert means["g"]["oracle"]["raw"] == pytest.approx(-0.2)
    assert "single_set" not in means["g"]
    md = "\n".join(bc.comparator_lines({"scenarios": docs, "summary": {"comparators_mean": means}}))
    assert "| x | g | 60.0 (0.8000) | -20.0 [-20.0, -20.0] (-0.1000 [-0.1000, -0.1000]) | - |" in md
    assert "| g | -20.0 (-0.1000) | - | -20.0 (-0.1000) | -40.0 (-0.2000) |" in md
    assert bc.comparator_lines({"scenarios": {"x": {"rows": rows}}, "summary": {}}) == []


def test_the_value_suite_names_its_single_set():
    cfg = _cfg("benchmark", ["suite=value", "tracking=off"])
    assert cfg.benchmark.single_set == "value_generalist/dual_price_tuned"
    assert benchmark.suite_controllers(cfg.benchmark) == ["mpc_value", cfg.benchmark.single_set]
    _, (name, kind, path, _), *_ = benchmark._agents(cfg.benchmark)
    assert (name, kind) == ("value_generalist.dual_price_tuned", "dual_price")
    assert name == benchmark.single_set_row(cfg.benchmark) and path.is_file()
    both = _cfg("benchmark", ["suite=value", f"benchmark.controllers=[{cfg.benchmark.single_set}]"])
    assert benchmark.suite_controllers(both.benchmark) == [cfg.benchmark.single_set]
    bad = _cfg("benchmark", ["suite=value", "benchmark.single_set=dual_price_tuned"])
    with pytest.raises(ValueError, match=r"benchmark\.single_set = 'dual_price_tuned'"):
        benchmark._agents(bad.benchmark)
