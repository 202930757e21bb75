"""Issue 23, memory that ships: a RecurrentPPO trained on value_channels, exported as the lstm
pacer, meets sb3_contrib's ``predict`` over 100 whole episodes (each campaign's state carried,
zeros for a new one) and the leaderboard's metrics on the same seeds; ``pacegym-export``
routes it (the winner rule kept), checks it and registers it; threads change no bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pacegym.agents.export.recurrent_export import Lockstep, export_recurrent_model_dir
from pacegym.agents.export.runtime.recurrent import LSTM_BLOCK_ROWS, load_recurrent_pacer
from tests.agents.export.export_checks import export_cfg

from .test_registry import store  # noqa: F401 (fixture)

SCENARIO = {"base": "value_channels", "time": {"flight_min": 240.0}}  # 960 ticks a flight
SEED = 300
AGENT = {
    "name": "rppo",
    "algo": "recurrent_ppo",
    "policy": "MlpLstmPolicy",
    "net_arch": [16],
    "normalize_obs": True,
    "hyperparams": {
        "n_steps": 64,
        "batch_size": 64,
        "n_epochs": 2,
        "policy_kwargs": {"lstm_hidden_size": 16},
    },
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A RecurrentPPO trained 256 steps on value_channels (normalised observations), its
    action bias raised so that it serves 10-60% of the traffic (~2 s)."""
    import torch

    from pacegym.agents.algos import build_model, make_env
    from pacegym.agents.policy import save_model
    from pacegym.agents.settings import AgentSettings

    agent = AgentSettings.from_mapping(AGENT)
    env, pacing = make_env(SCENARIO, agent, 2, 0)
    model = build_model(agent, env, 0)
    model.learn(256)
    with torch.no_grad():
        model.policy.action_net.bias += 0.7
    out = tmp_path_factory.mktemp("rppo") / "model"
    return save_model(out, model, agent, env, "value_channels", {"segments": list(pacing.segments)})


@pytest.fixture(scope="module")
def artifact(model_dir, tmp_path_factory):
    return export_recurrent_model_dir(model_dir, tmp_path_factory.mktemp("lstm") / "pacer")


@pytest.mark.slow
def test_100_whole_episodes_meet_predict_and_the_leaderboard(model_dir, artifact):
    """Actions within 1e-5 of ``predict`` at every tick of 100 whole episodes (from its state,
    and on the pacer's own carried state); every episode's metrics, as ``pacegym-compare``
    evaluates the model (``load_controller`` through ``run_episodes``), within 1e-9."""
    from pacegym.agents.policy import load_controller
    from pacegym.baselines.harness import run_episodes

    lock = Lockstep.of_model_dir(load_recurrent_pacer(artifact), model_dir)
    served = run_episodes(lock, SCENARIO, 100, SEED)
    assert lock.rows == 100 * 960
    assert lock.step_error <= 1e-5 and lock.free_error <= 1e-5
    board = run_episodes(load_controller(model_dir, "rppo"), SCENARIO, 100, SEED)
    assert float(np.mean(board.metrics["delivery"])) > 0.05  # it serves: the test means something
    for k, want in board.metrics.items():
        np.testing.assert_allclose(served.metrics[k], want, rtol=0, atol=1e-9, err_msg=k)
    own = run_episodes(load_recurrent_pacer(artifact), SCENARIO, 100, SEED)  # act: state inside
    for k, want in served.metrics.items():
        np.testing.assert_array_equal(own.metrics[k], want, err_msg=k)


def test_threads_change_no_bit(artifact):
    one, two = (load_recurrent_pacer(artifact, threads=t) for t in (1, 2))
    rng = np.random.default_rng(0)
    n = 2 * LSTM_BLOCK_ROWS + 17
    obs = rng.random((n, len(one.features))).astype(np.float32)
    state = rng.normal(size=(n, one.state_size)).astype(np.float32).astype(np.float64)
    obs[5, 2] = np.nan
    th1, s1 = one.step(obs, state)
    th2, s2 = two.step(obs, state)
    np.testing.assert_array_equal(th1, th2)
    np.testing.assert_array_equal(s1, s2)
    assert (th1[5] == 0.0).all() and np.array_equal(s1[5], state[5])
    small, _ = one.step(obs[:3], state[:3])  # the single-block path
    np.testing.assert_array_equal(small, th1[:3])


def _board(path, rows, scenario, episodes):
    from pacegym.experiments import leaderboard as lb

    doc = {
        "scenario": "value_channels",
        "scenario_config": scenario,
        "seed": SEED,
        "episodes": episodes,
        "rows": rows,
        "winner": lb.winner(rows),
    }
    path.write_text(json.dumps(doc))
    return path


def _rows(model_dir, lead_ci, metrics=None):
    agent = {
        "name": "rppo",
        "type": "agent",
        "kind": "recurrent_ppo",
        "source": {"model_dir": str(model_dir)},
        "diff_vs_best_baseline": sum(lead_ci) / 2,
        "diff_vs_best_baseline_ci": list(lead_ci),
        **(metrics or {}),
    }
    spec = {"kind": "dual_price", "name": "dual_price_tuned", "params": {"lambda_min": 0.5}}
    base = {"name": spec["name"], "type": "baseline", "kind": "dual_price"}
    base["source"] = {"controller": spec}  # as pacegym-compare writes a baseline row
    return [agent, base]


@pytest.mark.parametrize("lead_ci, exported", [((-0.01, 0.03), "baseline"), ((0.01, 0.03), "lstm")])
def test_a_learned_winner_ships_only_with_a_significant_lead(
    model_dir, tmp_path, lead_ci, exported
):
    from pacegym.agents.export.source import from_leaderboard

    src = from_leaderboard(_board(tmp_path / "lb.json", _rows(model_dir, lead_ci), SCENARIO, 4))
    if exported == "lstm":
        assert src.recurrent_dir == model_dir and src.info["winner_kind"] == "recurrent_ppo"
    else:
        assert src.recurrent_dir is None and src.controller["params"] == {"lambda_min": 0.5}


@pytest.mark.slow
def test_pacegym_export_routes_a_recurrent_winner(model_dir, tmp_path):
    """The leaderboard's lstm winner: exported as the lstm pacer, checked in lockstep with
    ``predict`` and against the leaderboard's means on its seeds; a budget guard refused."""
    from pacegym.agents.export.verify import metric_means
    from pacegym.agents.policy import load_controller
    from pacegym.experiments.export import check_report, run_export
    from pacegym.experiments.export_recurrent import RecurrentExportError

    means = metric_means(load_controller(model_dir), SCENARIO, 4, SEED)
    rows = _rows(model_dir, (0.01, 0.03), {k: {"mean": v} for k, v in means.items()})
    board = _board(tmp_path / "lb.json", rows, SCENARIO, 4)
    common = [f"source.leaderboard={board}", f"out_dir={tmp_path}/art", "verify.record_episodes=2"]
    with pytest.raises(RecurrentExportError, match=r"safety\.budget_guard"):
        run_export(export_cfg([*common, "safety.budget_guard=true"]))
    report = run_export(export_cfg(common))
    assert check_report(report) == []
    assert report["action_parity"]["rows"] == 2 * 960
    assert report["action_parity"]["max_abs_error"] <= 1e-5
    assert report["action_parity"]["free_running_max_abs_error"] <= 1e-5
    parity = report["metric_parity"]
    assert parity["checked"] and parity["enforced"]
    assert all(d <= 1e-9 for k, d in parity["diffs"].items() if np.isfinite(means[k]))
    m = json.loads((tmp_path / "art" / "manifest.json").read_text())
    assert m["schema"] == "pacegym.recurrent_pacer" and m["name"] == "rppo"
    assert m["source"]["winner_kind"] == "recurrent_ppo"
    again = run_export(export_cfg([*common, "overwrite=true", "safety.fallback_throttle=0.5"]))
    assert check_report(again) == []
    assert load_recurrent_pacer(tmp_path / "art").fallback == 0.5


@pytest.mark.slow
def test_a_registered_lstm_pacer_serves_state_in_and_out(artifact, tmp_path, store):  # noqa: F811
    import mlflow
    import pandas as pd

    from pacegym.agents.export.registry import register_pacer

    pacer = load_recurrent_pacer(artifact)
    with pytest.raises(ValueError, match="differs from expected_digest"):
        register_pacer(artifact, "lstm", expected_digest="0" * 64)
    uri, _ = register_pacer(artifact, "lstm")
    served = mlflow.pyfunc.load_model(uri)
    assert served.metadata.signature.inputs.input_names() == pacer.frame_inputs()
    rng = np.random.default_rng(0)
    obs = rng.random((5, len(pacer.features))).astype(np.float32)
    state, width = pacer.initial_state(5), pacer.width
    for _ in range(3):
        want, state_next = pacer.step(obs, state)
        both = np.concatenate([obs.astype(np.float64), state], axis=1)
        got = served.predict(pd.DataFrame(both, columns=pacer.frame_inputs()))
        assert list(got.columns) == pacer.frame_outputs()
        np.testing.assert_array_equal(got.to_numpy()[:, :width], want)
        np.testing.assert_array_equal(got.to_numpy()[:, width:], state_next)
        state = got.to_numpy()[:, width:].copy()  # the caller keeps the state, not the model
        obs[:, 0] += 0.01
    assert not np.array_equal(state, pacer.initial_state(5))
