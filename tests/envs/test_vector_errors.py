"""Both vector views refuse what the single env refuses: a step before reset, a wrong shape."""

import re

import numpy as np
import pytest

from pacegym.agents.vec_env import PacingVecEnv
from pacegym.envs.vector import PacingVectorEnv

N = 3


def _views():
    return [
        pytest.param(lambda: PacingVectorEnv(N), lambda e: e.reset(seed=0), id="gymnasium"),
        pytest.param(
            lambda: PacingVecEnv("live_commerce", N, seed=0), PacingVecEnv.reset, id="sb3"
        ),
    ]


@pytest.mark.parametrize(("make", "reset"), _views())
def test_step_before_reset_raises(make, reset):
    env = make()
    with pytest.raises(RuntimeError, match="call reset before step"):
        env.step(np.zeros((N, 1), dtype=np.float32))
    reset(env)
    out = env.step(np.zeros((N, 1), dtype=np.float32))
    assert out[0].shape[0] == N


@pytest.mark.parametrize(("make", "reset"), _views())
@pytest.mark.parametrize("shape", [(2 * N,), (N, 2), (1, N), (N - 1, 1), (N, 1, 1), ()])
def test_wrong_action_shape_raises_naming_it(make, reset, shape):
    env = make()
    reset(env)
    with pytest.raises(ValueError, match=re.escape(f"actions have shape {shape};")):
        env.step(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize(("make", "reset"), _views())
@pytest.mark.parametrize("shape", [(N, 1), (N,)])
def test_one_action_per_campaign_is_accepted(make, reset, shape):
    env = make()
    reset(env)
    obs = env.step(np.full(shape, 0.5, dtype=np.float32))[0]
    assert obs.shape[0] == N and np.isfinite(obs).all()


def test_step_throttle_checks_shape_and_reset():
    env = PacingVecEnv("live_commerce", N, seed=0)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step_throttle(np.ones(N))
    env.reset()
    with pytest.raises(ValueError, match=r"throttles have shape \(6,\)"):
        env.step_throttle(np.ones(2 * N))


@pytest.mark.parametrize("dtype", [np.bool_, np.str_, np.complex128, object])
def test_an_action_that_is_not_real_numbers_is_refused_by_every_view(dtype):
    import gymnasium as gym

    env = gym.make("pacegym/DailyBudget-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^action = a .* array of shape \(1,\): not real numbers"):
        env.step(np.ones(1, dtype=dtype))
    for make, reset in (p.values for p in _views()):
        view = make()
        reset(view)
        with pytest.raises(ValueError, match=r"^action = a .* array of shape \(3, 1\)"):
            view.step(np.ones((N, 1), dtype=dtype))
    env.step(np.ones(1, dtype=np.int64))  # integers are numbers: read as floats
