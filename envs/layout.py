"""Column layout of the core's packed arrays: one names tuple each, indices derived from it.

``PacingCore`` keeps its state in a few 2-D arrays with a leading campaign axis; a
column's index is its position in the names tuple here (``P_BUDGET =
PAR_COLUMNS.index("budget")``) and an array's width is the tuple's length, so adding,
removing or reordering a column is one edit. The compiled kernels (``envs.kernel``,
``envs.reset_kernel``, ``envs.observe``) read the indices as module globals, which
numba freezes into the machine code as constants: no lookup happens per step. Since
numba's on-disk cache does not notice when a global from another module changes,
``envs.jit_cache`` recompiles the kernels whenever this file (or any other kernel
source) differs from what they were compiled against.

The kernels take these arrays as flat arguments rather than as one NamedTuple of
arrays: numba's ``prange`` loop (the parallel step) drops writes made through
NamedTuple fields.

``REWARD_TERMS`` and ``RANDOMIZABLE`` are also named lists users see: reward terms in
``info["reward_terms"]`` (weights by the same names in ``ScoreParams``), and the
scenario keys that may be ranges drawn uniformly (``agents.training`` checks them).
``RANDOMIZABLE`` is derived from the scenario's declarations (``envs.checks.setting``),
so ``envs.jit_cache`` fingerprints these constants' values as well as this file.
"""

from __future__ import annotations

from pacegym.envs.checks import randomizable
from pacegym.envs.params import ScenarioParams

PAR_COLUMNS: tuple[str, ...] = (
    "budget",  # [currency]
    "base_rate",  # [requests/s]
    "fill",  # [-]
    "render",  # [-]
    "noise_sd",  # [-] stationary log-sd
    "noise_phi",  # [-] AR(1) coefficient per tick
    "surge_start",  # [-] probability a surge starts in a tick
    "surge_end",  # [-] probability a surge ends in a tick
    "start_min",  # [min after midnight]
    "flight_ticks",  # [ticks]
    "latency_ticks",  # [ticks]
    "fc_total",  # [requests] forecast traffic over the flight
    "delay_row",  # row of the delay alias table
    "unit_x",  # [-] flight-mean price x fill multiplier of a request (1: one segment)
)
"""Per-campaign parameters of the episode (float64 columns of ``par``)."""

P_BUDGET = PAR_COLUMNS.index("budget")
P_BASE_RATE = PAR_COLUMNS.index("base_rate")
P_FILL = PAR_COLUMNS.index("fill")
P_RENDER = PAR_COLUMNS.index("render")
P_NOISE_SD = PAR_COLUMNS.index("noise_sd")
P_NOISE_PHI = PAR_COLUMNS.index("noise_phi")
P_SURGE_START = PAR_COLUMNS.index("surge_start")
P_SURGE_END = PAR_COLUMNS.index("surge_end")
P_START_MIN = PAR_COLUMNS.index("start_min")
P_FLIGHT_TICKS = PAR_COLUMNS.index("flight_ticks")
P_LATENCY_TICKS = PAR_COLUMNS.index("latency_ticks")
P_FC_TOTAL = PAR_COLUMNS.index("fc_total")
P_DELAY_ROW = PAR_COLUMNS.index("delay_row")
P_UNIT_X = PAR_COLUMNS.index("unit_x")
N_PAR = len(PAR_COLUMNS)

IST_COLUMNS: tuple[str, ...] = (
    "t",  # ticks elapsed
    "head",  # ring-buffer position of "counted now"
    "served",  # impressions served
    "in_flight",  # served, rendered, not yet counted
    "never",  # served, never rendered
    "counted",  # counted during the flight
    "counted_post",  # counted after the flight
    "t95",  # tick at which billable spend reached 95% of budget (-1: not yet)
    "done",  # 1 once the episode (flight + drain) is over
    "requests",  # eligible requests seen
    "conv_head",  # ring-buffer position of "conversions realised now" (value scenarios)
)
"""Integer state (int64 columns of ``ist``)."""

I_T = IST_COLUMNS.index("t")
I_HEAD = IST_COLUMNS.index("head")
I_SERVED = IST_COLUMNS.index("served")
I_IN_FLIGHT = IST_COLUMNS.index("in_flight")
I_NEVER = IST_COLUMNS.index("never")
I_COUNTED = IST_COLUMNS.index("counted")
I_COUNTED_POST = IST_COLUMNS.index("counted_post")
I_T95 = IST_COLUMNS.index("t95")
I_DONE = IST_COLUMNS.index("done")
I_REQUESTS = IST_COLUMNS.index("requests")
I_CONV_HEAD = IST_COLUMNS.index("conv_head")
N_IST = len(IST_COLUMNS)

FST_COLUMNS: tuple[str, ...] = (
    "noise_x",  # log-rate noise
    "surge",  # current surge multiplier (1: none)
    "billable",  # [currency]
    "media",  # [currency] media cost paid
    "waste_over",  # [currency] media cost of over-budget impressions
    "waste_post",  # [currency] media cost of post-flight impressions
    "counted_spend",  # [currency] gross counted spend (price x counted)
    "last_p",  # last throttle
    "sum_dp",  # sum |throttle change|
    "rate_ew",  # [currency/tick] exponentially weighted served spend rate
    "exp_post",  # [currency] expected post-end media cost charged at serve time so far
    "win_spend",  # [currency] counted spend in the current scoring window
    "win_excess",  # [currency] misplaced spend charged for the current window
    "slot_excess",  # [currency] burst spend charged for the current plan slot
    "nc_seen",  # [requests/tick] nowcast: smoothed requests seen (capped; envs.nowcast)
    "nc_expected",  # [requests/tick] nowcast: smoothed requests forecast
    "served_units",  # [price units] served impressions x their price multiplier
)
"""Float state (float64 columns of ``fst``)."""

F_NOISE_X = FST_COLUMNS.index("noise_x")
F_SURGE = FST_COLUMNS.index("surge")
F_BILLABLE = FST_COLUMNS.index("billable")
F_MEDIA = FST_COLUMNS.index("media")
F_WASTE_OVER = FST_COLUMNS.index("waste_over")
F_WASTE_POST = FST_COLUMNS.index("waste_post")
F_COUNTED_SPEND = FST_COLUMNS.index("counted_spend")
F_LAST_P = FST_COLUMNS.index("last_p")
F_SUM_DP = FST_COLUMNS.index("sum_dp")
F_RATE_EW = FST_COLUMNS.index("rate_ew")
F_EXP_POST = FST_COLUMNS.index("exp_post")
F_WIN_SPEND = FST_COLUMNS.index("win_spend")
F_WIN_EXCESS = FST_COLUMNS.index("win_excess")
F_SLOT_EXCESS = FST_COLUMNS.index("slot_excess")
F_NC_SEEN = FST_COLUMNS.index("nc_seen")
F_NC_EXPECTED = FST_COLUMNS.index("nc_expected")
F_SERVED_UNITS = FST_COLUMNS.index("served_units")
N_FST = len(FST_COLUMNS)

VST_COLUMNS: tuple[str, ...] = (
    "value_excess",  # [currency] billed spend x (relative value per spend - 1), summed
    "value",  # [currency] expected true value of the rendered impressions served
    "value_pred",  # [currency] the same, predicted (without the episode's drift)
    "clicks",  # drawn at serving
    "conversions",  # drawn at serving (they arrive later)
    "conv_realised",  # conversions arrived during the flight
    "conv_value",  # [currency] value of the conversions drawn
)
"""Value state (float64 columns of ``vst``, value scenarios only; ``envs.kernel_value``)."""

VS_VALUE_EXCESS = VST_COLUMNS.index("value_excess")
VS_VALUE = VST_COLUMNS.index("value")
VS_VALUE_PRED = VST_COLUMNS.index("value_pred")
VS_CLICKS = VST_COLUMNS.index("clicks")
VS_CONVERSIONS = VST_COLUMNS.index("conversions")
VS_CONV_REALISED = VST_COLUMNS.index("conv_realised")
VS_CONV_VALUE = VST_COLUMNS.index("conv_value")
N_VST = len(VST_COLUMNS)

REWARD_TERMS: tuple[str, ...] = ("delivery", "waste", "misplaced", "burst", "value")
"""Reward terms (columns of ``terms``, signed), the per-step parts of ``pacing_score_v2``:
``delivery`` has weight 1, the others the ``ScoreParams`` field of their name (``value``:
the value the billed spend buys beyond the flight's average, 0 without segments)."""

R_DELIVERY = REWARD_TERMS.index("delivery")
R_WASTE = REWARD_TERMS.index("waste")
R_MISPLACED = REWARD_TERMS.index("misplaced")
R_BURST = REWARD_TERMS.index("burst")
R_VALUE = REWARD_TERMS.index("value")

RANDOMIZABLE: tuple[str, ...] = randomizable(ScenarioParams)
"""Parameters that may be ranges drawn uniformly: the real-valued settings declared
``may_range``, in declaration order (time.flight_min, time.start_minute, traffic.base_rate,
..., money.budget); drawn in this order from each campaign's scenario stream (columns of
the drawn-parameter matrix ``vals``). A whole-number range (``time.start_day``) is drawn
after them by ``PacingCore.reset``."""

V_FLIGHT_MIN = RANDOMIZABLE.index("time.flight_min")
V_START_MIN = RANDOMIZABLE.index("time.start_minute")
V_BASE_RATE = RANDOMIZABLE.index("traffic.base_rate")
V_NOISE_SD = RANDOMIZABLE.index("traffic.noise_sd")
V_NOISE_TAU = RANDOMIZABLE.index("traffic.noise_tau_s")
V_SURGE_RATE = RANDOMIZABLE.index("traffic.surge_rate_per_h")
V_SURGE_MEAN = RANDOMIZABLE.index("traffic.surge_mean_s")
V_FC_BIAS = RANDOMIZABLE.index("forecast.bias")
V_FC_SD = RANDOMIZABLE.index("forecast.noise_sd")
V_FILL = RANDOMIZABLE.index("serving.fill_rate")
V_DELAY_Q_S = RANDOMIZABLE.index("delay.quantile_s")
V_DELAY_Q = RANDOMIZABLE.index("delay.quantile")
V_DELAY_SIGMA = RANDOMIZABLE.index("delay.sigma")
V_RENDER = RANDOMIZABLE.index("delay.render_prob")
V_LATENCY = RANDOMIZABLE.index("delay.report_latency_s")
V_BUDGET = RANDOMIZABLE.index("money.budget")

# every constant above: ``envs.kernel`` re-exports the layout with a star import
__all__ = [name for name in dir() if name.isupper()]
