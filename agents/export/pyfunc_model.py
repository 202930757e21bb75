"""MLflow pyfunc model of a pacer artifact ("models from code": nothing is pickled).

``registry.register_pacer`` logs this wrapper, preceded by the whole runtime
(``bundle.build_pyfunc_source``), as the model's code: MLflow runs that code at load
time, and the pacer artifact directory travels as the model's ``pacer`` artifact, read
as data only (``manifest.json``, ``weights.npz``). The artifact's own ``pacer.py`` is
never imported. ``load_context`` pins the manifest: ``model_config["manifest_sha256"]``
(also the registered version's ``pacer.manifest_sha256`` tag) must equal the sha256 of
the logged ``manifest.json``, which holds the sha256 of every other file.

``predict(model_input)``: a DataFrame (or mapping) with one column per feature, or a
``(n, n_features)`` array in manifest order -> ``(n,)`` float64 throttles in [0, 1].
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
from mlflow.models import set_model

from pacegym.agents.export.runtime import load


class PacerModel(mlflow.pyfunc.PythonModel):
    """Serves ``load(artifacts["pacer"], expected_digest=model_config["manifest_sha256"])``."""

    def load_context(self, context: Any) -> None:
        config = context.model_config or {}
        if not config.get("manifest_sha256"):
            raise ValueError(
                "model_config.manifest_sha256 is missing: register the pacer with"
                " pacegym's register_pacer, which pins its manifest digest"
            )
        self.pacer = load(context.artifacts["pacer"], expected_digest=config["manifest_sha256"])

    # no type hints on predict: MLflow would try to derive a schema from them
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        if hasattr(model_input, "columns"):  # pandas DataFrame
            model_input = {str(c): model_input[c].to_numpy() for c in model_input.columns}
        return self.pacer(model_input)


set_model(PacerModel())
