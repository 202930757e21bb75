"""A padded RecurrentPPO (``agent.max_segments = 12``) trained on value_channels (12
segments) and value_two_channels (6) at once, exported as one ``lstm`` pacer: the manifest
records ``observation.max_segments``, the pacer serves either count (S-segment observations
in, S throttles out), meets sb3_contrib's ``predict`` within 1e-5 over whole episodes of
both, and refuses a bad manifest field or a count above the maximum in one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pacegym.agents.export.recurrent_export import Lockstep, export_recurrent_model_dir
from pacegym.agents.export.runtime.manifest import MANIFEST_FILE, PacerError
from pacegym.agents.export.runtime.recurrent import load_recurrent_pacer
from tests.agents.export.export_checks import (
    assert_refused_on_load,
    assert_verified_on_every_scenario,
    export_cfg,
)

SHORT = {"time": {"flight_min": 60.0}}  # 240 ticks a flight
TWELVE = {"base": "value_channels", **SHORT}
SIX = {"base": "suite/value_two_channels", **SHORT}
SEED = 300
AGENT = {
    "name": "rppo_pad",
    "algo": "recurrent_ppo",
    "policy": "MlpLstmPolicy",
    "net_arch": [16],
    "normalize_obs": True,
    "max_segments": 12,
    "hyperparams": {
        "n_steps": 64,
        "batch_size": 64,
        "n_epochs": 2,
        "policy_kwargs": {"lstm_hidden_size": 16},
    },
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """256 env-steps on the mixture (2 campaigns each), the action bias raised so that it
    serves a share of the traffic (~3 s)."""
    import torch

    from pacegym.agents.algos import build_model, make_env
    from pacegym.agents.policy import save_model
    from pacegym.agents.settings import AgentSettings

    agent = AgentSettings.from_mapping(AGENT)
    env, pacing = make_env([TWELVE, SIX], agent, 4, 0)
    model = build_model(agent, env, 0)
    model.learn(256)
    with torch.no_grad():
        model.policy.action_net.bias += 0.7
    out = tmp_path_factory.mktemp("rppo_pad") / "model"
    return save_model(out, model, agent, env, "mixture", {"segments": list(pacing.segments)})


@pytest.fixture(scope="module")
def artifact(model_dir, tmp_path_factory):
    return export_recurrent_model_dir(model_dir, tmp_path_factory.mktemp("lstm") / "pacer")


def test_manifest_records_the_maximum(model_dir, artifact):
    meta = json.loads((model_dir / "agent.json").read_text())
    assert meta["max_segments"] == 12 and meta["obs_names"][-1] == "mask[11]"
    m = json.loads((artifact / MANIFEST_FILE).read_text())
    assert m["observation"]["max_segments"] == 12 and m["action"]["width"] == 12
    assert m["observation"]["width"] == 14 + 3 * 12 and m["observation"]["segments"] == []
    assert m["policy"]["inputs"] == meta["obs_names"]


@pytest.mark.parametrize("scenario, s", [(TWELVE, 12), (SIX, 6)])
def test_whole_episodes_meet_predict_on_both_counts(model_dir, artifact, scenario, s):
    """Every tick of 4 whole episodes: the pacer's S actions within 1e-5 of the padded
    model's first S (from predict's state, and on the pacer's own carried state); the
    episodes' metrics equal to the trained policy's (``load_controller``) within 1e-9."""
    from pacegym.agents.policy import load_controller
    from pacegym.baselines.harness import run_episodes

    pacer = load_recurrent_pacer(artifact)
    lock = Lockstep.of_model_dir(pacer, model_dir)
    served = run_episodes(lock, scenario, 4, SEED)
    assert lock.rows == 4 * 240
    assert lock.step_error <= 1e-5 and lock.free_error <= 1e-5
    board = run_episodes(load_controller(model_dir), scenario, 4, SEED)
    assert float(np.mean(board.metrics["delivery"])) > 0.01  # it serves: the test means something
    for k, want in board.metrics.items():
        np.testing.assert_allclose(served.metrics[k], want, rtol=0, atol=1e-9, err_msg=k)
    th, _ = pacer.step(np.zeros((3, 14 + 3 * s), np.float32), pacer.initial_state(3))
    assert th.shape == (3, s)


def test_a_count_above_the_maximum_is_refused(artifact):
    pacer = load_recurrent_pacer(artifact)
    for width in (14 + 3 * 13, 14 + 3 * 6 + 1, 14):
        with pytest.raises(PacerError, match=r"expected \(n, 14 \+ 3 S\) .*\[1, 12\]") as err:
            pacer.step(np.zeros((2, width)), pacer.initial_state(2))
        assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "edit, field",
    [
        ({"max_segments": 0}, "observation.max_segments"),
        ({"max_segments": 5000}, "observation.max_segments"),
        ({"max_segments": "12"}, "observation.max_segments"),
        ({"max_segments": 11}, "observation.features"),
    ],
)
def test_a_bad_manifest_field_is_refused_on_load(artifact, tmp_path, edit, field):
    def change(m):
        m["observation"].update(edit)

    assert_refused_on_load(artifact, tmp_path, change, load_recurrent_pacer, field)


def test_inputs_not_the_padded_layout_are_refused(artifact, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(artifact, bad)
    m = json.loads((bad / MANIFEST_FILE).read_text())
    m["policy"]["inputs"][-1], m["policy"]["inputs"][-2] = "mask[10]", "mask[11]"
    (bad / MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(PacerError, match=r"manifest field policy.inputs = .*mask\[<slot>\]"):
        load_recurrent_pacer(bad)


def test_pacegym_export_checks_a_padded_lstm_on_every_count(model_dir, tmp_path):
    """``pacegym-export source.model_path=<padded RecurrentPPO>``: the lstm pacer, verified in
    lockstep with ``predict`` on each scenario of its training mixture (``agent.json``'s
    ``scenarios``: 12 and 6 segments) and against the model's own episodes."""
    from pacegym.experiments.export import run_export

    d = tmp_path / "model"
    shutil.copytree(model_dir, d)
    meta = json.loads((d / "agent.json").read_text())
    (d / "agent.json").write_text(json.dumps({**meta, "scenarios": [TWELVE, SIX]}))
    overrides = [
        "source.leaderboard=null",
        f"source.model_path={d}",
        f"out_dir={tmp_path}/art",
        "verify.record_episodes=2",
    ]
    report = run_export(export_cfg(overrides))
    assert_verified_on_every_scenario(report, 2, 2 * 2 * 240)
    assert json.loads((tmp_path / "art" / "manifest.json").read_text())["schema"] == (
        "pacegym.recurrent_pacer"
    )


def test_a_scenario_named_by_its_name_resolves_to_its_file(tmp_path):
    """agent.json names a scenario by its ``name``; one in a folder of the scenario group
    (suite/, traces/) is found by its file, so a model trained on it exports by its path."""
    import json

    from pacegym.envs.scenarios import resolve
    from pacegym.experiments.export_recurrent import model_scenarios, named_scenario

    assert named_scenario("value_multi_day") == "suite/value_multi_day"
    assert named_scenario("amzn_live") == "traces/amzn_live"
    assert named_scenario("value_channels") == "value_channels"  # resolves as it is
    assert named_scenario("no_such_scenario") == "no_such_scenario"  # resolve's error names it
    (tmp_path / "agent.json").write_text(json.dumps({"scenario": "value_drift"}))
    (sc,) = model_scenarios(tmp_path, {})
    assert resolve(sc).name == "value_drift"
