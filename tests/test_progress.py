"""Long legal runs are never silent: off a terminal a job longer than LINE_EVERY_S prints
plain progress lines (evaluate, simulate, training), a short one prints nothing."""

from __future__ import annotations

import time

from pacegym import progress


def test_off_a_terminal_a_long_job_prints_lines_and_a_short_one_nothing(monkeypatch, capsys):
    with progress.bar(4, "short", "episodes") as pbar:
        pbar.update(4)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.05)
    with progress.bar(4, "long", "episodes") as pbar:
        for _ in range(4):
            time.sleep(0.06)
            pbar.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2 and all(line.startswith("long: ") for line in lines)
    assert "\r" not in "".join(lines)


def test_simulate_of_a_long_flight_prints_progress(monkeypatch, capsys):
    from pacegym.experiments.simulate import simulate

    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.0)
    simulate("multi_day_flight", 0.2, 2, 0)
    err = capsys.readouterr().err
    assert "simulate: " in err and "ticks" in err


def test_evaluate_reports_progress_per_batch(monkeypatch):
    from pacegym.baselines.factory import load_controller_yaml
    from pacegym.baselines.harness import run_episodes

    seen: list[int] = []
    ctrl = load_controller_yaml("proportional")
    run_episodes(ctrl, "live_commerce", 10, 0, batch_size=4, on_batch=seen.append)
    assert seen == [4, 4, 2]


def test_off_a_terminal_a_short_jobs_stages_print_nothing(capsys):
    with progress.stages(["read", "write"], "export") as stage:
        stage.next("read")
        stage.next("write")
    assert capsys.readouterr().err == ""
