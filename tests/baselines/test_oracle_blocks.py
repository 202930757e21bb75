"""The oracle's two throttle caps: ``max_blocks`` sizes the volume LP's blocks and
``max_segment_blocks`` the value LP's blocks x segments; neither reads the other."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pacegym.baselines.controllers import ControllerConfigError
from pacegym.baselines.oracle import (
    OracleConfig,
    OracleController,
    hindsight_episodes,
    realised_requests,
)
from pacegym.baselines.oracle_value import segment_episodes
from pacegym.envs.core import PacingCore


def _episodes(scenario: str) -> tuple[PacingCore, list]:
    core = PacingCore(scenario, 1)
    core.reset(np.arange(1), np.array([5]))
    req = realised_requests(core)
    eps = hindsight_episodes(core, req)
    if core.value_on:
        eps = segment_episodes(core, eps, req)
    return core, eps


def _block(config: OracleConfig, core: PacingCore, ep) -> int:
    return OracleController(config)._block_ticks(ep, core.tick_s / 60.0)


def test_the_volume_lp_reads_max_blocks_only():
    core, (ep,) = _episodes("daily_budget")
    assert ep.flight_ticks == 5760
    default = OracleConfig()
    assert _block(default, core, ep) == math.ceil(5760 / default.max_blocks)
    assert _block(OracleConfig(max_blocks=1500), core, ep) == 4  # 1-min blocks
    for segment_cap in (100, 1500, 100_000):
        cfg = OracleConfig(max_blocks=1500, max_segment_blocks=segment_cap)
        assert _block(cfg, core, ep) == 4


def test_the_value_lp_reads_max_segment_blocks_only():
    core, (ep,) = _episodes("value_channels")
    assert ep.n_segments == 12 and ep.flight_ticks == 5760
    blocks = {_block(OracleConfig(max_blocks=v), core, ep) for v in (100, 720, 1500, 100_000)}
    assert blocks == {_block(OracleConfig(), core, ep)} == {48}  # 12-min blocks, as before
    assert _block(OracleConfig(max_segment_blocks=3000), core, ep) == 24


@pytest.mark.parametrize("value", [9, 2_000_000, 720.5])
def test_a_bad_segment_cap_is_refused_naming_its_key(value):
    with pytest.raises(ControllerConfigError, match="max_segment_blocks"):
        OracleConfig(max_segment_blocks=value)
