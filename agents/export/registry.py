"""Register a pacer artifact in the MLflow Model Registry as a numpy-only pyfunc model.

``register_pacer(artifact_dir, name)`` logs the directory as the ``pacer`` artifact of a
models-from-code pyfunc (``agents/export/pyfunc_model.py``, nothing pickled), with a
signature (one float32 column per feature -> float64 throttle) and an input example
(rows at the middle of each feature's range, or the ones given), registers it as
``name`` and returns ``(model_uri, version)``; ``mlflow.pyfunc.load_model(model_uri)``
then serves it. It logs into the active run, or into a new run named ``export-<name>``.
The registered model and its new version get ``description`` and ``tags`` (what the
MLflow UI's model page shows: where the pacer came from and what it scored).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.agents.export import runtime

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")


def signature_for(manifest: dict[str, Any]) -> Any:
    """Input: one float32 column per manifest feature; output: a float64 ``throttle`` column."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec("float", f["name"]) for f in manifest["observation"]["features"]])
    outputs = Schema([ColSpec("double", "throttle")])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(manifest: dict[str, Any], rows: np.ndarray | None = None) -> dict[str, list]:
    """``{feature: values}``: the given ``(n, n_features)`` rows, else mid-range values."""
    feats = manifest["observation"]["features"]
    if rows is None:
        rows = np.array([[(f["low"] + f["high"]) / 2 for f in feats]], dtype=np.float32)
        rows[:, [i for i, f in enumerate(feats) if f["high"] - f["low"] > 10]] = 0.0
    rows = np.asarray(rows, dtype=np.float32)
    return {f["name"]: rows[:, i].astype(float).tolist() for i, f in enumerate(feats)}


def register_pacer(
    artifact_dir: str | Path,
    name: str,
    *,
    example_rows: np.ndarray | None = None,
    tags: dict[str, str] | None = None,
    description: str | None = None,
) -> tuple[str, str]:
    """Log and register ``artifact_dir`` as model ``name``; return ``(models:/name/version, version)``.

    ``tags`` go on the run, the registered model and the version; ``description`` on the
    model and the version.
    """
    import mlflow
    import pandas as pd

    root = Path(artifact_dir)
    runtime.load(root)  # refuse a broken artifact before anything is logged
    manifest = json.loads((root / runtime.MANIFEST_FILE).read_text(encoding="utf-8"))
    example = pd.DataFrame(input_example(manifest, example_rows)).astype(np.float32)
    own_run = mlflow.active_run() is None
    if own_run:
        mlflow.start_run(run_name=f"export-{name}")
    try:
        mlflow.set_tags({"pacer.schema_version": str(runtime.SCHEMA_VERSION), **(tags or {})})
        info = mlflow.pyfunc.log_model(
            name="pacer",
            python_model=str(PYFUNC_CODE),
            artifacts={"pacer": str(root)},
            signature=signature_for(manifest),
            input_example=example,
            pip_requirements=["numpy", "pandas"],
            registered_model_name=name,
        )
    finally:
        if own_run:
            mlflow.end_run()
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    all_tags = {"pacer.schema_version": str(runtime.SCHEMA_VERSION), **(tags or {})}
    if description:
        client.update_registered_model(name, description=description)
        client.update_model_version(name, version, description=description)
    for key, value in all_tags.items():
        client.set_registered_model_tag(name, key, value)
        client.set_model_version_tag(name, version, key, value)
    return f"models:/{name}/{version}", version
