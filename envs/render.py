"""Drawing a campaign as it runs: the frames of ``render_mode`` ``rgb_array``/``human`` and
the one-line ``ansi`` status.

A ``CampaignTrace`` records, after every step, what a person watching one campaign wants to
see (read from the core's state, never written): spend counted so far against the
reference plan, spend served, the expected spend still in flight, the throttle and whether
a traffic surge is on. ``draw_campaign`` draws it in the style of the evaluation plots
(``pacegym.experiments.plots``): the cumulative panel on top, the throttle on a log axis
below with its "off" band (``throttle_axis``, shared with those plots), surges shaded, the
flight end marked, and after the final step the drain (impressions counted after the end).

Matplotlib only, imported when a renderer is built: an env without ``render_mode`` never
imports it. ``rgb_array`` frames come from an Agg canvas (no display needed), ``human``
uses pyplot's interactive window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pacegym.envs import kernel as K
from pacegym.envs.spaces import MIN_POSITIVE_THROTTLE, OBS_INDEX

RENDER_MODES: tuple[str, ...] = ("human", "rgb_array", "ansi")
RENDER_FPS = 4
"""Frames per simulated tick shown per second (``metadata["render_fps"]``, RecordVideo's fps)."""

OFF_THROTTLE = MIN_POSITIVE_THROTTLE / 4.0
"""Where a throttle of 0 ("off") is drawn on the log throttle axis: below the smallest
positive throttle (1e-4), on a band of its own, so "off" never reads as "1e-4"."""

COLORS = {
    "counted": "tab:blue",
    "served": "tab:orange",
    "in_flight": "tab:blue",
    "plan": "black",
    "throttle": "tab:green",
    "surge": "tab:red",
    "end": "grey",
}
"""One colour per quantity, shared by every frame."""

FRAME_INCHES = (8.0, 5.0)  # [in] one campaign; 640 x 400 pixels at FRAME_DPI
FRAME_DPI = 80  # even pixel sizes, as video codecs (H.264) require
FRAME_MARGINS = {"left": 0.1, "right": 0.98, "top": 0.88, "bottom": 0.11}
"""Fixed margins [figure share]: a layout engine would cost more than drawing the frame."""


def throttle_axis(ax: Any) -> None:
    """Log throttle axis from "off" to 1: 0 is drawn at ``OFF_THROTTLE`` and labelled off."""
    ax.set_yscale("log")
    ax.set_ylim(OFF_THROTTLE / 2.0, 1.5)
    ax.axhspan(OFF_THROTTLE / 2.0, MIN_POSITIVE_THROTTLE / 2.0, color="0.92", lw=0)
    ticks = [OFF_THROTTLE, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    ax.set_yticks(ticks, ["off", "1e-4", "1e-3", "0.01", "0.1", "1"])
    ax.minorticks_off()
    ax.set_ylabel("throttle")


def throttle_display(throttle: np.ndarray) -> np.ndarray:
    """Throttles as drawn on ``throttle_axis``: 0 (off) at ``OFF_THROTTLE``, NaN kept."""
    p = np.asarray(throttle, dtype=float)
    return np.where(
        p > 0.0, np.maximum(p, MIN_POSITIVE_THROTTLE), np.where(p == 0, OFF_THROTTLE, p)
    )


@dataclass
class CampaignTrace:
    """Per-step record of campaign ``row`` of a core since its last reset (shares of budget)."""

    row: int = 0
    minutes: list[float] = field(default_factory=list)  # [min] since the flight start
    counted: list[float] = field(default_factory=list)  # spend counted (billed or wasted)
    served: list[float] = field(default_factory=list)  # spend served (counted or not)
    in_flight: list[float] = field(default_factory=list)  # expected spend served, not counted
    plan: list[float] = field(default_factory=list)  # reference plan now
    throttle: list[float] = field(default_factory=list)  # throttle applied in the step
    surge: list[float] = field(default_factory=list)  # traffic surge multiplier (1: none)
    flight_min: float = 0.0  # [min]
    plan_curve: tuple[np.ndarray, np.ndarray] = (np.zeros(1), np.zeros(1))  # (min, share)
    done: bool = False
    name: str = ""

    def reset(self, core: Any) -> None:
        """Start over at the state of a freshly reset campaign."""
        b = self.row
        tick_min = core.tick_s / 60.0
        ft = int(core.par[b, K.P_FLIGHT_TICKS])
        self.flight_min = ft * tick_min
        slots = ft // core.tps
        self.plan_curve = (
            np.arange(slots + 1) * core.tps * tick_min,
            core.plan_cum[b, : slots + 1].copy(),
        )
        for series in self._series():
            series.clear()
        self.done = False
        self.name = core.scenario.name
        self._append(core, throttle=np.nan)

    def record(self, core: Any, throttle: float) -> None:
        """Append the campaign's state after a step taken with ``throttle``."""
        self._append(core, throttle)
        self.done = bool(core.ist[self.row, K.I_DONE])

    def _series(self) -> tuple[list[float], ...]:
        return (
            self.minutes,
            self.counted,
            self.served,
            self.in_flight,
            self.plan,
            self.throttle,
            self.surge,
        )

    def _append(self, core: Any, throttle: float) -> None:
        b, obs = self.row, core.obs[self.row]
        budget = float(core.par[b, K.P_BUDGET])
        self.minutes.append(float(core.ist[b, K.I_T]) * core.tick_s / 60.0)
        self.counted.append(float(core.fst[b, K.F_COUNTED_SPEND]) / budget)
        self.served.append(float(obs[OBS_INDEX["served_spend"]]))
        self.in_flight.append(float(obs[OBS_INDEX["in_flight"]]))
        self.plan.append(float(obs[OBS_INDEX["plan"]]))
        self.throttle.append(float(throttle))
        self.surge.append(float(core.fst[b, K.F_SURGE]))

    def status(self) -> str:
        """One line: time, counted spend vs plan, served, in flight, throttle, surge."""
        t, f = self.minutes[-1], self.flight_min
        th = self.throttle[-1]
        parts = [
            f"{self.name} t {t:6.1f}/{f:.0f} min",
            f"counted {self.counted[-1]:6.1%} plan {self.plan[-1]:6.1%}",
            f"served {self.served[-1]:6.1%} in flight {self.in_flight[-1]:5.1%}",
            "throttle    -"
            if np.isnan(th)
            else f"throttle {th:.2e}"
            if th > 0
            else "throttle  off",
        ]
        if self.surge[-1] > 1.0:
            parts.append(f"surge x{self.surge[-1]:.0f}")
        if self.done:
            parts.append("flight over, drain counted")
        return " | ".join(parts)


def _surge_spans(ax: Any, tr: CampaignTrace) -> None:
    on = np.asarray(tr.surge) > 1.0
    x = np.asarray(tr.minutes)
    starts = np.flatnonzero(on & ~np.r_[False, on[:-1]])
    ends = np.flatnonzero(on & ~np.r_[on[1:], False])
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        lo = x[s - 1] if s > 0 else x[s]
        ax.axvspan(
            lo, x[e], color=COLORS["surge"], alpha=0.12, lw=0, label="surge" if i == 0 else None
        )


def draw_campaign(fig: Any, tr: CampaignTrace, compact: bool = False) -> None:
    """Draw ``tr`` into the empty figure ``fig`` (two panels, or one when ``compact``)."""
    if compact:
        axes = [fig.add_subplot(fig.add_gridspec(1, 1, **{**FRAME_MARGINS, "bottom": 0.15})[0])]
    else:
        gs = fig.add_gridspec(2, 1, height_ratios=(2.2, 1.0), hspace=0.08, **FRAME_MARGINS)
        axes = [fig.add_subplot(gs[0]), fig.add_subplot(gs[1])]
        axes[1].sharex(axes[0])
    ax = axes[0]
    x = np.asarray(tr.minutes)
    end = tr.flight_min
    counted, served, fly = (np.asarray(s) for s in (tr.counted, tr.served, tr.in_flight))
    flight = x <= end + 1e-9
    ax.plot(*tr.plan_curve, "--", color=COLORS["plan"], lw=1, label="reference plan")
    ax.plot(x[flight], counted[flight], color=COLORS["counted"], lw=2, label="counted")
    ax.fill_between(
        x[flight],
        counted[flight],
        (counted + fly)[flight],
        color=COLORS["in_flight"],
        alpha=0.2,
        lw=0,
        label="+ in flight",
    )
    ax.plot(x[flight], served[flight], color=COLORS["served"], lw=1, label="served")
    if tr.done:  # the final step also counts the drain: show it past the flight end
        drain_x = end * 1.04
        ax.plot(
            [x[flight][-1], drain_x],
            [counted[flight][-1], counted[-1]],
            ":",
            color=COLORS["counted"],
        )
        ax.plot([drain_x], [counted[-1]], "o", color=COLORS["counted"], label="after the drain")
    ax.axhline(1.0, color=COLORS["end"], lw=0.6)
    top = max(1.1, float(np.nanmax(np.r_[served, counted + fly])) * 1.05)
    ax.set_ylim(0.0, top)
    ax.set_xlim(0.0, end * 1.08)
    for a in axes:
        a.axvline(end, color=COLORS["end"], lw=1)
        _surge_spans(a, tr)
        a.grid(alpha=0.3)
    ax.text(end, top, " end", va="top", ha="left", fontsize=7, color=COLORS["end"])
    ax.set_ylabel("spend / budget")
    head, _, tail = tr.status().partition(" | ")
    ax.set_title(
        f"{head}\n{tail}"
        if not compact
        else f"campaign {tr.row}: {head}\ncounted {counted[-1]:.1%}",
        fontsize=8,
    )
    ax.legend(fontsize=7, loc="upper left")
    if compact:
        ax.set_xlabel("minutes since the flight start")
        return
    ta = axes[1]
    th = throttle_display(np.asarray(tr.throttle))
    ta.step(x, th, where="pre", color=COLORS["throttle"])
    throttle_axis(ta)
    ta.set_xlabel("minutes since the flight start")
    ax.tick_params(labelbottom=False)


class Renderer:
    """The frames of one render mode over the traces of the first ``len(traces)`` campaigns."""

    def __init__(self, mode: str, campaigns: int = 1) -> None:
        if mode not in RENDER_MODES:
            raise ValueError(f"render_mode = {mode!r}: allowed {list(RENDER_MODES)} or None")
        if campaigns < 1:
            raise ValueError(f"render_campaigns = {campaigns}: allowed >= 1")
        self.mode = mode
        self.traces = [CampaignTrace(row=i) for i in range(campaigns)]
        self._fig: Any = None

    def reset(self, core: Any, rows: np.ndarray | None = None) -> None:
        """Restart the traces of ``rows`` (all when None) after the core reset them."""
        for tr in self.traces:
            if rows is None or tr.row in rows:
                tr.reset(core)

    def record(self, core: Any, throttle: np.ndarray) -> None:
        for tr in self.traces:
            tr.record(core, float(throttle[tr.row]))

    def render(self) -> Any:
        """``rgb_array``: an ``(H, W, 3)`` uint8 frame; ``ansi``: the status line(s);
        ``human``: draws into a window and returns None."""
        if self.mode == "ansi":
            return "\n".join(tr.status() for tr in self.traces)
        fig = self._figure()
        fig.clear()
        if len(self.traces) == 1:
            draw_campaign(fig, self.traces[0])
        else:
            cols = int(np.ceil(np.sqrt(len(self.traces))))
            rows = int(np.ceil(len(self.traces) / cols))
            subs = np.atleast_1d(fig.subfigures(rows, cols)).ravel()
            for sub, tr in zip(subs, self.traces, strict=False):
                draw_campaign(sub, tr, compact=True)
        if self.mode == "rgb_array":
            fig.canvas.draw()
            return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        import matplotlib.pyplot as plt

        fig.canvas.draw_idle()
        plt.pause(1.0 / RENDER_FPS)
        return None

    def _figure(self) -> Any:
        if self._fig is None:
            n = len(self.traces)
            w, h = FRAME_INCHES
            size = (w, h) if n == 1 else (w * 1.5, h * 1.5)
            if self.mode == "human":
                import matplotlib.pyplot as plt

                plt.ion()
                self._fig = plt.figure(figsize=size, dpi=FRAME_DPI)
            else:
                from matplotlib.backends.backend_agg import FigureCanvasAgg
                from matplotlib.figure import Figure

                self._fig = Figure(figsize=size, dpi=FRAME_DPI)
                FigureCanvasAgg(self._fig)
        return self._fig

    def close(self) -> None:
        if self._fig is not None and self.mode == "human":
            import matplotlib.pyplot as plt

            plt.close(self._fig)
        self._fig = None
