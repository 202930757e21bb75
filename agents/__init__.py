"""SB3 agents on the batched pacing env: training view, residual policies, controllers, training.

Public names (imported lazily, so ``agents.export``'s numpy-only parts never pull in
torch): ``PacingVecEnv`` (SB3 VecEnv view), ``ResidualVecEnv`` and ``compose``
(residual policies), ``SB3Controller``/``load_controller``/``save_model`` (trained
policies behind the ``Controller`` protocol), ``AgentSettings``/``TrainSettings``
(the typed agent and training settings, the one source of their defaults),
``train_agent``/``TrainResult`` (training with held-out evaluation, checkpoints and
exact resume).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PacingVecEnv": "pacegym.agents.vec_env",
    "ResidualVecEnv": "pacegym.agents.residual",
    "compose": "pacegym.agents.residual",
    "SB3Controller": "pacegym.agents.policy",
    "load_controller": "pacegym.agents.policy",
    "save_model": "pacegym.agents.policy",
    "AgentSettings": "pacegym.agents.settings",
    "TrainSettings": "pacegym.agents.settings",
    "TrainResult": "pacegym.agents.training",
    "train_agent": "pacegym.agents.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
