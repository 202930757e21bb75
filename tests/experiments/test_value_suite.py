"""The value suite (``pacegym-benchmark suite=value``): its file resolves, every scenario is a
value scenario with its own value-blind tuned sets, and every set it borrows is named by its
entry's ``baselines_from`` and said (``experiments.benchmark.borrowed``)."""

from __future__ import annotations

import logging

from hydra import compose, initialize_config_dir

from pacegym.baselines.factory import VALUE_AWARE
from pacegym.baselines.tune import SPACES
from pacegym.envs.scenarios import resolve
from pacegym.experiments import benchmark
from pacegym.experiments.config import CONF_DIR

SCENARIOS = ("value_channels", "suite/value_drift", "suite/value_price", "suite/value_multi_day")


def _suite():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="benchmark", overrides=["suite=value"]).benchmark


def test_the_value_suite_lists_the_value_scenarios():
    b = _suite()
    assert tuple(str(e.scenario) for e in b.suite) == SCENARIOS
    for e in b.suite:
        sc = resolve(str(e.scenario))
        assert sc.value.channels, e.scenario  # a value scenario (segments)
        assert e.baselines_from in benchmark.tuned_families(), e.scenario


def test_every_value_scenario_runs_its_own_value_blind_sets_and_says_what_it_borrows(caplog):
    b = _suite()
    with caplog.at_level(logging.INFO, logger="pacegym.experiments.benchmark"):
        plans = benchmark._plans(b)
    for plan in plans:
        key, sc, _, ctrls = plan
        folder = {name: path.parent.name for name, _, path, _ in ctrls}
        blind = {f"{k}_tuned" for k in SPACES}
        aware = {f"{k}_tuned" for k in VALUE_AWARE}
        assert blind | aware | {"reference", "oracle"} == set(folder), key
        assert all(folder[n] == sc.name for n in blind), (key, folder)  # its own, tuned on it
        lent = benchmark.borrowed(b, plan)
        family = next(str(e.baselines_from) for e in b.suite if str(e.scenario) == key)
        assert lent == {n: family for n in folder if n in aware | blind and folder[n] != sc.name}
        for n in aware - set(lent):
            assert folder[n] == sc.name  # a value-aware set not borrowed is its own
        if lent:
            assert (
                f"{key} runs " in caplog.text and f"from {family} (baselines_from)" in caplog.text
            )


def test_a_failed_first_plan_of_the_segment_oracle_is_counted_and_shown():
    """The benchmark's failure count covers the value scenarios' segment LP too."""
    from pathlib import Path
    from types import SimpleNamespace

    from pacegym.baselines.factory import from_spec
    from pacegym.experiments.benchmark_report import markdown, summary

    specs = [{"kind": "reference"}, {"kind": "oracle", "params": {"time_limit_s": 1e-6}}]
    ctrls = [(s["kind"], s, Path(f"{s['kind']}.yaml"), from_spec(s)) for s in specs]
    entry = SimpleNamespace(scenario="value_channels", baselines_from=None)
    b = SimpleNamespace(seed=0, batch_size=64, n_boot=50, level=0.95, suite=[entry])
    quiet = SimpleNamespace(set_postfix_str=lambda s: None, update=lambda n: None)
    plan = ("value_channels", resolve("value_channels"), 2, ctrls)
    doc = benchmark._scenario_doc(b, plan, [], quiet)
    assert doc["oracle_failures"] == 2  # no plan within a microsecond: each episode's first
    result = {
        "seed": 0,
        "scenarios": {"value_channels": doc},
        "summary": summary({"value_channels": doc}),
    }
    assert "| value_channels | oracle failures excluded | 2 |" in markdown(result)
