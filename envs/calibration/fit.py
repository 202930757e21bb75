"""Calibrate a scenario from a log: traffic, serving, delay and price, written as YAML.

``calibrate(log, base)`` fits every part it can observe and keeps the rest of
``base`` (budget, plan, time, report latency, reward and score weights):

| scenario key | fitted from |
|---|---|
| ``traffic.*`` (profile as a per-minute trace) | requests per minute (``traffic_fit``) |
| ``serving.fill_rate`` | serves / requests (the log's throttle folded in) |
| ``delay.family: empirical``, ``cdf_points``, ``max_delay_s``, ``render_prob`` | joined pairs, else deconvolution (``delay_fit``) |
| ``delay.quantile_s`` at ``delay.quantile`` 0.75 | the fitted CDF (informative only for ``empirical``) |
| ``money.price`` (``media_cost`` kept in the base's ratio) | impression cost / impressions, when the log has costs |
| ``traffic.departures`` (only with ``departures=True``) | requests against the fitted expected traffic per 15 min (``log_departures``) |
| ``value.*`` (only with ``value`` events and a log with channels) | channels' shares, fill, price, CTR, CVR by hour and the conversion delay (``value_fit``) |

Fitted values pass the same validation as hand-written ones (``ScenarioParams``, and the
core's traffic limit ``envs.state.check_traffic`` on the fitted trace) before anything is
written; a value out of range raises ``CalibrationError`` naming the scenario key, the
value and the allowed range. Two fitted values are clipped to their documented bounds
instead, as they are physically the same there: ``noise_sd`` at 3 and ``noise_tau_s`` at
``MAX_NOISE_TAU_S``. Gaps in the log (``minutes.gaps``) are skipped by the fits and listed in
``Calibration.gaps``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pacegym.envs.calibration.delay_fit import DelayFit, fit_deconvolved, fit_joined
from pacegym.envs.calibration.departure_fit import DepartureFit, fit_departures
from pacegym.envs.calibration.logs import EventLog, LogError, MinuteCounts
from pacegym.envs.calibration.minutes import event_minutes, gaps
from pacegym.envs.calibration.traffic_fit import TrafficFit, fit_traffic
from pacegym.envs.calibration.value_fit import ValueFit, fit_value, value_section
from pacegym.envs.calibration.value_log import ValueEvents
from pacegym.envs.params import MAX_NOISE_TAU_S, ScenarioError, ScenarioParams
from pacegym.envs.scenarios import from_dict, from_file, resolve, to_dict
from pacegym.envs.state import check_traffic
from pacegym.envs.traffic import PROFILE_BY_MINUTE


class CalibrationError(LogError):
    """The log fits no valid scenario, or the output would be unsafe; one line naming the
    key (a scenario key, ``--name``, ...), the value and what is allowed."""


@dataclass(frozen=True)
class Calibration:
    """A fitted scenario and the fits it came from (for reports)."""

    scenario: ScenarioParams
    traffic: TrafficFit
    delay: DelayFit
    counts: MinuteCounts
    trace: np.ndarray  # (1440,) expected requests per minute on a median day
    gaps: tuple[tuple[str, int, int], ...] = field(default=())  # (campaign, minute, length)
    value: ValueFit | None = None  # the value section's fit (value logs only)


def _base_rate(rates: tuple[float, ...]) -> float | list[float]:
    lo, hi, mean = min(rates), max(rates), float(np.mean(rates))
    return round(mean, 6) if hi - lo <= 0.1 * mean else [round(lo, 6), round(hi, 6)]


def calibrate(
    log: EventLog | MinuteCounts,
    base: str | ScenarioParams | dict = "daily_budget",
    name: str = "calibrated",
    trace_csv: str = "trace.csv",
    smooth_min: int = 15,
    max_lag_min: int = 180,
    departures: bool = False,
    value: ValueEvents | None = None,
) -> Calibration:
    """Fit a scenario named ``name`` whose profile is read from ``trace_csv`` (write it with
    ``write_scenario``); with ``departures``, ``traffic.departures`` too (``log_departures``);
    with ``value`` events and a per-minute log with channels, the ``value`` section
    (``envs.calibration.value_fit``)."""
    counts = event_minutes(log) if isinstance(log, EventLog) else log
    traffic = fit_traffic(counts, smooth_min=smooth_min)
    if isinstance(log, EventLog) and log.joined:
        delay = fit_joined(log)
    else:
        delay = fit_deconvolved(counts, max_lag_min=max_lag_min)
    sc = resolve(base)
    base_rate = _base_rate(traffic.base_rate)
    level = float(np.mean(base_rate))
    trace = traffic.profile * level * 60.0
    q75 = float(delay.quantile(0.75))
    impressions = float(counts.impressions[counts.valid].sum())
    money: dict[str, Any] = {}
    if counts.cost > 0 and impressions > 0:
        price = counts.cost / impressions
        ratio = sc.money.media_cost / sc.money.price
        money = {"price": round(price, 6), "media_cost": round(price * ratio, 6)}
    data: dict[str, Any] = {
        "name": name,
        "traffic": {
            "base_rate": base_rate,
            "profile": "trace",
            "trace_csv": trace_csv,
            "dow_factors": [round(x, 4) for x in traffic.dow_factors],
            "noise_sd": round(min(traffic.noise_sd, 3.0), 4),
            "noise_tau_s": round(min(traffic.noise_tau_s, MAX_NOISE_TAU_S), 1),
            "surge_rate_per_h": round(traffic.surge_rate_per_h, 4),
            "surge_factors": [round(f, 2) for f in traffic.surge_factors],
            "surge_probs": _probs(traffic.surge_probs),
            "surge_mean_s": round(traffic.surge_mean_s, 1),
        },
        "serving": {"fill_rate": round(traffic.fill_rate, 6)},
        "delay": {
            "family": "empirical",
            "quantile_s": round(min(q75, delay.max_delay_s - 1.0), 3),
            "quantile": 0.75,
            "max_delay_s": float(delay.max_delay_s),
            "render_prob": round(delay.render_prob, 6),
            "cdf_points": [list(p) for p in delay.cdf_points],
        },
    }
    if money:
        data["money"] = money
    vfit = _value(counts, value)
    if vfit is not None:
        price = money.get("price", sc.money.price)
        data["value"] = value_section(vfit, sc.value, price, data["serving"]["fill_rate"])
    if departures:
        data["traffic"]["departures"] = {
            k: round(v, 4)
            for k, v in dataclasses.asdict(log_departures(counts, traffic).params).items()
        }
    try:
        scenario = from_dict(data, base=sc)
        check_traffic(scenario, traffic.profile, PROFILE_BY_MINUTE)
    except ScenarioError as e:
        raise CalibrationError(
            f"the log fits no valid scenario: fitted {e} (check the log for absurd values)"
        ) from None
    return Calibration(scenario, traffic, delay, counts, trace, tuple(gaps(counts)), vfit)


def _value(counts: MinuteCounts, value: ValueEvents | None) -> ValueFit | None:
    """The value fit when there are value events (they need the log's channels)."""
    if value is None:
        return None
    if counts.by_channel is None:
        raise CalibrationError(
            "value events need a per-minute log with a 'channel' column (one row per "
            "campaign, channel and minute); the log has none"
        )
    return fit_value(counts.by_channel, value)


def log_departures(counts: MinuteCounts, traffic: TrafficFit) -> DepartureFit:
    """``traffic.departures`` fitted on a log's requests against the fitted expected traffic
    (surge minutes and gaps left out). The variance the model draws anyway on a 15-minute bin
    (Poisson counts, ``1 / expected``, and the minute noise averaged over the bin) is taken
    off before the fit (``fit_departures``'s ``white_var``)."""
    valid = counts.valid & ~traffic.surge
    expected = np.where(valid, traffic.expected, 0.0)
    per_bin = expected[:, : expected.shape[1] // 15 * 15].reshape(expected.shape[0], -1, 15)
    totals = per_bin.sum(axis=2)
    poisson = float(np.mean(1.0 / totals[totals > 0])) if (totals > 0).any() else 0.0
    phi = np.exp(-60.0 / max(traffic.noise_tau_s, 1e-9))
    lag = np.abs(np.subtract.outer(np.arange(15), np.arange(15)))
    minute_noise = traffic.noise_sd**2 * float(np.mean(phi**lag))
    return fit_departures(counts.requests, traffic.expected, valid, poisson + minute_noise)


def _probs(p: tuple[float, ...]) -> list[float]:
    r = [round(x, 4) for x in p]
    r[-1] = round(1.0 - sum(r[:-1]), 4)
    return r


def trace_reference(trace_path: Path, yaml_dir: Path) -> str:
    """How a scenario YAML in ``yaml_dir`` refers to its trace: relative to the YAML's
    folder when the trace lies in it or below (the pair moves together), else absolute."""
    p = trace_path.resolve()
    try:
        return p.relative_to(yaml_dir.resolve()).as_posix()
    except ValueError:
        return str(p)


def write_scenario(cal: Calibration, yaml_path: str | Path, header: str = "") -> Path:
    """Write the scenario YAML (what differs from the schema's defaults, as every scenario
    file; ``scenarios.to_dict``) and its per-minute trace CSV (``traffic.trace_csv``; a
    relative one is taken relative to the working directory and written into the YAML
    relative to the YAML's folder, see ``trace_reference``)."""
    yaml_path = Path(yaml_path)
    trace_path = Path(cal.scenario.traffic.trace_csv or "").resolve()
    if trace_path == yaml_path.resolve():
        raise CalibrationError(f"traffic.trace_csv = {str(trace_path)!r} is the scenario YAML")
    lines = ["minute,requests"] + [f"{m},{v:.4f}" for m, v in enumerate(cal.trace)]
    data = to_dict(cal.scenario, against=ScenarioParams())
    data.setdefault("traffic", {})["trace_csv"] = trace_reference(trace_path, yaml_path.parent)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    yaml_path.parent.mkdir(parents=True, exist_ok=True)
    trace_path.parent.mkdir(parents=True, exist_ok=True)
    # both files complete beside their targets first, then renamed: never half a pair
    staged = [(_stage(trace_path, "\n".join(lines) + "\n"), trace_path)]
    try:
        staged.append((_stage(yaml_path, comment + text), yaml_path))
    except BaseException:
        staged[0][0].unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    return trace_path


def _stage(target: Path, text: str) -> Path:
    """``text`` written to a new temporary file beside ``target`` (removed on failure)."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)  # mkstemp makes the file private; give it write_text's mode
        os.umask(umask)
        os.chmod(name, 0o666 & ~umask)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def load_yaml(path: str | Path) -> ScenarioParams:
    """A scenario YAML (as written by ``write_scenario``) as params (``scenarios.from_file``)."""
    return from_file(path)


__all__ = [
    "Calibration",
    "CalibrationError",
    "calibrate",
    "load_yaml",
    "trace_reference",
    "write_scenario",
]
