"""The exported lstm pacer: parity with sb3_contrib's predict over whole episodes (state in,
state out, reset for new campaigns), and every artifact field checked on load."""

import json

import numpy as np
import pytest
import torch

from pacegym.agents.algos import build_model, make_env
from pacegym.agents.export.recurrent_export import export_recurrent, export_recurrent_model_dir
from pacegym.agents.export.runtime.manifest import PacerError
from pacegym.agents.export.runtime.recurrent import WEIGHTS_FILE, load_recurrent_pacer
from pacegym.agents.policy import SB3Controller, load_controller, save_model
from pacegym.agents.settings import AgentSettings
from pacegym.envs.core import PacingCore
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import obs_names

SHORT = {"base": "value_channels", "time": {"flight_min": 15.0}}  # 60 ticks per episode
AGENT = {
    "name": "rppo",
    "algo": "recurrent_ppo",
    "policy": "MlpLstmPolicy",
    "net_arch": [16],
    "normalize_obs": False,
    "hyperparams": {"n_steps": 8, "batch_size": 16, "policy_kwargs": {"lstm_hidden_size": 8}},
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A RecurrentPPO model directory whose actor weights are spread (so that the LSTM's
    nonlinearity and memory matter to the actions)."""
    agent = AgentSettings.from_mapping(AGENT)
    env, pacing = make_env(SHORT, agent, 2, 0)
    model = build_model(agent, env, 0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in [*model.policy.lstm_actor.parameters(), *model.policy.action_net.parameters()]:
            p.copy_(torch.randn(p.shape, generator=gen) * 0.6)
    out = tmp_path_factory.mktemp("rppo") / "model"
    return save_model(
        out, model, agent, None, "value_channels", {"segments": list(pacing.segments)}
    )


def _episodes(ctrl, pacer, episodes=2, n=3):
    """Max |action difference| over ``episodes`` whole episodes of ``n`` campaigns, the
    pacer's state carried by the caller and reset (zeros) for each new batch of campaigns."""
    worst, sc = 0.0, resolve(SHORT)
    for e in range(episodes):
        core = PacingCore(sc, n)
        core.reset(np.arange(n), np.arange(n) + 10 * e)
        ctrl.reset(n)
        state = pacer.initial_state(n)
        while not core.done.all():
            ref = ctrl.actions(core.obs)
            a, _ = pacer.actions(core.obs, state)
            th, state = pacer.step(core.obs, state)
            worst = max(worst, float(np.abs(a - ref).max()))
            assert th.shape == ref.shape and ((th >= 0) & (th <= 1)).all()
            core.step(th)
    return worst


def test_parity_with_predict_over_whole_episodes(model_dir, tmp_path):
    art = export_recurrent_model_dir(model_dir, tmp_path / "pacer")
    pacer = load_recurrent_pacer(art)
    m = json.loads((art / "manifest.json").read_text())
    assert m["state"]["size"] == pacer.state_size == 16 and m["action"]["width"] == 12
    assert _episodes(load_controller(model_dir), pacer) <= 1e-5


def test_parity_with_normalised_inputs(model_dir, tmp_path):
    ctrl = load_controller(model_dir)
    segments = json.loads((model_dir / "agent.json").read_text())["segments"]
    names = list(obs_names(tuple(segments)))
    rng = np.random.default_rng(0)
    norm = {
        "mean": rng.normal(size=len(names)).tolist(),
        "var": rng.uniform(0.05, 2.0, size=len(names)).tolist(),
        "epsilon": 1e-8,
        "clip": 5.0,
    }
    art = export_recurrent(
        ctrl.model, tmp_path / "pacer", names, names, segments, normalization=norm
    )
    assert _episodes(SB3Controller(ctrl.model, norm), load_recurrent_pacer(art), 1) <= 1e-5


def test_a_row_with_a_nan_keeps_its_state(model_dir, tmp_path):
    pacer = load_recurrent_pacer(export_recurrent_model_dir(model_dir, tmp_path / "p"))
    obs = np.zeros((2, len(pacer.features)), dtype=np.float32)
    obs[1, 0] = np.nan
    state = np.full((2, pacer.state_size), 0.1)
    th, nxt = pacer.step(obs, state)
    assert (th[1] == 0.0).all() and np.array_equal(nxt[1], state[1])
    assert not np.array_equal(nxt[0], state[0])
    with pytest.raises(PacerError, match="state has shape"):
        pacer.step(obs, state[:, :3])


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(schema_version=2), "schema_version"),
        (lambda m: m["action"].update(mapping="identity"), "action.mapping"),
        (lambda m: m["state"].update(size=3), "state.size"),
        (lambda m: m["policy"].update(inputs=["nope"]), "policy.inputs"),
        (lambda m: m["policy"].update(kind="mlp"), "policy.kind"),
        (lambda m: m.update(extra=1), "unknown"),
        (lambda m: m["policy"].update(dense=["tanh", "swish"]), "policy.dense"),
    ],
)
def test_bad_fields_are_refused_by_name(model_dir, tmp_path, edit, message):
    art = export_recurrent_model_dir(model_dir, tmp_path / "p")
    m = json.loads((art / "manifest.json").read_text())
    edit(m)
    (art / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(PacerError, match=message):
        load_recurrent_pacer(art)


def test_changed_weights_are_refused(model_dir, tmp_path):
    art = export_recurrent_model_dir(model_dir, tmp_path / "p")
    raw = bytearray((art / WEIGHTS_FILE).read_bytes())
    raw[-40] ^= 1
    (art / WEIGHTS_FILE).write_bytes(bytes(raw))
    with pytest.raises(PacerError, match="sha256 differs"):
        load_recurrent_pacer(art)
