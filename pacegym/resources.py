"""Where pacegym's own configs live, and how a config is found by name or by path.

The configs are package data of ``pacegym.conf`` (a real directory in a wheel install as
in an editable one; zipped installs are not supported). Standard library only, so that
``pacegym.envs`` can use it without pulling anything in.

A config named ``NAME`` of group ``GROUP`` (``scenario``, ``controller``, ...) is looked
up, first hit wins, as: ``NAME`` itself when it ends in ``.yaml``/``.yml`` (a path;
other names may still hold ``/``: nested groups such as ``daily_budget/pid_tuned``); ``DIR/GROUP/NAME.yaml`` for each directory given by the caller; then
``./conf/GROUP/NAME.yaml`` in the working directory (where ``pacegym-calibrate`` and
``pacegym-tune`` write); then the package's ``GROUP/NAME.yaml``.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable
from pathlib import Path

USER_CONF = Path("conf")
"""The working directory's config folder, searched after explicit dirs, before the package."""


def conf_dir() -> Path:
    """The package's config directory (``pacegym/conf`` in site-packages, ``conf/`` in a checkout)."""
    path = Path(str(importlib.resources.files("pacegym.conf")))
    if not path.is_dir():  # pragma: no cover - zipped installs only
        raise RuntimeError(f"pacegym.conf is not a directory on disk ({path}): reinstall unzipped")
    return path


def is_config_path(name: str) -> bool:
    """True when ``name`` reads as a file path rather than a config name."""
    return name.endswith((".yaml", ".yml"))


def _bases(search: Iterable[str | Path]) -> tuple[Path, ...]:
    """The config folders in lookup order: the caller's, ``./conf``, the package's."""
    return (*(Path(d) for d in search), USER_CONF, conf_dir())


def find_config(group: str, name: str, search: Iterable[str | Path] = ()) -> Path | None:
    """The YAML file for config ``name`` of ``group`` by the module's lookup order, or None."""
    if is_config_path(name):
        path = Path(name).expanduser()
        return path.resolve() if path.is_file() else None
    for base in _bases(search):
        path = base / group / f"{name}.yaml"
        if path.is_file():
            return path.resolve()
    return None


def config_files(group: str, search: Iterable[str | Path] = ()) -> dict[str, Path]:
    """Every config of ``group`` visible by name -> the file the lookup order picks, by name."""
    files: dict[str, Path] = {}
    for base in _bases(search):
        for p in sorted((base / group).glob("*.yaml")):
            files.setdefault(p.stem, p.resolve())
    return dict(sorted(files.items()))


def config_names(group: str, search: Iterable[str | Path] = ()) -> list[str]:
    """Every config name of ``group`` visible by the lookup order, sorted."""
    return list(config_files(group, search))


TUNED_DEFAULT_SCENARIO = "live_commerce"
"""The scenario whose tuned set is the top-level ``controller/<kind>_tuned.yaml``."""


def tuned_config_name(kind: str, scenario: str) -> str:
    """The config name of ``kind``'s tuned set for ``scenario``: ``<kind>_tuned`` for
    live commerce, ``<scenario>/<kind>_tuned`` for every other scenario."""
    if scenario == TUNED_DEFAULT_SCENARIO:
        return f"{kind}_tuned"
    return f"{scenario}/{kind}_tuned"


def tuned_configs(
    scenario: str, stand_in: str | None = None, search: Iterable[str | Path] = ()
) -> dict[str, Path]:
    """Every controller config a scenario sees by name -> its file, one set per kind: the
    scenario's own (``controller/<scenario>/``), else ``stand_in``'s (the preset whose
    tuned sets a scenario without its own runs: a suite entry's ``baselines_from``), else
    the top-level configs (the live-commerce sets and the untuned defaults). Each name is
    looked up by the module's order (the ``search`` dirs, ``./conf``, the package)."""
    files = config_files("controller", search)
    for folder in (stand_in, scenario):
        if folder is not None and folder != TUNED_DEFAULT_SCENARIO:
            files.update(config_files(f"controller/{folder}", search))
    return dict(sorted(files.items()))


def tuned_config(
    kind: str, scenario: str, search: Iterable[str | Path] = (), stand_in: str | None = None
) -> Path | None:
    """The curated tuned config of ``kind`` for ``scenario`` (``tuned_configs``: its own,
    else ``stand_in``'s, else the live-commerce set); None when none exists."""
    return tuned_configs(scenario, stand_in, search).get(f"{kind}_tuned")
