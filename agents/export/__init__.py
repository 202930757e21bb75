"""Export a pacing policy as a self-contained, numpy-only artifact, and serve it.

Serving (numpy only): ``from pacegym.agents.export import load_pacer``. Writing artifacts
(``agents.export.exporter``, ``registry``, ``source``) needs torch, SB3 or MLflow and is
imported explicitly; this package's ``__init__`` imports the runtime alone.
"""

from pacegym.agents.export.runtime import Pacer, PacerError, load_pacer

__all__ = ["Pacer", "PacerError", "load_pacer"]
