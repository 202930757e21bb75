"""The model-predictive baseline on a value scenario: the oracle's segment LP on expectations.

``baselines.mpc.MPCController`` dispatches here when ``core.value_on``. It plans the
clairvoyant's segment x time LP (``baselines.hindsight_value``, built as
``baselines.oracle_value`` builds it) but on what production knows, at each (re-)plan:

- requests per segment and tick: the forecast per tick (``baselines.mpc``:
  ``forecast_requests``, ``nowcast_requests``) x the scenario's expected segment share at
  the tick's hour (``core.seg_share``; never the realised split, which the clairvoyant
  replays from the segment stream);
- value: the predicted value of a rendered impression (``core.seg_pred`` at the tick's
  hour, no drift) and the flight's predicted value per spend (``core.vbar[:, 1]``);
- execution: the plan's throttles, held to the plan's rate of admitted requests through a
  surge (``surge_guard``: the requests of the last tick against the plan's expectation);
- state: the counted spend per plan slot and the spend in flight (served price units x
  render probability x price, less what was counted) spread by the residual-delay law
  (``value_causal_state``; never the realised delay ring ``pend_units``); the value excess
  counted so far is a constant of the objective that moves no throttle, so it is not read.

``ModelMPC`` is its clairvoyant-model variant, a row of type ``bound``
(``baselines.drift_bound.ROLE``): the same controller told every per-episode hidden
parameter of the world, never a realised draw. The split, read from ``envs.reset_kernel``,
``envs.kernel`` (``_traffic``, ``_surge``), ``envs.core_value`` and ``envs.kernel_value``:

- parameters (drawn once per episode; ``ModelMPC`` reads them): the campaign's base rate,
  traffic profile and day-of-week factor (``par``, ``shape_at``), the surge regime's
  rates and factors (read, and left out of the plan: below), hence the expected requests
  per tick (``model_requests``; the forecast's per-slot error and bias are thereby known), the
  channels' drift (``core.drift``) and the flight's true value per spend
  (``core.vbar[:, 0]``); fill, render and the delay law are known to both variants;
- realised draws (neither reads them): the AR(1) noise path of the traffic rate, surge
  arrivals and their factors, the Poisson counts, the binomial segment split, serving,
  render and delay draws, clicks and conversions. Lasting departures (``envs.departure_gen``)
  are realised events too; the value suite has none.

``ModelMPC`` plans certainty-equivalent: on the expected requests outside surges (the mean
over the noise), re-planned on the causal state. Surges (10-100x for minutes, 0.2 an hour
in the value suite) add about 18% to the mean but arrive as bursts; planning on the mean
with them scored lower (``value_channels``, 4 episodes from seed 3,000,000, 10 re-plans:
1.368 against 1.408 mean ``pacing_score_v2``), so the model's requests leave them out, as
the day-ahead forecast does. It is the ceiling of what a policy that
perfectly learns the world's model gets from such planning, not a proof-grade upper bound
on causal policies (a policy that hedges against the draws, or filters the noise from the
requests seen, could in principle do better). docs/baselines.md, "The model-predictive
baseline".
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pacegym.baselines.drift_bound import ROLE
from pacegym.baselines.hindsight_model import HindsightEpisode
from pacegym.baselines.hindsight_value import SegmentEpisode
from pacegym.baselines.oracle_value import segment_episode, tick_hours
from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore
from pacegym.envs.traffic import shape_at


def model_requests(core: PacingCore) -> np.ndarray:
    """``(n, max_ticks)`` the world model's expected requests per tick outside surges
    (``envs.kernel._traffic``: base rate x tick x profile x day of week; the noise has
    mean 1), zero past a campaign's flight: what the day-ahead forecast forecasts, without
    its error. Refuses a scenario with lasting departures (a draw per episode this model
    does not expect)."""
    if core.dep_on:
        raise ValueError(
            f"model_requests on scenario {core.scenario.name!r}: traffic.departures is on "
            "(lasting departures are realised draws the model's mean does not cover)"
        )
    ticks = int(core.flight_ticks.max())
    out = np.zeros((core.n, ticks))
    for b in range(core.n):
        ft = int(core.par[b, K.P_FLIGHT_TICKS])
        start = float(core.par[b, K.P_START_MIN])
        shape = np.array(
            [
                shape_at(core.prof, core.prof_mode, core.dow, core.start_day, core.tick_s,
                         start, ft, t)
                for t in range(ft)
            ]
        )  # fmt: skip
        rate = float(core.par[b, K.P_BASE_RATE]) * core.tick_s
        out[b, :ft] = rate * shape
    return out


def expected_segment_episodes(
    core: PacingCore, base: list[HindsightEpisode], requests: np.ndarray, knows_model: bool
) -> list[SegmentEpisode]:
    """The segment LP of every campaign at the start of its episode on the expected
    requests ``requests`` ``(n, ticks)`` split by the expected shares of each tick's hour;
    the predicted value (``knows_model``: times the true drift, and the true flight value
    per spend). Counting noise priced as ``baselines.oracle_value.segment_episodes`` does."""
    tab = core.tables
    col = 0 if knows_model else 1
    out = []
    for b, ep in enumerate(base):
        hours = tick_hours(core, b)
        seg = requests[b, : hours.size, None] * tab.share[hours]
        drift = core.drift[b, tab.channel] if knows_model else np.ones(tab.n)
        value = tab.pred[hours] * drift[None, :]
        out.append(segment_episode(core, b, ep, seg, value, float(core.vbar[b, col])))
    return out


def spread_in_flight(
    core: PacingCore, b: int, served: float, flight_ticks: int, ticks_per_slot: int, n_slots: int
) -> tuple[int, np.ndarray, float]:
    """``(t0, fixed_slot_spend, fixed_post_cost)`` of campaign ``b``: its counted spend per
    plan slot plus the spend in flight (``served`` spend less the counted) placed over the
    coming ticks by the residual-delay law, the part past the flight's end as media cost."""
    t0 = int(core.ist[b, K.I_T])
    fixed = core.slot_spend[b, :n_slots].copy()
    in_flight = max(served - float(core.fst[b, K.F_COUNTED_SPEND]), 0.0)
    surv = core.surv[int(core.par[b, K.P_DELAY_ROW]), 1:]  # P(delay >= j), j >= 1
    if in_flight <= 0.0 or surv.sum() <= 0.0:
        return t0, fixed, 0.0
    spread = in_flight * surv / surv.sum()  # counted j + 1 ticks from now
    when = t0 + 1 + np.arange(surv.size)
    inside = when < flight_ticks
    np.add.at(fixed, when[inside] // ticks_per_slot, spread[inside])
    post = float(spread[~inside].sum()) / core.price * core.media
    return t0, fixed, post


def value_causal_state(core: PacingCore, b: int, ep: SegmentEpisode) -> SegmentEpisode:
    """Campaign ``b``'s remaining problem from what production knows: the counted spend
    per slot and the spend in flight (served price units x render x price, less what was
    counted) spread over the coming ticks by the residual-delay law, the part past the
    flight's end as media cost (``baselines.mpc.causal_state`` in price units)."""
    render = float(core.par[b, K.P_RENDER])
    served = float(core.fst[b, K.F_SERVED_UNITS]) * core.price * render
    base = ep.base
    t0, fixed, post = spread_in_flight(
        core, b, served, ep.flight_ticks, base.ticks_per_slot, base.n_slots
    )
    return ep.at(t0, fixed, post, 0.0)


def expected_replan(
    core: PacingCore, b: int, ep: SegmentEpisode, requests: np.ndarray
) -> SegmentEpisode:
    """The re-plan of campaign ``b`` on its causal state with the expected requests per
    tick ``requests`` ``(T,)`` (e.g. the nowcast's) split by the hour's shares."""
    now = value_causal_state(core, b, ep)
    seg = requests[: ep.flight_ticks, None] * core.tables.share[ep.hours]
    return replace(now, seg_requests=seg, base=replace(now.base, requests=requests))


SURGE_X = 4.0
"""[x expected] requests in a tick beyond this multiple of the plan's expectation (and 4
more: Poisson noise at night) are a surge the plan did not expect (``surge_guard``)."""


def surge_guard(last: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``(n,)`` the factor on the plan's throttles given each campaign's requests in the
    last tick ``last`` and the plan's expectation for it ``expected``: ``expected / last``
    where ``last`` exceeds ``SURGE_X x expected + 4``, else 1. Surges (10-100x for about
    two minutes, ``envs.kernel._surge``) are in neither plan, and throttles planned for
    ordinary traffic would admit 10-100x the planned spend through one (seen: 4 of 32
    ``value_channels`` episodes from seed 3,000,000 at 0.44-0.98 against dual price's
    1.40-1.44, 4 re-plans); held to the planned rate, a surge costs one tick's lag. The
    requests counted so far are what the ad server sees: causal."""
    surge = last > SURGE_X * expected + 4.0
    return np.where(surge, expected / np.maximum(last, 1.0), 1.0)


BOUND_ROLE = ROLE
"""``ModelMPC``'s leaderboard type: a clairvoyant bound, never crowned."""
