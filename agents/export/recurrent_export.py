"""Export a RecurrentPPO model as an ``lstm`` pacer artifact (writer side).

``recurrent_manifest(model, ...)`` and ``lstm_arrays(model)`` read sb3_contrib's
``RecurrentActorCriticPolicy``: the actor's ``nn.LSTM`` (``lstm_actor``; unidirectional,
no projection, with biases) and the dense layers after it (``mlp_extractor.policy_net``,
``action_net``). ``export_recurrent(model, out_dir, ...)`` writes ``manifest.json`` and
``weights.npz``, loads them once with the runtime (``runtime.recurrent``) and publishes
the folder. The critic is not exported: serving needs the deterministic actor only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.agents.export.publish import publish_npz_artifact
from pacegym.agents.export.runtime.normalize import Normalization
from pacegym.agents.export.runtime.recurrent import load_recurrent_pacer
from pacegym.agents.export.runtime.recurrent_manifest import (
    RECURRENT_SCHEMA,
    RECURRENT_SCHEMA_VERSION,
    RESET_RULE,
    STATE_LAYOUT,
    WEIGHTS_FILE,
)
from pacegym.agents.export.sb3_policy import ExportError, module_layers
from pacegym.envs.spaces import THROTTLE_DECADES


def lstm_arrays(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``({layers, hidden, dense activations}, arrays)`` of a RecurrentPPO actor."""
    from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
    from stable_baselines3.common.torch_layers import FlattenExtractor

    policy = getattr(model, "policy", model)
    if not isinstance(policy, RecurrentActorCriticPolicy):
        raise ExportError(f"policy {type(policy).__name__}: allowed RecurrentActorCriticPolicy")
    if not isinstance(policy.pi_features_extractor, FlattenExtractor):
        raise ExportError("features extractor: only FlattenExtractor")
    lstm = policy.lstm_actor
    if lstm.bidirectional or lstm.proj_size or not lstm.bias:
        raise ExportError("lstm_actor: allowed unidirectional, no proj_size, with bias")
    if policy.squash_output:
        raise ExportError("squashed actor (use_sde): export a policy trained without it")
    arrays: dict[str, np.ndarray] = {}
    for k in range(lstm.num_layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            t = getattr(lstm, f"{name}_l{k}").detach().cpu().numpy().astype(np.float32)
            key = name.replace("weight", "w").replace("bias", "b")
            arrays[f"lstm_{key}_{k}"] = np.ascontiguousarray(t)
    dense = module_layers([*policy.mlp_extractor.policy_net, policy.action_net])
    for j, (w, b, _) in enumerate(dense):
        arrays[f"dense_w_{j}"], arrays[f"dense_b_{j}"] = w, b
    spec = {
        "layers": int(lstm.num_layers),
        "hidden": int(lstm.hidden_size),
        "dense": [act for _, _, act in dense],
    }
    return spec, arrays


def recurrent_manifest(
    model: Any,
    features: Sequence[str],
    inputs: Sequence[str],
    segments: Sequence[str] = (),
    *,
    normalization: Mapping[str, Any] | None = None,
    name: str = "pacer",
    source: Mapping[str, Any] | None = None,
    fallback: float = 0.0,
    max_segments: int = 0,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest (without ``files``) and arrays of ``model``. ``features``: the raw
    observation's column names (``envs.spaces.obs_names(segments)``); ``inputs``: those the
    network reads, in order (``agent.json``'s ``obs_names``); ``normalization``:
    ``{mean, var, epsilon, clip}`` (``agent.json``'s ``obs_norm``) or None;
    ``max_segments``: a padded policy's ``M`` (``observation.max_segments``; 0: none)."""
    spec, arrays = lstm_arrays(model)
    space = model.policy.action_space
    norm = None
    if normalization is not None:
        Normalization.from_spec(normalization, len(inputs), where="normalization")
        norm = {k: normalization[k] for k in ("mean", "var", "epsilon", "clip")}
        norm["rule"] = Normalization.RULE
    m = {
        "schema": RECURRENT_SCHEMA,
        "schema_version": RECURRENT_SCHEMA_VERSION,
        "name": name,
        "observation": {
            "features": list(features),
            "segments": list(segments),
            "width": len(features),
            **({"max_segments": int(max_segments)} if max_segments else {}),
        },
        "policy": {"kind": "lstm", "inputs": list(inputs), "normalization": norm, **spec},
        "action": {
            "width": int(np.prod(space.shape)),
            "low": float(np.min(space.low)),
            "high": float(np.max(space.high)),
            "mapping": "log10_decades",
            "decades": THROTTLE_DECADES,
            "fallback": float(fallback),
        },
        "state": {"layout": STATE_LAYOUT, "size": 2 * spec["layers"] * spec["hidden"]},
        "source": {"kind": "sb3-recurrent", "algo": type(model).__name__, **dict(source or {})},
    }
    m["state"]["reset"] = RESET_RULE
    return m, arrays


def export_recurrent(
    model: Any,
    out_dir: str | Path,
    features: Sequence[str],
    inputs: Sequence[str],
    segments: Sequence[str] = (),
    *,
    overwrite: bool = False,
    **keywords: Any,
) -> Path:
    """Write the ``lstm`` artifact of ``model`` to ``out_dir`` (new or empty; with
    ``overwrite`` a previous artifact); ``keywords`` are ``recurrent_manifest``'s. It is
    loaded once by the runtime before it is published."""
    m, arrays = recurrent_manifest(model, features, inputs, segments, **keywords)
    return publish_npz_artifact(out_dir, overwrite, load_recurrent_pacer, m, WEIGHTS_FILE, arrays)


def export_recurrent_model_dir(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    name: str | None = None,
    source: Mapping[str, Any] | None = None,
    fallback: float = 0.0,
) -> Path:
    """The ``lstm`` artifact of a RecurrentPPO model directory written by pacegym-train
    (``agents.policy.save_model``: its ``agent.json`` gives inputs, normalisation, segments);
    ``name`` (default the agent's), ``source`` (more of the manifest's free-form ``source``)
    and ``fallback`` (the throttle of a row with a non-finite value) as ``recurrent_manifest``."""
    from pacegym.agents.model_dir import MODEL_FILE, read_agent_meta
    from pacegym.agents.model_io import load_model
    from pacegym.envs.spaces import obs_names

    d = Path(model_dir)
    meta = read_agent_meta(d)
    if meta.get("algo") != "recurrent_ppo" or meta.get("residual"):
        raise ExportError(
            f"{d}: algo = {meta.get('algo')!r}, residual = {bool(meta.get('residual'))}:"
            " an lstm artifact takes a plain recurrent_ppo model"
        )
    model = load_model(d / MODEL_FILE, "recurrent_ppo", policy=meta.get("policy"))
    segments = list(meta.get("segments") or ())
    m = int(meta.get("max_segments") or 0)
    if m:  # a padded policy serves any count <= m: its columns are slots, not named segments
        segments = [str(j) for j in range(m)]
    return export_recurrent(
        model,
        out_dir,
        list(obs_names(tuple(segments))),
        list(meta["obs_names"]),
        [] if m else segments,
        normalization=meta.get("obs_norm"),
        name=str(name or meta.get("name", "pacer")),
        source={"model_dir": str(d), "scenario": meta.get("scenario"), **dict(source or {})},
        fallback=fallback,
        overwrite=overwrite,
        max_segments=m,
    )


class Lockstep:
    """A ``Controller`` serving the ``lstm`` pacer, with sb3_contrib's ``predict`` of the same
    model run beside it on the very same observations (both from zeros at ``reset(n)``: the
    reset rule; each carrying its own state after). The pacer's throttles drive the env
    (``baselines.harness.run_episodes``: the metrics are the pacer's). Two errors, max
    |pacer action - predict action| over every row of every tick:

    - ``step_error``: the pacer started from ``predict``'s own state at each tick (the
      function the artifact computes; float32 rounding only, about 1e-7);
    - ``free_error``: the pacer on its own carried state, as served (float32 rounding
      differences of the two implementations add up in the LSTM's cell state over a flight).

    ``model_input``: the observation as the model reads it (``agent.json``'s features,
    normalisation and ``max_segments``, independent of the artifact's manifest): a padded
    model (``max_segments``) is run on ``agents.features.segment_pad``'s layout of each
    call's ``S`` segments and its first ``S`` actions compared.
    """

    def __init__(
        self,
        pacer: Any,
        model: Any,
        obs_norm: Any = None,
        features: Any = (),
        max_segments: int = 0,
    ) -> None:
        from pacegym.agents.features import segment_pad

        self.pacer, self.model, self.name = pacer, model, pacer.name
        self.norm = Normalization.from_spec(obs_norm, where="obs_norm") if obs_norm else None
        self.features = list(features)
        self.pad = segment_pad(self.features, max_segments, False) if max_segments else None
        self.step_error = self.free_error = 0.0
        self.rows = 0
        self.reset(0)

    def reset(self, n: int) -> None:
        """``n`` new campaigns for both (zeros; ``predict`` with ``episode_start``)."""
        self.state, self.ref_state = self.pacer.initial_state(n), None
        self.starts = np.ones(n, dtype=bool)

    def _ref_state_rows(self, n: int) -> np.ndarray:
        """``predict``'s ``(h, c)`` (``(L, n, H)`` each) as state rows ``(n, 2 L H)``."""
        if self.ref_state is None:
            return self.pacer.initial_state(n)
        return np.concatenate([np.swapaxes(v, 0, 1).reshape(n, -1) for v in self.ref_state], 1)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The pacer's throttles (as ``RecurrentPacer.act``); both errors updated."""
        n = len(obs)
        if self.starts.shape[0] != n:
            self.reset(n)
        z = self.model_input(obs)
        forced, _ = self.pacer.actions(obs, self._ref_state_rows(n))
        want, self.ref_state = self.model.predict(
            z, state=self.ref_state, episode_start=self.starts, deterministic=True
        )
        self.starts = np.zeros(n, dtype=bool)
        want = np.asarray(want, dtype=np.float64).reshape(n, -1)[:, : forced.shape[1]]
        got, self.state = self.pacer.actions(obs, self.state)
        for name, a in (("step_error", forced), ("free_error", got)):
            err = float(np.abs(a - want).max(initial=0.0))
            setattr(self, name, max(getattr(self, name), err if err == err else float("inf")))
        self.rows += n
        th = self.pacer.throttles(got)
        return th[:, 0] if not self.pacer.segments and self.pacer.width == 1 else th

    def model_input(self, obs: np.ndarray) -> np.ndarray:
        """The model's float32 input for observations ``obs`` (class docstring)."""
        from pacegym.agents.features import feature_index, segments_of

        s = segments_of(obs.shape[1])
        x = np.asarray(obs, dtype=np.float64)[:, feature_index(self.features, s)]
        x = self.pad.spread(x, s) if self.pad is not None else x
        return self.norm(x) if self.norm is not None else x.astype(np.float32)

    @classmethod
    def of_model_dir(cls, pacer: Any, model_dir: str | Path) -> Lockstep:
        """The lockstep of ``pacer`` and the RecurrentPPO model folder it was exported from."""
        from pacegym.agents.model_dir import MODEL_FILE, read_agent_meta
        from pacegym.agents.model_io import load_model

        meta = read_agent_meta(model_dir)
        model = load_model(Path(model_dir) / MODEL_FILE, "recurrent_ppo", policy=meta.get("policy"))
        features, m = meta.get("features") or (), int(meta.get("max_segments") or 0)
        return cls(pacer, model, meta.get("obs_norm"), features, m)
