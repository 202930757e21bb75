"""PNG plots of recorded rollouts (``run_episodes(..., record=True)``), controllers overlaid.

Panels: cumulative counted spend vs plan, counted spend per plan slot, the throttle of
one episode (log axis, "off" on its own band: ``envs.render.throttle_axis``, the same as
rendered frames), and spend counted after the flight end. Flights of different lengths are
put on a common elapsed-share axis. Matplotlib's Agg backend: no display needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pacegym.baselines.harness import Rollout
from pacegym.envs.params import ScenarioParams
from pacegym.envs.render import throttle_axis, throttle_display

GRID = np.linspace(0.0, 1.0, 101)
PANELS = ("cumulative_spend", "slot_spend", "throttle", "post_end")


def _per_episode(tr: dict[str, np.ndarray], key: str, scale: np.ndarray) -> np.ndarray:
    """``tr[key]`` / scale interpolated onto GRID (elapsed share), one row per episode."""
    out = np.empty((tr[key].shape[0], GRID.size))
    for i, row in enumerate(tr[key]):
        ft = int(tr["flight_ticks"][i])
        x = np.arange(1, ft + 1) / ft
        out[i] = np.interp(GRID, np.r_[0.0, x], np.r_[0.0, row[:ft] / scale[i]])
    return out


def _cumulative(ax: plt.Axes, rollouts: Sequence[Rollout], tps: int) -> None:
    for r in rollouts:
        tr = r.traces
        ax.plot(GRID, _per_episode(tr, "counted_spend", tr["budget"]).mean(0), label=r.name)
    tr = rollouts[0].traces
    plan = [
        np.interp(GRID, np.linspace(0.0, 1.0, n + 1), tr["plan_cum"][i, : n + 1])
        for i, n in enumerate(tr["flight_ticks"] // tps)
    ]
    ax.plot(GRID, np.mean(plan, axis=0), "k--", lw=1, label="reference plan")
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set(xlabel="elapsed share of flight", ylabel="counted spend / budget (mean)")
    ax.set_title("cumulative spend vs plan")


def _slots(ax: plt.Axes, rollouts: Sequence[Rollout], tps: int) -> None:
    for r in rollouts:
        tr = r.traces
        rows = []
        for i, n in enumerate(tr["flight_ticks"] // tps):
            share = tr["slot_spend"][i, :n] / (tr["budget"][i] / n)
            rows.append(np.interp(GRID, (np.arange(n) + 0.5) / n, share))
        ax.plot(GRID, np.mean(rows, axis=0), label=r.name)
    ax.axhline(1.0, color="k", ls="--", lw=1, label="uniform slot budget")
    ax.set(xlabel="elapsed share of flight", ylabel="slot spend / uniform slot budget (mean)")
    ax.set_title("spend per plan slot")


def _throttle(ax: plt.Axes, rollouts: Sequence[Rollout]) -> None:
    for r in rollouts:
        tr = r.traces
        ft = int(tr["flight_ticks"][0])
        ax.step(np.arange(ft) / ft, throttle_display(tr["throttle"][0, :ft]), label=r.name)
    throttle_axis(ax)  # 0 ("off") on a band of its own below 1e-4, as rendered frames
    ax.set(xlabel="elapsed share of flight")
    ax.set_title("throttle, episode 0")


def _post_end(ax: plt.Axes, rollouts: Sequence[Rollout], tick_s: float, price: float) -> None:
    for r in rollouts:
        tr = r.traces
        per_tick = (tr["drain"] * price / tr["budget"][:, None]).mean(0)
        minutes = np.arange(per_tick.size) * tick_s / 60.0
        share = r.metrics["post_end_share"].mean()
        ax.plot(minutes, np.cumsum(per_tick), label=f"{r.name} ({share:.1%} of impressions)")
    ax.set(xlabel="minutes after the flight end", ylabel="spend counted after the end / budget")
    ax.set_title("impressions counted after the end")


def plot_rollouts(
    rollouts: Sequence[Rollout], out_dir: str | Path, scenario: ScenarioParams
) -> list[Path]:
    """Write ``evaluation.png`` (all panels) and one PNG per panel; return the paths.

    Every rollout must have been recorded (``record=True``) on the same seeds.
    """
    tps, tick_s, price = scenario.time.ticks_per_slot, scenario.time.tick_s, scenario.money.price
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    draw = {
        "cumulative_spend": lambda ax: _cumulative(ax, rollouts, tps),
        "slot_spend": lambda ax: _slots(ax, rollouts, tps),
        "throttle": lambda ax: _throttle(ax, rollouts),
        "post_end": lambda ax: _post_end(ax, rollouts, tick_s, price),
    }
    paths = []
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for ax, panel in zip(axes.ravel(), PANELS, strict=True):
        draw[panel](ax)
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "evaluation.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    for panel in PANELS:
        fig, ax = plt.subplots(figsize=(6, 4))
        draw[panel](ax)
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(out / f"{panel}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths
