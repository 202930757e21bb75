"""The registry path: the pyfunc pins the manifest digest and never runs the artifact's code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pacegym.agents.export.exporter import export_controller
from pacegym.agents.export.runtime import PacerError, load_pacer, manifest_digest


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh sqlite MLflow store in ``tmp_path`` (artifacts under ./mlruns there)."""
    import mlflow

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry-test")
    yield uri
    mlflow.set_tracking_uri(previous)


def _logged_pacer_dir(tmp_path: Path) -> Path:
    (manifest,) = tmp_path.glob("mlruns/**/manifest.json")  # the logged copy of the artifact
    return manifest.parent


@pytest.mark.slow
def test_registered_pacer_pins_digest_and_runs_no_artifact_code(tmp_path, store):
    import mlflow

    from pacegym.agents.export.registry import DIGEST_TAG, register_pacer

    art = export_controller({"kind": "pid", "params": {}}, tmp_path / "pid")
    digest = manifest_digest(art)
    with pytest.raises(PacerError, match="differs from expected_digest"):
        register_pacer(art, "pacer-reg", expected_digest="0" * 64)
    uri, version = register_pacer(art, "pacer-reg", expected_digest=digest.upper())
    client = mlflow.MlflowClient(store)
    assert client.get_model_version("pacer-reg", version).tags[DIGEST_TAG] == digest

    x = np.zeros((3, 14), np.float32)
    x[:, 1], x[:, 2], x[:, 12] = 1.0, 4.7, -4.0
    pacer = load_pacer(art)
    pacer.reset(3)
    import pandas as pd

    served = mlflow.pyfunc.load_model(uri)
    df = pd.DataFrame({n: x[:, i] for i, n in enumerate(pacer.features)})
    np.testing.assert_array_equal(np.asarray(served.predict(df)), pacer(x))
    # an ordinary float64 frame (pandas' default) is served too, with the same throttles
    fresh = load_pacer(art)
    fresh.reset(3)
    served64 = mlflow.pyfunc.load_model(uri)
    np.testing.assert_array_equal(
        np.asarray(served64.predict(df.astype(np.float64))), fresh(x.astype(np.float64))
    )

    logged = _logged_pacer_dir(tmp_path)
    marker = tmp_path / "executed"
    (logged / "pacer.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    # the pyfunc's own (bundled) runtime raises its own PacerError class
    with pytest.raises(ValueError, match=r"files\.pacer\.py: sha256 differs"):
        mlflow.pyfunc.load_model(uri)
    assert not marker.exists()  # the artifact's pacer.py is data to the pyfunc, never run

    m = json.loads((logged / "manifest.json").read_text())
    m["safety"]["fallback_throttle"] = 1.0
    m["files"] = {}  # a consistent edit: no per-file digest left to catch it
    (logged / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="differs from expected_digest"):
        mlflow.pyfunc.load_model(uri)
