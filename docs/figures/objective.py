"""Draw ``docs/objective.png``: the score on an early-finishing and an on-plan daily budget.

    python docs/figures/objective.py [--out docs/objective.png] [--episodes 100]

The daily budget's tuned PID (``controller/daily_budget/pid_tuned``) and the same PID
with ``early_close = 0.37`` run one day on the same seed; the left panel shows their
counted spend against the advertiser's plan, the right one each hour's spend against
its allowance (plan x (1 + tolerance)), the part above it being ``misplaced``. The
legend gives each policy's ``pacing_score_v2`` terms on that day, and the title the mean
score over ``--episodes`` paired episodes (printed too).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml

from pacegym.baselines import build_controller, run_episodes
from pacegym.envs import SCORE_KEY, resolve
from pacegym.envs.core import PacingCore
from pacegym.resources import tuned_config

SCENARIO = "daily_budget"


def one_day(controller, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Counted spend per slot, the plan's cumulative share per slot, and the metrics."""
    core = PacingCore(SCENARIO, 1)
    core.reset(np.arange(1), np.array([seed], dtype=np.uint64))
    controller.reset(1)
    while not core.done.all():
        core.step(controller.act(core.obs))
    m = {k: float(v[0]) for k, v in core.metrics().items()}
    return core.slot_spend[0].copy(), core.plan_cum[0].copy(), m


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "objective.png"
    )
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sc = resolve(SCENARIO)
    params = yaml.safe_load(tuned_config("pid", SCENARIO).read_text())["params"]  # type: ignore[union-attr]
    policies = {
        "tuned PID, on plan": {**params},
        "same PID, early_close = 0.37": {**params, "early_close": 0.37},
    }
    means = {
        name: float(
            run_episodes(build_controller("pid", **p), SCENARIO, args.episodes, args.seed)
            .metrics[SCORE_KEY]
            .mean()
        )
        for name, p in policies.items()
    }
    fig, (ax_cum, ax_hour) = plt.subplots(1, 2, figsize=(12, 4.2))
    budget = sc.money.budget
    win = sc.score.window_slots(sc.time.slot_s)
    hours = None
    for (name, p), color in zip(policies.items(), ("tab:blue", "tab:red"), strict=True):
        spend, plan_cum, m = one_day(build_controller("pid", **p), args.seed)
        n = plan_cum.shape[0] - 1
        t = np.arange(n + 1) / 60.0  # [h]
        if hours is None:
            ax_cum.plot(t, plan_cum, color="k", lw=1.5, ls="--", label="advertiser's plan")
        ax_cum.plot(
            t,
            np.concatenate([[0.0], np.cumsum(spend[:n])]) / budget,
            color=color,
            label=f"{name}: score {m[SCORE_KEY]:.3f}\n= delivery {m['delivery']:.3f} "
            f"- misplaced {m['misplaced']:.3f}\n- burst {m['burst']:.3f} "
            f"- waste {m['wasted_post_end'] + m['wasted_over_budget']:.3f}",
        )
        h_spend = spend[:n].reshape(-1, win).sum(axis=1) / budget
        h_plan = np.diff(plan_cum)[:n].reshape(-1, win).sum(axis=1)
        hours = np.arange(h_spend.size)
        allowed = (1.0 + sc.score.tolerance) * h_plan
        off = 0.2 if color == "tab:red" else -0.2
        ax_hour.bar(hours + off, h_spend, width=0.4, color=color, alpha=0.35)
        ax_hour.bar(
            hours + off,
            np.maximum(h_spend - allowed, 0.0),
            width=0.4,
            bottom=np.minimum(h_spend, allowed),
            color=color,
            alpha=0.9,
            label=f"{name}: above the allowance (misplaced)",
        )
        if color == "tab:blue":
            ax_hour.step(
                np.append(hours, hours[-1] + 1) - 0.5,
                np.append(allowed, allowed[-1]),
                where="post",
                color="k",
                lw=1,
                label="allowance: plan x (1 + 0.1)",
            )
    ax_cum.set(
        xlabel="hour of the day",
        ylabel="counted spend / budget",
        xlim=(0, 24),
        ylim=(0, 1.05),
        title="cumulative spend against the plan (one day)",
    )
    ax_cum.legend(fontsize=7, loc="lower right")
    ax_hour.set(
        xlabel="hour of the day",
        ylabel="spend in the hour / budget",
        title="each hour against its allowance",
    )
    ax_hour.set_ylim(0, ax_hour.get_ylim()[1] * 1.35)
    ax_hour.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"daily_budget, {args.episodes} paired days: "
        + ", ".join(f"{k} {v:.3f}" for k, v in means.items()),
        fontsize=10,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    for k, v in means.items():
        print(f"{k}: mean {SCORE_KEY} {v:.4f} over {args.episodes} episodes")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
