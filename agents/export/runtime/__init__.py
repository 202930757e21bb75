"""pacegym pacer runtime: serve an exported pacing policy with numpy alone.

Every exported artifact ships this package as one file, ``pacer.py``, generated from its
modules by ``agents/export/bundle.py``; it imports only numpy and the standard library
(never torch, stable-baselines3, gymnasium, hydra or mlflow), and never unpickles anything.

    from pacegym.agents.export import load_pacer  # or the artifact's pacer.py, imported by the
    p = load_pacer("artifacts/pacer", expected_digest=approved)  # pinned bootstrap of
    # docs/export.md, never with the folder on sys.path; checks schema, features, every sha256
    throttles = p({"time_elapsed": [...], ...})   # or a 2-D array in manifest feature order

Contract of ``Pacer.__call__(observations)``:
- input: a mapping ``{feature name: 1-D array}`` with exactly the manifest's features, or a
  ``(n, n_features)`` array in the manifest's order (a 1-D array is one campaign);
- output: ``(n,)`` float64 throttles (pass-through rates) in [0, 1], never NaN;
- a row with any NaN, infinite or out-of-range feature (outside the manifest's
  ``[low, high]``) gets ``safety.fallback_throttle`` (default 0.0: stop serving) and is
  flagged in ``Pacer.last_invalid``; the policy never sees it;
- with ``safety.budget_guard`` on, a row with ``reported_spend + in_flight >= 1`` (reported
  plus in-flight spend has reached the budget) gets throttle 0 and is flagged in
  ``Pacer.last_guarded``;
- a call of more than ``CHUNK_ROWS`` rows to an MLP or residual policy is shared among
  worker threads (``load(..., threads=...)``); results agree with one thread to float32
  rounding (BLAS thread counts change the summation order; tested to 1e-7).

Refused at load time with ``PacerError`` (never a silent wrong answer): an unknown schema
or schema version, missing or duplicated manifest fields, features that do not match the
weights or the caller's ``features=`` list, a weights file whose sha256 differs from the
manifest's (corrupted or tampered), arrays whose shape or dtype differs from the manifest,
object arrays (no pickle), and unknown policy kinds, activations or action mappings.
The ``Pacer`` is also a pacegym ``Controller`` (``name``, ``reset(n)``, ``act(obs)``).

Modules (``pacer.py`` holds them in this order, ``bundle.RUNTIME_MODULES``): ``manifest``
(schema, field checks, checksummed files), ``normalize`` (VecNormalize's formula),
``workers`` (threads, BLAS), ``kinds`` (the ``PolicyKind`` protocol, the action mapping),
``plans`` (the plan shapes, which the simulator uses too), ``rule_params`` and
``controllers`` (the baseline rules' parameter table and arithmetic, which ``baselines/``
runs in process too), ``segment_state``, ``segment_fill``, ``smart_pacing``, ``lp_split``
(the stateful segment kinds' arithmetic and state layouts, which ``baselines/`` runs in
process too), ``segment_pacer`` (the per-segment pacer of value scenarios, kinds
``dual_price``, ``smart_pacing``, ``lp_split``, its own one-file artifact), ``segment_frame``
(it, served by named columns, state in and out), ``mlp``, ``segment_pad`` (the padded
input of a policy serving every segment count up to ``max_segments``), ``segment_residual``
(a padded residual agent on a per-segment base, its own artifact), ``recurrent_manifest`` and
``recurrent`` (the ``lstm`` pacer whose per-campaign state the caller carries, its own
artifact; rows on worker threads), ``rule``,
``residual``, ``onnx_backend`` (one policy kind
each), ``frontend`` (the ``Pacer``), ``schema`` and ``loader`` (``load``).
"""

from .controllers import FEATURES, Rule, capacity_throttle
from .frontend import SMALL_ROWS, Pacer
from .kinds import ActionMap, PolicyKind, RowPath
from .loader import BACKENDS, KINDS, build_policy, load, load_pacer
from .manifest import (
    ACTION_MAPPINGS,
    MANIFEST_FILE,
    SCHEMA,
    SCHEMA_VERSION,
    PacerError,
    sha256_file,
)
from .mlp import ACTIVATIONS, CHUNK_ROWS, Mlp, MlpPolicy
from .normalize import Normalization
from .onnx_backend import OnnxPolicy
from .plans import PLAN_SHAPES, plan_cumulative, shape
from .recurrent import RecurrentPacer, load_recurrent_pacer
from .recurrent_manifest import RECURRENT_SCHEMA
from .residual import ResidualPolicy
from .rule import RulePolicy
from .rule_params import RULE_PARAMS, RuleParam, check_params, rule_problem
from .schema import MANIFEST, check_digest, check_manifest, manifest_digest, read_manifest
from .segment_frame import frame_inputs, frame_outputs, serve_columns
from .segment_pacer import SEGMENT_KINDS, SEGMENT_SCHEMA, SegmentPacer, load_segment_pacer
from .segment_pad import SegmentPad
from .segment_residual import (
    SEGMENT_RESIDUAL_SCHEMA,
    SegmentResidualPacer,
    load_segment_residual_pacer,
)
from .workers import MAX_THREADS, Workers, usable_cpus

__all__ = [
    "ACTION_MAPPINGS",
    "ACTIVATIONS",
    "BACKENDS",
    "CHUNK_ROWS",
    "FEATURES",
    "KINDS",
    "MANIFEST",
    "MANIFEST_FILE",
    "MAX_THREADS",
    "PLAN_SHAPES",
    "RECURRENT_SCHEMA",
    "RULE_PARAMS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SEGMENT_KINDS",
    "SEGMENT_RESIDUAL_SCHEMA",
    "SEGMENT_SCHEMA",
    "SMALL_ROWS",
    "ActionMap",
    "Mlp",
    "MlpPolicy",
    "Normalization",
    "OnnxPolicy",
    "Pacer",
    "PacerError",
    "PolicyKind",
    "RecurrentPacer",
    "ResidualPolicy",
    "RowPath",
    "Rule",
    "RuleParam",
    "RulePolicy",
    "SegmentPacer",
    "SegmentPad",
    "SegmentResidualPacer",
    "Workers",
    "build_policy",
    "capacity_throttle",
    "check_digest",
    "check_manifest",
    "check_params",
    "frame_inputs",
    "frame_outputs",
    "load",
    "load_pacer",
    "load_recurrent_pacer",
    "load_segment_pacer",
    "load_segment_residual_pacer",
    "manifest_digest",
    "plan_cumulative",
    "read_manifest",
    "rule_problem",
    "serve_columns",
    "sha256_file",
    "shape",
    "usable_cpus",
]
