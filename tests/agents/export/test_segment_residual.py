"""A padded residual PPO on dual price (``agent.max_segments = 12``), trained on
value_channels (12 segments) and value_two_channels (6) at once, exported as one
``segment_residual`` pacer: its corrections meet the trained policy's (``SB3Controller``)
within 1e-5 at every tick of whole episodes of both counts, the episodes' metrics equal the
policy's, and a bad manifest field or a count above the maximum is refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from pacegym.agents.export.runtime.manifest import MANIFEST_FILE, PacerError
from pacegym.agents.export.runtime.segment_residual import load_segment_residual_pacer
from pacegym.agents.export.segment_residual_export import (
    ResidualLockstep,
    export_segment_residual_model_dir,
)
from tests.agents.export.export_checks import (
    assert_refused_on_load,
    assert_verified_on_every_scenario,
    export_cfg,
)

SHORT = {"time": {"flight_min": 60.0}}  # 240 ticks a flight
TWELVE = {"base": "value_channels", **SHORT}
SIX = {"base": "suite/value_two_channels", **SHORT}
SEED = 400
TUNED = Path(__file__).parents[3] / "conf/controller/value_channels/dual_price_tuned.yaml"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """256 env-steps of residual PPO on the mixture (2 campaigns each), its action bias
    moved so that the corrections are far from zero (~3 s)."""
    import torch

    from pacegym.agents.algos import build_model, make_env
    from pacegym.agents.policy import save_model
    from pacegym.agents.settings import AgentSettings

    base = yaml.safe_load(TUNED.read_text())
    agent = AgentSettings.from_mapping(
        {
            "name": "rppo_res",
            "net_arch": [16],
            "max_segments": 12,
            "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
            "residual": {"enabled": True, "base": base, "scale_decades": 1.0},
        }
    )
    env, pacing = make_env([TWELVE, SIX], agent, 4, 0)
    model = build_model(agent, env, 0)
    model.learn(256)
    with torch.no_grad():
        model.policy.action_net.bias += torch.linspace(-0.5, 0.5, 12)
    out = tmp_path_factory.mktemp("res_pad") / "model"
    return save_model(out, model, agent, env, "mixture", {"segments": list(pacing.segments)})


@pytest.fixture(scope="module")
def artifact(model_dir, tmp_path_factory):
    return export_segment_residual_model_dir(model_dir, tmp_path_factory.mktemp("sr") / "pacer")


@pytest.mark.parametrize("scenario, s", [(TWELVE, 12), (SIX, 6)])
def test_whole_episodes_meet_the_trained_policy_on_both_counts(model_dir, artifact, scenario, s):
    from pacegym.agents.policy import load_controller
    from pacegym.baselines.harness import run_episodes

    lock = ResidualLockstep(load_segment_residual_pacer(artifact), load_controller(model_dir))
    served = run_episodes(lock, scenario, 4, SEED)
    assert lock.rows == 4 * 240 and lock.max_error <= 1e-5
    board = run_episodes(load_controller(model_dir), scenario, 4, SEED)
    assert float(np.mean(board.metrics["delivery"])) > 0.05  # it serves
    for k, want in board.metrics.items():
        np.testing.assert_allclose(served.metrics[k], want, rtol=0, atol=1e-9, err_msg=k)
    pacer = load_segment_residual_pacer(artifact)
    pacer.reset(3)
    a = pacer.actions(np.zeros((3, 14 + 3 * s), np.float32))
    assert a.shape == (3, s) and np.abs(a).max() > 0.1  # corrections, not the base alone


def test_a_count_above_the_maximum_is_refused(artifact):
    pacer = load_segment_residual_pacer(artifact)
    for width in (14 + 3 * 13, 14 + 3 * 6 + 2):
        with pytest.raises(PacerError, match=r"expected \(n, 14 \+ 3 S\) .*\[1, 12\]") as err:
            pacer.act(np.zeros((2, width), np.float32))
        assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("observation", "max_segments"), 0, "observation.max_segments"),
        (("observation", "max_segments"), 5000, "observation.max_segments"),
        (("observation", "max_segments"), 11, "policy.inputs"),
        (("policy", "scale_decades"), -1.0, "policy.scale_decades"),
        (("action", "width"), 6, "action.width"),
    ],
)
def test_a_bad_manifest_field_is_refused_on_load(artifact, tmp_path, path, value, field):
    def change(m):
        m[path[0]][path[1]] = value

    assert_refused_on_load(artifact, tmp_path, change, load_segment_residual_pacer, field)


def test_an_unpadded_or_recurrent_model_is_refused(model_dir, tmp_path):
    from pacegym.agents.export.sb3_policy import ExportError

    other = tmp_path / "model"
    shutil.copytree(model_dir, other)
    meta = json.loads((other / "agent.json").read_text())
    meta["max_segments"] = 0
    (other / "agent.json").write_text(json.dumps(meta))
    with pytest.raises(ExportError, match=r"max_segments = 0, .*agent.max_segments > 0"):
        export_segment_residual_model_dir(other, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pacegym_export_routes_a_padded_agent_and_checks_every_count(model_dir, tmp_path):
    """``pacegym-export source.model_path=<padded model>``: a segment_residual pacer, verified
    in lockstep on each scenario ``agent.json`` names (both counts of its mixture); the budget
    guard is refused before anything is written; an unpadded segment agent is refused."""
    from pacegym.agents.export.sb3_policy import ExportError
    from pacegym.experiments.export import run_export
    from pacegym.experiments.export_segment_residual import SegmentResidualExportError

    d = tmp_path / "model"
    shutil.copytree(model_dir, d)
    meta = json.loads((d / "agent.json").read_text())
    (d / "agent.json").write_text(json.dumps({**meta, "scenarios": [TWELVE, SIX]}))
    common = [f"source.leaderboard=null source.model_path={d}", f"out_dir={tmp_path}/art"]
    common = [*common[0].split(), common[1], "verify.record_episodes=2"]
    with pytest.raises(SegmentResidualExportError, match=r"^safety\.budget_guard = true"):
        run_export(export_cfg([*common, "safety.budget_guard=true"]))
    assert not (tmp_path / "art").exists()
    report = run_export(export_cfg(common))
    assert_verified_on_every_scenario(report, 2, 2 * 240 * 2)
    m = json.loads((tmp_path / "art" / MANIFEST_FILE).read_text())
    assert m["schema"] == "pacegym.segment_residual_pacer"
    assert m["observation"]["max_segments"] == 12
    unpadded = tmp_path / "unpadded"
    shutil.copytree(model_dir, unpadded)
    meta.pop("max_segments")
    (unpadded / "agent.json").write_text(json.dumps(meta))
    with pytest.raises(ExportError, match=r"trained without agent\.max_segments"):
        run_export(export_cfg([common[0], f"source.model_path={unpadded}", f"out_dir={d}x"]))
    assert not Path(f"{d}x").exists()
