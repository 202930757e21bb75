"""Realised-value feedback per channel (``agent.feedback``): what the conversions say.

A value scenario's observation shows each segment's *predicted* value; the episode's
hidden per-channel drift (``value.drift_sd``) shows only in the conversions that arrive
late. ``ChannelFeedback`` turns the ad server's own counters into 3 columns per channel
``c`` (``FEEDBACK_FEATURES``), each meaning the same at every budget, traffic level and
channel count:

- ``value_ratio[c]``: the posterior mean of the channel's realised / predicted conversion
  rate, ``(k + A_c) / (k + X_c)``, clipped to ``RATIO_BOUNDS``; ``X_c`` the conversions
  the predictions expected to have arrived by now from the channel's impressions, ``A_c``
  the arrived conversions attributed to the channel and ``k = PRIOR_CONVERSIONS`` (a
  Gamma(k, k) prior: 1 before any evidence);
- ``evidence[c]``: ``X_c / (k + X_c)`` in [0, 1), how far the ratio has left its prior;
- ``spend_share[c]``: the channel's share of the served spend so far (``1 / C`` before any).

Inputs, all of them counters a production pacing service has: the impressions served per
segment since the flight started (``seg_served``), the render rate (``render``), each
segment's predicted click-through and conversion rate by hour of day and its price
multiplier (``envs.value.SegmentTables``), the conversion delay's distribution over
conversion bins (the scenario's ``value.conversion_*``), the conversions arrived so far
(one count per campaign: the core keeps no per-channel count) and the conversion bin's
clock (``conv_head``). Because arrivals are one count, they are attributed to channels
online in proportion to each channel's expected arrivals in that bin times its current
ratio (one EM step per bin); the channels' ratios separate only as far as their shares
of the arriving conversions differ over the day.

Per step (``update``, after the core stepped): the served counts' increments times the
hour's ``ctr x cvr x render`` are each channel's expected conversions of the tick; when the
core's conversion head advances (the bin closed), the bin's expectation is spread over the
coming bins by the delay distribution (a ring of ``(n, C, D)``: every tick of a bin files
its conversions from the same head) and the head bin's expectation arrives (``X_c``)
beside the counted arrivals. Nothing here reads the drift, the true value or a conversion
before it arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn, VecEnvWrapper

from pacegym.envs.delays import continuous_cdf, tick_probabilities
from pacegym.envs.layout import I_CONV_HEAD, I_T, P_RENDER, P_START_MIN, VS_CONV_REALISED

FEEDBACK_FEATURES: tuple[str, ...] = ("value_ratio", "evidence", "spend_share")
"""The columns per channel, in this order, channel by channel."""

PRIOR_CONVERSIONS = 6.0
"""[conversions] pseudo-count of the ratio's prior (a Gamma(6, 6): log-sd about 0.4)."""

RATIO_BOUNDS = (0.25, 4.0)
"""The ratio's clip range (and its column's bounds)."""


def feedback_names(channels: Sequence[str]) -> list[str]:
    """Column names ``<feature>[<channel>]``, channel by channel."""
    return [f"{f}[{c}]" for c in channels for f in FEEDBACK_FEATURES]


def feedback_bounds(n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Low and high bounds of the ``3 C`` columns."""
    lo = np.tile([RATIO_BOUNDS[0], 0.0, 0.0], n_channels)
    hi = np.tile([RATIO_BOUNDS[1], 1.0, 1.0], n_channels)
    return lo.astype(np.float32), hi.astype(np.float32)


def channel_names(segments: Sequence[str]) -> list[str]:
    """The channels of segment names ``<channel>/<layer>``, in order of first appearance."""
    return list(dict.fromkeys(s.split("/")[0] for s in segments))


def delay_pmf(core: Any) -> np.ndarray:
    """``q[k]``: probability that a conversion drawn in a tick arrives ``k`` conversion bins
    after the current one (the core's own table, ``envs.core_value.init_value``)."""
    v = core.scenario.value
    cdf = continuous_cdf(
        "lognormal", float(v.conversion_quantile_s), float(v.conversion_quantile),
        float(v.conversion_sigma), float(v.conversion_max_delay_s), (),
    )  # fmt: skip
    return tick_probabilities(cdf, core.conv_ticks * core.tick_s, core.conv_ring.shape[1])


class ChannelFeedback:
    """The feedback columns of every campaign of one ``PacingCore`` (module docstring).

    ``reset_rows(rows)`` after the core reset those rows (a new episode), ``update()``
    after each core step, ``features()`` ``(n, 3 C)`` float32. The state is plain arrays
    (``arrays()``), so a checkpoint can save it.
    """

    def __init__(self, core: Any, prior: float = PRIOR_CONVERSIONS) -> None:
        tab = core.tables
        if tab is None:
            raise ValueError(
                f"agent.feedback = true on scenario {core.scenario.name!r}: needs a value "
                "scenario (value.channels)"
            )
        self.core, self.prior = core, float(prior)
        n, s, c = core.n, len(tab.names), int(tab.n_channels)
        self.onehot = np.zeros((s, c))
        self.onehot[np.arange(s), tab.channel] = 1.0
        self.rate = tab.ctr * tab.cvr  # (24, S) predicted conversions per rendered impression
        self.cost = float(core.price) * np.asarray(tab.price_x, dtype=np.float64)
        self.q = delay_pmf(core)
        d = self.q.shape[0]
        self.served = np.zeros((n, s))
        self.conv = np.zeros(n)
        self.head = np.zeros(n, dtype=np.int64)
        self.ring = np.zeros((n, c, d))
        self.pending = np.zeros((n, c))  # expected conversions drawn in the open bin
        self.expected = np.zeros((n, c))  # X_c: expected arrivals so far
        self.attributed = np.zeros((n, c))  # A_c: arrivals attributed
        self.spend = np.zeros((n, c))  # [currency] served spend
        self.reset_rows(np.arange(n))

    def arrays(self) -> dict[str, np.ndarray]:
        """The state arrays by name (live)."""
        names = ("served", "conv", "head", "ring", "pending", "expected", "attributed", "spend")
        return {k: getattr(self, k) for k in names}

    def reset_rows(self, rows: np.ndarray) -> None:
        """Start ``rows`` afresh from the core's current (just reset) counters."""
        core = self.core
        for k in ("ring", "pending", "expected", "attributed", "spend"):
            getattr(self, k)[rows] = 0.0
        self.served[rows] = core.seg_served[rows]
        self.conv[rows] = core.vst[rows, VS_CONV_REALISED]
        self.head[rows] = core.ist[rows, I_CONV_HEAD]

    def update(self) -> None:
        """Take in the core's last step (a no-op when nothing changed)."""
        core = self.core
        served = core.seg_served.astype(np.float64)
        new = served - self.served
        self.served[:] = served
        t = np.maximum(core.ist[:, I_T] - 1, 0)  # the tick that served them
        minute = (core.par[:, P_START_MIN] + t * core.tick_s / 60.0) % 1440.0
        hour = np.minimum((minute // 60.0).astype(np.int64), 23)
        exp_c = (new * self.rate[hour] * core.par[:, P_RENDER, None]) @ self.onehot
        self.spend += (new * self.cost) @ self.onehot
        self.pending += exp_c
        now = core.ist[:, I_CONV_HEAD].astype(np.int64)
        moved = np.flatnonzero(now != self.head)
        arrived = np.zeros_like(self.expected)
        if moved.size:  # the bin closed: spread its expectation, then its head arrives
            d = self.q.shape[0]
            head = self.head[moved]
            slots = (head[:, None] + np.arange(d)) % d
            chans = np.arange(self.ring.shape[1])[None, :, None]
            add = self.pending[moved][:, :, None] * self.q
            self.ring[moved[:, None, None], chans, slots[:, None, :]] += add
            self.pending[moved] = 0.0
            arrived[moved] = self.ring[moved, :, head]
            self.ring[moved, :, head] = 0.0
        self.head[:] = now
        self.expected += arrived
        conv = core.vst[:, VS_CONV_REALISED].astype(np.float64)
        dn = np.maximum(conv - self.conv, 0.0)
        self.conv[:] = conv
        w = self.ratio() * np.where(arrived.sum(axis=1, keepdims=True) > 0, arrived, 1.0)
        self.attributed += dn[:, None] * w / w.sum(axis=1, keepdims=True)

    def ratio(self) -> np.ndarray:
        """``(n, C)`` the channels' realised / predicted conversion rates (prior mean 1)."""
        r = (self.prior + self.attributed) / (self.prior + self.expected)
        return np.clip(r, *RATIO_BOUNDS)

    def features(self) -> np.ndarray:
        """``(n, 3 C)`` float32: ratio, evidence, spend share per channel."""
        c = self.expected.shape[1]
        total = self.spend.sum(axis=1, keepdims=True)
        share = np.where(total > 0, self.spend / np.maximum(total, 1e-300), 1.0 / c)
        evidence = self.expected / (self.prior + self.expected)
        return (
            np.stack([self.ratio(), evidence, share], axis=2).reshape(-1, 3 * c).astype(np.float32)
        )


class MixtureFeedback:
    """``ChannelFeedback`` over a ``PacingCore`` or a ``CoreMixture``'s blocks, global rows."""

    def __init__(self, core: Any) -> None:
        cores = getattr(core, "cores", None)
        if cores is None:
            self.parts = [(slice(0, core.n), ChannelFeedback(core))]
        else:
            self.parts = [(b, ChannelFeedback(c)) for c, b in zip(cores, core.blocks, strict=True)]
        widths = {p.expected.shape[1] for _, p in self.parts}
        if len(widths) > 1:
            raise ValueError(f"agent.feedback: the scenarios differ in channels ({sorted(widths)})")
        self.n_channels = widths.pop()
        self.n = sum(b.stop - b.start for b, _ in self.parts)

    def reset_rows(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        for b, part in self.parts:
            local = rows[(rows >= b.start) & (rows < b.stop)] - b.start
            if local.size:
                part.reset_rows(local)

    def update(self) -> None:
        for _, part in self.parts:
            part.update()

    def features(self) -> np.ndarray:
        return np.concatenate([part.features() for _, part in self.parts])

    def arrays(self) -> dict[str, np.ndarray]:
        """Every block's state arrays, ``<block>.<name>``."""
        return {f"{i}.{k}": v for i, (_, p) in enumerate(self.parts) for k, v in p.arrays().items()}


class FeedbackVecEnv(VecEnvWrapper):
    """A training env whose observations end with the feedback columns (``agent.feedback``).

    Wraps the residual or feature-selecting view (or the ``PacingVecEnv`` itself) of
    ``pacing``; the columns come after the policy's other inputs. A finished campaign's
    ``terminal_observation`` carries the columns of the step before (the core has already
    reset it; its episode ends on termination, which nothing bootstraps from).
    """

    def __init__(self, venv: VecEnv, pacing: Any) -> None:
        self.feedback = MixtureFeedback(pacing.core)
        lo, hi = feedback_bounds(self.feedback.n_channels)
        inner = venv.observation_space
        space = gym.spaces.Box(
            np.append(inner.low, lo).astype(np.float32),
            np.append(inner.high, hi).astype(np.float32),
            dtype=np.float32,
        )
        super().__init__(venv, observation_space=space)
        self._last = self.feedback.features()

    def reset(self) -> np.ndarray:
        obs = np.asarray(self.venv.reset())
        self.feedback.reset_rows(np.arange(self.num_envs))
        self._last = self.feedback.features()
        return np.concatenate([obs, self._last], axis=1)

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, dones, infos = self.venv.step_wait()
        rows = np.flatnonzero(dones)
        for i in rows:
            term = infos[i].get("terminal_observation")
            if term is not None:
                infos[i]["terminal_observation"] = np.append(term, self._last[i]).astype(np.float32)
        self.feedback.reset_rows(rows)
        self.feedback.update()
        self._last = self.feedback.features()
        return np.concatenate([np.asarray(obs), self._last], axis=1), reward, dones, infos
