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

A segment pacer (``manifest.json`` of schema ``SEGMENT_SCHEMA``, value scenarios) is loaded
with ``load_segment_pacer`` under the same pin and served by named columns, state in and
state out (``runtime.segment_frame``): ``predict`` takes a float64 DataFrame with the
columns ``frame_inputs`` and returns a DataFrame ``frame_outputs`` (each segment's throttle,
then the campaign's new state), keeping nothing between calls. An lstm pacer
(``RECURRENT_SCHEMA``) likewise: ``RecurrentPacer.frame_inputs`` (the features, then
``state.<name>``) in, ``frame_outputs`` (the throttles, then the new state) out.
"""

from __future__ import annotations

import json
import os
from typing import Any

import mlflow.pyfunc
from mlflow.models import set_model

from pacegym.agents.export.runtime import (
    MANIFEST_FILE,
    RECURRENT_SCHEMA,
    SEGMENT_SCHEMA,
    load,
    load_recurrent_pacer,
    load_segment_pacer,
    serve_columns,
)
from pacegym.agents.export.runtime.manifest import MAX_MANIFEST_BYTES


def _schema(root: str) -> Any:
    """The ``schema`` field of ``root``'s manifest, to pick the loader (which checks it all
    again, on the bytes it pins); None if unreadable (the loader then says why)."""
    try:
        with open(os.path.join(root, MANIFEST_FILE), "rb") as f:
            m = json.loads(f.read(MAX_MANIFEST_BYTES + 1))
    except (OSError, ValueError):
        return None
    return m.get("schema") if isinstance(m, dict) else None


class PacerModel(mlflow.pyfunc.PythonModel):
    """Serves ``load(artifacts["pacer"], expected_digest=model_config["manifest_sha256"])``."""

    def load_context(self, context: Any) -> None:
        config = context.model_config or {}
        if not config.get("manifest_sha256"):
            raise ValueError(
                "model_config.manifest_sha256 is missing: register the pacer with"
                " pacegym's register_pacer, which pins its manifest digest"
            )
        root, digest = context.artifacts["pacer"], config["manifest_sha256"]
        schema = _schema(root)
        self.segments, self.recurrent = schema == SEGMENT_SCHEMA, schema == RECURRENT_SCHEMA
        if self.segments:  # the pin is checked on the very bytes load_segment_pacer parses
            self.pacer = load_segment_pacer(root, threads=1, expected_digest=digest)
        elif self.recurrent:  # the same: state in, state out by named columns
            self.pacer = load_recurrent_pacer(root, threads=1, expected_digest=digest)
        else:
            self.pacer = load(root, expected_digest=digest)

    # no type hints on predict: MLflow would try to derive a schema from them
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        if hasattr(model_input, "columns"):  # pandas DataFrame
            model_input = {str(c): model_input[c].to_numpy() for c in model_input.columns}
        if self.segments or self.recurrent:
            import pandas as pd

            if self.recurrent:
                return pd.DataFrame(self.pacer.serve_columns(model_input))
            return pd.DataFrame(serve_columns(self.pacer, model_input))
        return self.pacer(model_input)


set_model(PacerModel())
