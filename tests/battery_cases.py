"""The bad inputs of the console-script battery (``tests/test_battery.py``): one row each.

A row is a console script, its command line, the key its one-line error must name, and the
files to put in the (otherwise empty) working directory first. ``fix_in`` marks a row that
does not meet the contract yet: the test is ``xfail(strict=True)`` naming the file that must
fix it, so that the fix flips it to a failure until the mark is removed. Add a row to extend
the battery; docs/reliability.md states how many rows there are.
"""

from __future__ import annotations

import base64
import importlib.resources
import io
import json
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pacegym.outdir import MARKER

MINUTES_HEAD = b"timestamp,requests,serves,impressions\n"
PACKAGE_SCENARIOS = str(importlib.resources.files("pacegym.conf") / "scenario")
"""The installed package's scenario folder (never written by a command)."""
HOME = str(Path.home())


def earlier_run(folder: str, finished: bool = True, **files: bytes) -> dict[str, bytes]:
    """Files of ``folder`` as an earlier run left them: ``files`` and the run's marker."""
    marker = {"command": "pacegym-x", "started": "2024-01-01T00:00:00", "finished": finished}
    if finished:
        marker["files"] = sorted(files)
    out = {f"{folder}/{k}": v for k, v in files.items()}
    return {**out, f"{folder}/{MARKER}": json.dumps(marker).encode()}


ONE_MINUTE = MINUTES_HEAD + b"2024-01-01 00:00,10,5,3\n"


class _Trap:
    """Unpickled, it creates ``pwned.txt`` in the working directory (a changed file)."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, ("pwned.txt", "w"))


TRAP = {
    ":type:": "<class 'stable_baselines3.common.utils.FloatSchedule'>",
    ":serialized:": base64.b64encode(pickle.dumps(_Trap())).decode(),
}
"""A ``model.zip`` data entry whose pickle would leave ``pwned.txt`` if it were ever read."""


def model_zip(data: str | bytes | dict) -> bytes:
    """An SB3-shaped ``model.zip`` holding ``data`` (a dict is written as JSON)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data", json.dumps(data) if isinstance(data, dict) else data)
    return buf.getvalue()


@dataclass(frozen=True)
class Case:
    """One bad input to one console script."""

    script: str  # console script name, a key of pyproject's [project.scripts]
    args: tuple[str, ...]  # its command line after the script name
    key: str  # what the one error line must name (the setting, flag or file)
    files: Mapping[str, bytes] = field(default_factory=dict)  # written into the cwd first
    fix_in: str | None = None  # not one clean line yet: the file that must fix it, and why

    @property
    def id(self) -> str:
        return f"{self.script.removeprefix('pacegym-')}:{' '.join(self.args)}"


def _c(script: str, args: str, key: str, fix_in: str | None = None, **files: bytes) -> Case:
    return Case(f"pacegym-{script}", tuple(args.split()), key, dict(files), fix_in)


FAILED_RUN = "checks it after the MLflow run started: the run is left FAILED"

CASES: tuple[Case, ...] = (
    # pacegym-simulate (argparse)
    _c("simulate", "--throttle 2", "--throttle"),
    _c("simulate", "--episodes 0", "--episodes"),
    _c("simulate", "--scenario nope", "scenario = 'nope'"),
    _c("simulate", "--seed -1", "--seed"),
    _c("simulate", "--bogus", "--bogus"),
    # scenario files that loop, are not text, or name no scenario; a trace that is not one
    _c(
        "simulate",
        "--scenario loop1.yaml",
        "a loop of bases",
        **{"loop1.yaml": b"base: loop2.yaml\n", "loop2.yaml": b"base: loop1.yaml\n"},
    ),
    _c("simulate", "--scenario b5.yaml", "base = 5", **{"b5.yaml": b"base: 5\n"}),
    _c("simulate", "--scenario bin.yaml", "not UTF-8", **{"bin.yaml": b"\xff\xfe\x00x: 1\n"}),
    _c(
        "evaluate",
        "scenario.traffic.profile=trace scenario.traffic.trace_csv=env.txt",
        "traffic.trace_csv = 'env.txt': missing column 'requests' (its header has 1",
        **{"env.txt": b"SECRET_TOKEN=hunter2\n"},
    ),
    # pacegym-evaluate (Hydra)
    _c("evaluate", "controller=nope", "controller = 'nope'"),
    _c("evaluate", "episodes=abc", "episodes = 'abc'"),
    _c("evaluate", "foo=1", "foo = 1"),
    _c("evaluate", "x=[", "x=["),
    _c("evaluate", "scenario=nope", "scenario = 'nope'"),
    _c("evaluate", "tracking=nope", "tracking = 'nope'"),
    _c("evaluate", "scenario.money.budget=-5", "money.budget = -5"),
    _c("evaluate", "scenario.time.tick_s=0", "time.tick_s = 0"),
    _c("evaluate", "scenario.traffic.base_rate=1e300", "traffic.base_rate"),
    _c("evaluate", "scenario.traffic.foo=2", "scenario.traffic.foo"),
    _c("evaluate", "+scenario.foo=1", "scenario.foo"),
    _c("evaluate", "+model=outputs/train/x/model", "model = outputs/train/x/model"),
    _c("compare", "+compare.nonsense=2", "compare.nonsense = 2"),
    _c("export", "++verify.tolerence=1e-3", "verify.tolerence"),
    _c("evaluate", "controller=pid controller.params.kp=-1", "controller.params.kp = -1"),
    _c("evaluate", "batch_size=0", "batch_size = 0"),
    _c("evaluate", "plots=maybe", "plots = 'maybe'"),
    _c("evaluate", "-m batch_size=0,1", "batch_size = 0"),
    _c("evaluate", "seed=-1", "seed = -1"),
    # real traffic: the trace calendar and the intraday forecast
    _c("evaluate", "scenario=traces/taxi_daily scenario.traffic.split_day=80", "traffic.split_day"),
    _c("evaluate", "scenario=traces/taxi_daily scenario.traffic.days=later", "traffic.days"),
    _c("evaluate", "scenario=traces/taxi_daily scenario.time.start_day=3", "time.start_day"),
    _c("evaluate", "scenario.forecast.nowcast=kalman", "forecast.nowcast"),
    _c("evaluate", "scenario.forecast.fit_on=trace", "forecast.fit_on"),
    # pacegym-train (Hydra, torch)
    _c("train", "train.total_timesteps=0", "train.total_timesteps = 0"),
    _c("train", "train.foo=1", "train.foo"),
    _c("train", "agent=nope", "agent = 'nope'"),
    _c("train", "agent.algo=nope", "agent.algo = 'nope'"),
    _c("train", "agent.clip_obs=0", "agent.clip_obs"),
    _c("train", "train.resume=nowhere", "train.resume = 'nowhere'"),
    _c(
        "train",
        "train.resume=r1",
        "r1/checkpoints/step_8/state.pkl",
        **{
            "r1/checkpoints/step_8/state.pkl": pickle.dumps(_Trap()),
            "r1/checkpoints/LATEST": b"step_8",
            "r1/train_config.yaml": b"scenario: {name: live_commerce}\nagent: {name: ppo}\n",
        },
    ),
    _c("train", "train.scenarios=[live_commerce,nowhere]", "train.scenarios[1] = 'nowhere'"),
    _c("train", "train.scenarios=[live_commerce,daily_budget] train.n_envs=3", "train.n_envs = 3"),
    _c("train", "+train.jitter={serving.fill_rate:0.1}", "train.jitter.serving.fill_rate"),
    _c("train", "agent.features=[budget]", "agent.features[0] = 'budget'"),
    _c("train", "train.reward_scale=episode", "train.reward_scale = 'episode'"),
    _c("train", "train.discount=hourly", "train.discount = 'hourly'"),
    _c("train", "agent=sac train.discount=flight", "train.discount = 'flight': agent.algo = 'sac'"),
    _c(
        "train",
        "train.device=tpu train.total_timesteps=256",
        "train.device",
    ),
    _c(
        "train",
        "-m train.n_envs=0,1",
        "train.n_envs = 0",
    ),
    # pacegym-compare (Hydra, torch)
    _c("compare", "compare.baselines=[nope]", "compare.baselines"),
    _c("compare", "compare.agents=[nowhere] compare.discover_agents=false", "compare.agents"),
    _c(
        "compare",
        "compare.episodes=0",
        "compare.episodes",
    ),
    _c(
        "compare",
        "compare.primary=nope compare.episodes=2",
        "compare.primary = 'nope'",
    ),
    # pacegym-benchmark (Hydra)
    _c("benchmark", "benchmark.only=[nowhere]", "benchmark.only = 'nowhere'"),
    _c("benchmark", "benchmark.episodes_short=0", "benchmark.episodes_short = 0"),
    _c("benchmark", "benchmark.foo=1", "benchmark.foo"),
    _c(
        "benchmark",
        "benchmark.suite=[{scenario:daily_budget,baselines_from:dayly_budget}]",
        "baselines_from",
    ),
    _c("benchmark", "suite=nowhere", "suite"),
    _c("benchmark", "benchmark.agents=[nowhere]", "benchmark.agents"),
    _c("benchmark", "benchmark.controllers=[nowhere]", "benchmark.controllers"),
    _c("benchmark", "benchmark.long_flight_min=nan", "benchmark.long_flight_min"),
    # pacegym-pipeline (Hydra, torch)
    _c("pipeline", "pipeline.train=maybe", "pipeline.train = 'maybe'"),
    _c("pipeline", "agent=nope", "agent = 'nope'"),
    _c(
        "pipeline",
        "train.total_timesteps=0",
        "train.total_timesteps = 0",
    ),
    # pacegym-export (Hydra, torch)
    _c("export", "source.leaderboard=nope", "source.leaderboard = 'nope'"),
    _c("export", "source.leaderboard=null", "source"),
    _c("export", "source.leaderboard=null source.model_path=nowhere", "source.model_path"),
    _c(
        "export",
        "source.leaderboard=null source.controller_yaml=nope",
        "source.controller_yaml = 'nope'",
    ),
    _c(
        "export",
        "source.leaderboard=null source.controller_yaml=oracle",
        "source.controller_yaml = 'oracle'",
    ),
    _c(  # a segment pacer is exported for the value scenario it was tuned on (its folder)
        "export",
        "source.leaderboard=null source.controller_yaml=sp.yaml",
        "source.controller_yaml",
        **{"sp.yaml": b"kind: smart_pacing\nparams: {rate: 0.1}\n"},
    ),
    _c(
        "export",
        "source.leaderboard=null source.controller_yaml=lp.yaml",
        "controller.params.slack = 11",
        **{"lp.yaml": b"kind: lp_split\nparams: {slack: 11}\n"},
    ),
    _c(
        "export",
        "source.leaderboard=null source.controller_yaml=pid_tuned verify.action_tolerance=1",
        "verify.action_tolerance = 1",
    ),
    _c(
        "export",
        "source.leaderboard=null source.controller_yaml=pid_tuned safety.fallback_throttle=2",
        "safety.fallback_throttle = 2",
    ),
    Case(
        "pacegym-export",
        ("source.leaderboard=null", "source.controller_yaml=pid_tuned"),
        "out_dir",
        {"artifacts/pacer/keep.txt": b"not the command's\n"},
    ),
    # pacegym-export: a model file is data, never code, and is bounded before it is read
    _c(
        "export",
        "source.leaderboard=null source.model_path=m1 source.algo=ppo",
        "data.lr_schedule",
        **{"m1/model.zip": model_zip({"lr_schedule": {**TRAP, "value_schedule": "os.system"}})},
    ),
    _c(
        "export",
        "source.leaderboard=null source.model_path=m2",
        "data.evil",
        **{"m2/model.zip": model_zip({"evil": {**TRAP, ":type:": "<class 'function'>"}})},
    ),
    _c(
        "export",
        "source.leaderboard=null source.model_path=m3 source.algo=ppo",
        "data = JSON nested",
        **{"m3/model.zip": model_zip("[" * 100_000 + "]" * 100_000)},
    ),
    _c(
        "export",
        "source.leaderboard=null source.model_path=m4 source.algo=ppo",
        "data = 16777218 bytes",
        **{"m4/model.zip": model_zip("{" + " " * (1 << 24) + "}")},
    ),
    # ... and its sizes are bounded before SB3 allocates anything (buffers, layers, spaces)
    _c(
        "export",
        "source.leaderboard=null source.model_path=m5 source.algo=ppo",
        "data.n_steps",
        **{"m5/model.zip": model_zip({"n_steps": 10**12, "n_envs": 8})},
    ),
    _c(
        "export",
        "source.leaderboard=null source.model_path=m6 source.algo=ppo",
        "data.policy_kwargs.net_arch",
        **{"m6/model.zip": model_zip({"policy_kwargs": {"net_arch": [10**9]}})},
    ),
    _c("export", "source.leaderboard=lb.json", "source.leaderboard", **{"lb.json": b"[" * 100_000}),
    # latest is a finished run's leaderboard, never one still running or stopped by an error
    Case(
        "pacegym-export",
        (),
        "source.leaderboard = 'latest': found no",
        earlier_run("outputs/compare/t", finished=False, **{"leaderboard.json": b"{}"}),
    ),
    # pacegym-calibrate (argparse)
    _c("calibrate", "nope.csv", "nope.csv"),
    _c("calibrate", "e.csv", "e.csv", **{"e.csv": MINUTES_HEAD}),
    _c("calibrate", "x.txt", "x.txt", **{"x.txt": b"a\n"}),
    _c("calibrate", "w.csv", "w.csv", **{"w.csv": b"a,b\n1,2\n"}),
    _c("calibrate", "bin.csv", "LOG = 'bin.csv'", **{"bin.csv": b"\xff\xfe\x00\x81\n\x00"}),
    _c("calibrate", "g.parquet", "LOG = 'g.parquet'", **{"g.parquet": b"not parquet"}),
    _c(
        "calibrate",
        "neg.csv",
        "column 'serves'",
        **{"neg.csv": MINUTES_HEAD + b"2024-01-01 00:00,1,-2,0\n"},
    ),
    _c("calibrate", "m.csv --base nope", "--base = 'nope'", **{"m.csv": ONE_MINUTE}),
    # a per-minute log that no ad server writes
    _c("calibrate", "twice.csv", "campaign '0' at", **{"twice.csv": ONE_MINUTE + ONE_MINUTE[38:]}),
    _c(
        "calibrate",
        "imp.csv",
        "column 'impressions'",
        **{"imp.csv": ONE_MINUTE + b"2024-01-01 00:01,10,0,9\n"},
    ),
    _c(
        "calibrate",
        "srv.csv",
        "column 'serves'",
        **{"srv.csv": MINUTES_HEAD + b"2024-01-01 00:00,1,5,0\n"},
    ),
    _c("calibrate", "m.csv --smooth-min -5", "--smooth-min", **{"m.csv": ONE_MINUTE}),
    _c("calibrate", "m.csv --max-lag-min 0", "--max-lag-min", **{"m.csv": ONE_MINUTE}),
    # pacegym-simulate-logs (argparse)
    _c("simulate-logs", "--campaigns 0", "--campaigns"),
    _c("simulate-logs", "--throttle 2", "--throttle"),
    _c("simulate-logs", "--scenario nope", "scenario = 'nope'"),
    _c("simulate-logs", "--days -1", "time.flight_min"),
    _c("simulate-logs", "--seed -1", "--seed"),
    _c("simulate-logs", "--format xml", "--format"),
    # pacegym-tune (argparse)
    _c("tune", "--trials 0", "--trials"),
    _c("tune", "--scenario nope", "scenario = 'nope'"),
    _c("tune", "--kinds nope", "--kinds"),
    _c("tune", "--train-seed -1", "--train-seed"),
    _c("tune", "--test-seed 100000", "--train-seed"),
    _c("tune", "--scenario live_commerce daily_budget", "--name"),
    _c("tune", "--fix plan=nowhere --kinds pid", "--fix"),
    # pacegym-sweep (argparse + Hydra compose, Ray)
    _c("sweep", "--num-cpus 0", "--num-cpus"),
    _c("sweep", "--cpus-per-trial 0", "--cpus-per-trial"),
    # a trial no local Ray could place would wait forever: refused before Ray starts
    _c("sweep", "--num-cpus 1 --cpus-per-trial 4", "--cpus-per-trial = 4.0: allowed (0, 1]"),
    _c("sweep", "--cpus-per-trial 4096", "--cpus-per-trial = 4096.0: allowed (0,"),
    _c("sweep", "--experiment nope", "experiment = 'nope'"),
    _c("sweep", "foo=1", "foo = 1"),
    _c("sweep", "--num-samples 0", "--num-samples"),
    _c("sweep", "--reduction-factor 1", "--reduction-factor"),
    _c("sweep", "--resume", "--out = None"),
    _c("sweep", "--resume --out nowhere", "--out = 'nowhere': no sweep.json"),
    # ASHA stops trials at their evaluations: a sweep without any is refused
    _c("sweep", "--scheduler asha", "train.eval_freq = 0"),
    _c("sweep", "agent.residual.scale_decades=interval(2,1)", "agent.residual.scale_decades"),
    # a Ray address that never answers: refused in seconds (a closed port, a dropped one)
    _c("sweep", "--address 127.0.0.1:1", "--address = '127.0.0.1:1'"),
    _c("sweep", "--address 10.255.255.1:6379", "--address = '10.255.255.1:6379'"),
    _c("benchmark", "benchmark.ray_address=127.0.0.1:1", "benchmark.ray_address = '127.0.0.1:1'"),
    _c("benchmark", "benchmark.workers=0", "benchmark.workers = 0"),
    # every output folder is the run's own (pacegym.outdir): never another run's or a user's
    _c("evaluate", "hydra.run.dir=r", "hydra.run.dir = 'r'", **{"r/metrics.json": b"{}"}),
    Case(
        "pacegym-evaluate",
        ("hydra.run.dir=r", "episodes=2"),
        "hydra.run.dir = 'r'",
        earlier_run("r", **{"metrics.json": b"{}"}),
    ),
    Case(
        "pacegym-evaluate",
        ("hydra.run.dir=r", "overwrite=true"),
        "hydra.run.dir = 'r'",
        earlier_run("r", finished=False, **{"metrics.json": b"{}"}),
    ),
    Case(
        "pacegym-evaluate",
        ("hydra.run.dir=r", "overwrite=true", "batch_size=0"),
        "batch_size = 0",  # refused after the earlier run was moved aside: it is put back
        earlier_run("r", **{"metrics.json": b"{}", "stale.png": b"png"}),
    ),
    _c("evaluate", "-m hydra.sweep.dir=sw batch_size=1,2", "hydra.sweep.dir", **{"sw/k": b""}),
    _c("simulate-logs", "--out lg", "--out = 'lg'", **{"lg/daily_budget_minutes.csv": b"x"}),
    Case(
        "pacegym-simulate-logs",
        ("--out", "lg", "--days", "1"),
        "--out = 'lg'",
        earlier_run("lg", **{"daily_budget_minutes.csv": b"x"}),
    ),
    _c("tune", "--out t --trials 1", "--out = 't'", **{"t/report.json": b"{}"}),
    _c(
        "calibrate",
        "m.csv --report-dir rep",
        "--report-dir = 'rep'",
        **{"m.csv": ONE_MINUTE, "rep/report.md": b"mine"},
    ),
    # ... and never the filesystem root, the home folder or the installed package
    _c("evaluate", "hydra.run.dir=/", "hydra.run.dir = '/'"),
    _c("train", "-m hydra.sweep.dir=/ train.seed=0,1", "hydra.sweep.dir = '/'"),
    _c("export", f"hydra.run.dir={HOME}", f"hydra.run.dir = '{HOME}'"),
    # pacegym-enjoy: the model is named or found, loaded as data, never unpickled
    _c("enjoy", "model=nowhere", "model = 'nowhere'"),
    _c("enjoy", "model=latest", "model = 'latest'"),
    _c("enjoy", "model=nowhere episodes=0", "episodes = 0"),
    _c("enjoy", "model=nowhere seed=-1", "seed = -1"),
    _c(
        "enjoy",
        "model=m1",
        "data.lr_schedule",
        **{
            "m1/agent.json": b'{"algo": "ppo", "policy": "MlpPolicy", "name": "m1"}',
            "m1/model.zip": model_zip({"lr_schedule": {**TRAP, "value_schedule": "os.system"}}),
        },
    ),
    _c(
        "export",
        f"source.leaderboard=null source.controller_yaml=pid_tuned out_dir={PACKAGE_SCENARIOS}/p",
        "out_dir",
    ),
    _c("simulate-logs", "--out /", "--out = '/'"),
    _c("tune", "--out ~ --trials 1", "--out = '~'"),
    _c("sweep", "--out /", "--out = '/'"),
    _c("calibrate", "m.csv --conf-dir /", "--conf-dir = '/'", **{"m.csv": ONE_MINUTE}),
    _c("calibrate", "m.csv --report-dir /", "--report-dir = '/'", **{"m.csv": ONE_MINUTE}),
    # deleting a setting the app needs (Hydra's ~) would run on the schema's defaults
    _c("train", "~scenario", "~scenario: deletes the scenario config group"),
    _c("evaluate", "~controller", "~controller: deletes"),
    _c("benchmark", "~suite", "~suite: deletes"),
    _c("compare", "~tracking", "~tracking: deletes"),
    _c("pipeline", "~agent", "~agent: deletes"),
    _c("evaluate", "~scenario.money", "scenario.money"),
    # a duration that is not a whole number of plan slots or ticks is never rounded
    _c("evaluate", "scenario.score.granularity_min=7.5", "score.granularity_min = 7.5"),
    _c("compare", "scenario.time.flight_min=90.5", "time.flight_min = 90.5"),
    _c("evaluate", "scenario.delay.report_latency_s=20", "delay.report_latency_s = 20"),
    _c(
        "simulate",
        "--scenario s.yaml",
        "time.flight_min = 90.5",
        **{"s.yaml": b"name: odd\ntime: {flight_min: 90.5}\n"},
    ),
    # a trace's minutes are its rows in order: a repeated or missing one would shift the rest
    _c(
        "simulate",
        "--scenario tr.yaml",
        "line 3: minute = 0: allowed 1",
        **{
            "tr.yaml": b"name: tr\ntraffic: {profile: trace, trace_csv: t.csv}\n",
            "t.csv": b"minute,requests\n0,5\n0,5\n2,5\n",
        },
    ),
    # a key written twice in a file is never settled silently
    _c(
        "simulate",
        "--scenario d.yaml",
        "a duplicate key at line 3",
        **{"d.yaml": b"name: d\nmoney: {budget: 100}\nmoney: {budget: 5000}\n"},
    ),
    _c(
        "evaluate",
        "controller=dup",
        "dup.yaml: a duplicate key at line 3",
        **{"conf/controller/dup.yaml": b"kind: pid\nparams: {kp: 0.5}\nparams: {kp: 5}\n"},
    ),
    _c(
        "export",
        "source.leaderboard=null source.controller_yaml=./c.yaml",
        "not valid YAML at line 2",
        **{"c.yaml": b"kind: [\n"},
    ),
    _c(
        "calibrate",
        f"m.csv --conf-dir {PACKAGE_SCENARIOS}",
        f"--conf-dir = '{PACKAGE_SCENARIOS}'",
        **{"m.csv": ONE_MINUTE},
    ),
)
"""Every bad input of the battery."""
