"""The value side of a ``PacingCore`` (``envs.core``): its segment tables, set once, and
the value state of new episodes. Functions of the core, kept apart so the core stays one
module's size; the step's side is ``envs.kernel_value``."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri

from pacegym.envs import binomial_tab as BT
from pacegym.envs import kernel as K
from pacegym.envs import rng
from pacegym.envs.delays import alias_table, continuous_cdf, tick_probabilities
from pacegym.envs.params import ScenarioParams
from pacegym.envs.params_value import HOURS
from pacegym.envs.reset_kernel import draw_uniform
from pacegym.envs.spaces import N_OBS
from pacegym.envs.value import flight_value_per_spend, mean_unit, segment_tables


def init_value(core: Any, sc: ScenarioParams) -> None:
    """The segment tables the step reads (``envs.value``; and derived once: the binomial
    set-up of the split and of the clicks, ``envs.binomial_tab``, and the predicted value
    per price), one dummy
    segment in the volume world (``value_on`` False: the step never reads them), and the
    conversion delay's alias table."""
    v = sc.value
    core.value_on = v.on
    core.n_base = N_OBS
    core.segments: tuple[str, ...] = ()
    if not v.on:
        one = np.ones(1)
        core.seg_share = core.seg_ctr = core.seg_cvr = core.seg_pred = np.ones((HOURS, 1))
        core.seg_rel = core.seg_pred
        core.seg_split = core.seg_clicks = np.zeros((HOURS, 1, BT.W))
        core.seg_vpc, core.seg_price, core.seg_fill = one, one, one
        core.seg_chan = np.zeros(1, dtype=np.int64)
        core.conv_ticks = 1
        core.tables = None
        return
    tab = segment_tables(v)
    core.tables = tab
    core.segments = tab.names
    core.seg_share, core.seg_ctr, core.seg_cvr, core.seg_pred = (
        tab.share,
        tab.ctr,
        tab.cvr,
        tab.pred,
    )
    core.seg_vpc, core.seg_price, core.seg_fill = tab.vpc, tab.price_x, tab.fill_x
    core.seg_chan = tab.channel
    core.seg_split = BT.table(BT.split_probabilities(tab.share))  # binomial set-up by hour
    core.seg_clicks = BT.table(tab.ctr)
    core.seg_rel = tab.pred / (core.price * tab.price_x)  # predicted value per price, by hour
    bin_ticks = max(1, round(float(v.conversion_bin_s) / core.tick_s))
    core.conv_ticks = bin_ticks
    cdf = continuous_cdf(
        "lognormal", float(v.conversion_quantile_s), float(v.conversion_quantile),
        float(v.conversion_sigma), float(v.conversion_max_delay_s), (),
    )  # fmt: skip
    q = tick_probabilities(cdf, bin_ticks * core.tick_s, core.conv_prob.shape[0])
    alias_table(q, core.conv_prob, core.conv_idx)


def reset_value(core: Any, rows: np.ndarray) -> None:
    """Value state of new episodes: ledgers emptied, the channels' drift drawn from the
    value stream (log-normal, mean 1), the flight's value per spend and mean price unit."""
    if not core.value_on:
        core.par[rows, K.P_UNIT_X] = 1.0
        return
    v, tab = core.scenario.value, core.tables
    for name in ("vst", "pend_units", "pend_val", "seg_served", "conv_ring"):
        getattr(core, name)[rows] = 0
    u = np.empty((rows.size, tab.n_channels))
    draw_uniform(core.streams, rows, rng.STREAM_VALUE, u)
    sd = float(v.drift_sd)
    z = ndtri(np.clip(u, 1e-12, 1.0 - 1e-12))
    core.drift[rows] = np.exp(sd * z - 0.5 * sd * sd)
    start = core.par[rows, K.P_START_MIN]
    n_slots = (core.par[rows, K.P_FLIGHT_TICKS] / core.tps).astype(np.int64)
    fc = core.fc_cum[rows]
    core.vbar[rows] = flight_value_per_spend(
        tab, core.scenario, fc, start, n_slots, core.drift[rows]
    )
    core.par[rows, K.P_UNIT_X] = mean_unit(tab, fc, start, core.slot_s / 60.0)
