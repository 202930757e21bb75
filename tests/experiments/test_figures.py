"""Figures a reviewer reads at a glance: axes scaled to the data, legends, units, references."""

import numpy as np

from pacegym.baselines import build_controller, run_episodes
from pacegym.envs.metrics import SCORE_KEY
from pacegym.envs.render import OFF_THROTTLE
from pacegym.experiments import figures, plots

HISTORY = [
    {
        "step": s,
        SCORE_KEY: 0.930 + 0.001 * i,
        "delivery": 0.97,
        "wasted_post_end": 0.027,
        "wasted_over_budget": 0.010 - 0.001 * i,
    }
    for i, s in enumerate(range(0, 500_000, 100_000))
]


def test_learning_curve_has_one_scaled_axis_per_quantity_and_the_reference():
    fig = figures.learning_curve(HISTORY, "agent", reference={"pid (tuned)": 0.9374})
    score, delivery, waste = fig.axes
    lo, hi = score.get_ylim()
    assert 0.92 < lo < 0.930 and 0.9374 < hi < 0.95  # not a 0-1 axis: 0.001 steps show
    labels = [t.get_text() for t in score.get_legend().get_texts()]
    assert "pid (tuned) (same episodes)" in labels
    assert any(line.get_ydata()[0] == 0.9374 for line in score.get_lines())
    assert "share of budget" in delivery.get_ylabel() and "share of budget" in waste.get_ylabel()
    assert waste.get_ylim()[1] < 0.05  # waste (0.01-0.03) has its own axis
    figures.close(fig)


def test_leaderboard_axis_spans_the_intervals_with_a_legend():
    rows = [
        {
            "name": "agent",
            "type": "agent",
            SCORE_KEY: 0.9390,
            f"{SCORE_KEY}_ci": [0.9375, 0.9404],
        },
        {
            "name": "pid",
            "type": "baseline",
            SCORE_KEY: 0.9374,
            f"{SCORE_KEY}_ci": [0.9359, 0.9388],
        },
    ]
    fig = figures.leaderboard_bars(rows)
    (ax,) = fig.axes
    lo, hi = ax.get_xlim()
    assert 0.93 < lo < 0.9359 and 0.9404 < hi < 0.945  # a difference of 0.0016 is visible
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["agent", "baseline"]
    assert "95%" in ax.get_xlabel()
    figures.close(fig)


def test_the_throttle_panel_draws_off_on_its_own_band():
    import matplotlib.pyplot as plt

    roll = run_episodes(build_controller("on_off"), "live_commerce", 4, seed=0, record=True)
    fig, ax = plt.subplots()
    plots._throttle(ax, [roll])
    ticks = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.get_yticks(), strict=True))
    assert ticks["off"] == OFF_THROTTLE < ticks["1e-4"] == 1e-4
    ys = np.concatenate([line.get_ydata() for line in ax.get_lines()])
    assert np.isclose(ys, OFF_THROTTLE).any()  # on/off is off part of the time: drawn as off
    assert not np.isclose(ys, 1e-4).any()
    plt.close(fig)


def test_leaderboard_bars_of_too_few_episodes_have_no_interval_and_still_draw():
    """compare.episodes=4 (under stats.min_episodes): NaN intervals used to crash the plot
    after every policy had run (Axis limits cannot be NaN)."""
    from pacegym.experiments import figures

    nan = float("nan")
    rows = [
        {"name": "pid", "type": "baseline", SCORE_KEY: 0.9, f"{SCORE_KEY}_ci": [nan, nan]},
        {"name": "ppo", "type": "agent", SCORE_KEY: 0.5, f"{SCORE_KEY}_ci": [nan, nan]},
    ]
    fig = figures.leaderboard_bars(rows)
    lo, hi = fig.axes[0].get_xlim()
    assert lo < 0.5 and hi > 0.9
    figures.close(fig)
