"""A segment pacer registered in MLflow: pinned like the volume pacers, served by named
float64 columns with the campaign's state in and out, the same numbers as ``step``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pacegym.agents.export.runtime import frame_inputs, frame_outputs, load_segment_pacer
from pacegym.agents.export.segment_export import export_segment_controller
from pacegym.baselines.factory import load_controller_yaml
from pacegym.envs.spaces import obs_width
from pacegym.resources import find_config

from .test_registry import _logged_pacer_dir, store  # noqa: F401 (fixture)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["smart_pacing", "lp_split"])
def test_a_registered_segment_pacer_serves_state_in_and_out(kind, tmp_path, store):  # noqa: F811
    import mlflow
    import pandas as pd

    from pacegym.agents.export.registry import register_pacer

    ctrl = load_controller_yaml(find_config("controller", f"value_channels/{kind}_tuned"))
    art = export_segment_controller(ctrl, "value_channels", tmp_path / kind)
    pacer = load_segment_pacer(art)
    with pytest.raises(ValueError, match="differs from expected_digest"):
        register_pacer(art, f"seg-{kind}", expected_digest="0" * 64)
    uri, _ = register_pacer(art, f"seg-{kind}")
    served = mlflow.pyfunc.load_model(uri)

    rng = np.random.default_rng(0)
    obs = rng.random((5, obs_width(12))).astype(np.float32)
    obs[:, 0] = 0.0
    state = pacer.initial_state(5)
    for _ in range(3):
        want, state_next = pacer.step(obs, state)
        both = np.concatenate([obs.astype(np.float64), state], axis=1)
        df = pd.DataFrame(both, columns=frame_inputs(pacer))
        got = served.predict(df)
        assert list(got.columns) == frame_outputs(pacer)
        np.testing.assert_array_equal(got.to_numpy()[:, :12], want)
        np.testing.assert_array_equal(got.to_numpy()[:, 12:], state_next)
        state = got.to_numpy()[:, 12:].copy()  # the caller keeps the state, not the model
        obs[:, 0] += 0.01
    with pytest.raises(Exception, match=r"state\.") as err:
        served.predict(df.drop(columns=[frame_inputs(pacer)[-1]]))
    assert "missing" in str(err.value).lower()

    logged = _logged_pacer_dir(tmp_path)
    m = json.loads((logged / "manifest.json").read_text())
    m["policy"]["params"]["kp" if kind == "lp_split" else "rate"] = 0.5
    (logged / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="differs from expected_digest"):
        mlflow.pyfunc.load_model(uri)
