"""The model-dir resolver and the apps' run-dir helper: one place each."""

from pathlib import Path

from pacegym.agents.model_dir import AGENT_FILE, find_model_dir, read_agent_meta
from pacegym.experiments.hydra_app import app_run_dir


def test_find_model_dir_takes_a_model_dir_or_a_train_run_dir(tmp_path: Path) -> None:
    assert find_model_dir(tmp_path) is None
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / AGENT_FILE).write_text('{"name": "a"}')
    assert find_model_dir(tmp_path) == tmp_path / "model"
    assert find_model_dir(tmp_path / "model") == tmp_path / "model"
    assert read_agent_meta(tmp_path / "model") == {"name": "a"}


def test_app_run_dir_outside_hydra(tmp_path: Path) -> None:
    assert app_run_dir("compare") == Path("outputs/compare")
    assert app_run_dir("compare", tmp_path) == tmp_path
