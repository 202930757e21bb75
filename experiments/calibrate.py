"""Fit a scenario to an ad server's log and write it as ./conf/scenario/calibrated_<name>.yaml.

pacegym-calibrate LOG [--name NAME] [--base daily_budget] [--conf-dir ./conf/scenario]
    [--report-dir outputs/calibration/<name>] [--smooth-min 15] [--max-lag-min 180]
    [--departures] [--no-plots] [--overwrite]
pacegym-calibrate --twin TRACE_SCENARIO [--name NAME] [--conf-dir ...] [--overwrite]

``--departures`` fits ``traffic.departures`` (lasting departures from the fitted traffic,
docs/real_traffic.md) too. ``--twin`` fits no log: it writes a trace scenario's synthetic
twin (``envs.calibration.trace_twin``: the trace's day-ahead forecast as traffic shape, x
``traffic.departures`` fitted on the trace against that forecast) and prints the departure
statistics of the trace and of the twin's rate pooled over ``trace_twin.SEEDS`` draws of
the trace's days (``trace_twin.twin_rates``, as ``benchmarks/bench_departures.py`` and the
tolerance test measure it).

NAME is a plain identifier (letters, digits, ``_``, ``-``; at most 64), never a path: the
files go into --conf-dir and nowhere else. Existing files there, or a name that is a
shipped scenario's (``calibrated_daily_budget``), are replaced only with --overwrite.
--conf-dir and --report-dir follow ``pacegym.outdir``: never the filesystem root, the home
folder or the installed package; the report folder is this run's own (an earlier run's
report is replaced only with --overwrite).

LOG is an event log or per-minute aggregates, CSV or Parquet (columns:
docs/calibration.md). A per-minute log ``<prefix>_minutes.<ext>`` with a ``channel``
column and its value events ``<prefix>_value_events.<ext>`` beside it (as
``pacegym-simulate-logs`` writes them for a value scenario) also fit the ``value``
section (``envs.calibration.value_fit``; pass the value scenario as --base for the
layers and values per conversion the log cannot show). Writes the scenario YAML and its per-minute trace CSV
(``traffic.trace_csv``, relative to the YAML: the two files move together), then a report: ``report.md`` (fitted values, goodness of fit, forecaster MAPE per
horizon against seasonal-naive), ``fit.json``, ``traffic.png`` and ``delay.png``.
Use it anywhere a scenario is named: ``scenario=calibrated_<name>`` from the directory
that holds ``conf/`` (the Hydra apps and ``resolve`` search ``./conf``), or by path
(``--scenario conf/scenario/calibrated_<name>.yaml``, ``gym.make(id, scenario=path)``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pacegym import outdir, progress
from pacegym.envs.calibration import Calibration, CalibrationError, LogError, calibrate, read_log
from pacegym.envs.calibration.fit import trace_reference, write_scenario
from pacegym.envs.calibration.trace_twin import fit_twin, trace_pair, twin_rates
from pacegym.envs.calibration.traffic_fit import calendar
from pacegym.envs.calibration.value_fit import value_summary
from pacegym.envs.calibration.value_log import companion_path, read_value_events
from pacegym.envs.departures import departure_stats
from pacegym.envs.forecast import ForecastError, HoltWinters, SeasonalNaive, mape_by_horizon
from pacegym.envs.params import ScenarioError
from pacegym.envs.scenarios import PRESETS, resolve, to_dict
from pacegym.flags import FlagParser
from pacegym.resources import conf_dir

BUCKETS = ((1, 15), (16, 60), (61, 240), (241, 1440))
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""A scenario name suffix: a plain identifier, never a path."""


def shipped_scenarios() -> set[str]:
    """Names of the scenarios pacegym ships (presets and the package's scenario files)."""
    return set(PRESETS) | {p.stem for p in (conf_dir() / "scenario").glob("*.yaml")}


def output_paths(raw: str, conf: Path, overwrite: bool) -> tuple[str, Path, Path]:
    """``(name, yaml, trace)`` for ``--name raw`` in ``conf``; ``CalibrationError`` when the
    name is not a plain identifier, or, without ``overwrite``, when it is a shipped scenario's
    or either file exists."""
    if not NAME.fullmatch(raw):
        raise CalibrationError(
            f"--name = {raw[:80]!r} is not a plain name: allowed letters, digits, '_' and '-' "
            "(at most 64, no path; the files go into --conf-dir)"
        )
    name = raw if raw.startswith("calibrated_") else f"calibrated_{raw}"
    yaml_path, trace = conf / f"{name}.yaml", conf / f"{name}_trace.csv"
    if not overwrite:
        if name in shipped_scenarios():
            raise CalibrationError(
                f"--name = {raw!r} makes {name!r}, a scenario pacegym ships: choose another "
                "name, or pass --overwrite to shadow it"
            )
        for path in (yaml_path, trace):
            if path.exists():
                raise CalibrationError(
                    f"--name = {raw!r}: {str(path)!r} exists; choose another name, or pass "
                    "--overwrite to replace it"
                )
    return name, yaml_path, trace


def goodness(cal: Calibration) -> dict[str, Any]:
    """Goodness-of-fit figures of the traffic and delay fits."""
    tf, c = cal.traffic, cal.counts
    ok = c.valid & ~tf.surge
    obs, fit = c.requests[ok], tf.expected[ok]
    mod, _ = calendar(c.start_minute, c.minutes)
    by_min = np.bincount(np.broadcast_to(mod, ok.shape)[ok], obs, 1440)
    by_fit = np.bincount(np.broadcast_to(mod, ok.shape)[ok], fit, 1440)
    prof_err = float(np.sqrt(np.mean((by_min / np.maximum(by_fit, 1e-12) - 1.0) ** 2)))
    out = {
        "traffic_minutes": int(ok.sum()),
        "traffic_r2_per_minute": float(
            1 - np.sum((obs - fit) ** 2) / np.sum((obs - obs.mean()) ** 2)
        ),
        "profile_rel_rmse_minute_of_day": prof_err,
        "surges": tf.n_surges,
        "delay_method": cal.delay.method,
        "delay_n": cal.delay.n,
    }
    if cal.delay.method == "joined":
        out["delay_ks"] = cal.delay.ks
    else:
        out["delay_r2_per_minute"] = cal.delay.r2
    return out


def forecast_table(cal: Calibration) -> tuple[str, dict[str, list[float]] | None]:
    """MAPE [%] per horizon of the forecasters on the log's total requests per minute."""
    c = cal.counts
    cols = np.flatnonzero(c.valid.any(axis=0))
    first = cols[0] + (-(c.start_minute + cols[0])) % 1440  # start at a midnight
    y = c.requests[:, first : cols[-1] + 1].sum(axis=0)
    days = y.size // 1440
    if days < 4:
        return f"Forecast: not evaluated ({days} full days of log; needs >= 4).\n", None
    train = max(2, days - 3)
    origins = [d * 1440 + off for d in range(train, days - 1) for off in (0, 480, 960)]
    origins = [o for o in origins if o + 1440 <= y.size]
    fcs = {
        "seasonal_naive": SeasonalNaive(1440),
        "holt_winters": HoltWinters(),
    }
    if train >= 7:
        fcs["weekly_naive"] = SeasonalNaive(10080)
    try:
        res = mape_by_horizon(y, fcs, origins, BUCKETS)
    except ForecastError as e:
        return f"Forecast: not evaluated ({e}).\n", None
    head = "| forecaster | " + " | ".join(f"{lo}-{hi} min" for lo, hi in BUCKETS) + " |\n"
    lines = [head, "|---|" + "---:|" * len(BUCKETS) + "\n"]
    for name, v in res.items():
        lines.append(f"| {name} | " + " | ".join(f"{x:.1f}" for x in v) + " |\n")
    ref = np.array(res["seasonal_naive"])
    hw = np.array(res["holt_winters"])
    verdict = "beats" if np.all(hw < ref) else "does not beat everywhere"
    note = (
        f"\nMAPE [%] of per-minute requests (all campaigns), {len(origins)} rolling origins, "
        f"trained on >= {train} days; holt_winters {verdict} seasonal_naive "
        f"(ratio per bucket: {', '.join(f'{h / r:.2f}' for h, r in zip(hw, ref, strict=True))}).\n"
    )
    return "".join(lines) + note, res


def plots(cal: Calibration, out: Path) -> list[str]:
    """traffic.png (minute-of-day profile, day-of-week) and delay.png (CDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tf = cal.traffic
    fig, ax = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    hours = np.arange(1440) / 60.0
    ax[0].plot(hours, tf.profile_raw, lw=0.6, alpha=0.6, label="observed (non-surge mean)")
    ax[0].plot(hours, tf.profile, lw=1.5, label="fitted profile")
    ax[0].set(xlabel="hour of day (UTC)", ylabel="traffic / mean", title="intraday profile")
    ax[0].legend()
    ax[1].bar(range(7), tf.dow_factors)
    ax[1].set(xticks=range(7), xticklabels=list("MTWTFSS"), title="day-of-week factor")
    fig.tight_layout()
    fig.savefig(out / "traffic.png", dpi=110)
    plt.close(fig)
    d = cal.delay
    fig, ax = plt.subplots(figsize=(6, 4))
    grid = np.linspace(0, d.max_delay_s, 400)
    if d.method == "joined":
        obs = d.observed
        ax.step(obs, np.arange(1, obs.size + 1) / obs.size, where="post", label="observed", lw=2)
    else:
        mids = 60.0 * np.arange(d.observed.size) + 30.0
        ax.plot(mids, np.cumsum(d.observed), "o", ms=2, label="deconvolved (per-minute lags)")
    ax.plot(grid, d.cdf(grid), label=f"fitted ({d.method})")
    ax.set(
        xlabel="delay [s]", ylabel="CDF", title=f"serve-to-count delay, render {d.render_prob:.3f}"
    )
    ax.set_xscale("symlog", linthresh=60)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "delay.png", dpi=110)
    plt.close(fig)
    return ["traffic.png", "delay.png"]


def _utc(minute: int) -> str:
    return str(np.datetime64(int(minute), "m"))


def gap_text(cal: Calibration) -> str:
    """The report's paragraph on gaps in the log (empty when there are none)."""
    if not cal.gaps:
        return ""
    total = sum(g[2] for g in cal.gaps)
    shown = ", ".join(f"{c} at {_utc(m)} ({k} min)" for c, m, k in cal.gaps[:5])
    more = f" and {len(cal.gaps) - 5} more (fit.json)" if len(cal.gaps) > 5 else ""
    return (
        f"Gaps: {len(cal.gaps)} run(s), {total} minute(s) the log does not cover, skipped by "
        f"the fits (not read as zero traffic, not interpolated): {shown}{more}.\n\n"
    )


def report(cal: Calibration, yaml_path: Path, out: Path, make_plots: bool, seconds: float) -> str:
    tf, d, sc = cal.traffic, cal.delay, cal.scenario
    gof = goodness(cal)
    fc_text, fc = forecast_table(cal)
    q = {f"q{int(p * 100)}": float(d.quantile(p)) for p in (0.25, 0.5, 0.75, 0.9, 0.95)}
    fitted = {
        "base_rate_per_campaign": list(tf.base_rate),
        "dow_factors": list(tf.dow_factors),
        "dow_fitted": tf.dow_fitted,
        "noise_sd": tf.noise_sd,
        "noise_tau_s": tf.noise_tau_s,
        "surge_rate_per_h": tf.surge_rate_per_h,
        "surge_mean_s": tf.surge_mean_s,
        "surge_factors": list(tf.surge_factors),
        "surge_probs": list(tf.surge_probs),
        "fill_rate": tf.fill_rate,
        "render_prob": d.render_prob,
        "max_delay_s": d.max_delay_s,
        "delay_quantiles_s": q,
        "gap_minutes": sum(g[2] for g in cal.gaps),
    }
    if cal.value is not None:
        fitted.update(value_summary(cal.value))
    gap_list = [{"campaign": c, "first_minute_utc": _utc(m), "minutes": k} for c, m, k in cal.gaps]
    (out / "fit.json").write_text(
        json.dumps(
            {"fitted": fitted, "goodness": gof, "forecast_mape": fc, "gaps": gap_list}, indent=2
        )
    )
    files = plots(cal, out) if make_plots else []
    rows = [f"| {k} | {v} |" for k, v in fitted.items()] + [
        f"| {k} | {v} |" for k, v in gof.items()
    ]
    text = (
        f"# Calibration: {sc.name}\n\nScenario: `{yaml_path}` (trace `{sc.traffic.trace_csv}`), "
        f"fitted in {seconds:.1f} s from {cal.counts.requests.shape[0]} campaign(s), "
        f"{tf.hours:.0f} campaign-hours.\n\n| quantity | value |\n|---|---|\n"
        + "\n".join(rows)
        + "\n\n"
        + ("" if tf.dow_fitted else "Day-of-week factors not fitted (needs >= 7 days): 1.0.\n\n")
        + gap_text(cal)
        + "## Inventory forecast\n\n"
        + fc_text
        + "".join(f"\n![{f}]({f})\n" for f in files)
    )
    (out / "report.md").write_text(text)
    return text


def _read(path: str) -> Any:
    """``read_log(path)``; a file that cannot be read as a log raises ``LogError`` naming it
    (the console reports it in one line, exit code 2: ``pacegym.errors``)."""
    import pyarrow as pa

    try:
        return read_log(path)
    except LogError as e:
        if path in str(e):
            raise
        raise LogError(f"LOG = {path!r}: {e}") from e
    except (pa.ArrowException, UnicodeDecodeError, OSError) as e:
        what = " ".join(str(e).split())
        raise LogError(f"LOG = {path!r}: not a readable CSV or Parquet log ({what})") from e


def twin_main(scenario: str, raw: str | None, conf: Path, overwrite: bool) -> None:
    """Write ``scenario``'s synthetic twin (``--twin``) and print its departure statistics."""
    try:
        sc = resolve(scenario)
        trace, forecast, first = trace_pair(sc)
    except ScenarioError as e:
        raise CalibrationError(f"--twin = {scenario!r}: {e}") from None
    name, yaml_path, trace_path = output_paths(raw or f"{sc.name}_twin", conf, overwrite)
    conf.mkdir(parents=True, exist_ok=True)
    twin, first = fit_twin(sc, trace_path)
    twin = dataclasses.replace(twin, name=name)
    data = to_dict(twin)
    data["traffic"]["trace_csv"] = trace_reference(trace_path, yaml_path.parent)
    head = f"# Synthetic twin of {scenario} by pacegym-calibrate --twin (docs/real_traffic.md)\n"
    outdir.write_atomic(yaml_path, head + yaml.safe_dump(data, sort_keys=False, width=100))
    stats = {
        "trace": departure_stats(trace, forecast),
        "twin": departure_stats(*twin_rates(twin, first, trace.size // 1440)),
    }
    print("| | " + " | ".join(stats["trace"]) + " |")
    for label, st in stats.items():
        print(f"| {label} | " + " | ".join(f"{v:.2f}" for v in st.values()) + " |")
    print(f"traffic.departures: {dataclasses.asdict(twin.traffic.departures)}")
    print(f"wrote {yaml_path}, {trace_path}")


def main(argv: list[str] | None = None) -> None:
    ap = FlagParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", nargs="?")
    ap.add_argument("--twin", default=None, help="a trace scenario: write its synthetic twin")
    ap.add_argument("--departures", action="store_true", help="fit traffic.departures too")
    ap.add_argument("--name", default=None, help="scenario name suffix (default: log file stem)")
    ap.add_argument("--base", default="daily_budget", help="preset for unfitted parameters")
    ap.add_argument(
        "--conf-dir",
        default=str(Path("conf") / "scenario"),
        help="where the YAML and its trace go (default ./conf/scenario, found by name from here)",
    )
    ap.add_argument("--report-dir", default=None)
    ap.add_argument("--smooth-min", type=int, default=15)
    ap.add_argument("--max-lag-min", type=int, default=180)
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing files in --conf-dir, or shadow a shipped scenario's name",
    )
    args = ap.parse_args(argv)
    if not 1 <= args.smooth_min <= 1440:
        ap.error(f"--smooth-min = {args.smooth_min}: allowed [1, 1440] [min]")
    if args.max_lag_min < 2:
        ap.error(f"--max-lag-min = {args.max_lag_min}: allowed >= 2 [min]")
    if (args.log is None) == (args.twin is None):
        ap.error("give a LOG or --twin TRACE_SCENARIO (one of them)")
    outdir.check_protected("--conf-dir", args.conf_dir)
    if args.twin is not None:
        twin_main(args.twin, args.name, Path(args.conf_dir), args.overwrite)
        return
    try:
        resolve(args.base)  # before the log is read: a typo is refused at once
    except ScenarioError as e:
        ap.error(f"--base = {args.base!r}: {e}")
    raw = args.name if args.name is not None else Path(args.log).name.split(".")[0]
    conf = Path(args.conf_dir)
    name, yaml_path, trace_path = output_paths(raw, conf, args.overwrite)
    trace = str(trace_path.resolve())
    out = Path(args.report_dir or Path("outputs") / "calibration" / name)
    command = " ".join(["pacegym-calibrate", *(sys.argv[1:] if argv is None else argv)])
    t0 = time.perf_counter()
    with (
        outdir.owned("--report-dir", out, args.overwrite, command),
        progress.stages(["read log", "fit", "report"], "calibrate") as stage,
    ):
        stage.next("read log")
        log = _read(args.log)
        companion = companion_path(args.log)
        value = None if companion is None else read_value_events(companion)
        stage.next("fit")
        cal = calibrate(
            log, args.base, name, trace, args.smooth_min, args.max_lag_min, args.departures, value
        )
        seconds = time.perf_counter() - t0
        stage.next("report")
        write_scenario(cal, yaml_path, header=f"Calibrated by pacegym-calibrate from {args.log}")
        text = report(cal, yaml_path, out, not args.no_plots, seconds)
    print(text)
    print(f"wrote {yaml_path}, {conf / (name + '_trace.csv')}, report in {out}")


if __name__ == "__main__":
    main()
