"""Trained value agents against dual price on held-out seeds, per scenario, paired.

``compare(models, scenarios, episodes, seed)`` runs the tuned dual price
(``conf/controller/value_channels/dual_price_tuned.yaml``, every value scenario's set) and
each model directory on the same episodes (``baselines.harness``: common random numbers)
and returns one row per (scenario, policy): the mean ``pacing_score_v2`` and the paired
differences to dual price (``baselines.stats.paired_difference``, 95% bootstrap) of the
score and of ``value_excess``, raw (no oracle is run here: normalised points and the other
comparators come from ``pacegym-benchmark suite=value 'benchmark.agents=[...]'``,
docs/benchmark.md). The scenarios default to the value suite's (``conf/suite/value.yaml``).

``DriftScaledDualPrice`` is the ablation of what the feedback can be worth to the rule
itself: dual price reading each segment's predicted value times its channel's
realised-value ratio (``agents.feedback``, deployable); ``drift_bound()`` reads the
episode's true drift instead (``baselines.drift_bound.TrueDrift``: clairvoyant, an upper
bound on what any estimate of the drift gives this rule; ``pacegym-benchmark suite=value``
runs the same bound on the benchmark's episodes).

Run as a module: ``<name>=<model dir>`` arguments, ``--episodes``, ``--seed``,
``--scenarios``, ``--drift-rows`` (``DriftScaledDualPrice`` and ``drift_bound()`` rows).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pacegym.agents.feedback import MixtureFeedback
from pacegym.baselines.drift_bound import TrueDrift, scale_value
from pacegym.baselines.harness import run_episodes
from pacegym.baselines.stats import paired_difference

SUITE_FILE = Path(__file__).resolve().parents[1] / "conf/suite/value.yaml"


def value_suite() -> list[str]:
    """The value suite's scenarios, in order (``conf/suite/value.yaml``)."""
    return [str(e["scenario"]) for e in yaml.safe_load(SUITE_FILE.read_text())["suite"]]


DUAL_PRICE = (
    Path(__file__).resolve().parents[1] / "conf/controller/value_channels/dual_price_tuned.yaml"
)


def dual_price() -> Any:
    """The tuned dual-price controller (every value scenario's set)."""
    from pacegym.baselines.factory import from_spec

    return from_spec(yaml.safe_load(DUAL_PRICE.read_text()))


class DriftScaledDualPrice:
    """Dual price on the predicted value times each channel's realised-value ratio
    (``agents.feedback``, deployable); ``drift_bound()`` is its clairvoyant counterpart."""

    def __init__(self) -> None:
        self.inner = dual_price()
        self.name = "dual_price x realised ratio"

    def reset(self, n: int) -> None:
        self.inner.reset(n)

    def attach(self, core: Any) -> None:
        self.feedback = MixtureFeedback(core)
        self.channel = core.tables.channel

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.feedback.update()
        factor = np.concatenate([p.ratio() for _, p in self.feedback.parts])
        return self.inner.act(scale_value(obs, factor[:, self.channel]))


def drift_bound() -> TrueDrift:
    """Dual price reading each episode's true channel drift (clairvoyant: the ceiling of any
    drift estimate for this rule; ``baselines.drift_bound``, the benchmark's bound row)."""
    return TrueDrift(dual_price())


def compare(
    models: Mapping[str, str],
    scenarios: Sequence[str] | None = None,
    episodes: int = 32,
    seed: int = 2_000_000,
    drift_rows: bool = False,
) -> list[dict[str, Any]]:
    """One row per (scenario, policy): score, paired differences (module docstring)."""
    from pacegym.agents.policy import load_controller

    rows = []
    for sc in value_suite() if scenarios is None else scenarios:
        t0 = time.perf_counter()
        ref = run_episodes(dual_price(), sc, episodes, seed)
        policies: list[Any] = [load_controller(d, name) for name, d in models.items()]
        if drift_rows:
            policies += [DriftScaledDualPrice(), drift_bound()]
        rows.append(_row(sc, "dual_price (tuned)", ref.metrics, None, time.perf_counter() - t0))
        for pol in policies:
            t0 = time.perf_counter()
            m = run_episodes(pol, sc, episodes, seed).metrics
            rows.append(_row(sc, pol.name, m, ref.metrics, time.perf_counter() - t0))
    return rows


def _row(sc: Any, name: str, m: Mapping, ref: Mapping | None, wall: float) -> dict[str, Any]:
    label = sc if isinstance(sc, str) else str(getattr(sc, "name", None) or sc.get("name", sc))
    row: dict[str, Any] = {"scenario": label, "policy": name, "wall_s": round(wall, 1)}
    row["score"] = float(np.mean(m["pacing_score_v2"]))
    if ref is not None:
        d = paired_difference(m, ref, "pacing_score_v2")
        row["diff"] = d
        row["value_excess"] = paired_difference(m, ref, "value_excess")
    return row


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as a Markdown table."""

    def ci(t: Any, f: str) -> str:
        return "-" if t is None else f"{t[0]:+{f}} [{t[1]:+{f}}, {t[2]:+{f}}]"

    lines = [
        "| scenario | policy | score | - dual price, raw | value_excess |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['policy']} | {r['score']:.4f} | {ci(r.get('diff'), '.4f')} "
            f"| {ci(r.get('value_excess'), '.4f')} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help="<name>=<model dir>")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--seed", type=int, default=2_000_000)
    p.add_argument("--scenarios", nargs="+", default=None)
    p.add_argument("--drift-rows", action="store_true")
    a = p.parse_args(argv)
    from pacegym.agents.policy import one_inference_thread

    one_inference_thread()
    models = dict(m.split("=", 1) for m in a.models)
    rows = compare(models, a.scenarios, a.episodes, a.seed, a.drift_rows)
    print(markdown(rows))
    for r in rows:
        print(f"# {r['scenario']} {r['policy']}: {r['wall_s']} s")


if __name__ == "__main__":
    main()
