"""``benchmark.workers``: the suite's scenarios in worker processes give the serial results."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir

from pacegym.experiments import benchmark
from pacegym.experiments.config import CONF_DIR

SMALL = (
    "benchmark.only=[live_commerce,suite/small_budget,daily_budget]",
    "benchmark.episodes_short=4",
    "benchmark.episodes_long=2",
    "benchmark.n_boot=100",
    "tracking=off",
)


def _cfg(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="benchmark", overrides=list(overrides))


def _without_seconds(doc):
    if isinstance(doc, dict):
        return {k: _without_seconds(v) for k, v in doc.items() if k != "seconds"}
    if isinstance(doc, list):
        return [_without_seconds(v) for v in doc]
    return doc


@pytest.mark.slow  # end to end: the suite twice, once in two worker processes (~9 s)
def test_two_workers_give_the_serial_results_in_suite_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    serial = benchmark.run_suite(_cfg([*SMALL, "benchmark.workers=1"]), tmp_path / "serial")
    spread = benchmark.run_suite(_cfg([*SMALL, "benchmark.workers=2"]), tmp_path / "spread")
    assert list(spread["scenarios"]) == list(serial["scenarios"])  # suite order kept
    assert json.dumps(_without_seconds(spread)) == json.dumps(_without_seconds(serial))
    for f in ("benchmark.md",):
        assert (tmp_path / "spread" / f).read_text() == (tmp_path / "serial" / f).read_text()


@pytest.mark.parametrize("address", ["127.0.0.1:1", "nowhere:port"])
def test_a_ray_address_that_does_not_answer_is_refused_naming_the_key(tmp_path, address):
    cfg = _cfg([*SMALL, f"benchmark.ray_address={address}"])
    with pytest.raises(ValueError, match=r"^benchmark\.ray_address = "):
        benchmark.run_suite(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_worker_builds_the_oracle_on_one_thread_and_leaves_other_specs_alone():
    from pacegym.experiments.benchmark_workers import one_thread

    oracle = {"kind": "oracle", "name": "oracle", "params": {"threads": 2, "replans": 10}}
    assert one_thread(oracle) == {**oracle, "params": {"threads": 1, "replans": 10}}
    assert oracle["params"]["threads"] == 2  # the spec the document records is untouched
    pid = {"kind": "pid", "params": {"kp": 1.0}}
    assert one_thread(pid) is pid
