"""A model folder is data: loading it never unpickles, and every size and depth is bounded.

The trap: a ``model.zip`` whose pickled ``lr_schedule`` would create a marker file when
unpickled. SB3's own ``load`` runs it (the test shows the trap is live); every loader of
the project (``load_model``: compare, evaluate, benchmark, export, resume) never does.
"""

from __future__ import annotations

import base64
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from pacegym.agents import model_io
from pacegym.agents.model_io import ModelFileError, load_model, read_data


class _Trap:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def ppo_dir(tmp_path_factory) -> Path:
    """A model directory written by ``save_model`` (PPO, normalised observations)."""
    from stable_baselines3.common.vec_env import VecNormalize

    from pacegym.agents.algos import build_model
    from pacegym.agents.policy import save_model
    from pacegym.agents.settings import AgentSettings
    from pacegym.agents.vec_env import PacingVecEnv

    agent = AgentSettings(
        name="ppo", algo="ppo", net_arch=[8], hyperparams={"n_steps": 8, "batch_size": 32}
    )
    env = VecNormalize(PacingVecEnv("live_commerce", n_envs=4, seed=0))
    model = build_model(agent, env, seed=0)
    model.learn(64)
    return save_model(tmp_path_factory.mktemp("m") / "model", model, agent, env, "live_commerce")


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """A copy of the model zip ``src`` at ``dst`` with its ``data`` JSON edited."""
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    data = json.loads(members["data"])
    members["data"] = edit(data) if not isinstance(edit, bytes) else edit
    if isinstance(members["data"], dict):
        members["data"] = json.dumps(members["data"]).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return dst


def _trapped(data: dict, key: str, marker: Path) -> dict:
    data[key][":serialized:"] = base64.b64encode(pickle.dumps(_Trap(marker))).decode()
    return data


def test_a_pickled_lr_schedule_never_runs(ppo_dir, tmp_path):
    from stable_baselines3 import PPO

    marker = tmp_path / "ran"
    bad = _rewrite(
        ppo_dir / "model.zip", tmp_path / "m.zip", lambda d: _trapped(d, "lr_schedule", marker)
    )
    model = load_model(bad, "ppo")
    assert not marker.exists()
    assert model.lr_schedule(1.0) == pytest.approx(3e-4)  # rebuilt from the printed constant
    good = load_model(ppo_dir / "model.zip", "ppo")
    a, b = good.policy.state_dict(), model.policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    PPO.load(bad, device="cpu")  # the trap is live: SB3's own load unpickles it
    assert marker.exists()


def test_every_model_loader_goes_through_load_model(ppo_dir, tmp_path):
    import shutil

    from pacegym.agents.export.source import from_files
    from pacegym.agents.policy import load_controller

    marker = tmp_path / "ran"
    folder = Path(shutil.copytree(ppo_dir, tmp_path / "model"))
    _rewrite(
        ppo_dir / "model.zip", folder / "model.zip", lambda d: _trapped(d, "policy_class", marker)
    )
    obs = np.zeros((2, 14), np.float32)
    load_controller(folder).reset(2)  # compare, evaluate and benchmark load this way
    src = from_files(folder / "model.zip", None, None)  # export
    assert src.model.predict(obs, deterministic=True)[0].shape == (2, 1)
    assert not marker.exists()


def test_a_pickled_entry_no_rule_rebuilds_is_refused(ppo_dir, tmp_path):
    marker = tmp_path / "ran"

    def add(d):
        d["evil"] = {":type:": "<class 'function'>", ":serialized:": ""}
        return _trapped(d, "evil", marker)

    with pytest.raises(
        ModelFileError, match=r"data\.evil = <class 'function'>: allowed plain JSON"
    ):
        load_model(_rewrite(ppo_dir / "model.zip", tmp_path / "m.zip", add), "ppo")
    assert not marker.exists()


def test_a_class_outside_the_allowed_ones_is_refused(ppo_dir, tmp_path):
    def swap(d):
        d["rollout_buffer_class"].update(
            __module__="os", __init__="<function system.__init__ at 0x1>"
        )
        return d

    with pytest.raises(ModelFileError, match=r"data\.rollout_buffer_class = os\.system"):
        load_model(_rewrite(ppo_dir / "model.zip", tmp_path / "m.zip", swap), "ppo")


def test_deep_or_large_data_json_is_one_line(ppo_dir, tmp_path, monkeypatch):
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ModelFileError, match="data = JSON nested too deeply"):
        read_data(_rewrite(ppo_dir / "model.zip", tmp_path / "a.zip", deep))
    nested = json.dumps({"x": json.loads("[" * 70 + "]" * 70)}).encode()
    with pytest.raises(ModelFileError, match=r"data = JSON nested 6[5-9] levels"):
        read_data(_rewrite(ppo_dir / "model.zip", tmp_path / "b.zip", nested))
    monkeypatch.setattr(model_io, "MAX_MEMBER_BYTES", 1000)  # a member inflating past the bound
    with pytest.raises(ModelFileError, match=r"model\.zip: \w+(\.pth)? = \d+ bytes uncompressed"):
        read_data(ppo_dir / "model.zip")


def test_vecnormalize_round_trips_as_plain_arrays(ppo_dir):
    from stable_baselines3.common.vec_env import VecNormalize

    from pacegym.agents.vec_env import PacingVecEnv
    from pacegym.agents.vecnorm_io import VECNORM_FILE, load_vecnormalize

    assert not list(ppo_dir.glob("*.pkl"))
    vn = load_vecnormalize(ppo_dir / VECNORM_FILE, PacingVecEnv("live_commerce", n_envs=4, seed=0))
    meta = json.loads((ppo_dir / "agent.json").read_text())
    assert isinstance(vn, VecNormalize) and vn.obs_rms.mean.tolist() == meta["obs_norm"]["mean"]
    with pytest.raises(ModelFileError, match="a pickled VecNormalize is never read: retrain"):
        load_vecnormalize(ppo_dir / "vecnormalize.pkl", vn.venv)


def test_a_pickled_normalisation_file_is_refused_by_export(tmp_path):
    from pacegym.agents.export.sb3_policy import ExportError
    from pacegym.agents.export.source import load_normalization

    (tmp_path / "vecnormalize.pkl").write_bytes(pickle.dumps(_Trap(tmp_path / "ran")))
    with pytest.raises(ExportError, match=r"normalization_path = .*a pickle is never read"):
        load_normalization(tmp_path / "vecnormalize.pkl", 14)
    assert not (tmp_path / "ran").exists()
