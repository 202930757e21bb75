"""Several scenarios stepped as one batch: the core of domain-randomised training.

``CoreMixture(scenarios, n)`` splits ``n`` campaigns into contiguous blocks, one
``PacingCore`` per scenario (block sizes differ by at most one, the first blocks get the
remainder), and offers the ``PacingCore`` surface the vector views use: ``reset(rows,
seeds)``, ``step(throttle)`` (one ``StepResult`` over all rows), ``metrics(rows)``, ``obs``,
``done``, ``n``. Every campaign keeps its own block's scenario for the whole run, and each
block steps exactly as a ``PacingCore`` of that scenario alone would with the same seeds
(rows are only renumbered), so the mixture adds no dynamics of its own.

Since every campaign steps every tick, each scenario receives the same share of
env-steps however long its flights are; short flights contribute more episodes.

``jittered(scenario, jitter)`` widens a scenario's randomisable parameters by a factor
``10 ** +-decades`` around their values (a scalar ``v`` becomes the range
``[v / 10**d, v * 10**d]``, a range ``[lo, hi]`` becomes ``[lo / 10**d, hi * 10**d]``), so
one ``jitter`` spec randomises scenarios of very different scales alike. Only scale-like
parameters (``JITTERABLE``: rates, durations, the forecast's bias) take a jitter; the
resulting scenario is checked like any other (``envs.params``). A factor leaves a zero
where it is: a key whose value is 0 on a scenario (no surges on a recorded trace, whose
recorded traffic has its own) stays 0 there, and ``unwidened_note`` names every such
(key, scenario) pair so that a run says so instead of widening it in name only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pacegym.envs.core import PacingCore, StepResult
from pacegym.envs.layout import REWARD_TERMS
from pacegym.envs.metrics import METRIC_KEYS, VALUE_KEYS
from pacegym.envs.params import ScenarioError, ScenarioParams
from pacegym.envs.scenarios import resolve, to_dict
from pacegym.envs.spaces import obs_width

JITTERABLE: tuple[str, ...] = (
    "time.flight_min",
    "traffic.base_rate",
    "traffic.noise_tau_s",
    "traffic.surge_rate_per_h",
    "traffic.surge_mean_s",
    "forecast.bias",
    "delay.quantile_s",
    "delay.report_latency_s",
)
"""Scenario keys ``jittered`` may widen: positive scales, where a factor means the same at
every size (probabilities and shares are not among them)."""
MAX_JITTER_DECADES = 2.0
"""Largest ``jitter`` [decades] one key may take (a factor of 100 either way)."""


def jittered(scenario: ScenarioParams, jitter: Mapping[str, float]) -> ScenarioParams:
    """``scenario`` with each ``jitter`` key (``"traffic.base_rate": 0.3``) widened by
    ``10 ** +-decades`` around its value (see the module docstring).

    Raises ``ScenarioError`` naming the key for a key outside ``JITTERABLE``, decades
    outside ``[0, MAX_JITTER_DECADES]``, or a widened value the scenario does not allow.
    """
    data = to_dict(scenario)
    for key, decades in jitter.items():
        if key not in JITTERABLE:
            raise ScenarioError(
                f"train.jitter.{key}: not a jitterable parameter; allowed {list(JITTERABLE)}"
            )
        d = float(decades) if isinstance(decades, int | float) else float("nan")
        if not 0.0 <= d <= MAX_JITTER_DECADES:
            raise ScenarioError(
                f"train.jitter.{key} = {decades!r}: allowed a finite number in "
                f"[0, {MAX_JITTER_DECADES:g}] (decades)"
            )
        section, name = key.split(".")
        value = data[section][name]
        lo, hi = (value, value) if np.isscalar(value) else (value[0], value[1])
        f = 10.0**d
        data[section][name] = [float(lo) / f, float(hi) * f]
    return resolve(data)


def unwidened(scenario: ScenarioParams, jitter: Mapping[str, float]) -> list[str]:
    """The ``jitter`` keys a factor cannot widen on ``scenario``: those whose value there is
    0 (a scalar 0 or the range ``[0, 0]``), which ``jittered`` leaves at 0."""
    data = to_dict(scenario)
    out = []
    for key in jitter:
        section, _, name = key.partition(".")
        value = data.get(section, {}).get(name)
        if value is not None and not np.any(np.asarray(value, dtype=np.float64)):
            out.append(key)
    return out


def unwidened_note(scenarios: Sequence[ScenarioParams], jitter: Mapping[str, float]) -> list[str]:
    """One line per ``jitter`` key left at 0 on some of ``scenarios`` (``unwidened``):
    ``train.jitter.<key>: 0 on a, b: nothing to widen, left at 0``; empty if none."""
    lines = []
    for key in jitter:
        names = [sc.name for sc in scenarios if key in unwidened(sc, jitter)]
        if names:
            lines.append(
                f"train.jitter.{key}: 0 on {', '.join(names)}: nothing to widen, left at 0"
            )
    return lines


def split_rows(n: int, k: int) -> list[slice]:
    """``n`` rows in ``k`` contiguous blocks whose sizes differ by at most one."""
    if not 1 <= k <= n:
        raise ValueError(f"{k} scenarios need 1..n campaigns each; got n = {n}")
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(int(starts[i]), int(starts[i + 1])) for i in range(k)]


class CoreMixture:
    """``n`` campaigns over ``scenarios``, one ``PacingCore`` block each (module docstring).

    ``max_segments`` (None: every scenario must have the same segment count) pads: the
    mixture then has ``n_segments = max_segments`` columns of segments whatever each
    scenario's own count ``S`` (``segment_counts``, per campaign), the columns of a
    campaign's absent segments ``S..max_segments-1`` read 0 in ``obs``, and ``step`` takes
    ``(n, max_segments)`` throttles of which each block passes only its first ``S`` columns
    to its core: a padded column never reaches the env. A scenario with more segments than
    ``max_segments`` is refused (``ValueError``, one line naming the key).
    """

    def __init__(
        self,
        scenarios: Sequence[str | ScenarioParams | dict],
        n: int,
        max_segments: int | None = None,
    ) -> None:
        scs = [resolve(s) for s in scenarios]
        if not scs:
            raise ValueError("a mixture needs at least one scenario")
        counts = [sc.value.n_segments if sc.value.on else 0 for sc in scs]
        self.n_segments = pad_to(scs, counts, max_segments)
        self.n = int(n)
        self.blocks = split_rows(self.n, len(scs))
        self.cores = [
            PacingCore(sc, b.stop - b.start) for sc, b in zip(scs, self.blocks, strict=True)
        ]
        self.scenarios: tuple[ScenarioParams, ...] = tuple(scs)
        self.scenario = scs[0]  # what single-scenario readers see (names, the score params)
        self.obs = np.zeros((self.n, obs_width(self.n_segments)), dtype=np.float32)
        self.reward = np.zeros(self.n)
        self.terms = np.zeros((self.n, len(REWARD_TERMS)))
        self.finished = np.zeros(self.n, dtype=bool)
        self.invalid = np.zeros(self.n, dtype=bool)
        self._block_of = np.concatenate(
            [np.full(b.stop - b.start, i) for i, b in enumerate(self.blocks)]
        )
        self.segment_counts = np.array(counts, dtype=np.int64)[self._block_of]
        """Each campaign's own segment count ``(n,)`` (its scenario's)."""
        self._gather()

    def _gather(self) -> None:
        for core, b in zip(self.cores, self.blocks, strict=True):
            self._put(b, core.obs)

    def _put(self, rows: slice, obs: np.ndarray) -> None:
        """A block's observations into ``self.obs`` (absent segments' columns left 0)."""
        self.obs[rows, : obs.shape[1]] = obs

    def _split(self, rows: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """``(block, positions in rows, local rows)`` for each block that ``rows`` touch."""
        out = []
        blocks = self._block_of[rows]
        for i in np.unique(blocks):
            pos = np.flatnonzero(blocks == i)
            out.append((int(i), pos, rows[pos] - self.blocks[i].start))
        return out

    def reset(self, rows: np.ndarray, seeds: np.ndarray) -> None:
        """``PacingCore.reset`` for global ``rows``: each block resets its own."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
        for i, pos, local in self._split(rows):
            self.cores[i].reset(local, seeds[pos])
            self._put(self.blocks[i], self.cores[i].obs)

    def step(self, throttle: np.ndarray) -> StepResult:
        """``PacingCore.step`` of every block (throttle ``(n,)``, or ``(n, S)`` one per segment);
        the result's arrays cover all ``n`` rows."""
        th = np.asarray(throttle, dtype=np.float64)
        th = th.reshape(-1) if th.ndim < 2 or th.shape[1:] == (1,) else th
        if th.shape[0] != self.n:
            raise ValueError(
                f"throttle has {th.shape[0]} rows; expected one per campaign ({self.n})"
            )
        for core, b in zip(self.cores, self.blocks, strict=True):
            own = th[b] if th.ndim < 2 else th[b, : core.n_segments]  # padding dropped here
            res = core.step(own)
            self._put(b, res.obs)
            self.reward[b] = res.reward
            self.terms[b] = res.terms
            self.finished[b] = res.finished
            self.invalid[b] = res.invalid
        return StepResult(self.obs, self.reward, self.terms, self.finished, self.invalid)

    @property
    def done(self) -> np.ndarray:
        return np.concatenate([c.done for c in self.cores])

    @property
    def flight_ticks(self) -> np.ndarray:
        return np.concatenate([c.flight_ticks for c in self.cores])

    def metrics(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``PacingCore.metrics`` of global ``rows`` (in that order), each by its own score."""
        r = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        keys = (*METRIC_KEYS, *VALUE_KEYS) if self.n_segments else METRIC_KEYS
        out = {k: np.zeros(r.size) for k in keys}
        for i, pos, local in self._split(r):
            m = self.cores[i].metrics(local)
            for k in keys:
                out[k][pos] = m[k]
        return out

    @property
    def block_of(self) -> np.ndarray:
        """The index into ``scenarios`` of every campaign (``(n,)`` int)."""
        return self._block_of.copy()

    def scenario_of(self, rows: np.ndarray) -> list[str]:
        """The scenario name of each of ``rows``."""
        return [self.scenarios[int(i)].name for i in self._block_of[np.asarray(rows)]]


def pad_to(
    scenarios: Sequence[ScenarioParams], counts: Sequence[int], max_segments: int | None
) -> int:
    """The mixture's segment columns: the scenarios' one count (``max_segments`` None), else
    ``max_segments`` once every scenario fits; ``ValueError`` naming the key otherwise."""
    names = [sc.name for sc in scenarios]
    if max_segments is None:
        if len(set(counts)) > 1:
            raise ValueError(
                f"scenarios = {names} differ in segments ({sorted(set(counts))}): allowed a "
                "mixture of scenarios with the same action (segments), or agent.max_segments "
                f">= {max(counts)} to pad them"
            )
        return counts[0]
    m = max_segments
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or not max(counts) <= m <= 4096:
        worst = names[int(np.argmax(counts))]
        raise ValueError(
            f"agent.max_segments = {m!r}: scenario {worst} has {max(counts)} segments; allowed "
            f"an integer in [{max(max(counts), 1)}, 4096]"
        )
    if min(counts) == 0:
        raise ValueError(
            f"agent.max_segments = {m}: scenario {names[counts.index(0)]} has no segments "
            "(value.channels unset); allowed padding across value scenarios only"
        )
    return int(m)


def mixture_dicts(scenarios: Sequence[Any]) -> list[dict[str, Any]]:
    """Plain-data form of a mixture's scenarios (what a checkpoint's resume compares)."""
    return [to_dict(resolve(s)) for s in scenarios]
