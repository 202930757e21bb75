"""docs/schemas.md documents every key that ``leaderboard.json`` and ``benchmark.json`` hold.

A small compare and a small benchmark (2 episodes each, no tracking) write the real files;
each object's keys must be exactly the fields of its table in the page (a table follows a
``<!-- schema: NAME -->`` marker; ``<metric>`` stands for every ``METRIC_KEYS`` entry).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

from pacegym.envs.metrics import METRIC_KEYS
from pacegym.experiments.config import CONF_DIR

PAGE = Path(__file__).resolve().parents[1] / "docs" / "schemas.md"
COMPARE_ONLY = {"run_id", "params"}
"""Row fields that ``pacegym-compare`` adds (``compare._log_rows``) and the benchmark does not."""


def documented() -> dict[str, set[str]]:
    """Schema name -> the field names of its table in docs/schemas.md."""
    out: dict[str, set[str]] = {}
    name = None
    for line in PAGE.read_text().splitlines():
        m = re.fullmatch(r"<!-- schema: (\S+) -->", line.strip())
        if m:
            name = m.group(1)
            out[name] = set()
            continue
        if name is None:
            continue
        cell = re.match(r"\| `([^`]+)` \|", line)
        if cell:
            field = cell.group(1)
            if "<metric>" in field:
                out[name] |= {field.replace("<metric>", k) for k in METRIC_KEYS}
            else:
                out[name].add(field)
        elif not line.startswith("|") and out[name]:
            name = None
    return out


def _cfg(app: str, overrides: list[str]) -> Any:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=app, overrides=overrides)


def _keys(dicts: list[dict[str, Any]]) -> set[str]:
    return set().union(*(d.keys() for d in dicts))


@pytest.fixture(scope="module")
def leaderboard(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from pacegym.experiments.compare import compare

    over = [
        "compare.episodes=2",
        "compare.n_boot=50",
        "compare.baselines=[pid_tuned,on_off_tuned]",
        "compare.discover_agents=false",
        "tracking=off",
    ]
    out = tmp_path_factory.mktemp("compare")
    compare(_cfg("compare", over), out)
    return json.loads((out / "leaderboard.json").read_text())


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from pacegym.experiments.benchmark import run_suite

    over = [
        "benchmark.only=[live_commerce]",
        "benchmark.episodes_short=2",
        "benchmark.n_boot=50",
        "benchmark.baselines=[pid_tuned,on_off_tuned]",
        "benchmark.controllers=[generalist/pid_tuned]",  # a row ranked like an agent
        "tracking=off",
    ]
    out = tmp_path_factory.mktemp("benchmark")
    run_suite(_cfg("benchmark", over), out)
    return json.loads((out / "benchmark.json").read_text())


def test_the_page_has_a_table_for_every_schema():
    names = {
        "leaderboard",
        "leaderboard.row",
        "leaderboard.winner",
        "benchmark",
        "benchmark.scenario",
        "benchmark.row",
        "benchmark.hindsight",
        "benchmark.comparators",
        "benchmark.summary",
        "benchmark.headroom",
        "benchmark.verdict",
        "benchmark.verdict.scenario",
    }
    docs = documented()
    assert set(docs) == names
    assert all(docs.values()), [n for n, f in docs.items() if not f]
    assert COMPARE_ONLY.issubset(docs["leaderboard.row"])


def test_leaderboard_json_keys_are_the_documented_ones(leaderboard):
    docs = documented()
    assert set(leaderboard) == docs["leaderboard"]
    assert leaderboard["normalised"] is True  # oracle and reference ran: every field is there
    assert _keys(leaderboard["rows"]) == docs["leaderboard.row"]
    winner = leaderboard["winner"]
    row = next(r for r in leaderboard["rows"] if r["name"] == winner["name"])
    assert set(winner) - set(row) == docs["leaderboard.winner"]


def test_benchmark_json_keys_are_the_documented_ones(bench):
    docs = documented()
    assert set(bench) == docs["benchmark"]
    (doc,) = bench["scenarios"].values()
    assert set(doc) == docs["leaderboard"] | docs["benchmark.scenario"]
    rows = docs["leaderboard.row"] - COMPARE_ONLY | docs["benchmark.row"]
    assert _keys(doc["rows"]) == rows
    assert set(doc["winner"]) == rows | docs["leaderboard.winner"]
    for pool in doc["hindsight"].values():
        assert set(pool) == docs["benchmark.hindsight"]
    assert set(doc["comparators"]) == docs["benchmark.comparators"]
    summary = bench["summary"]
    assert set(summary) == docs["benchmark.summary"]
    for h in summary["headroom"].values():
        assert set(h) == docs["benchmark.headroom"]
        assert set(h["gap"]) == {"delivery", "waste", "off_plan"}
    assert summary["agents"], "the benchmark.controllers row gets a verdict"
    for v in summary["agents"].values():
        assert set(v) == docs["benchmark.verdict"]
        for s in v["scenarios"].values():
            assert set(s) == docs["benchmark.verdict.scenario"]
