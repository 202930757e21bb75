"""The doc-check: every command in README.md and docs/*.md, found and run as written.

``extract`` reads a Markdown file and returns its commands in document order:

- each line of a fenced ``bash`` block (``\\`` continuations joined, comments dropped);
- each fenced ``python`` block, as one script;
- inline code that starts like a command with arguments (``pacegym-... args``,
  ``python -m ...``, ``python benchmarks/...``, ``mlflow ...``) or a Python call that
  makes or resolves an env (``gym.make(...)``, ``pacegym.envs.resolve(...)``).

``Workspace.run`` runs one of them in a scratch directory that plays a user's working
directory (its own ``./mlflow.db``, ``outputs/``, ``./conf``, and ``~`` for ``~/...``
paths). It changes a command only where the docs cannot be taken literally:

- budgets are shortened (``SHORTEN``: fewer env-steps, episodes, trials, days), by
  arguments appended after the documented ones, so the documented ones still parse;
- placeholders (``<time>``, ``<date>``, ``<sac run>``, ``<train run id>``) become what
  earlier commands made: the newest train/compare (or SAC train) run dir, the newest train
  run's MLflow id;
- servers (``mlflow ui``, ``mlflow server ... &``) get a free local port and one request
  worker (``ONE_WORKER``), are checked to answer, and are stopped;
- ``python benchmarks/...`` (run from a clone's root) gets the clone's path;
- a few Python recipes get a shorter flight (``PYTHON_SHORTEN``);
- ``pacegym-*`` is run through ``tests/forked.py``'s shims: a fresh process forked from
  an interpreter that imported the console scripts once, running the script's code with
  the command's own arguments, directory, environment and streams.

What cannot run in a test is listed in ``COVERED_ELSEWHERE`` with the place that does run
it (CI's install and test command). A command that is neither run nor listed fails
``test_every_documented_command_is_known`` in ``tests/test_docs.py``: the docs cannot
gain a command that nothing checks.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests import forked

REPO = Path(__file__).resolve().parents[1]
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
BIN = Path(sys.executable).parent
"""The venv's scripts (``pacegym-*``, ``mlflow``), first on the commands' PATH."""

COMMAND_STARTS = ("pacegym-", "python -m ", "python benchmarks/", "mlflow ", "python3 ")
PYTHON_STARTS = ("gym.make(", "pacegym.envs.resolve(")

TRAIN_SHORT = (
    "train.total_timesteps=1024",
    "train.n_envs=16",
    "train.eval_freq=0",
    "train.eval_episodes=8",
    "train.checkpoint_freq=0",
    "train.max_minutes=0",
)
# one episode gives no paired interval, so the teacher is chosen by the mean (the lead rule
# needs 6 and is tested in tests/agents/test_distill.py)
DISTILL_SHORT = (
    "agent.distill.rounds=2",
    "agent.distill.episodes=1",
    "agent.distill.epochs=1",
    "agent.distill.require_lead=false",
)
SHORTEN: dict[str, tuple[str, ...]] = {
    "pacegym-train": TRAIN_SHORT,
    # the generalist on three of its 18 scenarios (a broadcast, the 6-h long delay tail and
    # a replayed trace: flights of two lengths, a trace, the normalised reward and jitter),
    # a campaign each of 18 and one validation episode each: its 3-day flights and 24-h days
    # cost ~30x more simulated time in each of its four validation passes
    "pacegym-train experiment=train_generalist": (
        *TRAIN_SHORT[:1],
        "train.scenarios=[live_commerce,suite/long_delay_tail,traces/train/amzn_live]",
        "train.n_envs=18",
        "train.eval_freq=0",
        "train.eval_episodes=3",
        *TRAIN_SHORT[4:],
    ),
    # the value suite on two of its four scenarios (the 3-day flight and the price scenario
    # left out, as its benchmark's run below), one validation episode each
    "pacegym-train experiment=train_value_suite": (
        *TRAIN_SHORT[:1],
        "train.scenarios=[value_channels,suite/value_drift]",
        *TRAIN_SHORT[1:3],
        "train.eval_episodes=2",
        *TRAIN_SHORT[4:],
    ),
    # distillation (agents/distill.py): two rounds of one 24-h episode with one fit each on
    # value_channels (the MPC's LP included), a campaign per scenario, one validation
    "pacegym-train agent=ppo_residual_dual_price_distill": (
        *TRAIN_SHORT[:1],
        "scenario=value_channels",
        "train.n_envs=4",
        "train.eval_freq=0",
        "train.eval_episodes=1",
        *TRAIN_SHORT[4:],
        *DISTILL_SHORT,
    ),
    "pacegym-train experiment=train_value_distill": (
        *TRAIN_SHORT[:1],
        "train.scenarios=[value_channels]",
        "train.n_envs=4",
        "train.eval_freq=0",
        "train.eval_episodes=1",
        *TRAIN_SHORT[4:],
        *DISTILL_SHORT,
    ),
    # two jobs of each documented multirun, run by the joblib launcher at once: one seed
    "pacegym-train -m hydra/launcher=joblib": (*TRAIN_SHORT, "train.seed=0"),
    # one grid axis left (as the Ray sweep's below): two jobs
    "pacegym-train -m hydra/launcher=joblib experiment=sweep_ppo_live": (
        *TRAIN_SHORT,
        "agent.hyperparams.learning_rate=0.0003",
    ),
    "pacegym-pipeline": (*TRAIN_SHORT, "compare.episodes=16", "compare.n_boot=200"),
    "pacegym-compare": ("compare.episodes=16", "compare.n_boot=200"),
    "pacegym-benchmark": (
        "benchmark.only=[live_commerce,suite/small_budget]",
        "benchmark.episodes_short=4",
        "benchmark.episodes_long=2",
        "benchmark.n_boot=200",
    ),
    "pacegym-benchmark suite=real": (
        "benchmark.only=[traces/amzn_live]",
        "benchmark.episodes_short=4",
        "benchmark.episodes_long=2",
        "benchmark.n_boot=200",
    ),
    # one of the four value scenarios: the drift, its tuned sets from value_channels (the
    # suite's workers are run by ``pacegym-benchmark benchmark.workers=2`` and
    # bench_benchmark_workers.py)
    "pacegym-benchmark suite=value": (
        "benchmark.only=[suite/value_drift]",
        "benchmark.episodes_short=3",
        "benchmark.episodes_long=2",
        "benchmark.n_boot=200",
    ),
    "pacegym-evaluate": ("episodes=32", "plot_episodes=8", "n_boot=200"),
    "pacegym-export": ("verify.record_episodes=1",),
    "pacegym-enjoy": ("episodes=1", "scenario.time.flight_min=5"),
    "python -m rl_zoo3.train": (
        "-n 64 --eval-freq -1 --hyperparams n_envs:2 n_steps:16 batch_size:32 n_epochs:1",
    ),
    "python -m rl_zoo3.enjoy": ("-n 20",),
    "pacegym-tune": (
        "--trials=1",
        "--train-episodes=8",
        "--test-episodes=8",
        "--no-promote",
    ),
    "pacegym-simulate": ("--episodes=16",),
    "pacegym-simulate-logs": ("--days=4", "--campaigns=1"),
    "python -m pacegym.experiments.sweep_ray": (
        *(o for o in TRAIN_SHORT if "eval_freq" not in o and "checkpoint" not in o),
        "agent.hyperparams.learning_rate=0.0003",  # one grid axis left: 2 trials
    ),
    # two trials of two evaluations each: ASHA, the search and the checkpoints still run
    "pacegym-sweep": (
        "--num-samples=2",
        "train.total_timesteps=256",
        "train.n_envs=8",
        "train.eval_freq=128",
        "train.checkpoint_freq=128",
        "train.eval_episodes=4",
        "agent.hyperparams.n_steps=16",
        "agent.hyperparams.batch_size=64",
        "agent.hyperparams.n_epochs=1",
    ),
    f"python {REPO}/benchmarks/bench_benchmark_workers.py": (
        "--only=live_commerce,suite/small_budget",
        "--episodes-short=4",
        "--episodes-long=2",
    ),
    f"python {REPO}/benchmarks/bench_evaluate.py": ("--episodes=50", "--repeats=1"),
    f"python {REPO}/benchmarks/bench_pacer.py": ("--rows=20000", "--repeats=1"),
    f"python {REPO}/benchmarks/bench_segment_pacer.py": ("--rows=20000", "--repeats=1"),
    # the 90-minute broadcast and the 24-h day (the 6-h tail and the 3-day flight left out)
    f"python {REPO}/benchmarks/bench_oracle.py": (
        "--episodes=2",
        "--rounds=1",
        "--scenarios=live_commerce,daily_budget",
    ),
    f"python {REPO}/benchmarks/bench_nowcast.py": ("--episodes=2",),  # ~15 s; --pid: 2 flights
    f"python {REPO}/benchmarks/bench_season.py": (),  # ~5 s: 5 traces, two seasons
    f"python {REPO}/benchmarks/bench_departures.py": (),  # ~20 s
    # ~40 s: every row (the oracle, the MPC and its bound) on two episodes of one scenario
    f"python {REPO}/benchmarks/bench_mpc_value.py": ("--episodes=2", "--scenario=value_channels"),
}
"""Program -> arguments appended to shorten its documented run (the last value wins)."""

_RESUMES = itertools.count()
"""Resumes shortened so far (``Runner.shorten``)."""

AS_IS = ("pacegym-calibrate ", "mlflow ui ", "mlflow server ")
"""Programs the doc-check runs without shortening (quick, or servers it stops itself)."""

ONE_WORKER = "--workers 1"
"""Appended to ``mlflow ui`` and ``mlflow server``: one request worker, not MLflow's default
4 (three more interpreters importing MLflow, ~4 s of CPU each, for the one request checked)."""


def has_rule(text: str) -> bool:
    """True when the doc-check knows how to run ``text`` (a shortening or ``AS_IS``)."""
    text = text.replace("python benchmarks/", f"python {REPO}/benchmarks/")
    return any(text == p or text.startswith(p + " ") for p in SHORTEN) or text.startswith(AS_IS)


PYTHON_SHORTEN: dict[str, tuple[str, str]] = {
    "RecordVideo(env": (
        'gym.make("pacegym/LiveCommerce-v0", render_mode="rgb_array")',
        'gym.make("pacegym/LiveCommerce-v0", render_mode="rgb_array",'
        ' scenario={"base": "live_commerce", "time": {"flight_min": 5}})',
    ),
    "Image.fromarray": (  # the GIF of a day: 4 hours (960 ticks, 9 frames)
        'gym.make("pacegym/DailyBudget-v0", render_mode="rgb_array")',
        'gym.make("pacegym/DailyBudget-v0", render_mode="rgb_array",'
        ' scenario={"base": "daily_budget", "time": {"flight_min": 240}})',
    ),
}
"""A Python recipe containing the key -> (text, replacement): a shorter flight."""

COVERED_ELSEWHERE: dict[str, str] = {
    "python3 -m venv .venv": "the install: .ci/run does it on a fresh clone",
    ". .venv/bin/activate": "the install: .ci/run does it on a fresh clone",
    'pip install -e ".[all,dev]"': "the install: .ci/run; the wheel: tests/test_install.py",
    "python -m pytest -q": "the test command itself: .ci/run runs it verbatim",
}
"""A documented command (prefix) that a test cannot run -> what runs it instead."""


@dataclass(frozen=True)
class DocCommand:
    """One documented command: where it is, ``bash`` or ``python``, and its text."""

    where: str  # "README.md:42"
    kind: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.where} {self.text[:60]}"


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def extract(path: Path) -> list[DocCommand]:
    """The commands of one Markdown file, in document order (module docstring)."""
    rel = path.relative_to(REPO)
    out: list[DocCommand] = []
    fence: str | None = None
    block: list[tuple[int, str]] = []
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            if fence is None:
                fence = stripped[3:].strip() or "text"
                block = []
                continue
            if fence == "python":
                out.append(
                    DocCommand(f"{rel}:{block[0][0]}", "python", "\n".join(t for _, t in block))
                )
            elif fence == "bash":
                pending, start = "", 0
                for n, text in block:
                    text = _strip_comment(text)
                    if not pending:
                        start = n
                    if text.endswith("\\"):
                        pending += text[:-1].rstrip() + " "
                        continue
                    full = (pending + text.strip()).strip()
                    pending = ""
                    if full:
                        out.append(DocCommand(f"{rel}:{start}", "bash", full))
            fence = None
            continue
        if fence is not None:
            block.append((no, line))
            continue
        for span in re.findall(r"`([^`]+)`", line):
            span = span.strip()
            if span.startswith(COMMAND_STARTS) and " " in span:
                out.append(DocCommand(f"{rel}:{no}", "bash", span))
            elif span.startswith(PYTHON_STARTS) and span.endswith(")"):
                out.append(DocCommand(f"{rel}:{no}", "python-expr", span))
    return out


def all_commands() -> list[DocCommand]:
    return [c for doc in DOCS for c in extract(doc)]


RAY_STARTS = ("python -m pacegym.experiments.sweep_ray", "pacegym-sweep", "mlflow server ")
"""The Ray Tune sweeps and the tracking server the docs point one at: their own workspace."""
TRAIN_DOCS = ("README.md", "docs/apps.md", "docs/export.md", "docs/training.md")
"""The docs whose commands train, compare and export, reading each other's outputs
(``<time>``, ``<sac run>``, ``<train run id>``): one workspace, in document order."""
STANDALONE_STARTS = ("python benchmarks/", "pacegym-tune ")
"""Programs that read nothing an earlier command made: ``other``, from any doc."""
GROUPS = ("train", "ray", "other")
"""The doc-check's workspaces, one test file each (``tests/test_docs*.py``): under ``-n
auto`` they run on different workers at once. A workspace runs its commands in document
order; no command reads what another workspace's made (``substitute`` fails otherwise)."""


def group_of(cmd: DocCommand) -> str:
    """The workspace that runs ``cmd`` (``GROUPS``): a Ray sweep or its server is ``ray``;
    a benchmark script or a tune (``STANDALONE_STARTS``) is ``other``; the rest of
    ``TRAIN_DOCS`` is ``train``; every other doc (baselines, benchmarks, calibration, real
    traffic, rendering) is ``other``."""
    if cmd.kind == "bash" and cmd.text.startswith(RAY_STARTS):
        return "ray"
    if cmd.kind == "bash" and cmd.text.startswith(STANDALONE_STARTS):
        return "other"
    return "train" if cmd.where.split(":", 1)[0] in TRAIN_DOCS else "other"


def check_command(cmd: DocCommand, workspace: Workspace) -> None:
    """Run ``cmd`` in ``workspace``; a few commands' outputs are checked further: the MLflow
    UI shows the runs view, a Ray sweep tracked by default files its trials under one
    parent run in the working directory's store."""
    out = workspace.run(cmd)
    if out.startswith("(ran at"):  # the same command, documented again
        return
    if cmd.text.startswith("mlflow ui"):  # the UI's experiment shows runs, not GenAI traces
        assert '"mlflow.experimentKind"' in out and "custom_model_development" in out
    if (
        cmd.text.startswith("python -m pacegym.experiments.sweep_ray")
        and "--tracking-uri" not in cmd.text
    ):
        _check_default_tracked_sweep(workspace.root)


def _check_default_tracked_sweep(root: Path) -> None:
    """The newest ``sweep_ray`` run without ``--tracking-uri`` (``SHORTEN``: a grid of two
    ``scale_decades``): both trials are FINISHED children of one FINISHED parent run in
    ``./mlflow.db``, although Ray runs each trial in a directory of its own, named by their
    parameters; ``best.json`` names that store, the parent and the best trial; no
    per-trial store."""
    import mlflow

    uri = f"sqlite:///{root / 'mlflow.db'}"
    out = max(root.glob("multirun/ray/*/best.json"), key=lambda p: p.stat().st_mtime).parent
    best = json.loads((out / "best.json").read_text())
    assert best["tracking_uri"] == uri and best["trials"] == 2, best
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("pacegym")
    parent = client.get_run(best["mlflow_parent_run_id"])
    assert parent.data.tags["run_type"] == "sweep" and parent.info.status == "FINISHED"
    assert parent.data.metrics["children"] == 2
    trials = client.search_runs(
        [exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(trials) == 2 and all(t.info.status == "FINISHED" for t in trials)
    assert all(t.data.tags["run_type"] == "train" for t in trials)
    names = sorted(t.info.run_name for t in trials)  # told apart by their parameters
    assert names == ["sweep_ppo_live scale_decades=0.5", "sweep_ppo_live scale_decades=1"]
    ids = {t.info.run_id for t in trials}
    assert best["mlflow_run_id"] in ids and parent.data.tags["best_run_id"] in ids
    assert not list(out.rglob("mlflow.db"))  # no per-trial stores


def covered_elsewhere(text: str) -> str | None:
    """Why ``text`` (a whole command) is not run here, or None when it is."""
    for prefix, reason in COVERED_ELSEWHERE.items():
        if text.startswith(prefix):
            return reason
    return None


def segments(cmd: DocCommand) -> tuple[list[str], list[str]]:
    """``(to run, covered elsewhere)``: the ``&&``-joined parts of a bash command."""
    parts = [p.strip() for p in cmd.text.split("&&")] if cmd.kind == "bash" else [cmd.text]
    run = [p for p in parts if covered_elsewhere(p) is None]
    return run, [p for p in parts if covered_elsewhere(p) is not None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


class Workspace:
    """A user's working directory for the documented commands (module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.port = _free_port()
        self.servers: list[subprocess.Popen] = []
        self.done: dict[str, str] = {}  # command as run -> where it was first documented
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "VIRTUAL_ENV")
        }
        self.env.update(
            HOME=str(self.home),
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            MPLCONFIGDIR=str(Path.home() / ".config" / "matplotlib"),
            MLFLOW_DISABLE_TELEMETRY="true",
            RAY_DISABLE_USAGE_STATS="1",
            # no GenAI job runner (8 more processes importing MLflow) beside ``mlflow ui``
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
            PYTHONUNBUFFERED="1",
        )
        self._own_configs()
        # ``pacegym-*`` run as children of one interpreter that imported them (``tests/
        # forked.py``): each still a fresh process, without 2-4 s of imports per command
        self.server = forked.Server(dict(self.env), cwd=root)
        self.env[forked.ENV_VAR] = self.server.path
        self.env["PATH"] = f"{self.server.shims()}{os.pathsep}{self.env['PATH']}"

    def _own_configs(self) -> None:
        """The user's own scenario files that the docs' examples name (docs/apps.md)."""
        mine = "name: mine\nbase: daily_budget\ntraffic: {base_rate: 6.0}\n"
        for folder in (
            self.root / "path" / "to",
            self.root / "conf" / "scenario",
            self.home / "pacing-conf" / "scenario",
        ):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / ("mine.yaml")).write_text(mine)

    # -- placeholders -------------------------------------------------------------------

    def _newest(self, pattern: str, marker: str) -> Path:
        found = [p for p in self.root.glob(pattern) if (p / marker).exists()]
        if not found:
            raise AssertionError(f"no {pattern} with {marker} yet: an earlier command failed")
        return max(found, key=lambda p: p.stat().st_mtime)

    def substitute(self, text: str) -> str:
        """Placeholders and literal example paths -> what earlier commands made."""
        if re.search(r"outputs/train/(<time>|<date>|shaped_[AB])", text):
            train = self._newest("outputs/train/*", "model/agent.json").relative_to(self.root)
            text = re.sub(r"outputs/train/(<time>|<date>|shaped_[AB])", str(train), text)
        if "outputs/compare/<time>" in text:
            board = self._newest("outputs/compare/*", "leaderboard.json").relative_to(self.root)
            text = text.replace("outputs/compare/<time>", str(board))
        if "<sac run>" in text:
            sac = [
                p
                for p in self.root.glob("outputs/train/*")
                if (p / "train_config.yaml").is_file()
                and "algo: sac" in (p / "train_config.yaml").read_text()
            ]
            assert sac, "no SAC run yet: an earlier command failed"
            newest = max(sac, key=lambda p: p.stat().st_mtime)
            text = text.replace("<sac run>", str(newest.relative_to(self.root)))
        if "<train run id>" in text:
            train = self._newest("outputs/train/*", "train_result.json")
            run_id = json.loads((train / "train_result.json").read_text())["mlflow_run_id"]
            text = text.replace("<train run id>", run_id)
        text = text.replace("python benchmarks/", f"python {REPO}/benchmarks/")  # a clone's
        text = text.replace(" hyperparams/", f" {REPO}/hyperparams/")  # the RL Zoo files
        text = text.replace("--port 5000", f"--port {self.port}")
        text = text.replace("127.0.0.1:5000", f"127.0.0.1:{self.port}")
        return text.replace("--host 0.0.0.0", "--host 127.0.0.1")

    @staticmethod
    def shorten(text: str) -> str:
        """``text`` with its program's ``SHORTEN`` arguments appended, and documented
        ``key=value`` arguments that they replace left out (so that two documented
        commands that differ only in a budget are one command here)."""
        for program in sorted(SHORTEN, key=len, reverse=True):
            if text == program or text.startswith(program + " "):
                extra = SHORTEN[program]
                if "train.resume=" in text:  # a resume must have steps left to train:
                    # each one gets 1,024 more (the docs resume the same run more than once)
                    total = 1024 * (2 + next(_RESUMES))
                    extra = tuple(
                        f"train.total_timesteps={total}"
                        if a.startswith("train.total_timesteps=")
                        else a
                        for a in extra
                    )
                replaced = {a.split("=", 1)[0] for a in extra if not a.startswith("-")}
                args = shlex.split(text[len(program) :])
                kept = [a for a in args if "=" not in a or a.split("=", 1)[0] not in replaced]
                return " ".join([program, *map(shlex.quote, kept), *extra])
        return text

    # -- running ------------------------------------------------------------------------

    def run(self, cmd: DocCommand, timeout: float = 600) -> str:
        """Run ``cmd``; returns its output. Raises AssertionError naming the command."""
        if cmd.kind == "python":
            return self._python(cmd, self._short_python(cmd.text))
        if cmd.kind == "python-expr":
            script = (
                "import gymnasium as gym\nimport pacegym, pacegym.envs\n"
                'id = "pacegym/DailyBudget-v0"\n'
                f"made = {cmd.text}\n"
                "if hasattr(made, 'reset'):\n    made.reset(seed=0)\n    print(made.unwrapped.scenario.name)\n"
                "else:\n    print(made.name)\n"
            )
            return self._python(cmd, script)
        todo, _ = segments(cmd)
        outputs = []
        for part in todo:
            text = self.shorten(self.substitute(part))
            if text in self.done:  # the same command documented twice: run once
                outputs.append(f"(ran at {self.done[text]})")
                continue
            if text.startswith("mlflow ui"):
                port = _free_port()  # picked now: a port picked minutes ago may be taken
                outputs.append(self._server(cmd, f"{text} --port {port} {ONE_WORKER}", port))
                self._stop(self.servers.pop())
            elif text.startswith("mlflow server") and text.endswith("&"):
                outputs.append(self._server(cmd, f"{text[:-1].strip()} {ONE_WORKER}", self.port))
            else:
                outputs.append(self._shell(cmd, text, timeout))
            self.done[text] = cmd.where
        return "\n".join(outputs)

    def _short_python(self, script: str) -> str:
        for key, (old, new) in PYTHON_SHORTEN.items():
            if key in script:
                assert old in script, f"PYTHON_SHORTEN[{key!r}] no longer matches the recipe"
                script = script.replace(old, new)
        return script

    def _python(self, cmd: DocCommand, script: str) -> str:
        path = self.root / "snippet.py"
        path.write_text(script)
        return self._shell(cmd, f"python {path.name}", 600)

    def _shell(self, cmd: DocCommand, text: str, timeout: float) -> str:
        r = subprocess.run(
            ["bash", "-c", text],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if r.returncode != 0:
            raise AssertionError(
                f"{cmd.where}: `{cmd.text}` failed (ran `{text}`, exit {r.returncode})\n"
                f"stdout:\n{r.stdout[-2500:]}\nstderr:\n{r.stderr[-4000:]}"
            )
        return r.stdout + r.stderr

    def _server(self, cmd: DocCommand, text: str, port: int) -> str:
        """Start a documented server, wait until it answers, return what it shows."""
        proc = subprocess.Popen(
            shlex.split(text),
            cwd=self.root,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.servers.append(proc)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"{cmd.where}: `{text}` exited: {proc.stderr.read()[-3000:]}")
            try:
                if _get(f"http://127.0.0.1:{port}/health")[0] == 200:
                    url = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search"
                    return _get(url + "?max_results=50")[1]
            except (OSError, http.client.HTTPException):  # not up yet
                time.sleep(0.5)
        raise AssertionError(f"{cmd.where}: `{text}` did not answer on port {port} in 90 s")

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def close(self) -> None:
        while self.servers:
            self._stop(self.servers.pop())
        self.server.close()
