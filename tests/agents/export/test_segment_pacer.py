"""The exported per-segment pacer (kind ``dual_price``, issue 22): parity with the baseline
over whole value_channels episodes, every manifest field checked, data only."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from pacegym.agents.export.runtime.manifest import PacerError
from pacegym.agents.export.runtime.segment_pacer import SegmentPacer, load_segment_pacer
from pacegym.agents.export.segment_export import export_segment_controller, segment_manifest
from pacegym.baselines import run_episodes
from pacegym.baselines.factory import load_controller_yaml
from pacegym.envs.core import PacingCore
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import obs_width
from pacegym.resources import find_config

from .synthetic import DROP as _DROP
from .synthetic import set_field as _set

SCENARIO = "value_channels"


@pytest.fixture(scope="module")
def tuned():
    return load_controller_yaml(find_config("controller", "value_channels/dual_price_tuned"))


@pytest.fixture(scope="module")
def artifact(tuned, tmp_path_factory):
    return export_segment_controller(tuned, SCENARIO, tmp_path_factory.mktemp("seg") / "dp")


def test_the_artifact_is_one_plain_json_file_recording_the_layout(artifact):
    assert sorted(p.name for p in artifact.iterdir()) == ["manifest.json"]
    m = json.loads((artifact / "manifest.json").read_text())
    obs = m["observation"]
    assert obs["n_segments"] == 12 and obs["width"] == obs_width(12)
    assert obs["segments"][0] == "search/0" and m["policy"]["kind"] == "dual_price"


def test_whole_episodes_match_the_baseline_tick_by_tick(tuned, artifact):
    """Lockstep on the baseline's own trajectories: every tick's (n, S) throttles equal."""
    pacer = load_segment_pacer(artifact)
    n = 6
    core = PacingCore(resolve(SCENARIO), n)
    core.reset(np.arange(n), np.arange(11, 11 + n, dtype=np.uint64))
    tuned.reset(n)
    pacer.reset(n)
    ticks = 0
    while not core.done.all():
        obs = core.obs.copy()
        th = tuned.act(obs)
        got = pacer.act(obs)
        assert got.shape == th.shape == (n, 12)
        np.testing.assert_array_equal(got, th)
        np.testing.assert_array_equal(pacer.lam, tuned.lam)
        core.step(th)
        ticks += 1
    assert ticks > 100


def test_episode_metrics_equal_the_baseline(tuned, artifact):
    want = run_episodes(tuned, SCENARIO, episodes=4, seed=3).metrics
    got = run_episodes(load_segment_pacer(artifact), SCENARIO, episodes=4, seed=3).metrics
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def _manifest(tuned):
    segs = [f"c{i // 4}/{i % 4}" for i in range(12)]
    return segment_manifest(tuned, segs)


BAD = [
    ("schema", "pacegym.pacer", "schema"),
    ("schema_version", 2, "schema"),
    ("name", "", "name"),
    ("extra", 1, r"manifest\.extra is not allowed"),
    ("policy.kind", "bogus", "policy.kind"),
    ("policy.kind", "smart_pacing", "policy.base"),
    ("policy.base", "on_off", "policy.base"),
    ("policy.params.kp", -1.0, "policy.params.kp"),
    ("policy.params.plan", "zigzag", "policy.params.plan"),
    ("policy.params.lambda_min", float("nan"), "policy.params.lambda_min"),
    ("policy.params.lambda_min", 1e9, "policy.params.lambda_min"),
    ("policy.params.lambda_min", _DROP, r"policy\.params\.lambda_min is missing"),
    ("policy.params.p_min", True, "policy.params.p_min"),
    ("policy.params.bogus", 1.0, r"policy\.params\.bogus is not allowed"),
    ("observation.n_segments", 11, "observation.n_segments"),
    ("observation.n_segments", 12.0, "observation.n_segments"),
    ("observation.width", 49, "observation.width"),
    ("observation.segments", ["a"] * 12, "observation.segments"),
    ("observation.segment_features", ["share", "throttle", "value_per_price"], "segment_feat"),
    ("observation.base_features", ["time_elapsed"], "observation.base_features lacks"),
    ("action.low", -1.0, "action"),
    ("action", _DROP, r"manifest\.action is missing"),
    ("source", "x", "source"),
]


@pytest.mark.parametrize(
    ("path", "value", "match"),
    BAD,
    ids=[f"{b[0]}={'<dropped>' if b[1] is _DROP else repr(b[1])}" for b in BAD],
)
def test_every_field_is_checked_on_load(tuned, path, value, match):
    m = _set(_manifest(tuned), path, copy.deepcopy(value) if value is not _DROP else _DROP)
    with pytest.raises(PacerError, match=match):
        SegmentPacer(m)


def test_the_good_manifest_loads_and_refuses_a_wrong_width(tuned):
    p = SegmentPacer(_manifest(tuned))
    p.reset(2)
    with pytest.raises(PacerError, match=r"allowed \(n, 50\)"):
        p.act(np.zeros((2, 49), dtype=np.float32))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"schema": 1, "schema": 2}', "appears twice"),
        ('{"name": NaN}', "not a number"),
        ("not json", "not valid JSON"),
    ],
)
def test_unsafe_json_is_refused(tmp_path, text, match):
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(PacerError, match=match):
        load_segment_pacer(tmp_path)


def test_a_value_blind_controller_is_refused(tmp_path):
    with pytest.raises(PacerError, match=r"controller\.kind = 'pid'"):
        export_segment_controller({"kind": "pid"}, SCENARIO, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_pacegym_export_writes_and_verifies_the_tuned_set(tmp_path):
    from hydra import compose, initialize_config_dir

    from pacegym.experiments.export import check_report, run_export

    conf = str(Path(__file__).resolve().parents[3] / "conf")
    out = tmp_path / "dp"
    over = [
        "source.leaderboard=null",
        "source.controller_yaml=value_channels/dual_price_tuned",
        f"out_dir={out}",
        "tracking=off",
        "verify.record_episodes=2",
    ]
    for again in (over, [*over, "overwrite=true"]):
        with initialize_config_dir(config_dir=conf, version_base="1.3"):
            report = run_export(compose(config_name="export", overrides=again))
        assert check_report(report) == [] and report["metric_parity"]["max_abs_diff"] == 0.0
    assert load_segment_pacer(out).n_segments == 12


def test_loading_and_serving_run_no_code(artifact, tmp_path, monkeypatch):
    from .test_no_code_execution import _forbid

    obs = np.random.default_rng(0).random((16, obs_width(12))).astype(np.float32)
    calls = _forbid(monkeypatch)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "manifest.json").write_bytes((artifact / "manifest.json").read_bytes())
    (tmp_path / "x" / "pacer.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w')\n")
    pacer = load_segment_pacer(tmp_path / "x")
    pacer.reset(16)
    assert pacer.act(obs).shape == (16, 12)
    assert calls == [] and not (tmp_path / "ran").exists()


def test_the_bundled_runtime_serves_it_bit_for_bit(artifact, tmp_path):
    import importlib.util
    import sys

    from pacegym.agents.export.bundle import build_runtime_source

    path = tmp_path / "pacer.py"
    path.write_text(build_runtime_source(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("_segment_pacer_bundle", path)
    shipped = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = shipped
    spec.loader.exec_module(shipped)
    obs = np.random.default_rng(1).random((64, obs_width(12))).astype(np.float32)
    obs[:, 0] = 0.0  # every row starts its flight
    a, b = load_segment_pacer(artifact), shipped.load_segment_pacer(artifact)
    a.reset(64)
    b.reset(64)
    for _ in range(3):
        np.testing.assert_array_equal(a.act(obs), b.act(obs))
        obs[:, 0] += 0.01


def test_worker_threads_give_the_same_throttles(artifact):
    rng = np.random.default_rng(2)
    obs = rng.random((40_000, obs_width(12))).astype(np.float32)
    obs[:, 0] = 0.0
    one, two = load_segment_pacer(artifact, threads=1), load_segment_pacer(artifact, threads=2)
    for p in (one, two):
        p.reset(len(obs))
    for _ in range(2):
        np.testing.assert_array_equal(one.act(obs), two.act(obs))
        np.testing.assert_array_equal(one.lam, two.lam)
        obs[:, 0] += 0.01
    with pytest.raises(PacerError, match="threads = 0"):
        load_segment_pacer(artifact, threads=0)
