"""Run any ``Controller`` on a scenario for N seeded episodes, batched.

Episode ``i`` of ``run_episodes(..., seed=s)`` uses the episode seed that
``PacingEnv.reset(seed=s + i)`` would draw, so every controller faces the same
traffic, forecasts and delays for a seed (common random numbers), and any episode
can be replayed in the single env.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from gymnasium.utils import seeding

from pacegym.baselines.protocol import Clairvoyant, Controller
from pacegym.envs.core import PacingCore
from pacegym.envs.kernel import F_COUNTED_SPEND
from pacegym.envs.pacing_env import SEED_HIGH
from pacegym.envs.params import ScenarioParams
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import N_OBS, SEGMENT_FEATURES

BATCH_SIZE = 1024
"""[campaigns] episodes stepped together by default (one ``PacingCore`` of this size)."""


def episode_seeds(seed: int, episodes: int) -> np.ndarray:
    """The episode seeds ``PacingEnv.reset(seed=seed + i)`` draws, i = 0..episodes-1."""
    return np.array(
        [
            seeding.np_random(seed + i)[0].integers(0, SEED_HIGH, dtype=np.uint64)
            for i in range(episodes)
        ],
        dtype=np.uint64,
    )


@dataclass
class Rollout:
    """Per-episode results of one controller.

    ``metrics[k]`` has shape ``(episodes,)`` for every key of ``envs.metrics.METRIC_KEYS``
    (and ``VALUE_KEYS`` in a value scenario).
    With ``record=True``: ``throttle`` and ``counted_spend`` (cumulative, currency) per
    tick ``(episodes, max_ticks)`` (NaN after the flight; in a value scenario ``throttle``
    is the segments' throttles weighed by their share of the requests that tick, and
    ``segment_throttle`` ``(episodes, max_ticks, S)`` each segment's), ``slot_spend`` and
    ``plan_cum`` per slot, ``drain`` impressions counted k ticks after the end, and
    ``budget``/``flight_ticks`` per episode. ``failed`` marks the episodes on which a
    ``Clairvoyant`` controller reported a failure (its ``failed`` attribute); None for
    other controllers.
    """

    name: str
    metrics: dict[str, np.ndarray]
    traces: dict[str, np.ndarray] = field(default_factory=dict)
    failed: np.ndarray | None = None  # (episodes,) bool: a Clairvoyant's solver failed


def _shares(obs: np.ndarray, n_seg: int) -> np.ndarray:
    """``(n, S)`` the segments' share of the requests now (the observation's segment block)."""
    return obs[:, N_OBS :: len(SEGMENT_FEATURES)][:, :n_seg].astype(np.float64)


def _join_traces(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The batches' traces concatenated by episode, per-tick arrays padded to the longest
    flight (NaN for floats, 0 otherwise)."""
    traces: dict[str, np.ndarray] = {}
    for k in parts[0]:
        arrs = [p[k] for p in parts]
        if arrs[0].ndim >= 2:
            width = max(a.shape[1] for a in arrs)
            pads = [((0, 0), (0, width - a.shape[1])) + ((0, 0),) * (a.ndim - 2) for a in arrs]
            arrs = [
                np.pad(a, pad, constant_values=np.nan) if a.dtype.kind == "f" else np.pad(a, pad)
                for a, pad in zip(arrs, pads, strict=True)
            ]
        traces[k] = np.concatenate(arrs)
    return traces


def run_split(
    controller: Controller,
    scenarios: Sequence[str | ScenarioParams | dict],
    episodes: int,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> list[Rollout]:
    """``run_episodes`` on each of ``scenarios`` with ``ceil(episodes / k)`` episodes each,
    seeded alike, one ``Rollout`` per scenario in order: a mean over all of them weighs
    every scenario equally (validation and tuning over a suite)."""
    per = -(-episodes // len(scenarios))
    return [run_episodes(controller, sc, per, seed, batch_size) for sc in scenarios]


def joined_metrics(rollouts: Sequence[Rollout]) -> dict[str, np.ndarray]:
    """The per-episode metrics of ``rollouts`` concatenated in order."""
    return {k: np.concatenate([r.metrics[k] for r in rollouts]) for k in rollouts[0].metrics}


def run_episodes(
    controller: Controller,
    scenario: str | ScenarioParams | dict,
    episodes: int,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    record: bool = False,
    on_batch: Callable[[int], object] | None = None,
) -> Rollout:
    """Evaluate ``controller`` on ``episodes`` episodes of ``scenario`` seeded from ``seed``;
    ``on_batch(n)`` after each batch of ``n`` episodes (a progress bar's ``update``)."""
    if episodes < 1:
        raise ValueError(f"episodes = {episodes}: must be >= 1")
    if batch_size < 1:
        raise ValueError(f"batch_size = {batch_size}: must be >= 1")
    sc = resolve(scenario)
    seeds = episode_seeds(seed, episodes)
    parts: list[dict[str, np.ndarray]] = []
    trace_parts: list[dict[str, np.ndarray]] = []
    core: PacingCore | None = None
    failed: list[np.ndarray] = []
    for start in range(0, episodes, batch_size):
        b = min(batch_size, episodes - start)
        if core is None or core.n != b:
            core = PacingCore(sc, b)
        rows = np.arange(b)
        core.reset(rows, seeds[start : start + b])
        controller.reset(b)
        if isinstance(controller, Clairvoyant):
            controller.attach(core)
        max_ticks = int(core.flight_ticks.max())
        n_seg = len(core.segments)
        if record:
            throttle = np.full((b, max_ticks), np.nan, dtype=np.float32)
            spend = np.full((b, max_ticks), np.nan, dtype=np.float32)
            seg_th = np.full((b, max_ticks, n_seg), np.nan, dtype=np.float32)
        t = 0
        while not core.done.all():
            running = ~core.done
            share = _shares(core.obs, n_seg) if record and n_seg else None
            th = np.asarray(controller.act(core.obs), dtype=np.float64)
            core.step(th)
            if record:
                p = np.clip(np.nan_to_num(th[running], nan=0.0), 0.0, 1.0)
                if share is not None:
                    p = np.broadcast_to(p.reshape(p.shape[0], -1), (p.shape[0], n_seg))
                    seg_th[running, t] = p
                    p = (p * share[running]).sum(axis=1)
                throttle[running, t] = p
                spend[running, t] = core.fst[running, F_COUNTED_SPEND]
            t += 1
        parts.append(core.metrics())
        if on_batch is not None:
            on_batch(b)
        if isinstance(controller, Clairvoyant):
            failed.append(np.asarray(getattr(controller, "failed", np.zeros(b)), dtype=bool))
        if record:
            tot = core.totals()
            trace_parts.append(
                {
                    "throttle": throttle,
                    "counted_spend": spend,
                    "slot_spend": tot.slot_spend,
                    "plan_cum": tot.plan_cum,
                    "drain": core.drain_profile(),
                    "budget": tot.budget,
                    "flight_ticks": tot.flight_ticks,
                    **({"segment_throttle": seg_th} if n_seg else {}),
                }
            )
    metrics = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    traces = _join_traces(trace_parts) if record else {}
    name = getattr(controller, "name", type(controller).__name__)
    return Rollout(name, metrics, traces, np.concatenate(failed) if failed else None)
