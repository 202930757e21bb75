"""The ``pacegym`` namespace: no module imports the bare folder names, the console
scripts check their extras, and configs are found by the documented lookup order."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from pacegym import cli, resources
from pacegym.envs.params import ScenarioError
from pacegym.envs.scenarios import resolve, scenario_names

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("envs", "baselines", "agents", "experiments", "conf")


def _python_files() -> list[Path]:
    roots = [REPO / d for d in (*FOLDERS, "pacegym", "tests", "benchmarks")]
    return sorted(p for r in roots for p in r.rglob("*.py"))


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_imports_a_bare_folder_name(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            assert name.split(".")[0] not in FOLDERS, f"{path}:{node.lineno} imports {name}"


def test_every_console_script_is_a_known_command():
    scripts = {}
    text = (REPO / "pyproject.toml").read_text().split("[project.scripts]")[1].split("\n\n")[0]
    for line in text.strip().splitlines():
        name, target = (s.strip().strip('"') for s in line.split("="))
        scripts[name] = target
    assert {f"pacegym-{c.replace('_', '-')}" for c in cli.COMMANDS} == set(scripts)
    for name, target in scripts.items():
        module, func = target.split(":")
        assert module == "pacegym.cli" and callable(getattr(cli, func)), name


def test_missing_extra_is_one_line_and_exit_2(monkeypatch, capsys):
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util, "find_spec", lambda m: None if m == "torch" else real(m)
    )
    with pytest.raises(SystemExit) as exc:
        cli.train()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "pacegym-train needs the 'train' extra (module 'torch' is not installed): "
        "pip install 'pacegym[train]'"
    ]


def test_core_commands_need_no_extra():
    for command, (_module, extras) in cli.COMMANDS.items():
        if command in ("simulate", "evaluate"):
            assert extras == ("core",), command
    assert set(cli.EXTRAS) >= {e for _m, extras in cli.COMMANDS.values() for e in extras}


def test_extras_in_pyproject_cover_what_the_cli_checks():
    text = (REPO / "pyproject.toml").read_text()
    deps = text.split("[project.optional-dependencies]")[1].split("[project.scripts]")[0]
    pip_names = {
        "yaml": "pyyaml",
        "hydra": "hydra-core",
        "stable_baselines3": "stable-baselines3",
        "sb3_contrib": "sb3-contrib",
    }
    core = text.split("dependencies = [")[1].split("]")[0]
    for extra, modules in cli.EXTRAS.items():
        block = core if extra == "core" else deps.split(f"{extra} = [")[1].split("]")[0]
        for m in modules:
            assert f'"{pip_names.get(m, m)}' in block, (extra, m)


def test_config_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pkg = resources.conf_dir() / "scenario" / "live_commerce.yaml"
    assert resources.find_config("scenario", "live_commerce") == pkg.resolve()
    own = tmp_path / "conf" / "scenario"
    own.mkdir(parents=True)
    (own / "live_commerce.yaml").write_text("name: shadow\n")
    assert resources.find_config("scenario", "live_commerce") == (own / "live_commerce.yaml")
    first = tmp_path / "first" / "scenario"
    first.mkdir(parents=True)
    (first / "live_commerce.yaml").write_text("name: first\n")
    found = resources.find_config("scenario", "live_commerce", [tmp_path / "first"])
    assert found == first / "live_commerce.yaml"
    by_path = resources.find_config("scenario", str(own / "live_commerce.yaml"))
    assert by_path == (own / "live_commerce.yaml").resolve()
    assert resources.find_config("scenario", "nope") is None
    assert resources.find_config("scenario", "missing/file.yaml") is None


def test_scenario_file_by_name_and_path_with_trace_relative_to_the_file(tmp_path, monkeypatch):
    own = tmp_path / "conf" / "scenario"
    own.mkdir(parents=True)
    (own / "t.csv").write_text("minute,requests\n0,1\n1,3\n")
    (own / "mine.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "mine",
                "base": "daily_budget",
                "traffic": {"profile": "trace", "trace_csv": "t.csv"},
            }
        )
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    by_path = resolve(str(own / "mine.yaml"))
    assert by_path.traffic.trace_csv == str((own / "t.csv").resolve())
    assert by_path.money.budget == resolve("daily_budget").money.budget
    monkeypatch.chdir(tmp_path)
    assert "mine" in scenario_names()
    assert resolve("mine") == by_path
    with pytest.raises(ScenarioError, match=r"scenario = 'conf/scenario/none.yaml': not a preset"):
        resolve("conf/scenario/none.yaml")
    (own / "bad.yaml").write_text("- a list\n")
    with pytest.raises(ScenarioError, match="must hold a mapping"):
        resolve("bad")
