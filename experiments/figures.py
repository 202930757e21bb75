"""Figures logged to MLflow: learning curves and leaderboard bars (matplotlib, Agg backend).

Read at a glance: one panel per quantity with its own axis scaled to the data (a 0.93 to
0.94 score and a 0.01 waste do not share a 0-1 axis), units in the labels, legends, and a
reference (the baseline an agent has to beat) drawn on the score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from pacegym.envs.metrics import SCORE_KEY

AGENT_COLOR, BASELINE_COLOR = "tab:orange", "tab:blue"
CURVE_PANELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("score", (SCORE_KEY,), f"{SCORE_KEY} (higher is better)"),
    ("delivery", ("delivery",), "delivery [share of budget]"),
    ("waste", ("wasted_post_end", "wasted_over_budget"), "wasted media cost [share of budget]"),
)
"""Learning-curve panels: (title, held-out metrics drawn, y label with unit)."""


def padded_limits(values: Sequence[float], pad: float = 0.08) -> tuple[float, float]:
    """Axis limits around the finite ``values`` with a margin of ``pad`` of their span (never
    zero); ``(0, 1)`` when none is finite (an interval of too few episodes is NaN)."""
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    span = hi - lo or max(abs(hi), 1e-3) * 0.05
    return lo - pad * span, hi + pad * span


def learning_curve(
    history: Sequence[Mapping[str, float]],
    title: str,
    reference: Mapping[str, float] | None = None,
) -> Any:
    """Held-out means against env-steps: the score (with ``reference``: ``{name: score}``
    drawn as dashed lines), delivery and waste, each on its own axis."""
    steps = [r["step"] for r in history]
    fig, axes = plt.subplots(1, len(CURVE_PANELS), figsize=(13, 3.6))
    for ax, (name, keys, ylabel) in zip(axes, CURVE_PANELS, strict=True):
        values: list[float] = []
        for key in keys:
            ys = [r.get(key, float("nan")) for r in history]
            values += [y for y in ys if y == y]
            ax.plot(steps, ys, marker="o", label=f"agent {key}" if len(keys) > 1 else "agent")
        if name == "score":
            for ref, score in (reference or {}).items():
                ax.axhline(score, color="k", ls="--", lw=1, label=f"{ref} (same episodes)")
                values.append(score)
        if values:
            ax.set_ylim(*padded_limits(values))
        ax.set(xlabel="env-steps", ylabel=ylabel, title=name)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: validation episodes", fontsize=10)
    fig.tight_layout()
    return fig


def leaderboard_bars(rows: Sequence[Mapping[str, Any]], key: str = SCORE_KEY) -> Any:
    """Mean ``key`` with its 95% CI per policy, best on top; the axis spans the intervals
    (differences of 0.001 stay visible), agents and baselines in two colours."""
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.45 * len(rows)))
    ordered = list(rows)[::-1]
    names = [r["name"] for r in ordered]
    means = [r[key] for r in ordered]
    lows = [r[f"{key}_ci"][0] for r in ordered]
    highs = [r[f"{key}_ci"][1] for r in ordered]
    colors = [AGENT_COLOR if r["type"] == "agent" else BASELINE_COLOR for r in ordered]
    ax.errorbar(
        means,
        names,
        xerr=[
            [m - lo for m, lo in zip(means, lows, strict=True)],
            [hi - m for m, hi in zip(means, highs, strict=True)],
        ],
        fmt="none",
        ecolor="k",
        capsize=3,
        lw=1,
    )
    ax.scatter(means, names, c=colors, s=60, zorder=3)
    for m, n in zip(means, names, strict=True):
        ax.annotate(
            f"{m:.4f}", (m, n), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7
        )
    ax.set_xlim(*padded_limits(lows + highs + means))  # no CI under min_episodes: NaN
    ax.set_xlabel(f"{key}, mean with 95% bootstrap CI (higher is better)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(
        handles=[
            Patch(color=AGENT_COLOR, label="agent"),
            Patch(color=BASELINE_COLOR, label="baseline"),
        ],
        fontsize=7,
        loc="lower right",
    )
    fig.tight_layout()
    return fig


def close(fig: Any) -> None:
    plt.close(fig)
