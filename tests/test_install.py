"""The wheel as a user gets it: built, installed non-editable into a fresh venv, used from
an unrelated directory.

One module-scoped fixture builds the wheel from a copy of the tracked files (no stale
``build/``) and installs it, without extras, into a new virtual environment; the tests
then run console scripts and ``gym.make`` from empty directories. Slow (about a minute:
the install resolves numpy, numba, gymnasium, hydra and matplotlib from pip's cache).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "stable_baselines3", "sb3_contrib", "mlflow", "ray", "pandas", "pyarrow")
"""Modules the base install must not bring (they come with the extras)."""


def _run(
    args: list[str], cwd: Path, ok: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_clean_env(),
    )
    if ok:
        assert r.returncode == 0, (
            f"{args}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
        )
    return r


def _clean_env() -> dict[str, str]:
    """The caller's environment without its virtualenv (pip's cache and config stay)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)
    )
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def _tracked_copy(dest: Path) -> Path:
    """The repository's tracked files (what a clone has) copied to ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _build_wheel(project: Path, dest: Path) -> None:
    """A wheel of ``project`` into ``dest``, built by the test's own interpreter."""
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    _run([*cmd, "-w", dest, project], dest.parent)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """Build the wheel and install it, without extras, into a fresh venv."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to list the tracked files")
    root = tmp_path_factory.mktemp("install")
    src = _tracked_copy(root / "src")
    wheel_dir = root / "dist"
    _build_wheel(src, wheel_dir)
    (wheel,) = wheel_dir.glob("pacegym-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], root)
    py = venv / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", wheel], root)
    site = Path(
        _run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root
        ).stdout.strip()
    )
    work = root / "elsewhere"
    work.mkdir()
    return {"wheel": wheel, "python": py, "bin": venv / "bin", "site": site, "work": work}


def test_wheel_holds_one_top_level_package_with_its_configs(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"pacegym", installed["wheel"].name.split("-py3")[0] + ".dist-info"}
    for needed in ("pacegym/envs/kernel.py", "pacegym/py.typed"):
        assert needed in names, needed
    # every tracked config at any depth (per-scenario tuned sets, the suite and its trace)
    tracked = subprocess.run(
        ["git", "ls-files", "conf"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    configs = [p for p in tracked if p.endswith((".yaml", ".csv", ".md"))]
    assert "conf/scenario/suite/bursty_intraday_trace.csv" in configs
    assert "conf/scenario/traces/NOTICE.md" in configs  # the traces' licences travel with them
    assert "conf/scenario/traces/train/taxi_daily.yaml" in configs
    assert "conf/controller/daily_budget/pid_tuned.yaml" in configs
    missing = [p for p in configs if f"pacegym/{p}" not in names]
    assert not missing, missing


def test_site_packages_gets_pacegym_and_no_generic_names(installed):
    tops = {p.name for p in installed["site"].iterdir()}
    assert "pacegym" in tops
    assert not tops & {"envs", "agents", "baselines", "experiments", "conf"}


def test_base_install_brings_no_torch_and_imports_env_and_baselines(installed):
    code = f"""
        import importlib.util, sys
        missing = [m for m in {HEAVY!r} if importlib.util.find_spec(m) is None]
        assert missing == list({HEAVY!r}), missing
        import pacegym.envs, pacegym.baselines
        from pacegym.baselines import build_controller, run_episodes
        roll = run_episodes(build_controller("pid"), "live_commerce", 4, 0)
        assert roll.metrics["delivery"].shape == (4,)
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        assert not heavy, heavy
        print("ok")
    """
    r = _run([installed["python"], "-c", textwrap.dedent(code)], installed["work"])
    assert r.stdout.strip() == "ok"


def test_gym_make_with_module_prefix_and_after_import(installed):
    code = """
        import gymnasium as gym
        env = gym.make("pacegym:pacegym/LiveCommerce-v0")
        obs, _ = env.reset(seed=0)
        assert obs.shape == (14,)
        venv = gym.make_vec("pacegym/DailyBudget-v0", num_envs=3, vectorization_mode="vector_entry_point")
        assert venv.reset(seed=0)[0].shape == (3, 14)
        print("ok")
    """
    r = _run([installed["python"], "-c", textwrap.dedent(code)], installed["work"])
    assert r.stdout.strip() == "ok"


def test_the_shipped_trace_scenarios_run_from_the_wheel(installed):
    """The real-traffic suite's scenarios resolve by name and run from a non-editable install
    (the traces and their walk-forward forecasts come from the package's data)."""
    code = """
        from pacegym.baselines import build_controller, run_episodes
        from pacegym.envs.core import PacingCore
        roll = run_episodes(build_controller("pid"), "traces/amzn_live", 4, 0)
        assert roll.metrics["delivery"].shape == (4,)
        core = PacingCore("traces/train/taxi_daily", 1)
        assert (core.day_lo, core.day_hi, core.fc_mode) == (14, 39, 2)
        print("ok")
    """
    r = _run([installed["python"], "-c", textwrap.dedent(code)], installed["work"])
    assert r.stdout.strip() == "ok"


def test_evaluate_runs_from_an_empty_directory(installed, tmp_path):
    _run(
        [
            installed["bin"] / "pacegym-evaluate",
            "scenario=live_commerce",
            "controller=pid_tuned",
            "episodes=20",
            "plots=false",
        ],
        tmp_path,
    )
    (metrics,) = tmp_path.glob("outputs/evaluate/*/metrics.json")
    assert "pid (tuned)" in metrics.read_text()


def test_simulate_takes_a_shipped_calibrated_scenario_by_name(installed, tmp_path):
    r = _run(
        [
            installed["bin"] / "pacegym-simulate",
            "--scenario",
            "calibrated_daily_budget",
            "--episodes",
            "2",
        ],
        tmp_path,
    )
    assert r.stdout.startswith("calibrated_daily_budget, fixed throttle")


def test_users_own_scenario_by_path_and_by_config_dir(installed, tmp_path):
    """A scenario YAML outside the package, its trace relative to the file, used from
    another directory by path, and by name through Hydra's --config-dir."""
    user = tmp_path / "myconf"
    (user / "scenario").mkdir(parents=True)
    minutes = "\n".join(f"{m},{1.0 + (m // 60) % 3}" for m in range(1440))
    (user / "scenario" / "my_trace.csv").write_text("minute,requests\n" + minutes + "\n")
    (user / "scenario" / "mine.yaml").write_text(
        "name: mine\nbase: daily_budget\n"
        "traffic: {profile: trace, trace_csv: my_trace.csv, base_rate: 0.5}\n"
        "time: {flight_min: 120.0}\n"
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    r = _run(
        [
            installed["bin"] / "pacegym-simulate",
            "--scenario",
            user / "scenario" / "mine.yaml",
            "--episodes",
            "2",
        ],
        run_dir,
    )
    assert r.stdout.startswith("mine, fixed throttle")
    r = _run(
        [
            installed["bin"] / "pacegym-evaluate",
            "--config-dir",
            user,
            "scenario=mine",
            "controller=daily_budget/pid_tuned",
            "episodes=4",
            "plots=false",
        ],
        run_dir,
    )
    assert "mine: 4 episodes" in r.stdout
    (metrics,) = run_dir.glob("outputs/evaluate/*/metrics.json")
    assert "pid (tuned)" in metrics.read_text()


def test_a_command_whose_extra_is_missing_says_which_in_one_line(installed, tmp_path):
    for command, extra in (("pacegym-train", "train"), ("pacegym-calibrate", "calibrate")):
        r = _run([installed["bin"] / command], tmp_path, ok=False)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pip install 'pacegym[{extra}]'" in lines[0], r.stderr
        assert "Traceback" not in r.stderr


def test_generic_packages_beside_it_break_nothing(installed, tmp_path):
    """Projects that install ``envs`` and ``agents`` (as PyPI's ``envs`` and
    ``openai-agents`` do) neither shadow nor, once uninstalled, remove pacegym's files."""
    py = installed["python"]
    for name in ("envs", "agents"):
        proj = tmp_path / name
        (proj / name).mkdir(parents=True)
        (proj / name / "__init__.py").write_text("SQUAT = True\n")
        (proj / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "9.9"\n'
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        )
        # built by the test's own interpreter (the fresh venv's setuptools may lack wheel)
        _build_wheel(proj, tmp_path / "wheels")
    for wheel in sorted((tmp_path / "wheels").glob("*.whl")):
        _run([py, "-m", "pip", "install", "-q", "--no-deps", wheel], tmp_path)
    check = """
        import gymnasium as gym, envs, agents
        assert envs.SQUAT and agents.SQUAT
        gym.make("pacegym:pacegym/MultiDayFlight-v0").reset(seed=1)
        import pacegym.envs, pacegym.agents
        print("ok")
    """
    assert _run([py, "-c", textwrap.dedent(check)], installed["work"]).stdout.strip() == "ok"
    _run([py, "-m", "pip", "uninstall", "-q", "-y", "envs", "agents"], tmp_path)
    files = _run([py, "-m", "pip", "show", "-f", "pacegym"], tmp_path).stdout
    listed = [line.strip() for line in files.split("Files:")[1].splitlines() if line.strip()]
    assert listed and all((installed["site"] / f).exists() for f in listed)
    check = "import gymnasium as gym; gym.make('pacegym:pacegym/LiveCommerce-v0'); print('ok')"
    assert _run([py, "-c", check], installed["work"]).stdout.strip() == "ok"
