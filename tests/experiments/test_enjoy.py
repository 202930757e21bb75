"""``pacegym-enjoy``: which model it replays, and an MP4 per episode whose return is the
episode's score (``info["episode"]``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from pacegym.agents.settings import AgentSettings, TrainSettings
from pacegym.agents.training import train_agent
from pacegym.experiments.config import CONF_DIR
from pacegym.experiments.enjoy import enjoy, model_dir


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(Path(CONF_DIR)), version_base="1.3"):
        return compose(config_name="enjoy", overrides=overrides)


def _train(run_dir: Path) -> Path:
    agent = yaml.safe_load((CONF_DIR / "agent" / "ppo.yaml").read_text())
    agent["hyperparams"].update(n_steps=8, batch_size=32, n_epochs=1)
    train = {"n_envs": 4, "total_timesteps": 32, "eval_episodes": 2, "progress_bar": False}
    return train_agent(
        "live_commerce",
        AgentSettings.from_mapping(agent),
        TrainSettings.from_mapping(train),
        run_dir,
    ).model_dir


def test_model_names_a_model_dir_a_run_dir_or_the_newest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"model = 'latest': no outputs/train/\*/model here"):
        model_dir("latest")
    old = tmp_path / "outputs/train/a/model"
    new = tmp_path / "outputs/train/b/model"
    for i, d in enumerate((old, new)):
        d.mkdir(parents=True)
        (d / "agent.json").write_text("{}")
        os.utime(d / "agent.json", (1e9 + i, 1e9 + i))
    assert model_dir("latest").resolve() == new
    assert model_dir(str(old.parent)) == old and model_dir(str(old)) == old
    with pytest.raises(ValueError, match=r"model = 'nowhere': not a model dir"):
        model_dir("nowhere")


@pytest.mark.slow
def test_replay_writes_an_mp4_per_episode(tmp_path):
    pytest.importorskip("moviepy")
    model = _train(tmp_path / "run")
    cfg = _compose([f"model={model}", "episodes=2", "seed=5", "scenario.time.flight_min=5"])
    rows = enjoy(cfg, tmp_path / "out")
    videos = sorted(p.name for p in (tmp_path / "out" / "videos").glob("*.mp4"))
    assert videos == ["enjoy-episode-0.mp4", "enjoy-episode-1.mp4"]
    for row in rows:
        assert row["l"] == 20 and row["r"] == pytest.approx(row["pacing_score_v2"], abs=1e-9)
