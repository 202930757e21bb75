"""The stateful segment kinds ``smart_pacing`` and ``lp_split`` (issue 22): the exported pacer
meets the baseline tick by tick and episode by episode on value_channels, its campaign state
goes in and comes out (``SegmentPacer.step``), and every field of theirs is checked on load."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from pacegym.agents.export.runtime.lp_split import lp_split_state
from pacegym.agents.export.runtime.manifest import PacerError
from pacegym.agents.export.runtime.segment_pacer import SegmentPacer, load_segment_pacer
from pacegym.agents.export.segment_export import (
    export_segment_controller,
    planned,
    segment_manifest,
)
from pacegym.baselines import run_episodes
from pacegym.baselines.controllers_lp import campaign_splits
from pacegym.baselines.factory import load_controller_yaml
from pacegym.envs.core import PacingCore
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import obs_width
from pacegym.resources import find_config

from .synthetic import DROP as _DROP
from .synthetic import set_field as _set

SCENARIO = "value_channels"
KINDS = ("smart_pacing", "lp_split")


@pytest.fixture(scope="module")
def tuned():
    return {
        k: load_controller_yaml(find_config("controller", f"value_channels/{k}_tuned"))
        for k in KINDS
    }


@pytest.fixture(scope="module")
def artifacts(tuned, tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    return {k: export_segment_controller(tuned[k], SCENARIO, root / k) for k in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_whole_episodes_match_the_baseline_tick_by_tick(kind, tuned, artifacts):
    """Lockstep on the baseline's own trajectories: ``act`` and the stateless ``step``
    both give the baseline's (n, S) throttles at every tick, bit for bit."""
    ctrl, pacer = tuned[kind], load_segment_pacer(artifacts[kind])
    n = 5
    core = PacingCore(resolve(SCENARIO), n)
    core.reset(np.arange(n), np.arange(21, 21 + n, dtype=np.uint64))
    ctrl.reset(n)
    pacer.reset(n)
    if kind == "lp_split":
        ctrl.attach(core)
        pacer.reset(
            n,
            lp_split_state(campaign_splits(core, pacer.params["slack"], pacer.params["price_cap"])),
        )
    state = pacer.state.copy()
    ticks = 0
    while not core.done.all():
        obs = core.obs.copy()
        th = ctrl.act(obs)
        given = state.copy()
        got, state = pacer.step(obs, state)
        np.testing.assert_array_equal(pacer.act(obs), th)
        np.testing.assert_array_equal(got, th)
        np.testing.assert_array_equal(state, pacer.state)
        np.testing.assert_array_equal(ctrl.state, state)
        assert not np.shares_memory(given, state)
        core.step(th)
        ticks += 1
    assert ticks > 100


@pytest.mark.parametrize("kind", KINDS)
def test_episode_metrics_equal_the_baseline(kind, tuned, artifacts):
    want = run_episodes(tuned[kind], SCENARIO, episodes=4, seed=3).metrics
    got = run_episodes(planned(load_segment_pacer(artifacts[kind])), SCENARIO, 4, seed=3).metrics
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_the_state_layouts_and_reset_rules(artifacts):
    sp, lp = (load_segment_pacer(artifacts[k]) for k in KINDS)
    assert sp.state_names[:2] == ("rate.search/0", "rate.search/1")
    assert sp.state_names[-1] == "started" and len(sp.state_names) == 13
    assert lp.state_names[-2:] == ("integral", "prev_time") and len(lp.state_names) == 14
    np.testing.assert_array_equal(sp.initial_state(3), np.zeros((3, 13)))
    np.testing.assert_array_equal(lp.initial_state(2)[:, :12], np.tile(lp.split, (2, 1)))
    assert lp.split.max() > 0.5 and np.all(lp.initial_state(2)[:, 12:] == 0.0)
    obs = np.random.default_rng(0).random((4, obs_width(12))).astype(np.float32)
    obs[:, 0] = 0.3  # mid-flight: a new campaign (started 0) still starts its rates
    th, state = sp.step(obs, sp.initial_state(4))
    assert np.all(state[:, -1] == 1.0) and th.shape == (4, 12)
    obs[:, 0] = 0.0  # time_elapsed 0: a started campaign starts again
    fresh, _ = sp.step(obs, sp.initial_state(4))
    restarted, _ = sp.step(obs, state)
    np.testing.assert_array_equal(fresh, restarted)


@pytest.mark.parametrize(
    ("state", "match"),
    [
        (np.zeros((4, 12)), r"state of shape \(4, 12\) float64: allowed float64 \(n, 13\)"),
        (np.zeros((3, 13)), r"state of shape \(3, 13\)"),
        (np.zeros((4, 13), np.float32), "float32"),
        (np.full((4, 13), np.nan), "NaN"),
    ],
)
def test_a_bad_state_is_refused_in_one_line(artifacts, state, match):
    pacer = load_segment_pacer(artifacts["smart_pacing"])
    obs = np.zeros((4, obs_width(12)), np.float32)
    with pytest.raises(PacerError, match=match):
        pacer.step(obs, state)
    with pytest.raises(PacerError, match=match):
        pacer.reset(4, state)


def _manifest(ctrl, split=None):
    segs = [f"c{i // 4}/{i % 4}" for i in range(12)]
    return segment_manifest(ctrl, segs, split=split)


BAD = [
    ("smart_pacing", "policy.params.rate", 0.0, "policy.params.rate"),
    ("smart_pacing", "policy.params.trial", 1e-9, "policy.params.trial"),
    ("smart_pacing", "policy.params.deadband", _DROP, r"policy\.params\.deadband is missing"),
    ("smart_pacing", "policy.params.kp", 1.0, r"policy\.params\.kp is not allowed"),
    ("smart_pacing", "policy.split", [0.5] * 12, r"policy\.split is not allowed"),
    ("smart_pacing", "policy.base", "pid", "policy.base"),
    ("lp_split", "policy.split", _DROP, r"policy\.split is missing"),
    ("lp_split", "policy.split", [0.5] * 11, r"policy\.split = .*allowed 12 numbers in \[0, 1\]"),
    ("lp_split", "policy.split", [1.5] + [0.0] * 11, r"policy\.split"),
    ("lp_split", "policy.split", [True] + [0.0] * 11, r"policy\.split"),
    ("lp_split", "policy.split", "0.5", r"policy\.split"),
    ("lp_split", "policy.params.m_limit", 5.0, "policy.params.m_limit"),
    ("lp_split", "policy.params.slack", -1.0, "policy.params.slack"),
    ("lp_split", "policy.params.plan", "zigzag", "policy.params.plan"),
    ("lp_split", "policy", [], "policy must be an object"),
]


@pytest.mark.parametrize(
    ("kind", "path", "value", "match"),
    BAD,
    ids=[f"{b[0]}:{b[1]}={'<dropped>' if b[2] is _DROP else repr(b[2])[:20]}" for b in BAD],
)
def test_every_field_is_checked_on_load(tuned, kind, path, value, match):
    split = [0.5] * 12 if kind == "lp_split" else None
    m = _manifest(tuned[kind], split)
    m = _set(m, path, copy.deepcopy(value) if value is not _DROP else _DROP)
    with pytest.raises(PacerError, match=match):
        SegmentPacer(m)


def test_a_split_goes_with_lp_split_only(tuned):
    with pytest.raises(PacerError, match="split = None"):
        _manifest(tuned["lp_split"])
    with pytest.raises(PacerError, match=r"split = \[0.5"):
        _manifest(tuned["smart_pacing"], [0.5] * 12)


@pytest.mark.parametrize("kind", KINDS)
def test_worker_threads_and_the_bundled_runtime_give_the_same_throttles(kind, artifacts, tmp_path):
    import importlib.util
    import sys

    from pacegym.agents.export.bundle import build_runtime_source

    path = tmp_path / "pacer.py"
    path.write_text(build_runtime_source(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"_seg_bundle_{kind}", path)
    shipped = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = shipped
    spec.loader.exec_module(shipped)
    rng = np.random.default_rng(2)
    obs = rng.random((40_000, obs_width(12))).astype(np.float32)
    obs[:, 0] = 0.0
    obs[:, 4] = rng.random(40_000) * 0.1  # reported spend around the plan
    pacers = [
        load_segment_pacer(artifacts[kind], threads=1),
        load_segment_pacer(artifacts[kind], threads=2),
        shipped.load_segment_pacer(artifacts[kind], threads=2),
    ]
    for p in pacers:
        p.reset(len(obs))
    for _ in range(3):
        first, *rest = (p.act(obs) for p in pacers)
        for other in rest:
            np.testing.assert_array_equal(first, other)
        obs[:, 0] += 0.01


@pytest.mark.parametrize("kind", KINDS)
def test_pacegym_export_writes_and_verifies_the_tuned_set(kind, tmp_path):
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from pacegym.experiments.export import check_report, run_export

    conf = str(Path(__file__).resolve().parents[3] / "conf")
    over = [
        "source.leaderboard=null",
        f"source.controller_yaml=value_channels/{kind}_tuned",
        f"out_dir={tmp_path / kind}",
        "tracking=off",
        "verify.record_episodes=2",
    ]
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        report = run_export(compose(config_name="export", overrides=over))
    assert check_report(report) == [] and report["metric_parity"]["max_abs_diff"] == 0.0
    assert load_segment_pacer(tmp_path / kind).kind == kind
