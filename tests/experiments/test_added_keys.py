"""An override that adds a key (``+key=``, ``++key=``) is refused unless the app's schema
declares it (``experiments.override_checks.refuse_unknown_additions``): Hydra opens the config for
an addition, so without the check a typo was taken and ignored by every app."""

import pytest
from omegaconf import OmegaConf

from pacegym.experiments.config import TrainApp, schema
from pacegym.experiments.override_checks import refuse_unknown_additions


@pytest.fixture(scope="module")
def cfg():
    return schema(TrainApp)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+nonsense=1", "nonsense = 1: no such key; allowed keys: agent, overwrite"),
        ("++model=runs/x", "model = runs/x: no such key"),
        ("+train.foo=2", "train.foo = 2: no such key in train; allowed keys:"),
        ("+agent.residual.bsae=1", "agent.residual.bsae = 1: no such key in agent.residual"),
    ],
)
def test_an_undeclared_addition_is_refused_by_key(cfg, override, message):
    with pytest.raises(ValueError, match="^" + message.replace("+", r"\+")):
        refuse_unknown_additions(cfg, [override], groups=set())


@pytest.mark.parametrize(
    "override",
    [
        "+train.randomize={traffic.base_rate: [4, 16]}",  # below a free mapping
        "+train.total_timesteps=10",  # a declared key
        "+experiment=train_generalist",  # a config group: Hydra checks it
        "train.foo=1",  # not an addition: Hydra's struct mode refuses it itself
    ],
)
def test_declared_keys_free_mappings_and_groups_pass(cfg, override):
    refuse_unknown_additions(cfg, [override], groups={"experiment", "agent", "scenario"})
    assert OmegaConf.get_type(cfg) is TrainApp
