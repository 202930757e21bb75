"""The console-script battery: bad inputs (``tests/battery_cases.py``) to every console script.

Each input runs as the installed console script would (``pacegym.cli``, a fresh process) in
an empty temporary working directory holding only the case's input files and an MLflow
store made beforehand (``./mlflow.db``, as after any earlier tracked run). Every case must:

- exit with code 2 and print exactly one line on stderr, ``pacegym-<cmd>: error: ...``,
  naming the case's key, with no traceback;
- change no file or folder of the working directory (the store aside): a refused command
  leaves no run folder, empty or not, and never touches a file it did not write;
- leave no FAILED, RUNNING or KILLED run in ``./mlflow.db``.

The cases run two at a time before their tests assert, each a fresh process forked from
one interpreter that imported the console scripts once (``tests/forked.py``: the script's
own code, exit code and streams, without the 2-4 s of imports per case that were most of
the battery's time); ``test_debug_shows_...`` and ``test_a_refused_train_...`` below,
``tests/test_console_scripts.py`` and ``tests/test_install.py`` run the installed
scripts themselves.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pacegym import cli
from tests import forked
from tests.battery_cases import CASES, Case

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2
"""Cases run at once (each one process; most of a case is interpreter and import start)."""
TIMEOUT_S = 180
"""[s] a case that takes longer is a failure (a bad input must be refused, not run)."""
STORE = ("mlflow.db", "mlflow.db.lock", "mlruns")
"""The MLflow store in the working directory: checked by its runs, not by the snapshot."""


def _env() -> dict[str, str]:
    """The cases' environment: no tracking URI (each uses its ``./mlflow.db``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", PACEGYM_DEBUG="0", HYDRA_FULL_ERROR="")
    return env


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: timed out
    stderr: str
    changed: list[str]  # paths added, removed or modified (the store aside)
    empty_dirs: list[str]
    bad_runs: list[str]  # run statuses other than FINISHED


def _command(case: Case) -> list[str]:
    """The console script itself when installed beside this interpreter, else its entry
    point through ``pacegym.cli`` (what the script runs)."""
    script = Path(sys.executable).with_name(case.script)
    if script.is_file():
        return [str(script), *case.args]
    func = case.script.removeprefix("pacegym-").replace("-", "_")
    return [sys.executable, "-c", f"from pacegym.cli import {func}; {func}()", *case.args]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of everything under ``root`` but the store."""
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if rel.split("/")[0] in STORE:
            continue
        st = p.stat()
        out[rel] = (st.st_size if p.is_file() else -1, st.st_mtime_ns if p.is_file() else 0)
    return out


def _bad_runs(root: Path) -> list[str]:
    db = root / "mlflow.db"
    if not db.is_file():
        return []
    with sqlite3.connect(db) as con:
        # a deleted run (lifecycle stage "deleted") is absent for the user: not counted
        rows = con.execute(
            "SELECT run_uuid, status FROM runs WHERE lifecycle_stage != 'deleted'"
        ).fetchall()
    return [f"{rid} {status}" for rid, status in rows if status != "FINISHED"]


def run_case(case: Case, cwd: Path, store: Path, server: forked.Server | None = None) -> Outcome:
    """One case in a fresh process: a child of ``server`` (``tests/forked.py``: the
    console script's code without its 2-4 s of imports), else the installed script."""
    for rel, data in case.files.items():
        (cwd / rel).parent.mkdir(parents=True, exist_ok=True)
        (cwd / rel).write_bytes(data)
    shutil.copy2(store, cwd / "mlflow.db")
    before = _snapshot(cwd)
    try:
        if server is not None:
            r = server.run(case.script, case.args, cwd, timeout=TIMEOUT_S)
        else:
            r = subprocess.run(
                _command(case),
                cwd=cwd,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        code, err = r.returncode, r.stderr
    except subprocess.TimeoutExpired as e:
        code, err = None, (e.stderr or b"").decode(errors="replace") if e.stderr else ""
    after = _snapshot(cwd)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    empty = sorted(
        p.relative_to(cwd).as_posix()
        for p in cwd.rglob("*")
        if p.is_dir() and not any(p.iterdir()) and p.relative_to(cwd).parts[0] not in STORE
    )
    return Outcome(code, err, changed, empty, _bad_runs(cwd))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """An empty MLflow store (tables made once, copied into every case's directory)."""
    from pacegym.experiments.tracking import ensure_store

    root = tmp_path_factory.mktemp("store")
    ensure_store(f"sqlite:///{root / 'mlflow.db'}")
    return root / "mlflow.db"


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory, store) -> dict[str, Outcome]:
    """Every selected case's outcome, run ``WORKERS`` at a time before the first assertion."""
    wanted = {
        item.callspec.params["case"].id
        for item in request.session.items
        if item.module is sys.modules[__name__]
        and hasattr(item, "callspec")
        and "case" in item.callspec.params
    }
    cases = [c for c in CASES if c.id in wanted]
    server = forked.Server(_env(), cwd=tmp_path_factory.mktemp("server"))
    try:
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            futures = {
                c.id: pool.submit(run_case, c, tmp_path_factory.mktemp("case"), store, server)
                for c in cases
            }
            return {cid: f.result() for cid, f in futures.items()}
    finally:
        server.close()


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.fix_in)] if case.fix_in else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.slow
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_a_bad_input_is_one_line_exit_2_and_leaves_nothing(case: Case, outcomes) -> None:
    o = outcomes[case.id]
    lines = o.stderr.strip().splitlines()
    assert o.returncode == 2, f"exit {o.returncode}\n{o.stderr[-3000:]}"
    assert len(lines) == 1, o.stderr[-3000:]
    assert lines[0].startswith(f"{case.script}: error: "), lines[0]
    assert case.key in lines[0], lines[0]
    assert "Traceback" not in o.stderr
    assert o.changed == [], f"changed in the working directory: {o.changed}"
    assert o.empty_dirs == [], f"empty folders left: {o.empty_dirs}"
    assert o.bad_runs == [], f"MLflow runs left unfinished: {o.bad_runs}"


def test_the_battery_covers_every_console_script() -> None:
    scripts = {f"pacegym-{c.replace('_', '-')}" for c in cli.COMMANDS}
    assert {c.script for c in CASES} == scripts
    assert len({c.id for c in CASES}) == len(CASES), "two cases with the same command line"


def test_the_docs_state_the_battery_size() -> None:
    section = (REPO / "docs" / "reliability.md").read_text()
    n_scripts = len({c.script for c in CASES})
    m = re.search(r"(\d+)\s+bad\s+inputs\s+to\s+the\s+(\d+)\s+console\s+scripts", section)
    assert m is not None, "docs/reliability.md does not state the battery's size"
    assert (int(m.group(1)), int(m.group(2))) == (len(CASES), n_scripts)
    xfails = sum(c.fix_in is not None for c in CASES)
    m = re.search(r"(\d+|None)\s+of\s+them\s+(?:are|is)\s+marked", section)
    assert m is not None and (0 if m.group(1) == "None" else int(m.group(1))) == xfails


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback_of_a_user_error(how: str, tmp_path: Path) -> None:
    case = Case("pacegym-evaluate", ("batch_size=0",), "batch_size = 0")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PACEGYM_DEBUG": "0"}
    cmd = _command(case)
    if how == "flag":
        cmd.append("--debug")
    else:
        env["PACEGYM_DEBUG"] = "1"
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Traceback (most recent call last)" in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("pacegym-evaluate: error: batch_size = 0"), last
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_a_refused_train_in_a_fresh_directory_creates_no_store(tmp_path: Path) -> None:
    case = Case("pacegym-train", ("train.n_envs=0",), "train.n_envs = 0")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    r = subprocess.run(
        _command(case), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert list(tmp_path.iterdir()) == []
