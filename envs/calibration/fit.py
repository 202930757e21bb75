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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pacegym.envs.calibration.delay_fit import DelayFit, fit_deconvolved, fit_joined
from pacegym.envs.calibration.logs import EventLog, MinuteCounts, event_minutes
from pacegym.envs.calibration.traffic_fit import TrafficFit, fit_traffic
from pacegym.envs.params import ScenarioParams
from pacegym.envs.scenarios import from_dict, from_file, resolve, to_dict


@dataclass(frozen=True)
class Calibration:
    """A fitted scenario and the fits it came from (for reports)."""

    scenario: ScenarioParams
    traffic: TrafficFit
    delay: DelayFit
    counts: MinuteCounts
    trace: np.ndarray  # (1440,) expected requests per minute on a median day


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
) -> Calibration:
    """Fit a scenario named ``name`` whose profile is read from ``trace_csv`` (write it with
    ``write_scenario``)."""
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
            "noise_tau_s": round(traffic.noise_tau_s, 1),
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
    scenario = from_dict(data, base=sc)
    return Calibration(scenario, traffic, delay, counts, trace)


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
    """Write the scenario YAML and its per-minute trace CSV (``traffic.trace_csv``; a
    relative one is taken relative to the working directory and written into the YAML
    relative to the YAML's folder, see ``trace_reference``)."""
    yaml_path = Path(yaml_path)
    yaml_path.parent.mkdir(parents=True, exist_ok=True)
    trace_path = Path(cal.scenario.traffic.trace_csv or "").resolve()
    trace_path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["minute,requests"] + [f"{m},{v:.4f}" for m, v in enumerate(cal.trace)]
    trace_path.write_text("\n".join(lines) + "\n")
    data = to_dict(cal.scenario)
    data["traffic"]["trace_csv"] = trace_reference(trace_path, yaml_path.parent)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    yaml_path.write_text(comment + text)
    return trace_path


def load_yaml(path: str | Path) -> ScenarioParams:
    """A scenario YAML (as written by ``write_scenario``) as params (``scenarios.from_file``)."""
    return from_file(path)


__all__ = ["Calibration", "calibrate", "load_yaml", "trace_reference", "write_scenario"]
