"""pacegym-export's config: every number finite and in range, out_dir safe, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from pacegym.experiments import export as E

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="export", overrides=overrides)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (
            "safety.fallback_throttle=nan",
            r"safety\.fallback_throttle = nan: allowed a finite number in \[0, 1\]",
        ),
        ("safety.fallback_throttle=1.5", r"safety\.fallback_throttle = 1\.5"),
        (
            "verify.action_tolerance=inf",
            r"verify\.action_tolerance = inf: allowed a finite number in \(0, 0\.01\]",
        ),
        ("verify.action_tolerance=0", r"verify\.action_tolerance = 0"),
        ("verify.metric_tolerance=-1e-3", r"verify\.metric_tolerance = -0\.001"),
        (
            "verify.record_episodes=0",
            r"verify\.record_episodes = 0: allowed an integer in \[1, 1000\]",
        ),
        ("out_dir=.", r"out_dir = '\.': refusing to write there"),
    ],
)
def test_bad_values_refused_in_one_line_before_any_work(tmp_path, monkeypatch, override, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlflow.db").write_text("precious")
    monkeypatch.setattr(E, "resolve_source", lambda cfg: pytest.fail("work started"))
    cfg = _cfg(["overwrite=true", f"out_dir={tmp_path}/art", override])
    with pytest.raises(E.ExportConfigError, match=match) as e:
        E.run_export(cfg)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]  # nothing written


def test_defaults_pass(tmp_path):
    E.check_config(_cfg([f"out_dir={tmp_path}/art"]))
