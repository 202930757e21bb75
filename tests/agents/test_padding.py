"""Padding to a maximum segment count (``agent.max_segments``): the layout, the mixture
across counts, the padded actions that never reach the env, the training view equal to the
evaluation view, and the refusals (one line naming the key, the value, the allowed range)."""

from __future__ import annotations

import numpy as np
import pytest

from pacegym.agents.export.runtime.segment_pad import SegmentPad
from pacegym.agents.features import check_max_segments, padded_names, segment_pad
from pacegym.agents.settings import AgentConfigError, AgentSettings
from pacegym.envs.core import PacingCore
from pacegym.envs.mixture import CoreMixture
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import N_OBS

TWELVE, SIX = "value_channels", "suite/value_two_channels"
SHORT = {"time": {"flight_min": 60.0}}  # 240 ticks a flight


def short(name: str) -> dict:
    return {"base": name, **SHORT}


def test_layout_places_present_segments_fills_absent_ones_and_masks():
    pad = SegmentPad(2, 4, ((0.0, 0.5, 0.0), (-4.0,)))
    assert pad.width == 2 + 4 * 4 + 4 and pad.unpadded_width(3) == 2 + 3 * 4
    x = np.arange(1, 15, dtype=np.float64).reshape(1, -1)  # 2 base, 3 x 3 block, 3 base_log10
    out = pad.spread(x, 3)[0]
    np.testing.assert_array_equal(out[:2], [1, 2])
    np.testing.assert_array_equal(out[2:11], x[0, 2:11])  # segments 0..2 in slots 0..2
    np.testing.assert_array_equal(out[11:14], [0.0, 0.5, 0.0])  # slot 3: the group's fill
    np.testing.assert_array_equal(out[14:17], [12, 13, 14])
    np.testing.assert_array_equal(out[17:18], [-4.0])
    np.testing.assert_array_equal(out[18:], [1, 1, 1, 0])  # the mask
    garbage = out[:-4].copy()
    garbage[11:14], garbage[17] = 99.0, 99.0  # whatever the env left in the absent slots
    np.testing.assert_array_equal(pad.refill(garbage[None], np.array([3]))[0], out)
    np.testing.assert_array_equal(pad.take(np.arange(8.0).reshape(2, 4), 3), [[0, 1, 2], [4, 5, 6]])
    names = padded_names(["plan"], 2, residual=True)
    assert names[:4] == ["plan", "share[0]", "value_per_price[0]", "throttle[0]"]
    assert names[-4:] == ["base_log10[0]", "base_log10[1]", "mask[0]", "mask[1]"]
    assert len(names) == segment_pad(["plan"], 2, True).width


def test_a_count_above_the_maximum_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"max_segments = 4: .*5 segments.*allowed .*\[0, 4\]"):
        SegmentPad(2, 4).spread(np.zeros((1, 17)), 5)
    with pytest.raises(ValueError) as err:
        CoreMixture([TWELVE, SIX], 4, max_segments=6)
    msg = str(err.value)
    assert "agent.max_segments = 6" in msg and "value_channels has 12" in msg
    assert "[12, 4096]" in msg and "\n" not in msg
    with pytest.raises(ValueError, match=r"differ in segments .*agent.max_segments >= 12"):
        CoreMixture([TWELVE, SIX], 4)  # no padding: one count only, as before
    with pytest.raises(AgentConfigError, match=r"agent.max_segments = 6: .* 12 segments; allowed"):
        check_max_segments(6, [resolve(SIX), resolve(TWELVE)])
    with pytest.raises(AgentConfigError, match=r"agent.max_segments = 12 .*agent.feedback"):
        AgentSettings.from_mapping({"max_segments": 12, "feedback": True})
    with pytest.raises(AgentConfigError, match=r"agent.max_segments = 5000: allowed"):
        AgentSettings.from_mapping({"max_segments": 5000})


def test_mixture_across_counts_steps_each_block_as_its_core_alone():
    mix = CoreMixture([short(TWELVE), short(SIX)], 4, max_segments=12)
    alone = [PacingCore(resolve(short(TWELVE)), 2), PacingCore(resolve(short(SIX)), 2)]
    np.testing.assert_array_equal(mix.segment_counts, [12, 12, 6, 6])
    seeds = np.arange(4, dtype=np.uint64) + 7
    mix.reset(np.arange(4), seeds)
    for k, core in enumerate(alone):
        core.reset(np.arange(2), seeds[2 * k : 2 * k + 2])
    rng = np.random.default_rng(0)
    for _ in range(40):
        th = rng.random((4, 12))
        th[2:, 6:] = np.nan  # the padded columns: never reach the 6-segment core
        res = mix.step(th)
        for k, core in enumerate(alone):
            s = core.n_segments
            own = core.step(th[2 * k : 2 * k + 2, :s])
            np.testing.assert_array_equal(res.obs[2 * k : 2 * k + 2, : own.obs.shape[1]], own.obs)
            np.testing.assert_array_equal(res.reward[2 * k : 2 * k + 2], own.reward)
        assert not res.invalid.any()  # NaN in a padded column is not an invalid action
        assert (res.obs[2:, N_OBS + 3 * 6 :] == 0).all()  # absent segments read 0


def test_padded_actions_never_reach_the_env():
    """Plain (non-residual) actions: garbage in the 6-segment campaigns' padded columns
    changes nothing, not even ``invalid_actions``; the same garbage in a present column
    does (the test can fail)."""
    from pacegym.agents.vec_env import PacingVecEnv

    def run(fill_col: int) -> tuple[list, list]:
        env = PacingVecEnv([short(TWELVE), short(SIX)], 4, seed=3, max_segments=12)
        env.reset()
        rewards, invalid = [], []
        for t in range(30):
            a = np.full((4, 12), -0.2, dtype=np.float32)
            a[2:, fill_col] = np.nan if t % 2 else 1.0
            _, r, _, infos = env.step(a)
            rewards.append(r.copy())
            invalid.append([i["invalid_actions"] for i in infos])
        return rewards, invalid

    base_r, base_i = run(11)
    plain = PacingVecEnv([short(TWELVE), short(SIX)], 4, seed=3, max_segments=12)
    plain.reset()
    want = [plain.step(np.full((4, 12), -0.2, dtype=np.float32))[1] for _ in range(30)]
    np.testing.assert_array_equal(np.array(base_r), np.array(want))
    assert not np.any(base_i)
    moved_r, moved_i = run(5)  # a present column of the 6-segment campaigns
    assert not np.array_equal(np.array(moved_r)[:, 2:], np.array(want)[:, 2:])
    assert np.any(moved_i)


@pytest.mark.parametrize("scenario", [TWELVE, SIX])
def test_training_view_meets_the_evaluation_view(scenario):
    """The residual training env (the env pads, ``SegmentMask`` masks) and
    ``SB3Controller`` (spreads the scenario's own columns) hand the policy the same input
    at every tick, and a zero action is dual price itself on both counts."""
    from pacegym.agents.algos import wrap_env
    from pacegym.agents.policy import SB3Controller
    from pacegym.agents.residual import build_base
    from pacegym.agents.vec_env import PacingVecEnv

    base = {"kind": "dual_price", "params": {"lambda_min": 0.3}}
    agent = AgentSettings.from_mapping(
        {
            "max_segments": 12,
            "normalize_obs": False,
            "features": ["time_remaining", "plan_error"],
            "residual": {"enabled": True, "base": base, "scale_decades": 1.0},
        }
    )
    padded = PacingVecEnv(short(scenario), 2, seed=5, max_segments=12)
    env = wrap_env(padded, agent)
    own = PacingVecEnv(short(scenario), 2, seed=5)

    class Spy:
        seen: list = []

        def predict(self, z, deterministic=True):
            self.seen.append(z.copy())
            return np.zeros((len(z), 12), dtype=np.float32), None

    ctrl = SB3Controller(Spy(), None, {"enabled": True, **agent.residual.__dict__}, "x",
                         agent.features, max_segments=12)  # fmt: skip
    ref = build_base(base)
    ctrl.reset(2), ref.reset(2)
    x, o = env.reset(), own.reset()
    for _ in range(60):
        p = ctrl.act(o)
        np.testing.assert_allclose(Spy.seen[-1], x, rtol=0, atol=1e-6)
        np.testing.assert_allclose(p, ref.act(o), rtol=0, atol=1e-4)  # zero: the base (floored)
        x, *_ = env.step(np.zeros((2, 12), dtype=np.float32))
        o, *_ = own.step_throttle(p)
    s = resolve(scenario).value.n_segments
    assert (x[:, -12:] == (np.arange(12) < s)).all()  # the mask


def test_a_padded_training_env_resumes_from_its_saved_state():
    """``env_arrays`` / ``load_env_state`` (a checkpoint's env state) through the mask
    view: a fresh padded env loaded with a stepped one's state steps on identically."""
    from pacegym.agents.algos import make_env
    from pacegym.agents.env_state import env_arrays, env_scalars, load_env_state

    agent = AgentSettings.from_mapping(
        {
            "max_segments": 12,
            "normalize_obs": False,
            "residual": {"enabled": True, "base": {"kind": "dual_price"}, "scale_decades": 1.0},
        }
    )
    scs = [short(TWELVE), short(SIX)]
    env, _ = make_env(scs, agent, 4, 1)
    env.reset()
    rng = np.random.default_rng(1)
    for _ in range(25):
        env.step(rng.uniform(-1, 1, (4, 12)).astype(np.float32))
    arrays = {k: np.array(v, copy=True) for k, v in env_arrays(env).items()}
    other, _ = make_env(scs, agent, 4, 99)
    other.reset()
    load_env_state(other, arrays, env_scalars(env), "test")
    for _ in range(25):
        a = rng.uniform(-1, 1, (4, 12)).astype(np.float32)
        x, r, *_ = env.step(a)
        y, q, *_ = other.step(a)
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(r, q)
