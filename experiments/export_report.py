"""What ``pacegym-export`` concludes from its checks: the failed ones (``check_report``),
the error that stops an artifact from being published (``ExportChecksFailed``), how a
command ends on it (``exit_on_failed_checks``: one line, exit 1) and what the export run
records (``log_report``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pacegym.experiments import tracking


class ExportChecksFailed(RuntimeError):
    """The artifact failed a check (``check_report``) and was not published: ``out_dir`` is
    as it was (a previous artifact there stays); the report is in the log (and, tracked, the
    export run's ``rejected_pacer`` artifact, the run FAILED)."""

    def __init__(self, out: Path, fails: list[str]) -> None:
        super().__init__(
            f"export checks FAILED: {'; '.join(fails)}; nothing published at {str(out)!r}"
        )


def log_report(report: dict[str, Any], chosen: dict[str, Any], out: Path, path: str) -> None:
    """The export run's metrics (the checks; the leaderboard means the artifact reproduces,
    under their plain names), the report and the artifact itself as ``path`` (``pacer``, or
    ``rejected_pacer`` for one that failed its checks and was not published)."""
    figures = {}
    if "action_parity" in report:
        figures["action_parity_max_abs_error"] = report["action_parity"]["max_abs_error"]
    mp = report.get("metric_parity") or {}
    if mp.get("checked"):
        figures["metric_parity_max_abs_diff"] = mp["max_abs_diff"]
    tracking.log_metrics(figures)
    tracking.log_metrics(chosen.get("metrics") or {})
    tracking.log_artifact(out, path)


def check_report(report: dict[str, Any]) -> list[str]:
    """Failed checks of ``report``, as messages (empty when everything passed)."""
    fails = []
    ap = report.get("action_parity")
    if ap and ap["max_abs_error"] > ap["tolerance"]:
        fails.append(f"action parity: max error {ap['max_abs_error']:.3g} > {ap['tolerance']:.3g}")
    mp = report.get("metric_parity") or {}
    enforced = mp.get("enforced", True)
    if mp.get("checked") and enforced and mp["max_abs_diff"] > report.get("metric_tolerance", 1e-6):
        against = mp.get("against", "the leaderboard's means")
        fails.append(f"metric parity: max |diff| {mp['max_abs_diff']:.3g} to {against}")
    if mp.get("checked") and enforced and mp.get("nan_mismatch"):
        fails.append(f"metric parity: NaN on one side only for {mp['nan_mismatch']}")
    return fails


def exit_on_failed_checks(prog: str, task: Any, *args: Any) -> Any:
    """``task(*args)``; an ``ExportChecksFailed`` ends the command with its one line on
    stderr and exit code 1 (a check that failed is not a bad setting: not 2)."""
    try:
        return task(*args)
    except ExportChecksFailed as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
