"""Generate ``conf/scenario/suite/bursty_intraday_trace.csv``: 14 days of per-minute requests.

The suite's bursty intraday trace is synthetic, generated here with a fixed seed so that
anyone can regenerate it byte for byte (``tests/experiments/test_benchmark.py`` does):

    python benchmarks/make_bursty_trace.py            # rewrite the shipped CSV
    python benchmarks/make_bursty_trace.py --check    # exit 1 if the shipped CSV differs

Model (per minute, Monday 00:00 first): the intraday shape of ``envs.traffic``
(night trough, morning, lunch and evening peaks) x the day-of-week factors x a
heavy-tailed minute noise (log-normal, sd 0.35, AR(1) with a 20-minute memory) x
flash bursts (push notifications, live drops): 6 per day on average, Poisson in time,
weighted to the day's busy hours, each 3-25 minutes long with a peak of 5-40x (log-uniform)
that decays linearly; 1 in 10 bursts is a 60-120x spike of 2-5 minutes. Mean ~ 1,000
requests per minute; the scenario's ``base_rate`` rescales it (a trace profile is divided
by its mean).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from pacegym.envs.traffic import intraday_profile

SEED = 20261130
DAYS = 14
OUT = (
    Path(__file__).resolve().parents[1]
    / "conf"
    / "scenario"
    / "suite"
    / "bursty_intraday_trace.csv"
)
DOW = (1.0, 1.0, 1.0, 1.0, 1.05, 1.15, 1.1)


def trace(seed: int = SEED, days: int = DAYS) -> np.ndarray:
    """Per-minute request counts (int) for ``days`` days from Monday 00:00."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    shape = np.tile(intraday_profile(), days) * np.repeat([DOW[d % 7] for d in range(days)], 1440)
    phi = np.exp(-1.0 / 20.0)
    eps = rng.normal(0.0, 0.35 * np.sqrt(1 - phi**2), n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, 0.35)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + eps[i]
    mult = np.ones(n)
    n_bursts = rng.poisson(6 * days)
    weights = shape / shape.sum()
    starts = rng.choice(n, size=n_bursts, p=weights)
    for s in starts:
        if rng.uniform() < 0.1:
            length, peak = int(rng.integers(2, 6)), float(rng.uniform(60.0, 120.0))
        else:
            length = int(rng.integers(3, 26))
            peak = float(np.exp(rng.uniform(np.log(5.0), np.log(40.0))))
        ramp = peak - (peak - 1.0) * np.arange(length) / length
        end = min(n, s + length)
        mult[s:end] = np.maximum(mult[s:end], ramp[: end - s])
    lam = 1000.0 * shape * np.exp(x - 0.5 * 0.35**2) * mult
    return rng.poisson(lam).astype(np.int64)


def csv_text(counts: np.ndarray) -> str:
    buf = io.StringIO()
    buf.write("minute,requests\n")
    for i, c in enumerate(counts):
        buf.write(f"{i},{int(c)}\n")
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped CSV")
    args = ap.parse_args(argv)
    text = csv_text(trace())
    if args.check:
        same = OUT.is_file() and OUT.read_text() == text
        print(f"{OUT}: {'matches' if same else 'DIFFERS from'} the generator")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text.splitlines()) - 1} minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
