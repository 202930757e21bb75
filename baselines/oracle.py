"""The clairvoyant controller: the hindsight-optimal schedule of each episode, re-planned.

``OracleController`` is the reference every other policy is measured against (regret,
normalised score; ``baselines.normalise``). It knows what no causal policy can: the
episode's realised eligible requests (the traffic stream does not depend on actions, so a
copy of the core stepped at throttle 0 reveals them; ``realised_requests``), the
episode's true fill and render rates and delay distribution. From these it solves
``baselines.hindsight`` (a linear program on HiGHS) for the schedule that maximises the
expected score. It then runs through the same simulator on the same seeds as every
other controller (common random numbers), so it faces the same serving and delay
randomness; it re-solves the rest of the flight on the
realised state (spend counted so far, impressions in flight: clairvoyant MPC),
``replans`` times per flight, evenly spaced. By default (``warm_start``) each episode's
LP is built once in HiGHS and every re-plan changes it in place and re-solves from the
last basis (``baselines.hindsight_warm.WarmLP``; docs/oracle.md says what that changes);
``warm_start=False`` solves each plan cold (``baselines.hindsight.solve``).

It implements ``Controller`` plus ``Clairvoyant.attach(core)``: the harness
(``baselines.harness.run_episodes``) hands it the core after each reset. A solve that
HiGHS's simplex gives up on is retried with its interior point method (``solve``; a
warm solve that fails is retried cold, and that row stays cold). A first plan that
still fails (or times out) is counted per episode in ``failures`` and marked in
``failed`` (the episode then runs at throttle 0, a visibly bad score the caller reports
and excludes; ``baselines.normalise``); a re-plan that fails keeps the standing plan and
is counted in ``replan_fallbacks``. ``failure_messages`` holds HiGHS's words for each.

In a value scenario (``core.value_on``) it plans one throttle per block and segment
(``baselines.oracle_value``, ``baselines.hindsight_value``; throttles ``(n, S)``) and
keeps each row's latest solution (``solutions``, its duals) and the value-per-spend
threshold per tick (``thresholds``; docs/oracle.md, "Value scenarios").

Each LP has its own cap on its throttle variables: ``max_blocks`` for the volume LP
(flights longer than that many ticks share one throttle per block of
``ceil(ticks / max_blocks)`` ticks) and ``max_segment_blocks`` for the value LP's blocks
x segments (``oracle_value.block_ticks``); docs/oracle.md, "Coarser blocks", measures the
volume cap's cost.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from pacegym.baselines.controllers import ControllerConfigError, check_range, config_error
from pacegym.baselines.hindsight import HindsightEpisode, HindsightSolution, solve
from pacegym.baselines.hindsight_value import SegmentEpisode, solve_segments
from pacegym.baselines.hindsight_warm import WarmLP
from pacegym.baselines.oracle_value import block_ticks, segment_episodes, segment_state
from pacegym.envs import kernel as K
from pacegym.envs.core import PacingCore


@dataclass(frozen=True)
class OracleConfig:
    """Re-planning and solver settings of the clairvoyant."""

    replans: int = (
        10  # [-] re-solves on the realised state per flight, evenly spaced; 0 = open loop
    )
    block_min: float = 0.0  # [min] ticks sharing one throttle; 0 = one tick (auto below)
    max_blocks: int = 720  # [-] volume LP: throttles per flight; longer flights share blocks
    max_segment_blocks: int = 1500  # [-] value LP: blocks x segments within this (oracle_value)
    time_limit_s: float = 60.0  # [s] HiGHS time limit per solve
    threads: int = 2  # [-] episodes solved concurrently
    noise_aware: bool = True  # price counting noise into the penalties (else fluid LP)
    warm_start: bool = True  # one HiGHS model per episode, re-plans from its last basis
    warm_models: int = 64  # [-] episodes of a batch held warm (10-90 MB each); others cold

    def validate(self, kind: str = "oracle") -> None:
        check_range(kind, "replans", self.replans, 0, 1000)
        check_range(kind, "block_min", self.block_min, 0.0, 1440.0)
        check_range(kind, "max_blocks", self.max_blocks, 10, 1_000_000)
        check_range(kind, "max_segment_blocks", self.max_segment_blocks, 10, 1_000_000)
        check_range(kind, "time_limit_s", self.time_limit_s, 0.0, 3600.0, low_open=True)
        check_range(kind, "threads", self.threads, 1, 256)
        check_range(kind, "warm_models", self.warm_models, 0, 1_000_000)
        for key in ("replans", "max_blocks", "max_segment_blocks", "threads", "warm_models"):
            value = getattr(self, key)
            if int(value) != value:
                raise ControllerConfigError(
                    f"controller.params.{key} = {value!r} is not a whole number for kind {kind!r}"
                )

    def __post_init__(self) -> None:
        self.validate()


def realised_requests(core: PacingCore) -> np.ndarray:
    """``(n, max_ticks)`` eligible requests each campaign of ``core`` will see, tick by tick.

    Read from a copy of the core stepped at throttle 0: the traffic stream is consumed
    identically whatever the throttle (``envs.kernel``), so the copy's requests are the
    ones the real core will draw. Rows past a campaign's flight are 0.
    """
    probe = core.clone()
    n = probe.n
    ticks = int(probe.flight_ticks.max())
    out = np.zeros((n, ticks), dtype=np.int64)
    zero = np.zeros(n)
    last = probe.ist[:, K.I_REQUESTS].copy()
    t = 0
    while not probe.done.all() and t < ticks:
        probe.step(zero)
        now = probe.ist[:, K.I_REQUESTS]
        out[:, t] = now - last
        last = now.copy()
        t += 1
    return out


def hindsight_episodes(
    core: PacingCore, requests: np.ndarray, noise_aware: bool = True
) -> list[HindsightEpisode]:
    """The hindsight problem of every campaign of ``core`` at the start of its episode;
    ``noise_aware`` prices Poisson counting noise into the excesses (else the fluid model)."""
    sc = core.scenario.score
    eps = []
    for b in range(core.n):
        ft = int(core.par[b, K.P_FLIGHT_TICKS])
        row = int(core.par[b, K.P_DELAY_ROW])
        surv = core.surv[row]
        q = surv[:-1] - surv[1:]
        eps.append(
            HindsightEpisode(
                requests=requests[b, :ft],
                fill=float(core.par[b, K.P_FILL]),
                render=float(core.par[b, K.P_RENDER]),
                q=q,
                budget=float(core.par[b, K.P_BUDGET]),
                price=core.price,
                media=core.media,
                plan_cum=core.plan_cum[b].copy(),
                ticks_per_slot=core.tps,
                window_slots=core.win_slots,
                tolerance=core.tolerance,
                burst_tolerance=core.burst_tolerance,
                w_waste=float(sc.waste),
                w_misplaced=float(sc.misplaced),
                w_burst=float(sc.burst),
                spend_variance=core.price if noise_aware else 0.0,
            )
        )
    return eps


def realised_state(core: PacingCore, b: int, ep: HindsightEpisode) -> tuple[int, np.ndarray, float]:
    """``(t0, fixed_slot_spend, fixed_post_cost)`` of campaign ``b`` now: spend counted per
    slot so far plus the impressions in flight placed at the tick they will be counted."""
    t0 = int(core.ist[b, K.I_T])
    T, tps = ep.flight_ticks, ep.ticks_per_slot
    fixed = core.slot_spend[b, : ep.n_slots].copy()
    D = core.n_delay
    head = int(core.ist[b, K.I_HEAD])
    pend = core.pending[b, (head + np.arange(D)) % D].astype(float)  # counted at t0 + k
    when = t0 + np.arange(D)
    inside = when < T
    np.add.at(fixed, when[inside] // tps, pend[inside] * core.price)
    post = float(pend[~inside].sum()) * core.media
    return t0, fixed, post


@dataclass
class OracleController:
    """Clairvoyant MPC on the hindsight LP (see the module docstring)."""

    config: OracleConfig = field(default_factory=OracleConfig)
    name: str = "oracle"
    kind: ClassVar[str] = "oracle"
    can_warm: ClassVar[bool] = True  # re-plans keep the episode's requests (``WarmLP``)

    def __post_init__(self) -> None:
        self._core: PacingCore | None = None
        self._episodes: list[HindsightEpisode] = []
        self._schedule = np.zeros((0, 0))
        self._next_plan = np.zeros(0, dtype=np.int64)
        self._block = np.ones(0, dtype=np.int64)
        self.thresholds = np.zeros((0, 0))  # (n, ticks) value scenarios' duals, NaN unsolved
        self.solutions: list = []  # each row's latest solution (its duals in a value scenario)
        self.failures = 0
        self.replan_fallbacks = 0
        self.solves = 0
        self.solve_seconds: list[float] = []
        self.failed = np.zeros(0, dtype=bool)
        self.failure_messages: list[str] = []

    @property
    def batch_limit(self) -> int | None:
        """The most episodes per batch that all re-plan warm (``warm_models``; None: no
        limit, the warm path off). Rows past it re-plan cold (``_start``): 3-4x the solver
        time on the same problem. A caller that runs many episodes gets every one warm, at
        ``warm_models`` models' memory, by running them in batches of at most this many
        (``experiments.benchmark`` does; an episode's result does not depend on its batch:
        each row has its own seeds)."""
        warm = self.can_warm and bool(self.config.warm_start) and self.config.warm_models > 0
        return int(self.config.warm_models) if warm else None

    def reset(self, n: int) -> None:
        self._core = None
        self._schedule = np.zeros((n, 0))
        self.failed = np.zeros(n, dtype=bool)

    def attach(self, core: PacingCore) -> None:
        """Read the realised traffic of ``core``'s new episodes and plan each of them."""
        self._start(core, realised_requests(core))

    def _start(self, core: PacingCore, req: np.ndarray) -> None:
        """Plan ``core``'s new episodes on the requests per tick ``req`` ``(n, ticks)``."""
        self._core = core
        self._episodes = hindsight_episodes(core, req, bool(self.config.noise_aware))
        if core.value_on:  # one throttle per segment (baselines.hindsight_value)
            self._episodes = self._segment_episodes(core, self._episodes, req)
        ticks = req.shape[1]
        seg = (len(core.segments),) if core.value_on else ()
        self._schedule = np.zeros((core.n, ticks + 1, *seg))
        self.thresholds = np.full((core.n, ticks), np.nan)
        self.solutions: list = [None] * core.n
        self.failed = np.zeros(core.n, dtype=bool)
        tick_min = core.tick_s / 60.0
        ft = core.flight_ticks
        if self.config.replans > 0:
            self._every = np.maximum(1, ft // (int(self.config.replans) + 1))
        else:
            self._every = np.full(core.n, 1 << 62, dtype=np.int64)
        self._next_plan = self._every.copy()
        self._block = np.array([self._block_ticks(ep, tick_min) for ep in self._episodes])
        warm = self.can_warm and bool(self.config.warm_start)
        self._warm: list[WarmLP | None] = [None] * core.n
        # each warm model holds its LP and HiGHS's factors for the whole episode (measured
        # 10-90 MB from 6-h to 3-day flights): rows past ``warm_models`` re-plan cold
        self._use_warm = warm & (np.arange(core.n) < int(self.config.warm_models))
        self._plan(list(range(core.n)), self._episodes)

    def _segment_episodes(
        self, core: PacingCore, base: list[HindsightEpisode], req: np.ndarray
    ) -> list[SegmentEpisode]:
        """A value scenario's segment LPs on ``req`` (the realised split: clairvoyant)."""
        return segment_episodes(core, base, req)

    def _block_ticks(self, ep: HindsightEpisode | SegmentEpisode, tick_min: float) -> int:
        block = float(self.config.block_min)
        ratio = block / tick_min
        if block > 0 and (abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1):
            whole = max(1, math.floor(ratio)) * tick_min
            raise config_error(
                "oracle", "block_min", block,
                f"0 (auto) or a whole number of ticks (time.tick_s = {tick_min * 60:g} s): "
                f"e.g. {whole:g} or {whole + tick_min:g} min",
            )  # fmt: skip
        if isinstance(ep, SegmentEpisode):
            cfg = self.config
            return block_ticks(ep, cfg.block_min, cfg.max_segment_blocks, tick_min * 60.0)
        if self.config.block_min > 0:
            return max(1, round(self.config.block_min / tick_min))
        return max(1, math.ceil(ep.flight_ticks / self.config.max_blocks))

    def _plan(self, rows: list[int], problems: list) -> None:
        def one(i: int) -> HindsightSolution:
            b, ep, limit = rows[i], problems[i], self.config.time_limit_s
            if isinstance(ep, SegmentEpisode):  # a value scenario: throttles per segment
                return solve_segments(ep, int(self._block[b]), limit)
            if self._use_warm[b]:
                sol = self._warm_solve(b, ep)
                if sol.ok:
                    return sol
                self._use_warm[b] = False  # HiGHS's own retries (IPM) from here on
            return solve(ep, int(self._block[b]), limit)

        if self.config.threads > 1 and len(rows) > 1:
            with ThreadPoolExecutor(self.config.threads) as pool:
                sols = list(pool.map(one, range(len(rows))))
        else:
            sols = [one(i) for i in range(len(rows))]
        for b, ep, sol in zip(rows, problems, sols, strict=True):
            self.solves += 1
            self.solve_seconds.append(sol.seconds)
            if not sol.ok and ep.t0 > 0:
                # a re-plan failed: the standing plan is still a whole schedule; keep it
                self.replan_fallbacks += 1
                self.failure_messages.append(f"re-plan kept, row {b} tick {ep.t0}: {sol.message}")
                continue
            if not sol.ok:
                self.failures += 1
                self.failure_messages.append(f"episode row {b} at tick 0: {sol.message}")
                self.failed[b] = True
                self._schedule[b, :] = 0.0
                continue
            self._schedule[b, ep.t0 : ep.flight_ticks] = sol.throttle[ep.t0 :]
            self.solutions[b] = sol
            if isinstance(ep, SegmentEpisode):  # the value-per-spend threshold (the duals)
                self.thresholds[b, ep.t0 : ep.flight_ticks] = sol.threshold[ep.t0 :]

    def _warm_solve(self, b: int, ep: HindsightEpisode) -> HindsightSolution:
        """Row ``b``'s plan from ``ep.t0`` on its episode's HiGHS model (built at tick 0)."""
        if self._warm[b] is None:
            self._warm[b] = WarmLP(self._episodes[b], int(self._block[b]))
        lp = self._warm[b]
        return lp.solve(ep.t0, ep.fixed_slot_spend, ep.fixed_post_cost, self.config.time_limit_s)

    def _replan_problems(self, core: PacingCore, due: np.ndarray) -> list:
        """The rest of each due campaign's flight on its realised state."""
        problems = []
        for b in due:
            ep = self._episodes[b]
            if isinstance(ep, SegmentEpisode):
                problems.append(segment_state(core, int(b), ep))
                continue
            t0, fixed, post = realised_state(core, int(b), ep)
            problems.append(ep.at(t0, fixed, post))
        return problems

    def act(self, obs: np.ndarray) -> np.ndarray:
        core = self._core
        if core is None:
            raise RuntimeError(
                f"the {self.kind} controller needs the simulator's core: run it through "
                "baselines.harness.run_episodes (it calls attach after each reset)"
            )
        t = core.ist[:, K.I_T]
        running = core.ist[:, K.I_DONE] == 0
        due = np.flatnonzero(running & (t >= self._next_plan) & ~self.failed)
        if due.size:
            self._plan([int(b) for b in due], self._replan_problems(core, due))
            self._next_plan[due] += self._every[due]
        idx = np.minimum(t, self._schedule.shape[1] - 1)
        return self._schedule[np.arange(core.n), idx].astype(np.float64)
