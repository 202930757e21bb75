"""Figures logged to MLflow: learning curves and leaderboard bars (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from pacegym.envs.metrics import SCORE_KEY


def learning_curve(history: Sequence[Mapping[str, float]], title: str) -> Any:
    """Held-out ``pacing_score_v2`` (``SCORE_KEY``), ``delivery`` and waste against env-steps."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [r["step"] for r in history]
    for key in (SCORE_KEY, "delivery", "wasted_post_end", "wasted_over_budget"):
        ax.plot(steps, [r.get(key, float("nan")) for r in history], marker="o", label=key)
    ax.set_xlabel("env-steps")
    ax.set_ylabel("held-out mean")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def leaderboard_bars(rows: Sequence[Mapping[str, Any]], key: str = SCORE_KEY) -> Any:
    """Mean ``key`` with its CI per policy, best first."""
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(rows)))
    names = [r["name"] for r in rows][::-1]
    means = [r[key] for r in rows][::-1]
    lo = [r[key] - r[f"{key}_ci"][0] for r in rows][::-1]
    hi = [r[f"{key}_ci"][1] - r[key] for r in rows][::-1]
    colors = ["tab:orange" if r["type"] == "agent" else "tab:blue" for r in rows][::-1]
    ax.barh(names, means, xerr=[lo, hi], color=colors)
    ax.set_xlabel(f"{key} (95% CI)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def close(fig: Any) -> None:
    plt.close(fig)
