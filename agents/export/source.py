"""Find what to export: the leaderboard's winner, an MLflow run, a registered model, a file.

``Source`` carries one of: an SB3 model (+ its observation normalisation), a baseline
spec ``{"kind", "name", "params"}``, or an existing pacer directory; plus ``chosen_on``
(scenario, seed, episodes, metrics of the leaderboard row) and ``info`` (run id, URIs).

Leaderboard format read (``pacegym-compare``, ``experiments/leaderboard.py``): ``{"rows": [...], "winner":
{"name", "kind", "run_id", "params"?, "source"?: {"model_dir"}, ...}, "scenario", "seed",
"episodes"}``; a row matches the
winner by ``name``; its metrics are ``row["metrics"]`` (``{key: value}`` or ``{key:
{"mean": value}}``) or the row's own metric keys. Baseline parameters come from the
winner or its row (``params``), else the run's ``config.yaml``, else
``conf/controller/<name>.yaml``. A learned winner's files come from its MLflow run: the
SB3 ``model.zip`` (from ``source.model_dir`` when it exists locally, else the run's
artifacts) and, beside it, ``agent.json`` (``pacegym-train``: algo, ``obs_norm``,
``residual``); without ``obs_norm``, statistics files (``*.json``/``*.npz`` with ``mean``,
``var``, or ``vecnormalize.npz``). Nothing is unpickled: the model loads through
``agents.model_io.load_model``; a pickled ``VecNormalize`` (``.pkl``) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pacegym.agents.export.artifact import normalization_from_stats
from pacegym.agents.export.runtime.manifest import PacerError, npz_arrays
from pacegym.agents.export.sb3_policy import ExportError
from pacegym.agents.model_dir import AGENT_FILE, MODEL_FILE, read_agent_meta
from pacegym.envs.metrics import METRIC_KEYS
from pacegym.envs.spaces import OBS_FEATURES
from pacegym.resources import find_config

ALGOS = ("ppo", "a2c", "sac", "td3", "ddpg")
NORM_NAMES = ("vecnormalize", "vec_normalize", "normalization", "obs_rms")


@dataclass
class Source:
    """What to export and where it came from (see the module docstring)."""

    name: str
    model: Any = None
    normalization: dict[str, Any] | None = None
    controller: dict[str, Any] | None = None
    pacer_dir: Path | None = None
    residual: dict[str, Any] | None = None  # {"base": {kind, params}, "scale_decades"}
    recurrent_dir: Path | None = None  # a RecurrentPPO model directory: an ``lstm`` pacer
    padded_dir: Path | None = None  # a padded agent's model directory: a segment_residual pacer
    inputs: list[str] | None = None  # the features the model reads (agent.features); None: all
    chosen_on: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def row_metrics(row: dict[str, Any]) -> dict[str, float]:
    """``{metric key: mean}`` of a leaderboard row (keys of ``envs.metrics.METRIC_KEYS``)."""
    src = row.get("metrics", row)
    out: dict[str, float] = {}
    for k in METRIC_KEYS:
        v = src.get(k) if isinstance(src, dict) else None
        if isinstance(v, dict):
            v = v.get("mean")
        if isinstance(v, int | float):
            out[k] = float(v)
    return out


def is_baseline(kind: str) -> bool:
    """A deployable rule, or a value-aware one (exported as a segment pacer)."""
    from pacegym.baselines.factory import CONTROLLERS, VALUE_AWARE

    return kind in CONTROLLERS or kind in VALUE_AWARE


def from_leaderboard(path: str | Path) -> Source:
    """The winner of ``leaderboard.json``, resolved through MLflow when it is learned."""
    p = Path(path)
    if not p.is_file():
        raise ExportError(f"export.source.leaderboard = {str(p)!r}: file not found")
    board = _json(p, "source.leaderboard", 64)
    winner = board.get("winner") if isinstance(board, dict) else None
    if not isinstance(winner, dict) or "kind" not in winner or "name" not in winner:
        raise ExportError(f"{p}: no 'winner' with 'name' and 'kind' (pacegym-compare output)")
    row = next((r for r in board.get("rows", []) if r.get("name") == winner["name"]), {})
    chosen = {
        "leaderboard": str(p.resolve()),
        "name": winner["name"],
        # the whole scenario where the leaderboard has it (a suite scenario's name is not a
        # config name), else its name
        "scenario": board.get("scenario_config") or board.get("scenario", row.get("scenario")),
        "seed": board.get("seed", row.get("seed")),
        "episodes": board.get("episodes", row.get("episodes")),
        "metrics": row_metrics(row) or row_metrics(winner),
    }
    run_id = winner.get("run_id") or row.get("run_id")
    kind = str(winner["kind"])
    if is_baseline(kind):
        compared = ((winner.get("source") or {}).get("controller") or {}).get("params")
        params = winner.get("params", row.get("params", compared))  # compare: source.controller
        spec = {"kind": kind, "name": winner["name"], "params": params}
        if params is None:
            spec = _baseline_spec(kind, winner["name"], run_id)
        src = Source(winner["name"], controller=spec, chosen_on=chosen)
    else:
        model_dir = (winner.get("source") or {}).get("model_dir")
        if model_dir and (Path(model_dir) / MODEL_FILE).is_file():
            src = from_files(Path(model_dir) / MODEL_FILE, None, kind)
        elif run_id:
            src = from_run(run_id, algo=kind)
        else:
            raise ExportError(
                f"{p}: learned winner {winner['name']!r} has neither source.model_dir nor run_id"
            )
        src.name = winner["name"]
        src.chosen_on = chosen
    src.info.update({"leaderboard": str(p.resolve()), "run_id": run_id, "winner_kind": kind})
    return src


def _baseline_spec(kind: str, name: str, run_id: str | None) -> dict[str, Any]:
    if run_id:
        import mlflow

        try:
            cfg = mlflow.artifacts.load_dict(f"runs:/{run_id}/config.yaml")
        except Exception:
            cfg = {}
        for node in [cfg.get("controller"), *dict(cfg.get("controllers") or {}).values()]:
            named = isinstance(node, dict) and node.get("name") in (name, None, "")
            if (
                isinstance(node, dict)
                and node.get("kind") == kind
                and (named or not cfg.get("controllers"))
            ):
                return {"kind": kind, "name": name, "params": dict(node.get("params") or {})}
    for yaml_path in (find_config("controller", name), find_config("controller", f"{kind}_tuned")):
        if yaml_path is not None:
            from pacegym.envs import yaml_io

            data = yaml_io.load(yaml_path.read_text(encoding="utf-8"))
            return {"kind": kind, "name": name, "params": dict(data.get("params") or {})}
    raise ExportError(
        f"baseline winner {name!r} ({kind}): no params in the leaderboard, run {run_id} or"
        f" a controller config {kind}_tuned.yaml (./conf/controller or the package's)"
    )


def from_run(run_id: str, algo: str | None = None) -> Source:
    """The SB3 model (and normalisation) logged by MLflow run ``run_id``."""
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id))
    src = from_files(_find_model(local), _find_norm(local), algo or _run_algo(run_id))
    src.info["run_id"] = run_id
    return src


def from_model_uri(uri: str) -> Source:
    """A registered model: a pacer pyfunc (re-exported as is) or an SB3 model."""
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    manifests = sorted(local.rglob("manifest.json"))
    if manifests:
        return Source(local.name, pacer_dir=manifests[0].parent, info={"model_uri": uri})
    src = from_files(_find_model(local), _find_norm(local), None)
    src.info["model_uri"] = uri
    return src


def from_files(model_path: str | Path, norm_path: str | Path | None, algo: str | None) -> Source:
    """An SB3 ``.zip`` and optional normalisation statistics on disk (trusted: own runs)."""
    meta_path = Path(model_path).parent / AGENT_FILE
    meta = read_agent_meta(meta_path.parent) if meta_path.is_file() else {}
    if meta.get("recurrent"):  # exported as an lstm pacer (agents.export.recurrent_export)
        info = {"model_path": str(model_path), "algo": str(meta.get("algo"))}
        return Source(Path(model_path).stem, recurrent_dir=meta_path.parent, info=info)
    if meta.get("max_segments"):  # padded: a segment_residual pacer (segment_residual_export)
        info = {"model_path": str(model_path), "algo": str(meta.get("algo"))}
        return Source(Path(model_path).stem, padded_dir=meta_path.parent, info=info)
    if meta.get("segments"):
        raise ExportError(
            f"{model_path}: an agent of {len(meta['segments'])} segments trained without "
            "agent.max_segments has no pacer kind: allowed a padded residual agent "
            "(agent.max_segments > 0, a segment_residual pacer) or a RecurrentPPO (an lstm pacer)"
        )
    if str(algo or "").lower() == "recurrent_ppo":
        raise ExportError(
            f"{model_path}: a recurrent_ppo model exports from its model folder: allowed a"
            f" model.zip with the {AGENT_FILE} that pacegym-train writes beside it"
        )
    model = load_sb3(Path(model_path), algo or meta.get("algo"), meta.get("policy"))
    residual = read_residual(meta)
    inputs = read_inputs(meta)
    n = len(inputs) if inputs is not None else len(OBS_FEATURES)
    n += 0 if residual is None else 1
    if meta.get("obs_norm") is not None:  # pacegym-train's agent.json: plain numbers, no pickle
        o = meta["obs_norm"]
        norm = normalization_from_stats(o["mean"], o["var"], o["epsilon"], o["clip"], n)
        norm_path = meta_path
    else:
        norm = load_normalization(Path(norm_path), n) if norm_path else None
    info = {"model_path": str(model_path), "normalization_path": str(norm_path or "")}
    return Source(
        Path(model_path).stem,
        model=model,
        normalization=norm,
        residual=residual,
        inputs=inputs,
        info=info,
    )


def read_inputs(meta: dict[str, Any]) -> list[str] | None:
    """The observation features an ``agent.json``'s model reads (``features``), None when
    it reads all of them; unknown names raise ``ExportError``."""
    names = meta.get("features")
    if not names or list(names) == [f.name for f in OBS_FEATURES]:
        return None
    known = {f.name for f in OBS_FEATURES}
    if not isinstance(names, list) or any(n not in known for n in names):
        raise ExportError(f"{AGENT_FILE} features = {names!r}: allowed names of {sorted(known)}")
    return [str(n) for n in names]


def read_residual(d: dict[str, Any]) -> dict[str, Any] | None:
    """``{"base", "scale_decades"}`` from the ``agent.json`` saved beside a residual model."""
    res = d.get("residual", d) if isinstance(d, dict) else {}
    if not isinstance(res, dict) or not res.get("enabled", "base" in res) or "base" not in res:
        return None
    return {"base": dict(res["base"]), "scale_decades": float(res.get("scale_decades", 1.0))}


def load_sb3(path: Path, algo: str | None, policy: str | None = None) -> Any:
    """The SB3 model of ``path`` (``agents.model_io.load_model``: nothing unpickled)."""
    from pacegym.agents.model_io import ModelFileError, load_model

    names = [algo.lower()] if algo and algo.lower() in ALGOS else list(ALGOS)
    errors = []
    for n in names:
        try:
            return load_model(path, n, policy=policy)
        except ModelFileError as e:
            if len(names) == 1 or "weights" not in str(e):
                raise ExportError(str(e)) from None
            errors.append(n)
    raise ExportError(f"{path}: not loadable as an SB3 model of {', '.join(errors)}")


def load_normalization(path: Path, n: int | None = None) -> dict[str, Any]:
    """Statistics from JSON/npz (``mean``, ``var``, ``epsilon``?, ``clip_obs``/``clip``?, or
    ``vecnormalize.npz``'s ``obs_mean``, ``obs_var``, ``settings``); never a pickle."""
    if path.suffix == ".json":
        d = (
            read_agent_meta(path.parent)
            if path.name == AGENT_FILE
            else _json(path, "statistics", 16)
        )
    elif path.suffix == ".npz":
        try:
            d = npz_arrays(str(path), str(path))
        except PacerError as e:
            raise ExportError(str(e)) from None
        if "obs_mean" in d:  # agents.vecnorm_io.save_vecnormalize
            clip, _, _, eps = (float(v) for v in d["settings"])
            return normalization_from_stats(d["obs_mean"], d["obs_var"], eps, clip, n)
    elif path.suffix == ".pkl":
        raise ExportError(
            f"export.source.normalization_path = {str(path)!r}: a pickle is never read; retrain"
            " (pacegym-train writes vecnormalize.npz) or give the statistics as .json/.npz"
        )
    else:
        raise ExportError(f"{path}: normalisation statistics must be .json or .npz")
    d = d.get("obs_rms", d) if isinstance(d, dict) else d
    if not isinstance(d, dict) or "mean" not in d or "var" not in d:
        raise ExportError(f"{path}: normalisation statistics need 'mean' and 'var'")
    clip = d.get("clip_obs", d.get("clip", 10.0))
    eps = float(np.asarray(d.get("epsilon", 1e-8)))
    return normalization_from_stats(d["mean"], d["var"], eps, float(np.asarray(clip)), n)


def _json(path: Path, key: str, depth: int) -> Any:
    """A JSON file of at most 16 MiB nesting at most ``depth`` levels (one-line errors)."""
    from pacegym.agents.model_io import MAX_DATA_BYTES, ModelFileError, parse_json

    size = path.stat().st_size
    if size > MAX_DATA_BYTES:
        raise ExportError(f"{path}: {key} = {size} bytes: allowed at most {MAX_DATA_BYTES}")
    try:
        return parse_json(path.read_bytes(), path, key, depth)
    except ModelFileError as e:
        raise ExportError(str(e)) from None


def _find_model(root: Path) -> Path:
    zips = sorted(root.rglob("*.zip"))
    if not zips:
        raise ExportError(f"{root}: no SB3 model (.zip) among the artifacts")
    best = [z for z in zips if "best" in z.stem] or [z for z in zips if "model" in z.stem] or zips
    return best[0]


def _find_norm(root: Path) -> Path | None:
    """Statistics file beside the model; ``agent.json``'s ``obs_norm`` wins in ``from_files``."""
    for p in sorted(root.rglob("*")):
        if p.suffix in (".json", ".npz", ".pkl") and any(n in p.stem.lower() for n in NORM_NAMES):
            return p
    return None


def _run_algo(run_id: str) -> str | None:
    import mlflow

    run = mlflow.get_run(run_id)
    return run.data.params.get("agent.algo") or run.data.tags.get("policy_kind")
