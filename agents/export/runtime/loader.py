"""``load``: an artifact directory to a ready ``Pacer``, every file checked first."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .frontend import Pacer
from .kinds import PolicyKind
from .manifest import PacerError, load_arrays, read_file
from .mlp import MlpPolicy
from .onnx_backend import OnnxPolicy
from .residual import ResidualPolicy
from .rule import RulePolicy
from .schema import read_manifest_digest
from .workers import MAX_THREADS, usable_cpus

KINDS: dict[str, Callable[[Mapping[str, Any], str, Mapping[str, np.ndarray]], PolicyKind]] = {
    "mlp": MlpPolicy.from_artifact,
    "rule": RulePolicy.from_artifact,
    "residual": ResidualPolicy.from_artifact,
}
"""``manifest.policy.kind`` -> ``from_artifact(manifest, root, arrays)`` of its class."""
BACKENDS = ("numpy", "onnx")


def build_policy(m: dict[str, Any], root: str, backend: str, threads: int | None) -> PolicyKind:
    """The policy kind of the checked manifest ``m`` for ``backend``."""
    if backend not in BACKENDS:
        raise PacerError(f"backend = {backend!r}: allowed {', '.join(map(repr, BACKENDS))}")
    if backend == "onnx":
        return OnnxPolicy.from_artifact(m, root, threads)
    arrays = load_arrays(root, m)
    kind = m["policy"]["kind"]
    if kind not in KINDS:
        raise PacerError(f"policy.kind = {kind!r}: allowed {', '.join(map(repr, KINDS))}")
    return KINDS[kind](m, root, arrays)


def load(
    path: str | os.PathLike[str],
    *,
    features: Sequence[str] | None = None,
    budget_guard: bool | None = None,
    backend: str = "numpy",
    threads: int | None = None,
    expected_digest: str | None = None,
) -> Pacer:
    """Load and check the artifact directory ``path``; return a ready ``Pacer``.

    ``features``: the feature names the caller will send; refused unless they are exactly
    the artifact's (order may differ for mapping inputs). ``budget_guard``: override the
    manifest's ``safety.budget_guard``. ``backend``: ``numpy`` (default) or ``onnx``
    (needs onnxruntime). ``threads``: numpy backend, the worker threads that share calls of
    more than ``CHUNK_ROWS`` rows (default: the usable CPUs, at most ``MAX_THREADS``; 1 runs
    everything in the caller's thread, for services that already run one call per core);
    onnx backend, onnxruntime's intra-op threads (default: its own choice).
    ``expected_digest``: the sha256 that ``manifest.json`` must have (e.g. the registered
    model's ``pacer.manifest_sha256`` tag); the manifest holds the sha256 of every other
    file, all checked here, so this pins the whole artifact. Without it the checks prove
    integrity only (see ``schema``). Nothing in the artifact is ever imported or executed:
    its files are JSON, npz without pickle and, for the onnx backend, an ONNX graph.
    """
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise PacerError(f"threads = {threads!r}: allowed an integer >= 1, or None (automatic)")
    root = os.fspath(path)
    m, digest = read_manifest_digest(root, expected_digest)
    for fname, fdigest in m["files"].items():
        if read_file(root, fname, f"files.{fname}")[1] != fdigest:
            raise PacerError(
                f"files.{fname}: sha256 differs from the manifest's; the file is corrupted or"
                " was changed after export: refusing to load"
            )
    names = [f["name"] for f in m["observation"]["features"]]
    if features is not None:
        missing = [n for n in names if n not in features]
        extra = [n for n in features if n not in names]
        if missing or extra:
            raise PacerError(
                f"features: the artifact needs {missing} that the caller lacks, and does not"
                f" take {extra}; expected exactly {names}"
            )
    policy = build_policy(m, root, backend, threads)
    guard = bool(m["safety"].get("budget_guard", False)) if budget_guard is None else budget_guard
    workers = (threads or min(usable_cpus(), MAX_THREADS)) if backend == "numpy" else 1
    pacer = Pacer(m, policy, root, guard, workers)
    pacer.manifest_sha256 = digest
    return pacer


load_pacer = load
