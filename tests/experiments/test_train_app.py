"""pacegym-train's own behaviour: resume takes the run's agent, the reference score, the
default agent, the figures it writes."""

import json

import pytest
import yaml
from hydra import compose, initialize_config_dir

from pacegym.agents.algos import AgentConfigError
from pacegym.envs.metrics import SCORE_KEY
from pacegym.experiments import train as train_app
from pacegym.experiments import train_resume
from pacegym.experiments.config import CONF_DIR

SAC_TINY = [
    "agent=sac",
    "train.total_timesteps=256",
    "train.n_envs=8",
    "train.eval_freq=0",
    "train.eval_episodes=4",
    "train.checkpoint_freq=128",
    "train.progress_bar=false",
    "agent.hyperparams.learning_starts=64",
    "agent.hyperparams.buffer_size=2000",
    "agent.hyperparams.batch_size=32",
    "tracking=off",
]


def _cfg(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides)


def test_the_default_agent_is_the_residual_on_the_tuned_pid():
    cfg = _cfg([])
    assert cfg.agent.name == "ppo_residual" and cfg.agent.residual.enabled
    tuned = yaml.safe_load((CONF_DIR / "controller" / "pid_tuned.yaml").read_text())["params"]
    base = cfg.agent.residual.base.params
    assert {k: tuned[k] for k in base} == dict(base)  # the same PID the leaderboard ranks
    assert train_app.reference_controller(cfg.agent).kind == "pid"


@pytest.mark.slow
def test_resume_of_a_sac_run_without_repeating_the_agent(tmp_path):
    first = train_app.train(_cfg(SAC_TINY), tmp_path / "sac")
    assert first.num_timesteps == 256
    saved = yaml.safe_load((tmp_path / "sac" / "train_config.yaml").read_text())
    assert saved["agent"]["algo"] == "sac" and saved["scenario"]["name"] == "live_commerce"
    # the default agent is ppo_residual: resume must still continue the SAC run
    more = _cfg(
        [
            f"train.resume={tmp_path / 'sac'}",
            "train.total_timesteps=384",
            "train.eval_freq=0",
            "train.eval_episodes=4",
            "train.progress_bar=false",
            "tracking=off",
        ]
    )
    resumed = train_app.train(more, tmp_path / "more")
    assert resumed.resumed_from is not None and resumed.num_timesteps >= 384
    meta = json.loads((resumed.model_dir / "agent.json").read_text())
    assert meta["algo"] == "sac"
    result = json.loads((tmp_path / "more" / "train_result.json").read_text())
    assert result["reference"]["name"] == "pid (tuned)"
    assert 0.8 < result["reference"][SCORE_KEY] < 1.0


def test_resume_refuses_another_agent_named_on_the_command_line(tmp_path, monkeypatch):
    run = tmp_path / "run" / "checkpoints"
    (run / "step_8").mkdir(parents=True)
    (run / "step_8" / "state.json").write_text("{}")
    (run / "LATEST").write_text("step_8")
    (tmp_path / "run" / "train_config.yaml").write_text(
        yaml.safe_dump({"scenario": {"name": "live_commerce"}, "agent": {"name": "sac"}})
    )
    monkeypatch.setattr(train_resume, "_named_on_command_line", lambda group: group == "agent")
    with pytest.raises(AgentConfigError, match=r"agent = 'ppo' differs from the run's 'sac'"):
        train_resume.resumed_config(str(tmp_path / "run"), {"name": "x"}, {"name": "ppo"})
    monkeypatch.setattr(train_resume, "_named_on_command_line", lambda group: False)
    scenario, agent, _ = train_resume.resumed_config(str(tmp_path / "run"), {}, {"name": "ppo"})
    assert agent == {"name": "sac"} and scenario == {"name": "live_commerce"}
    train = {"resume": "r", "n_envs": 128, "seed": 0, "total_timesteps": 9}
    kept = train_resume.resumed_train(train, {"n_envs": 8, "seed": 0, "total_timesteps": 5})
    assert kept == {"resume": "r", "n_envs": 8, "seed": 0, "total_timesteps": 9}
    monkeypatch.setattr(train_resume, "_named_on_command_line", lambda key: key == "train.n_envs")
    with pytest.raises(AgentConfigError, match=r"train.n_envs = 128 differs from the run's 8"):
        train_resume.resumed_train(train, {"n_envs": 8})


def test_resume_takes_a_scenario_however_it_was_written(tmp_path, monkeypatch):
    """A run saved with every scenario key (before scenario files held only what they
    change), or through Hydra's config with unset keys (``???``), resumes with the same
    scenario named on the command line; another scenario is refused."""
    from pacegym.envs.scenarios import resolve, to_dict

    run = tmp_path / "run" / "checkpoints"
    (run / "step_8").mkdir(parents=True)
    (run / "step_8" / "state.pkl").write_bytes(b"")
    (run / "LATEST").write_text("step_8")
    full = to_dict(resolve("daily_budget"))
    saved = {"scenario": {**full, "base": "???"}, "agent": {"name": "sac"}}
    (tmp_path / "run" / ".hydra").mkdir()
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text(yaml.safe_dump(saved))
    monkeypatch.setattr(train_resume, "_named_on_command_line", lambda group: group == "scenario")
    sparse = yaml.safe_load((CONF_DIR / "scenario" / "daily_budget.yaml").read_text())
    scenario, _, _ = train_resume.resumed_config(str(tmp_path / "run"), sparse, {"name": "sac"})
    assert scenario == full
    with pytest.raises(AgentConfigError, match=r"scenario = 'live_commerce' differs"):
        train_resume.resumed_config(str(tmp_path / "run"), {"name": "live_commerce"}, {})
