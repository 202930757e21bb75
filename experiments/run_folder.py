"""The Hydra apps' run and sweep folders follow ``pacegym.outdir``: one run per folder.

``RunFolderCallback`` (every app, ``conf/hydra/app/pacegym.yaml``; listed first so that it
runs before any other callback) claims ``hydra.run.dir`` (a run) or ``hydra.sweep.dir``
(a multirun) before Hydra writes anything there: a folder that is protected, holds
another run's results (without ``overwrite=true``), files no run wrote, or a run still
being written is refused with one line naming the key, exit 2, and nothing written.
``experiments.hydra_app`` finishes the claim when the job ends well and abandons it on a
user error (``take``); a multirun's claim is finished by ``on_multirun_end``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from pacegym import errors, outdir

_CLAIMS: dict[Path, outdir.Claim] = {}
"""Folders claimed in this process and not finished or abandoned yet (resolved path)."""


def _claim(key: str, config: Any, config_name: str | None) -> None:
    path = Path(str(config.hydra.run.dir if key == "hydra.run.dir" else config.hydra.sweep.dir))
    overwrite = bool(config.get(outdir.OVERWRITE, False))
    command = " ".join([f"pacegym-{config_name}", *sys.argv[1:]])
    try:
        c = outdir.claim(key, path, overwrite, command, f"{outdir.OVERWRITE}=true")
    except outdir.OutputDirError as exc:
        # Hydra turns a callback's exception into a warning: end the command here
        raise SystemExit(errors.report(f"pacegym-{config_name}", exc)) from None
    _CLAIMS[path.resolve()] = c


def take(folder: str | Path) -> outdir.Claim | None:
    """The claim on ``folder`` made by this process, removed from the open claims."""
    return _CLAIMS.pop(Path(folder).resolve(), None)


class RunFolderCallback(Callback):
    """Hydra callback: claim the run folder (``on_run_start``) or the sweep folder
    (``on_multirun_start``, finished by ``on_multirun_end``)."""

    def on_run_start(self, config: Any, config_name: str | None = None, **_: Any) -> None:
        _claim("hydra.run.dir", config, config_name)

    def on_multirun_start(self, config: Any, config_name: str | None = None, **_: Any) -> None:
        _claim("hydra.sweep.dir", config, config_name)

    def on_multirun_end(self, config: Any, **_: Any) -> None:
        c = take(str(config.hydra.sweep.dir))
        if c is not None:
            outdir.finish(c)
