"""MLflow pyfunc model of a pacer artifact ("models from code": nothing is pickled).

MLflow copies this file into the logged model and runs it at load time; the pacer
artifact directory travels as the model's ``pacer`` artifact, and ``load_context`` imports
that artifact's own ``pacer.py`` by path, so prediction uses numpy only (pandas appears
only because MLflow hands the input over as a DataFrame).

``predict(model_input)``: a DataFrame (or mapping) with one column per feature, or a
``(n, n_features)`` array in manifest order -> ``(n,)`` float64 throttles in [0, 1].
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import mlflow.pyfunc
from mlflow.models import set_model


def _import_runtime(artifact_dir: str) -> Any:
    path = os.path.join(artifact_dir, "pacer.py")
    name = f"_pacegym_pacer_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class PacerModel(mlflow.pyfunc.PythonModel):
    """Serves ``pacer.load(artifacts["pacer"])``; see the module docstring."""

    def load_context(self, context: Any) -> None:
        root = context.artifacts["pacer"]
        self.pacer = _import_runtime(root).load(root)

    # no type hints on predict: MLflow would try to derive a schema from them
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        if hasattr(model_input, "columns"):  # pandas DataFrame
            model_input = {str(c): model_input[c].to_numpy() for c in model_input.columns}
        return self.pacer(model_input)


set_model(PacerModel())
