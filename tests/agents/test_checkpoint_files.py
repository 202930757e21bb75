"""A checkpoint is plain data: the env state round-trips exactly, and nothing in a
checkpoint folder is ever unpickled (older pickled files, payloads, tampered arrays are
refused in one line naming the file or the array)."""

from __future__ import annotations

import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pacegym.agents.algos import algo_class, make_env
from pacegym.agents.checkpoint import latest_checkpoint, load_checkpoint
from pacegym.agents.env_state import env_arrays, env_scalars, layers, load_env_state
from pacegym.agents.settings import AgentConfigError, AgentSettings, ResidualSettings, TrainSettings
from pacegym.agents.training import train_agent, validate
from pacegym.envs.snapshot import SnapshotError

RESIDUAL = AgentSettings(
    name="res",
    net_arch=[8],
    normalize_obs=False,  # the statistics live in vecnormalize.npz, not in the env state
    features=["time_elapsed", "plan", "reported_spend"],
    residual=ResidualSettings(enabled=True, base={"kind": "pid", "params": {"plan": "observed"}}),
)
MIXTURE = ["live_commerce", "suite/small_budget"]


def _step(env, actions):
    env.step_async(actions)
    return env.step_wait()


def test_the_env_state_round_trips_through_plain_arrays_exactly():
    """A mixture of scenarios under a residual PID, stepped past episode ends: a fresh env
    given the saved arrays continues exactly as the original (every core array equal)."""
    env, pacing = make_env(MIXTURE, RESIDUAL, 6, 11, "flight")
    env.reset()
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (700, 6, 1)).astype(np.float32)
    ends = sum(int(np.sum(_step(env, a)[2])) for a in acts[:400])
    assert ends > 0  # the saved state is mid-run, after autoresets
    arrays = {k: np.array(v) for k, v in env_arrays(env).items()}
    scalars = env_scalars(env)
    fresh, fresh_pacing = make_env(MIXTURE, RESIDUAL, 6, 11, "flight")
    load_env_state(fresh, arrays, scalars, "state.npz")
    for a in acts[400:]:
        obs, rew, done, _ = _step(env, a)
        obs2, rew2, done2, _ = _step(fresh, a)
        assert np.array_equal(obs, obs2) and np.array_equal(rew, rew2)
        assert np.array_equal(done, done2)
    for core, core2 in zip(pacing.core.cores, fresh_pacing.core.cores, strict=True):
        for name, value in vars(core).items():
            if isinstance(value, np.ndarray):
                assert np.array_equal(value, getattr(core2, name)), name


def test_saved_arrays_that_do_not_fit_the_env_are_refused_naming_the_array():
    env, _ = make_env("live_commerce", RESIDUAL, 4, 1)
    env.reset()
    arrays = {k: np.array(v) for k, v in env_arrays(env).items()}
    fresh, _ = make_env("live_commerce", RESIDUAL, 4, 1)
    for name, bad in (
        ("core.par", arrays["core.par"][:, :-1]),
        ("residual.base.rule.integral", np.zeros(4, dtype=np.float32)),
    ):
        with pytest.raises(SnapshotError, match=rf"state.npz: array '{name}' is "):
            load_env_state(fresh, {**arrays, name: bad}, env_scalars(env), "state.npz")
    missing = {k: v for k, v in arrays.items() if k != "pacing.seeder"}
    with pytest.raises(SnapshotError, match=r"array 'pacing.seeder' is missing"):
        load_env_state(fresh, missing, env_scalars(env), "state.npz")


HP = {"learning_starts": 32, "batch_size": 32, "buffer_size": 2000, "train_freq": 4}
AGENT = AgentSettings(name="sac", algo="sac", net_arch=[8], hyperparams=HP)
TRAIN = TrainSettings(
    total_timesteps=64, n_envs=4, eval_freq=0, eval_episodes=2, progress_bar=False
)


class _Trap:
    """Unpickled, it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("ckpt") / "run"
    train_agent("live_commerce", AGENT, TRAIN, run)
    return latest_checkpoint(run)


def _resume(ckpt):
    env, _ = make_env("live_commerce", AGENT, 4, TRAIN.seed)
    return load_checkpoint(ckpt, algo_class("sac"), env, "cpu", HP)


def _refused(ckpt, tmp_path, match):
    settings = replace(TRAIN, total_timesteps=128, resume=str(ckpt))
    for call in (
        lambda: _resume(ckpt),
        lambda: train_agent("live_commerce", AGENT, settings, tmp_path / "resumed"),
    ):
        with pytest.raises(AgentConfigError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_a_checkpoint_loads_its_replay_buffer_from_plain_arrays(checkpoint):
    assert not list(checkpoint.glob("*.pkl"))
    model, _, state = _resume(checkpoint)
    assert state["num_timesteps"] == 64 and model.replay_buffer.pos == 64 // 4
    assert np.any(model.replay_buffer.observations[: model.replay_buffer.pos] != 0)


@pytest.mark.parametrize("name", ["state.pkl", "replay_buffer.pkl", "state.npz"])
def test_a_pickle_payload_in_a_checkpoint_never_runs(checkpoint, tmp_path, name):
    ckpt = tmp_path / "step"
    shutil.copytree(checkpoint, ckpt)
    marker = tmp_path / "pwned.txt"
    (ckpt / name).write_bytes(pickle.dumps(_Trap(marker)))
    _refused(ckpt, tmp_path, rf"^train\.resume = '.*': .*{name}")
    if name == "state.npz":  # and as an object array inside a well-formed npz
        np.savez(ckpt / name, trap=np.array([_Trap(marker)], dtype=object))
        _refused(ckpt, tmp_path, r"state\.npz: trap is an object array")
    assert not marker.exists()
    assert not (tmp_path / "resumed").exists()


def test_an_older_pickled_checkpoint_is_refused_naming_the_file(checkpoint, tmp_path):
    ckpt = tmp_path / "old"
    shutil.copytree(checkpoint, ckpt)
    (ckpt / "state.json").unlink()
    (ckpt / "state.pkl").write_bytes(b"\x80\x04N.")
    assert latest_checkpoint(ckpt) == ckpt
    settings = replace(TRAIN, total_timesteps=128, resume=str(ckpt))
    with pytest.raises(AgentConfigError, match=r"state\.pkl is a pickled .*start the run again$"):
        validate("live_commerce", AGENT, settings)


@pytest.mark.parametrize(
    ("file", "array"), [("state.npz", "core.pending"), ("replay_buffer.npz", "rewards")]
)
def test_a_tampered_array_is_refused_naming_it(checkpoint, tmp_path, file, array):
    ckpt = tmp_path / "step"
    shutil.copytree(checkpoint, ckpt)
    with np.load(ckpt / file, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[array] = np.concatenate([arrays[array], arrays[array][:1]])
    np.savez(ckpt / file, **arrays)
    _refused(ckpt, tmp_path, rf"{file}: array '{array}' is .* allowed ")


def test_layers_finds_the_core_view():
    env, pacing = make_env("live_commerce", AGENT, 2, 0)
    assert layers(env)[2] is pacing


def test_the_checkpoint_modules_never_import_pickle():
    import pacegym.agents.checkpoint as a
    import pacegym.agents.env_state as b
    import pacegym.agents.replay_io as c
    import pacegym.envs.snapshot as d

    for module in (a, b, c, d):
        text = Path(module.__file__).read_text()
        assert "import pickle" not in text and "pickle." not in text, module.__name__
