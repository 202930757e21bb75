"""The simulated history: forecasters stay pure, one recording loop, no import cycle."""

import ast
from pathlib import Path

import numpy as np
import pytest

from pacegym.envs import history
from pacegym.envs.core import PacingCore
from pacegym.envs.scenarios import from_dict, resolve

ENVS = Path(history.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """``pacegym.envs`` modules imported anywhere in the file (functions included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n for n in names if (ENVS / (n.removeprefix("pacegym.envs.") + ".py")).is_file()}
    return {n.removeprefix("pacegym.envs.") for n in out if n.startswith("pacegym.envs.")}


def test_forecasters_import_nothing_of_the_simulator():
    assert _imports(ENVS / "forecast.py") == set()


def test_envs_modules_import_no_cycle():
    graph = {p.stem: _imports(p) for p in ENVS.glob("*.py") if p.stem != "__init__"}
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, " -> ".join((*path, m))
        if m not in done:
            for d in graph.get(m, ()):
                visit(d, (*path, m))
            done.add(m)

    for m in graph:
        visit(m, ())
    assert "history" in graph["core"] and "core" not in graph["history"]


def _learned(seed: int):
    data = {"forecast": {"kind": "seasonal_naive", "history_days": 2, "history_seed": seed}}
    return from_dict(data, base=resolve("daily_budget"))


def test_a_core_simulates_history_only_for_a_learned_forecast(monkeypatch):
    calls = []
    real = history.simulated_history

    def counting(scenario, make_core):
        calls.append(scenario.forecast.history_seed)
        return real(scenario, make_core)

    monkeypatch.setattr(history, "simulated_history", counting)
    PacingCore("daily_budget", 2)
    assert calls == []
    sc = _learned(seed=424242)  # a seed no other test uses: not in forecast_week's cache yet
    a = PacingCore(sc, 2)
    b = PacingCore(sc, 3)
    assert calls == [424242]  # once per scenario, then cached
    assert a.fc_mode == b.fc_mode == 1 and a.fc_prof is b.fc_prof


def test_history_and_calibration_logs_share_one_recording():
    simulate = pytest.importorskip("pacegym.envs.calibration.simulate")
    sc = _learned(seed=3)
    per_minute = history.simulated_history(sc, PacingCore)
    tc = simulate.run_core(history.history_scenario(sc), 1, seed=3, throttle=0.0)
    tps_min = round(60.0 / sc.time.tick_s)
    np.testing.assert_array_equal(per_minute, tc.requests[0].reshape(-1, tps_min).sum(axis=1))
    assert per_minute.size == 2 * 1440 and np.all(tc.served == 0)


def test_record_counters_returns_per_tick_increments():
    core = PacingCore("live_commerce", 3)
    core.reset(np.arange(3), np.arange(3, dtype=np.uint64))
    cols = [history.I_REQUESTS]
    rec = history.record_counters(core, np.full(3, 0.5), cols)
    assert rec.shape[:2] == (1, 3) and rec.dtype == np.int64
    np.testing.assert_array_equal(rec.sum(axis=2)[0], core.ist[:, history.I_REQUESTS])
    ft = core.flight_ticks
    assert rec.shape[2] == ft.max()
    for b in range(3):  # a campaign whose flight ended early records nothing after it
        assert np.all(rec[0, b, ft[b] :] == 0)
