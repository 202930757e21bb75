"""Where a trained agent's files are: the model directory's file names and its resolver.

Light on purpose (pathlib and json only): the benchmark, compare and export apps find a
model directory before deciding whether to load torch. The layout is ``agents.policy``'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

AGENT_FILE = "agent.json"
"""In a model directory: everything that rebuilds the agent without pickle
(``agents.policy.agent_meta``)."""
MODEL_FILE = "model.zip"
"""In a model directory: the SB3 model (``<Algo>.load``)."""


def find_model_dir(path: str | Path) -> Path | None:
    """The model directory ``path`` names: ``path`` itself when it holds ``AGENT_FILE``,
    ``path/model`` when that does (a ``pacegym-train`` run dir), else None."""
    p = Path(path)
    for d in (p, p / "model"):
        if (d / AGENT_FILE).is_file():
            return d
    return None


def read_agent_meta(model_dir: str | Path) -> dict[str, Any]:
    """The ``AGENT_FILE`` of a model directory, parsed."""
    return json.loads((Path(model_dir) / AGENT_FILE).read_text())
