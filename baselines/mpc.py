"""A model-predictive baseline: the oracle's LP solved on what a causal controller knows.

``MPCController`` plans like the clairvoyant (``baselines.oracle``: the hindsight LP of
``baselines.hindsight`` on HiGHS, re-planned ``replans`` times per flight) but never reads
the realised traffic or the delays the simulator drew. What it plans on, at each
(re-)plan at tick ``t0``:

- traffic: the forecast per tick, the day-ahead forecast's slot totals (``fc_cum`` x the
  forecast total, spread evenly over a slot's ticks) x the intraday correction
  ``1 + (r - 1) phi^h`` for ``h`` minutes ahead when the scenario runs the nowcast
  (``envs.nowcast``: ``r`` the level of the requests seen so far, ``phi`` its decay), else
  the day-ahead forecast as signed;
- spend: the counted spend per plan slot so far (``slot_spend``; ahead of the lagged
  report by the reporting latency, 15-60 s by default), and the spend in flight (served x
  render probability x price, less what was counted) placed over the coming ticks in
  proportion to the delay distribution's survival function (the residual delays of a
  steady stream of serves), the part beyond the flight's end as post-end cost;
- the plan as signed, the fill and render probabilities and the delay distribution (what
  production knows of its own serving and counting).

It serves now for the minutes in which the spend will be counted: the LP's spend lands
through the delay distribution, so the schedule front-runs the plan by the delay. It is a
server-side controller: one LP per campaign and re-plan (0.1-1 s each on a 24-h flight)
is far beyond the exported pacer's per-call budget, so it is not exported; it is the
yardstick between the rules and the oracle on the same episodes.

In a value scenario (``core.value_on``) it plans the oracle's segment LP on the expected
requests per segment and the predicted values (``baselines.mpc_value``); ``ModelMPC`` is
its clairvoyant-model variant (told every per-episode hidden parameter, no realised draw),
a row of type ``bound``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from pacegym.baselines.hindsight import HindsightEpisode
from pacegym.baselines.hindsight_value import SegmentEpisode
from pacegym.baselines.mpc_value import (
    BOUND_ROLE,
    expected_replan,
    expected_segment_episodes,
    model_requests,
    spread_in_flight,
    surge_guard,
)
from pacegym.baselines.oracle import OracleConfig, OracleController
from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore
from pacegym.envs.nowcast import level


@dataclass(frozen=True)
class MPCConfig(OracleConfig):
    """Re-planning and solver settings of the model-predictive baseline (the oracle's)."""

    replans: int = 24  # [-] re-solves per flight on the state so far, evenly spaced
    max_blocks: int = 1500  # [-] throttles per flight (1-min blocks on a day; not the oracle's)

    def __post_init__(self) -> None:
        self.validate("mpc")


def forecast_requests(core: PacingCore) -> np.ndarray:
    """``(n, max_ticks)`` the day-ahead forecast of eligible requests per tick."""
    per_slot = np.diff(core.fc_cum, axis=1) * core.par[:, K.P_FC_TOTAL, None] / core.tps
    ticks = int(core.flight_ticks.max())
    out = np.repeat(per_slot, core.tps, axis=1)[:, :ticks]
    out[np.arange(ticks)[None, :] >= core.flight_ticks[:, None]] = 0.0
    return out


def nowcast_requests(core: PacingCore, b: int, day_ahead: np.ndarray, t0: int) -> np.ndarray:
    """Campaign ``b``'s forecast per tick, from tick ``t0`` on corrected by the nowcast's
    level (``envs.nowcast``; the day-ahead forecast where the scenario runs none)."""
    out = day_ahead.copy()
    if not core.nowcast:
        return out
    r = level(float(core.fst[b, K.F_NC_SEEN]), float(core.fst[b, K.F_NC_EXPECTED]))
    minutes = (np.arange(out.size - t0) + 0.5) * core.tick_s / 60.0
    phi_min = core.nc_phi ** (60.0 / core.slot_s)  # per minute
    out[t0:] *= 1.0 + (r - 1.0) * phi_min**minutes
    return out


def causal_state(core: PacingCore, b: int, ep: HindsightEpisode) -> tuple[int, np.ndarray, float]:
    """``(t0, fixed_slot_spend, fixed_post_cost)`` of campaign ``b`` from what is known: the
    counted spend per slot, and the spend in flight spread by the residual-delay law."""
    served = float(core.ist[b, K.I_SERVED]) * core.price * float(core.par[b, K.P_RENDER])
    return spread_in_flight(core, b, served, ep.flight_ticks, ep.ticks_per_slot, ep.n_slots)


@dataclass
class MPCController(OracleController):
    """The hindsight LP on the forecast and the causal state (see the module docstring)."""

    config: MPCConfig = field(default_factory=MPCConfig)
    name: str = "mpc"
    kind: ClassVar[str] = "mpc"
    can_warm: ClassVar[bool] = False  # its re-plans change the requests: cold solves

    knows_model: ClassVar[bool] = False  # plans on the forecast and the predicted value

    def attach(self, core: PacingCore) -> None:
        """Plan each new episode of ``core`` on its day-ahead forecast."""
        self._day_ahead = model_requests(core) if self.knows_model else forecast_requests(core)
        self._seen = core.ist[:, K.I_REQUESTS].astype(float)
        self._start(core, self._day_ahead)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The plan's throttles; in a value scenario scaled by ``surge_guard`` (the plan's
        rate of admitted requests kept through a surge the plan did not expect)."""
        th = super().act(obs)
        core = self._core
        if core is None or not core.value_on:
            return th  # the volume MPC as it was
        seen = core.ist[:, K.I_REQUESTS].astype(float)
        last, self._seen = seen - self._seen, seen
        t = np.clip(core.ist[:, K.I_T] - 1, 0, self._day_ahead.shape[1] - 1)
        expected = self._day_ahead[np.arange(core.n), t]
        return th * surge_guard(last, expected)[:, None]

    def _segment_episodes(
        self, core: PacingCore, base: list[HindsightEpisode], req: np.ndarray
    ) -> list[SegmentEpisode]:
        """Expected requests per segment, predicted (or, knowing the model, true) values."""
        return expected_segment_episodes(core, base, req, self.knows_model)

    def _replan_problems(self, core: PacingCore, due: np.ndarray) -> list:
        problems: list = []
        for b in due:
            ep = self._episodes[b]
            if isinstance(ep, SegmentEpisode):
                t0 = int(core.ist[b, K.I_T])
                req = self._day_ahead[b, : ep.flight_ticks]
                if not self.knows_model:
                    req = nowcast_requests(core, int(b), req, t0)
                problems.append(expected_replan(core, int(b), ep, req))
                continue
            t0, fixed, post = causal_state(core, int(b), ep)
            req = nowcast_requests(core, int(b), self._day_ahead[b, : ep.flight_ticks], t0)
            problems.append(dataclasses.replace(ep.at(t0, fixed, post), requests=req))
        return problems


@dataclass
class ModelMPC(MPCController):
    """``MPCController`` told the world's model, not its draws: each episode's expected
    requests per tick (``baselines.mpc_value.model_requests``), channel drift and true
    value per spend (``baselines.mpc_value``'s docstring draws the line). A clairvoyant
    row of type ``bound``: never crowned, tuned or exported."""

    name: str = "mpc x true model"
    knows_model: ClassVar[bool] = True
    role: ClassVar[str] = BOUND_ROLE
