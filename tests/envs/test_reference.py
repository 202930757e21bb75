"""Trajectories match numbers recorded before the kernel was split into modules.

Recorded at commit 0308b47 (kernel.py with its own copy of the profile formula and
literal observation columns and bounds); the split was bit-identical there, and these
catch any later change to the formulas. The tolerance allows another CPU's libm.

Re-recorded for the objective (``pacing_score_v2``): the rewards are the new score's
terms, and live commerce's plan is the advertiser's exp-decay plan, which moves its
``plan`` and ``plan_error`` observations (columns 4 and 5); the forecasts and every other
observation are the numbers of 0308b47, unchanged.
"""

import numpy as np
import pytest

from pacegym.envs.core import PacingCore
from pacegym.envs.layout import P_FC_TOTAL

REFERENCE = {
    "live_commerce": {
        "fc_cum": [
            [0.004843063520730085, 0.011272534961112687, 0.01671962210392892],
            [0.006026173547746129, 0.01481165231415031, 0.02372775843515111],
        ],
        "fc_total": [48823.0518082494, 36715.7175252038],
        "reward": [-0.19057117164177595, 0.6018187126212785],
        "obs_sum": [
            260.2771626722533, 339.7228374052793, 2819.381904602051, 275.40060018339136,
            362.7658170661889, 87.36521761422046, 396.9962023133412, 909.7108985213563,
            109.68571393983439, 260.0466384360334, 772.8666442632675, 180.00000715255737,
            -313.7272596359253, 68.0,
        ],
    },
    "daily_budget": {
        "fc_cum": [
            [0.0007026346653120766, 0.0015473472786568896, 0.002200258373630876],
            [0.0006515070051728678, 0.0014893505719230328, 0.0022485595357207375],
        ],
        "fc_total": [86865.89741606003, 86321.9863240715],
        "reward": [0.029085472241111257, 0.02265000000000002],
        "obs_sum": [
            15.677083342772676, 584.3229166269302, 3180.618095397949, 7.057800021550065,
            12.365587244610651, 5.307787231969996, 9.993600018293364, 351.76774391531944,
            2.6359919993119547, 12.365587244610651, 192.13388699293137, 180.00000715255737,
            -313.7272596359253, 0.0,
        ],
    },
}  # fmt: skip


@pytest.mark.parametrize("scenario", sorted(REFERENCE))
def test_trajectory_matches_the_recorded_numbers(scenario):
    ref = REFERENCE[scenario]
    core = PacingCore(scenario, 2)
    core.reset(np.arange(2), np.array([3, 4], dtype=np.uint64))
    np.testing.assert_allclose(core.fc_cum[:, 1:4], ref["fc_cum"], rtol=1e-12)
    np.testing.assert_allclose(core.par[:, P_FC_TOTAL], ref["fc_total"], rtol=1e-12)
    obs_sum, reward = np.zeros(14), np.zeros(2)
    for _ in range(300):
        res = core.step(np.full(2, 0.3))
        obs_sum += res.obs.astype(np.float64).sum(axis=0)
        reward += res.reward
    np.testing.assert_allclose(reward, ref["reward"], rtol=1e-9)
    np.testing.assert_allclose(obs_sum, ref["obs_sum"], rtol=1e-6, atol=1e-6)
