"""One way for every console command to find ``conf/``.

``conf/`` is a folder beside the packages, not a package. ``hydra.main`` resolves a
relative ``config_path`` against the calling module, and for a module imported by a
console script (``experiments.train``) it looks for a package ``pkg://conf``, which does
not exist. An absolute path works from any working directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def hydra_app(config_name: str) -> Callable[[Callable[..., Any]], Callable[[], Any]]:
    """``hydra.main`` on ``conf/<config_name>.yaml`` (version_base 1.3)."""
    return hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=config_name)
