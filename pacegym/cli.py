"""Console scripts: check the command's extra, then hand over to its app.

Each ``pacegym-<command>`` entry point lands here first, so that a command whose
optional dependencies are missing says which extra to install, in one line on stderr
with exit code 2, instead of an ``ImportError`` traceback from deep inside an import.
Nothing heavier than the standard library is imported before that check. Ctrl-C ends a
command with one line on stderr and exit code 130 (no traceback, and no errors from
libraries' threads tearing down). Every other error goes through ``pacegym.errors``: a user
error (a bad setting, override or input) is one line on stderr and exit code 2, a bug its
traceback and exit code 1; output is line-buffered even when redirected. ``--debug``
anywhere on the command line (taken out before the command sees its arguments) or
``PACEGYM_DEBUG=1`` adds the traceback to a user error.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable

EXTRAS: dict[str, tuple[str, ...]] = {
    "core": ("numpy", "numba", "gymnasium", "yaml", "hydra", "matplotlib", "scipy", "tqdm"),
    "train": ("torch", "stable_baselines3", "sb3_contrib", "mlflow", "onnx", "onnxruntime"),
    "calibrate": ("pandas", "pyarrow", "threadpoolctl"),
    "tune": ("optuna",),
    "dist": ("ray",),
    "video": ("moviepy",),
}
"""Extra of ``pip install 'pacegym[<extra>]'`` -> the modules it provides (``core``: none)."""

COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "simulate": ("pacegym.experiments.simulate", ("core",)),
    "evaluate": ("pacegym.experiments.evaluate", ("core",)),
    "tune": ("pacegym.experiments.tune", ("core", "tune")),
    "train": ("pacegym.experiments.train", ("core", "train")),
    "compare": ("pacegym.experiments.compare", ("core", "train")),
    "benchmark": ("pacegym.experiments.benchmark", ("core", "train")),
    "pipeline": ("pacegym.experiments.pipeline", ("core", "train")),
    "export": ("pacegym.experiments.export", ("core", "train")),
    "enjoy": ("pacegym.experiments.enjoy", ("core", "train", "video")),
    "sweep": ("pacegym.experiments.sweep_ray", ("core", "train", "dist")),
    "calibrate": ("pacegym.experiments.calibrate", ("core", "calibrate")),
    "simulate_logs": ("pacegym.experiments.simulate_logs", ("core", "calibrate")),
}
"""Command (``pacegym-<name>``, ``_`` as ``-``) -> (module with ``main``, extras it needs)."""


def missing_extra(extras: tuple[str, ...]) -> tuple[str, str] | None:
    """The first (extra, module) of ``extras`` whose module cannot be found, else None."""
    for extra in extras:
        for module in EXTRAS[extra]:
            if importlib.util.find_spec(module) is None:
                return extra, module
    return None


def line_buffered_output() -> None:
    """Make stdout and stderr flush at every newline, also when they are a pipe or a file
    (Python buffers a redirected stdout in blocks): a command's lines reach a log or a
    ``| tee`` as they are printed, not when it exits."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def run(command: str) -> None:
    """Run ``pacegym-<command>`` after checking its extras (exit 2 with one line if missing)."""
    module, extras = COMMANDS[command]
    gap = missing_extra(extras)
    if gap is not None:
        extra, mod = gap
        what = "its dependencies" if extra == "core" else f"the '{extra}' extra"
        spec = "pacegym" if extra == "core" else f"pacegym[{extra}]"
        print(
            f"pacegym-{command.replace('_', '-')} needs {what} (module {mod!r} is not "
            f"installed): pip install '{spec}'",
            file=sys.stderr,
        )
        raise SystemExit(2)
    line_buffered_output()
    from pacegym import errors

    if errors.take_debug_flag(sys.argv):
        os.environ[errors.DEBUG_ENV] = "1"  # read by every layer that reports (hydra_app too)
    from pacegym import interrupt

    interrupt.install()
    try:
        with errors.reported(f"pacegym-{command.replace('_', '-')}"):
            importlib.import_module(module).main()
    except KeyboardInterrupt:
        # Ctrl-C: one line, no traceback. MLflow runs still open were ended KILLED on the
        # way out, and a training run can continue from its checkpoints (train.resume).
        # os._exit skips interpreter teardown, where libraries' threads and __del__ methods
        # raise (the 'sys.meta_path is None' errors) after a KeyboardInterrupt.
        print(f"\npacegym-{command.replace('_', '-')}: interrupted", file=sys.stderr)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(130)


def _entry(command: str) -> Callable[[], None]:
    def main() -> None:
        run(command)

    main.__name__ = command
    main.__doc__ = f"Console script ``pacegym-{command.replace('_', '-')}``."
    return main


simulate = _entry("simulate")
evaluate = _entry("evaluate")
tune = _entry("tune")
train = _entry("train")
compare = _entry("compare")
pipeline = _entry("pipeline")
export = _entry("export")
sweep = _entry("sweep")
calibrate = _entry("calibrate")
simulate_logs = _entry("simulate_logs")
benchmark = _entry("benchmark")
enjoy = _entry("enjoy")
