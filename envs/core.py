"""The one batched dynamics core. Every view (Env, VectorEnv, SB3 VecEnv, evaluation) wraps it.

``PacingCore(scenario, n)`` holds ``n`` campaigns in arrays with a leading campaign
axis, allocated once. ``reset(rows, seeds)`` starts new episodes for some rows;
``step(throttles)`` advances every running campaign by one tick (``time.tick_s``)
and returns views of its result buffers. Campaigns that have finished stay
frozen (zero reward) until they are reset.

Memory per campaign is fixed by the scenario, never by traffic or impressions, and the
memory and peak traffic a core needs are checked before anything is allocated
(``envs.state``: ``state_arrays``, ``check_memory``, ``check_traffic``); see
``bytes_per_campaign``.

The compiled kernels (``envs.kernel`` step, ``envs.reset_kernel``, ``envs.observe``)
take flat argument lists; the core binds them once, by parameter name, to its
attributes of the same names (``_bind``), so each list is written only in the
kernel's signature.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pacegym.envs import jit_cache, plans, rng
from pacegym.envs import kernel as K
from pacegym.envs.core_value import init_value, reset_value
from pacegym.envs.delays import alias_table, continuous_cdf, tick_probabilities
from pacegym.envs.history import forecast_week
from pacegym.envs.kernel_value import write_obs_segments
from pacegym.envs.layout import RANDOMIZABLE, REWARD_TERMS
from pacegym.envs.metrics import EpisodeTotals, episode_metrics
from pacegym.envs.nowcast import smoothing_weight
from pacegym.envs.nowcast_linear import N_LINEAR, tick_weights
from pacegym.envs.observe import write_obs, write_obs_rows
from pacegym.envs.params import ScenarioParams, bounds, is_range
from pacegym.envs.params_demand import NOWCAST_KINDS
from pacegym.envs.reset_kernel import draw_uniform, init_rows
from pacegym.envs.scenarios import resolve
from pacegym.envs.state import (
    DELAY_SHAPE_KEYS,
    check_memory,
    check_traffic,
    per_campaign_delay,
    scenario_value,
    state_arrays,
)
from pacegym.envs.traffic import profile_array
from pacegym.envs.walk_forward import (
    expected_per_minute,
    nowcast_fit_first_day,
    start_days,
    walk_forward_forecast,
    walk_forward_nowcast,
)

jit_cache.refresh_kernels()  # before any kernel runs: recompile if a kernel source changed


@dataclass(frozen=True)
class StepResult:
    """Views of the core's buffers after one step (valid until the next call)."""

    obs: np.ndarray  # (n, N_OBS) float32
    reward: np.ndarray  # (n,) float64, weighted sum of terms
    terms: np.ndarray  # (n, len(REWARD_TERMS)) float64, columns in REWARD_TERMS order
    finished: np.ndarray  # (n,) bool, episode ended at this step
    invalid: np.ndarray  # (n,) bool, throttle was non-finite and replaced by 0


class PacingCore:
    """``n`` campaigns of one scenario, stepped together.

    A scenario whose ``forecast.kind`` is data-driven (``seasonal_naive``,
    ``holt_winters``) makes the constructor build a learned forecast first: it simulates
    ``forecast.history_days`` days of the scenario's traffic with a second, one-campaign
    core and fits the forecaster to it (``envs.history.forecast_week``; seconds for 14
    days, cached per scenario for the process). ``forecast.kind = "perturbed"`` (the
    default) simulates nothing.
    """

    # state arrays, allocated once from ``state_arrays`` (shapes and dtypes there)
    par: np.ndarray
    ist: np.ndarray
    fst: np.ndarray
    streams: np.ndarray
    pending: np.ndarray
    hist: np.ndarray
    slot_spend: np.ndarray
    plan_cum: np.ndarray
    fc_cum: np.ndarray
    nc_cum: np.ndarray
    nc_ew: np.ndarray
    nc_w: np.ndarray
    dep_log: np.ndarray
    obs: np.ndarray
    terms: np.ndarray
    reward: np.ndarray
    finished: np.ndarray
    invalid: np.ndarray
    alias_prob: np.ndarray
    alias_idx: np.ndarray
    surv: np.ndarray

    def __init__(self, scenario: str | ScenarioParams | dict, n: int) -> None:
        if int(n) < 1:
            raise ValueError(f"n = {n}: the number of campaigns must be >= 1")
        sc = resolve(scenario)
        # refuse before any work: the memory the state needs, the traffic a tick may draw
        check_memory(sc, int(n))
        self.prof, self.prof_mode = profile_array(sc.traffic)
        check_traffic(sc, self.prof, self.prof_mode)
        self.scenario = sc
        self.n = n = int(n)
        self.tick_s = float(sc.time.tick_s)
        self.tps = sc.time.ticks_per_slot
        self.max_slots = sc.time.max_slots
        self.n_delay = sc.max_delay_ticks
        self.binned = sc.delay.sampler == "binned"  # envs.delay_bins; else one delay each
        self.price = float(sc.money.price)
        self.media = float(sc.money.media_cost)

        for name, (shape, dtype) in state_arrays(sc, n).items():
            setattr(self, name, np.zeros(shape, dtype=dtype))
        self.n_hist = self.hist.shape[1]
        self.plan_cum[:] = 1.0
        self.fc_cum[:] = 1.0
        self.alias_prob[:] = 1.0
        self._slot_index = np.arange(self.max_slots + 1, dtype=float)
        self.ist[:, K.I_DONE] = 1  # nothing runs before reset

        # the world the kernels read (never rebound: the bound argument lists hold them)
        self.dow = np.asarray(sc.traffic.dow_factors, dtype=float)
        trace_min = self.prof.shape[0] if sc.traffic.profile == "trace" else None
        self.day_lo, self.day_hi = start_days(sc, trace_min)
        # one start day: the kernels add it (as ever); several: reset draws one per episode.
        # A drawn day, or any day of a walk-forward forecast (its table is read by day), is
        # folded into the start minute, and the kernels' start day is 0.
        self.draw_day = is_range(sc.time.start_day) or sc.traffic.days != "all"
        self.fold_day = self.draw_day or sc.forecast.fit_on == "trace"
        self.start_day = 0 if self.fold_day else self.day_lo
        self.fc_day0, self.fc_horizon = self.day_lo, 1
        self.nc_wtab = np.zeros((1, N_LINEAR))  # the linear nowcast's weights by start day
        self.nc_ridges = np.zeros(1)  # and the ridge penalty each was fitted with
        if sc.forecast.kind == "perturbed":
            self.fc_prof, self.fc_mode = np.zeros(1), 0
        elif sc.forecast.fit_on == "trace":  # walk-forward on the trace's days before the flight
            self._walk_forward(sc)
        else:  # learned: simulates the history days with a PacingCore (see the class docstring)
            self.fc_prof, self.fc_mode = forecast_week(sc, PacingCore), 1
        self.slot_s = float(sc.time.slot_s)
        fc = sc.forecast  # the nowcast (envs.nowcast): per-tick level weight, per-slot decay
        self.nowcast = NOWCAST_KINDS.index(fc.nowcast)  # 0 none, 1 smoothing, 2 linear
        self.nc_alpha = smoothing_weight(self.tick_s / 60.0, float(fc.nowcast_tau_min))
        self.nc_alphas = tick_weights(self.tick_s / 60.0)
        self.slot_min = self.slot_s / 60.0
        self.nc_phi = math.exp(-float(sc.time.slot_s) / 60.0 / float(fc.nowcast_decay_min))
        self.surge_factors = np.asarray(sc.traffic.surge_factors, dtype=float)
        self.surge_cum = np.cumsum(sc.traffic.surge_probs)
        self.dep_on = sc.traffic.departures.on  # lasting departures (envs.departure_gen)
        self.dep_par = sc.traffic.departures.as_array()
        # the reward pays pacing_score_v2: delivery at weight 1, the rest by ScoreParams name
        self.weights = np.array(
            [1.0 if term == "delivery" else getattr(sc.score, term) for term in REWARD_TERMS]
        )
        self.win_slots = sc.score.window_slots(self.slot_s)
        self.tolerance = float(sc.score.tolerance)
        self.burst_tolerance = float(sc.score.burst_tolerance)
        self._ranges = np.array([bounds(scenario_value(sc, k)) for k in RANDOMIZABLE])
        self.per_campaign_delay = per_campaign_delay(sc)
        if not self.per_campaign_delay:
            d = sc.delay
            self._build_delay(0, float(d.quantile_s), float(d.quantile), float(d.sigma))  # type: ignore[arg-type]

        init_value(self, sc)
        step = K.step_parallel if n >= K.PARALLEL_MIN_CAMPAIGNS else K.step_serial
        self._step_kernel = step
        self._step_args = self._bind(step, "throttle")
        self._init_args = self._bind(init_rows, "rows", "vals")
        self._obs_args = self._bind(write_obs, "b")  # write_obs_rows passes them on
        self._seg_obs_args = self._bind(write_obs_segments, "b", "t", "obs")

    def _walk_forward(self, sc: ScenarioParams) -> None:
        """The trace's walk-forward forecast, a row per start day (``fc_mode`` 2), and the
        linear nowcast's weights when it is on (fitted on the history days' forecasts too:
        one table serves both)."""
        expected = expected_per_minute(self.prof, self.dow).tobytes()
        days = (self.day_lo, self.day_hi)
        linear = sc.forecast.nowcast == "linear"
        first = nowcast_fit_first_day(sc) if linear else days[0]
        table = walk_forward_forecast(sc, expected, (first, days[1]))[days[0] - first :]
        self.fc_prof, self.fc_mode = table.reshape(-1), 2
        self.fc_horizon = table.shape[1]
        if linear:  # fitted walk-forward, a row per start day
            self.nc_wtab, self.nc_ridges = walk_forward_nowcast(sc, expected, days)

    def _bind(self, kernel: Callable[..., None], *leading: str) -> tuple[Any, ...]:
        """The kernel's arguments after ``leading``, taken by name from this core's attributes.

        The arrays are allocated once and updated in place, so the tuple stays valid.
        """
        names = list(inspect.signature(getattr(kernel, "py_func", kernel)).parameters)
        if names[: len(leading)] != list(leading):
            raise TypeError(f"{kernel}: expected leading parameters {leading}, got {names}")
        return tuple(getattr(self, name) for name in names[len(leading) :])

    # -- episodes -------------------------------------------------------------------------

    def delay_probabilities(self, quantile_s: float, quantile: float, sigma: float) -> np.ndarray:
        """Per-tick delay probabilities of counted impressions for these shape parameters."""
        d = self.scenario.delay
        cdf = continuous_cdf(d.family, quantile_s, quantile, sigma, d.max_delay_s, d.cdf_points)
        return tick_probabilities(cdf, self.tick_s, self.n_delay)

    def _build_delay(self, row: int, quantile_s: float, quantile: float, sigma: float) -> None:
        q = self.delay_probabilities(quantile_s, quantile, sigma)
        alias_table(q, self.alias_prob[row], self.alias_idx[row])
        self.surv[row, :-1] = np.cumsum(q[::-1])[::-1]
        self.surv[row, -1] = 0.0

    def reset(self, rows: np.ndarray, seeds: np.ndarray) -> None:
        """Start a new episode in each of ``rows``, campaign ``rows[i]`` seeded by ``seeds[i]``."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size == 0:
            return
        seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
        rng.seed_streams(self.streams, rows, seeds)
        u = np.empty((rows.size, len(RANDOMIZABLE)))
        draw_uniform(self.streams, rows, rng.STREAM_SCENARIO, u)
        lo, hi = self._ranges[:, 0], self._ranges[:, 1]
        vals = lo + u * (hi - lo)
        if self.fold_day:
            day = np.full(rows.size, float(self.day_lo))
            if self.draw_day:  # a whole day, after the RANDOMIZABLE draws of the same stream
                ud = np.empty((rows.size, 1))
                draw_uniform(self.streams, rows, rng.STREAM_SCENARIO, ud)
                n_days = self.day_hi - self.day_lo + 1
                day += np.minimum(np.floor(ud[:, 0] * n_days), n_days - 1)
            vals[:, K.V_START_MIN] += day * 1440.0
            if self.nowcast == 2:  # the linear nowcast fitted for the flight's day
                self.nc_w[rows] = self.nc_wtab[(day - self.day_lo).astype(np.int64)]
        if self.nowcast == 2:
            self.nc_ew[rows] = 0.0
        init_rows(rows, vals, *self._init_args)
        if self.per_campaign_delay:
            cols = [vals[:, RANDOMIZABLE.index(k)] for k in DELAY_SHAPE_KEYS]
            for r, q_s, q, sigma in zip(rows, *cols, strict=True):
                self._build_delay(int(r), float(q_s), float(q), float(sigma))
        slots = self.par[rows, K.P_FLIGHT_TICKS] / self.tps
        time_share = self._slot_index[None, :] / slots[:, None]
        plan = plans.cumulative_share(self.scenario.plan, time_share, self.fc_cum[rows])
        self.plan_cum[rows] = np.clip(plan, 0.0, 1.0)
        self.thr[rows] = 0.0
        reset_value(self, rows)
        write_obs_rows(rows, *self._obs_args)
        if self.value_on:
            for r in rows:
                write_obs_segments(r, 0, self.obs, *self._seg_obs_args)

    def clone(self) -> PacingCore:
        """An independent copy of this core in its current state (same episodes, same
        random streams): stepping the copy does not touch this core. Every array is copied
        in place into a new core's buffers, so the copy's bound kernel arguments stay valid.
        """
        other = PacingCore(self.scenario, self.n)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                target = getattr(other, name)
                if target.shape != value.shape:  # a data-driven forecast or a delay table
                    raise RuntimeError(f"PacingCore.clone: {name} differs in shape")
                np.copyto(target, value)
        return other

    # -- stepping -------------------------------------------------------------------------

    def step(self, throttle: np.ndarray) -> StepResult:
        """Advance every running campaign by one tick under ``throttle``: shape ``(n,)``,
        one per campaign (every segment's), or ``(n, n_segments)`` in a value scenario.

        Throttles are pass-through rates in [0, 1]; finite values outside are clipped;
        NaN or infinite values are replaced by 0 (stop serving) and flagged in ``invalid``.
        """
        th = np.asarray(throttle, dtype=np.float64)
        n_seg = self.thr.shape[1]
        if th.ndim == 2 and th.shape == (self.n, n_seg):
            self.thr[:] = th
        elif th.size == self.n:
            self.thr[:] = th.reshape(self.n, 1)
        else:
            per = f" or ({self.n}, {n_seg}) (one per segment)" if n_seg > 1 else ""
            raise ValueError(
                f"throttle has shape {th.shape}; expected ({self.n},) (one per campaign){per}"
            )
        self._step_kernel(self.thr, *self._step_args)
        return StepResult(self.obs, self.reward, self.terms, self.finished, self.invalid)

    # -- read-outs ------------------------------------------------------------------------

    @property
    def n_segments(self) -> int:
        """Segments of a value scenario (one throttle each); 0 in the volume world."""
        return len(self.segments)

    @property
    def done(self) -> np.ndarray:
        """(n,) bool: the campaign's episode is over (or it was never reset)."""
        return self.ist[:, K.I_DONE] != 0

    @property
    def flight_ticks(self) -> np.ndarray:
        return self.par[:, K.P_FLIGHT_TICKS].astype(np.int64)

    def totals(self, rows: np.ndarray | None = None) -> EpisodeTotals:
        """Accumulated episode totals of ``rows`` (copies), the input of ``episode_metrics``."""
        r = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        return EpisodeTotals(
            budget=self.par[r, K.P_BUDGET].copy(),
            billable=self.fst[r, K.F_BILLABLE].copy(),
            media_cost=self.fst[r, K.F_MEDIA].copy(),
            wasted_over=self.fst[r, K.F_WASTE_OVER].copy(),
            wasted_post=self.fst[r, K.F_WASTE_POST].copy(),
            counted=self.ist[r, K.I_COUNTED].copy(),
            counted_post=self.ist[r, K.I_COUNTED_POST].copy(),
            served=self.ist[r, K.I_SERVED].copy(),
            never=self.ist[r, K.I_NEVER].copy(),
            t95=self.ist[r, K.I_T95].copy(),
            flight_ticks=self.par[r, K.P_FLIGHT_TICKS].astype(np.int64),
            ticks=self.ist[r, K.I_T].copy(),
            sum_dp=self.fst[r, K.F_SUM_DP].copy(),
            slot_spend=self.slot_spend[r].copy(),
            plan_cum=self.plan_cum[r].copy(),
            ticks_per_slot=self.tps,
            slot_s=self.slot_s,
            value=self.vst[r].copy() if self.value_on else None,
            vbar=self.vbar[r].copy() if self.value_on else None,
            served_spend=self.fst[r, K.F_SERVED_UNITS] * self.price * self.par[r, K.P_RENDER]
            if self.value_on
            else None,
        )

    def metrics(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Episode metrics (``envs.metrics``) of ``rows``; meaningful once they are done."""
        return episode_metrics(self.totals(rows), self.scenario.score)

    def drain_profile(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Impressions counted k ticks after the flight end, k = 0..max_delay_ticks-1.

        Read it after a campaign finished and before it is reset.
        """
        r = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        head = self.ist[r, K.I_HEAD]
        k = (head[:, None] + np.arange(self.n_delay)[None, :]) % self.n_delay
        return np.take_along_axis(self.pending[r], k, axis=1)

    def bytes_per_campaign(self) -> int:
        """Memory held per campaign [bytes], independent of impressions served."""
        arrays = [
            self.par,
            self.ist,
            self.fst,
            self.streams,
            self.pending,
            self.hist,
            self.slot_spend,
            self.plan_cum,
            self.fc_cum,
            self.nc_cum,
            self.obs,
            self.terms,
            self.reward,
            self.finished,
            self.invalid,
        ]
        if self.per_campaign_delay:
            arrays += [self.alias_prob, self.alias_idx, self.surv]
        if self.dep_on:
            arrays.append(self.dep_log)
        if self.nowcast == 2:
            arrays += [self.nc_ew, self.nc_w]
        arrays.append(self.thr)
        if self.value_on:
            arrays += [self.vst, self.pend_units, self.pend_val, self.seg_served, self.drift]
            arrays += [self.vbar, self.conv_ring]
        return int(sum(a.nbytes for a in arrays) // self.n)
