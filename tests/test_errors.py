"""pacegym.errors: which exceptions are a user's, their one line, the debug switch; and the
Hydra apps' clean-up of a refused job's run folder (experiments.hydra_app)."""

from __future__ import annotations

import argparse
import importlib
import math
import sys

import pytest
from hydra import compose, initialize_config_dir

from pacegym import errors
from pacegym.envs.checks import Allowed
from pacegym.experiments.config import CONF_DIR


def _compose_error(config: str, *overrides: str) -> BaseException:
    from pacegym.experiments.evaluate_config import register

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            compose(config_name=config, overrides=list(overrides))
        except Exception as exc:
            return exc
    raise AssertionError(f"{overrides} composed")


def test_every_listed_user_error_class_exists_and_is_an_exception():
    for qualified in errors.USER_ERRORS:
        module, _, name = qualified.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert isinstance(cls, type) and issubclass(cls, Exception), qualified
        # matched by the name of the module that defines it, not one that re-exports it
        assert f"{cls.__module__}.{cls.__qualname__}" == qualified, qualified


def test_project_errors_are_user_errors_in_one_line():
    from pacegym.envs.params import ScenarioError

    exc = ScenarioError("money.budget = -5 is out of range:\n  allowed (0, 1e+12]")
    assert errors.user_message(exc) == "money.budget = -5 is out of range: allowed (0, 1e+12]"


@pytest.mark.parametrize(
    ("exc", "user"),
    [
        (ValueError("episodes = 0: allowed an integer >= 1"), True),
        (ValueError("compare.baselines entry 'x' matches no controller config"), True),
        (FileNotFoundError("train.resume = 'x': no checkpoint found"), True),
        (ValueError("operands could not be broadcast together with shapes (2,) (3,)"), False),
        (ValueError("Seed must be between 0 and 2**32 - 1"), False),
        (OverflowError("Python integer -1 out of bounds for uint64"), False),
        (RuntimeError("batch_size = 0: ..."), False),  # only ValueError / OSError by message
        (FileNotFoundError(2, "No such file or directory"), False),
    ],
)
def test_a_plain_error_is_the_users_only_when_it_starts_with_the_key(exc, user):
    assert (errors.user_message(exc) is not None) is user


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (["controller=nope"], "controller = 'nope': no such controller config; allowed "),
        (["episodes=abc"], "episodes = 'abc': Value 'abc' of type 'str' could not be converted"),
        (
            ["foo=1"],
            "foo = 1: no such key; allowed keys: agents, baseline, batch_size, controller,",
        ),
        (["x=["], "override 'x=[': no viable alternative at input '['"),
    ],
)
def test_hydra_errors_name_the_key_in_one_line(overrides, line):
    message = errors.user_message(_compose_error("evaluate", *overrides))
    assert message is not None and message.startswith(line), message
    assert "\n" not in message


def test_a_value_shown_is_the_value_of_the_key_named():
    """``pipeline.train.total_timesteps=0`` fails on ``pipeline.train`` (a bool): the message
    must not show 0 as the value of ``pipeline.train``."""
    exc = _compose_error("pipeline", "pipeline.train.total_timesteps=0")
    message = errors.user_message(exc)
    assert message is not None and message.startswith("pipeline.train = {}"), message


def test_report_prints_one_line_and_the_traceback_only_when_asked(capsys, monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    try:
        raise ValueError("batch_size = 0: allowed an integer >= 1")
    except ValueError as exc:
        assert errors.report("pacegym-x", exc) == errors.EXIT_USER
        assert (
            capsys.readouterr().err == "pacegym-x: error: batch_size = 0: allowed an integer >= 1\n"
        )
        monkeypatch.setenv(errors.DEBUG_ENV, "1")
        assert errors.report("pacegym-x", exc) == errors.EXIT_USER
        err = capsys.readouterr().err
        assert err.startswith("Traceback") and err.endswith("allowed an integer >= 1\n")


def test_a_bug_keeps_its_traceback_and_exits_1(capsys, monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    try:
        raise OverflowError("Python integer -1 out of bounds for uint64")
    except OverflowError as exc:
        assert errors.report("pacegym-x", exc) == errors.EXIT_BUG
    err = capsys.readouterr().err
    assert err.startswith("Traceback")
    assert err.splitlines()[-1].startswith("pacegym-x: error: OverflowError: Python integer -1")


def test_reported_turns_exceptions_into_exit_codes(capsys, monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as e, errors.reported("pacegym-x"):
        raise ValueError("n_boot = 0: allowed an integer >= 1")
    assert e.value.code == 2
    with pytest.raises(KeyboardInterrupt), errors.reported("pacegym-x"):
        raise KeyboardInterrupt
    capsys.readouterr()


def test_the_debug_flag_is_taken_out_of_the_arguments():
    argv = ["pacegym-train", "--debug", "agent=sac", "--", "--debug"]
    assert errors.take_debug_flag(argv)
    assert argv == ["pacegym-train", "agent=sac", "--", "--debug"]
    assert not errors.take_debug_flag(argv)


def test_argument_errors_are_one_line_without_the_usage_block(capsys):
    ap = errors.ArgumentParser(prog="pacegym-x")
    ap.add_argument("--episodes", type=int)
    with pytest.raises(SystemExit) as e:
        ap.parse_args(["--episodes", "abc"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "pacegym-x: error: argument --episodes: invalid int value: 'abc'\n"
    )


@pytest.mark.parametrize(
    ("value", "low", "high", "line"),
    [
        (1.5, 0.0, 1.0, "--x = 1.5 is out of range: allowed [0, 1]"),
        (float("nan"), 0.0, 1.0, "--x = nan is out of range: allowed [0, 1]"),
        (0, 1, math.inf, "--x = 0 is out of range: allowed [1, inf)"),
    ],
)
def test_an_option_out_of_its_range_is_one_line_naming_it(capsys, value, low, high, line):
    ap = errors.ArgumentParser(prog="pacegym-x")
    allowed = {"x": Allowed(low, high, high_open=math.isinf(high))}
    ap.check_flags(argparse.Namespace(x=low), allowed)  # the bounds themselves are in range
    with pytest.raises(SystemExit) as e:
        ap.check_flags(argparse.Namespace(x=value), allowed)
    assert e.value.code == 2
    assert capsys.readouterr().err == f"pacegym-x: error: {line}\n"


def _run_app(module: str, argv: list[str], monkeypatch) -> int:
    app = importlib.import_module(module)
    monkeypatch.setattr(sys, "argv", [module, *argv])
    with pytest.raises(SystemExit) as e:
        app.main()
    return int(e.value.code)


def test_a_refused_job_leaves_no_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    code = _run_app("pacegym.experiments.evaluate", ["batch_size=0", "tracking=off"], monkeypatch)
    assert code == 2
    assert (
        capsys.readouterr().err.strip()
        == "pacegym-evaluate: error: batch_size = 0: allowed an integer in [1, 1000000]"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_refused_job_keeps_a_run_folder_that_held_other_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    keep = tmp_path / "mine" / "keep.txt"
    keep.parent.mkdir()
    keep.write_text("not the command's")
    code = _run_app(
        "pacegym.experiments.evaluate",
        ["batch_size=0", "tracking=off", "hydra.run.dir=mine"],
        monkeypatch,
    )
    assert code == 2 and keep.read_text() == "not the command's"
    capsys.readouterr()


def test_a_refused_job_never_removes_the_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = _run_app(
        "pacegym.experiments.evaluate",
        ["batch_size=0", "tracking=off", "hydra.run.dir=."],
        monkeypatch,
    )
    assert code == 2 and tmp_path.is_dir()
    capsys.readouterr()
