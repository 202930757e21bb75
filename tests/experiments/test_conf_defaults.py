"""Defaults once: a config YAML sets only what differs from its schema's default."""

from pathlib import Path

import pytest
import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from pacegym.experiments import benchmark, config, evaluate_config, export  # noqa: F401 (schemas)
from pacegym.experiments.config import CONF_DIR

APPS = ("evaluate", "train", "compare", "export", "pipeline", "benchmark")
GROUPS = ("tracking", "agent")
"""Config groups with a registered schema (``<group>/<group>_schema``)."""


_ABSENT = object()


def _leaves(data, prefix=""):
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{path}.")
        else:
            yield path, value


def _restated(path: Path, schema: str) -> list[str]:
    evaluate_config.register()
    node = ConfigStore.instance().load(schema).node
    data = yaml.safe_load(path.read_text()) or {}
    data.pop("defaults", None)
    return [
        key for key, value in _leaves(data) if OmegaConf.select(node, key, default=_ABSENT) == value
    ]


@pytest.mark.parametrize("app", APPS)
def test_no_app_yaml_restates_a_schema_default(app):
    assert _restated(Path(CONF_DIR) / f"{app}.yaml", f"{app}_schema.yaml") == []


@pytest.mark.parametrize(
    "path",
    [p for g in GROUPS for p in sorted((Path(CONF_DIR) / g).glob("*.yaml"))],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_no_group_option_restates_a_schema_default(path):
    group = path.parent.name
    assert _restated(path, f"{group}/{group}_schema.yaml") == []


@pytest.mark.parametrize(
    ("agent", "controller", "name"),
    [
        ("ppo_generalist", "generalist/pid_tuned", "generalist_pid"),
        ("ppo_residual", "pid_tuned", "pid_residual_base"),
    ],
)
def test_a_residual_agents_base_is_its_controller_file(agent, controller, name):
    """The residual agents take their base through a defaults entry: the composed base is
    the controller file (its own display name kept), never a copy kept in step."""
    from hydra import compose, initialize_config_dir

    tuned = yaml.safe_load((Path(CONF_DIR) / f"controller/{controller}.yaml").read_text())
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"agent={agent}"])
    base = OmegaConf.to_container(cfg.agent.residual.base)
    assert base == {**tuned, "name": name}


def test_the_generalists_mix_splits_evenly():
    """The generalist's campaigns, validation episodes and minibatches split evenly over its
    scenarios (the synthetic suite and the traces' training days), each of which resolves."""
    from hydra import compose, initialize_config_dir

    from pacegym.envs.scenarios import resolve

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=train_generalist"])
    scs = list(cfg.train.scenarios)
    assert len(scs) == 18 and sum(s.startswith("traces/train/") for s in scs) == 7
    assert all(resolve(s).traffic.days == "train" for s in scs if s.startswith("traces/"))
    assert cfg.train.n_envs % len(scs) == 0 and cfg.train.eval_episodes % len(scs) == 0
    hp = cfg.agent.hyperparams
    assert cfg.train.n_envs * hp.n_steps == 8 * hp.batch_size
