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


MAX_AGENT_BYTES = 1 << 20  # [bytes] an AGENT_FILE
MAX_AGENT_DEPTH = 16  # nesting of an AGENT_FILE's JSON


def read_agent_meta(model_dir: str | Path) -> dict[str, Any]:
    """The ``AGENT_FILE`` of a model directory, parsed: at most ``MAX_AGENT_BYTES`` and
    ``MAX_AGENT_DEPTH`` levels, a JSON object; ``ValueError`` naming the file otherwise."""
    path = Path(model_dir) / AGENT_FILE
    size = path.stat().st_size
    if size > MAX_AGENT_BYTES:
        raise ValueError(f"{AGENT_FILE} = {str(path)!r}: {size} bytes: allowed {MAX_AGENT_BYTES}")
    try:
        meta = json.loads(path.read_bytes())
    except (RecursionError, ValueError) as e:
        raise ValueError(f"{AGENT_FILE} = {str(path)!r}: not JSON ({type(e).__name__})") from None
    stack = [(meta, 1)]
    while stack:
        v, d = stack.pop()
        if d > MAX_AGENT_DEPTH:
            raise ValueError(
                f"{AGENT_FILE} = {str(path)!r}: nested: allowed {MAX_AGENT_DEPTH} levels"
            )
        if isinstance(v, dict | list):
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    if not isinstance(meta, dict):
        raise ValueError(f"{AGENT_FILE} = {str(path)!r}: allowed a JSON object")
    return meta
