"""What keeps ``pacegym-benchmark``'s defaults fast without changing what it measures: the
scenarios on every usable CPU (``benchmark.workers`` null) and every oracle episode re-planned
warm (its episodes in batches of ``warm_models``)."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pacegym.agents.export.runtime.workers import usable_cpus
from pacegym.baselines.factory import load_controller_yaml
from pacegym.baselines.harness import run_episodes
from pacegym.baselines.oracle import OracleConfig, OracleController
from pacegym.experiments import benchmark
from pacegym.experiments.benchmark_workers import worker_count
from pacegym.experiments.config import CONF_DIR


def _b(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="benchmark", overrides=["tracking=off", *overrides]).benchmark


def test_the_default_runs_one_scenario_per_usable_cpu_and_never_more_than_the_scenarios():
    b = _b([])
    assert b.workers is None  # the one default: conf/benchmark.yaml does not set it
    n = len(b.suite)
    assert worker_count(b, n) == max(1, min(usable_cpus(), n))
    assert worker_count(b, 1) == 1  # one scenario: serial, in the app's process
    assert worker_count(_b(["benchmark.workers=1"]), n) == 1
    assert worker_count(_b(["benchmark.workers=3"]), n) == 3
    assert worker_count(_b(["benchmark.workers=3"]), 2) == 2
    on_ray = OmegaConf.create({"workers": None, "ray_address": "auto"})
    assert worker_count(on_ray, n) == n  # the cluster queues them by their one CPU each


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "257"])
def test_a_worker_count_outside_1_to_256_is_refused_naming_the_key(value):
    with pytest.raises(Exception, match=r"benchmark\.workers"):
        benchmark._check(_b([f"benchmark.workers={value}"]))


def test_the_oracle_runs_in_batches_of_its_warm_models_and_other_policies_in_one():
    b = _b([])
    assert benchmark.batch_of(b, OracleController(OracleConfig(warm_models=8))) == 8
    assert benchmark.batch_of(b, OracleController(OracleConfig(warm_models=0))) == b.batch_size
    cold = OracleController(OracleConfig(warm_start=False))
    assert benchmark.batch_of(b, cold) == b.batch_size
    pid = load_controller_yaml(str(CONF_DIR / "controller" / "pid_tuned.yaml"))
    assert benchmark.batch_of(b, pid) == b.batch_size
    small = _b(["benchmark.batch_size=5"])
    assert benchmark.batch_of(small, OracleController(OracleConfig(warm_models=8))) == 5


@pytest.mark.slow  # 3 x 4 oracle episodes of a day (~5 s)
def test_in_batches_of_warm_models_every_episode_is_the_all_warm_one():
    """Batches of ``warm_models`` episodes give each episode exactly what a batch holding
    every model warm gives; one batch past ``warm_models`` re-plans its last rows cold,
    another optimal schedule (which is what the batches remove)."""
    b = _b(["benchmark.batch_size=4"])
    few = OracleController(OracleConfig(warm_models=2, threads=1))
    chunked = run_episodes(few, "daily_budget", 4, 11, benchmark.batch_of(b, few)).metrics
    every = OracleController(OracleConfig(warm_models=4, threads=1))
    all_warm = run_episodes(every, "daily_budget", 4, 11, 4).metrics
    for k in chunked:
        np.testing.assert_array_equal(chunked[k], all_warm[k], err_msg=k)
    past = OracleController(OracleConfig(warm_models=2, threads=1))
    mixed = run_episodes(past, "daily_budget", 4, 11, 4).metrics
    np.testing.assert_array_equal(mixed["pacing_score_v2"][:2], all_warm["pacing_score_v2"][:2])
    assert not np.array_equal(mixed["pacing_score_v2"][2:], all_warm["pacing_score_v2"][2:])
