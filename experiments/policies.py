"""One way to name a policy, in every app that runs one (evaluate, compare, benchmark, export).

A **controller** is named by:

- a controller config name (``pid``, ``on_off``; ``pacegym.resources`` lookup order: the
  caller's dirs, ``./conf``, the package);
- a tuned set, ``<kind>_tuned``: the set tuned for THE scenario being run, as
  ``scenario_configs`` sees it (its own ``controller/<scenario>/``, else that of the preset a
  suite names for it, ``baselines_from``; the top-level ``<kind>_tuned`` is live commerce's).
  A scenario with none is refused in one line naming the scenarios that have one, never
  given a set tuned for another scenario;
- a set of a named scenario, ``<scenario>/<kind>_tuned`` (``live_commerce/pid_tuned`` is the
  top-level file), or any other ``<folder>/<name>`` config (``generalist/pid_tuned``);
- a path to a controller YAML.

An **agent** is named by a model dir (with ``agent.json``), a ``pacegym-train`` run dir
(with ``model/``), the MLflow run id of a train run, or a registered model's
``models:/<name>/<version>`` whose run is a train run (the last two need tracking on). Only
model dirs written by ``pacegym-train`` are loaded (``agents.policy.load_controller``:
nothing unpickled); a registered pacer (``pacegym-export``) is refused, naming its source run.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pacegym.agents.model_dir import AGENT_FILE, find_model_dir
from pacegym.experiments import suites
from pacegym.resources import (
    TUNED_DEFAULT_SCENARIO,
    USER_CONF,
    conf_dir,
    config_files,
    find_config,
    is_config_path,
)

TUNED_SUFFIX = "_tuned"
"""A controller config named ``<kind>_tuned`` is a tuned set (of the scenario its folder names)."""


def _tuned(files: dict[str, Path]) -> dict[str, Path]:
    return {n: p for n, p in files.items() if n.endswith(TUNED_SUFFIX)}


def folder_configs(folder: str, search: Iterable[str | Path] = ()) -> dict[str, Path]:
    """The tuned sets of scenario ``folder`` (``controller/<folder>/``; live commerce's are
    the top-level ``*_tuned`` files), by name."""
    if folder == TUNED_DEFAULT_SCENARIO:
        return _tuned(config_files("controller", search))
    return config_files(f"controller/{folder}", search)


def scenario_configs(
    scenario: str, search: Iterable[str | Path] = (), stand_in: str | None = None
) -> dict[str, Path]:
    """Every controller config name ``scenario`` (a ``ScenarioParams.name``) sees -> its
    file: the untuned configs, then the tuned sets of its stand-in (``stand_in``, else the
    suites', ``suites.stand_in``) and its own over them, kind by kind. No tuned set of
    another scenario is in it."""
    search = tuple(search)
    files = {
        n: p for n, p in config_files("controller", search).items() if not n.endswith(TUNED_SUFFIX)
    }
    for folder in (stand_in or suites.stand_in(scenario, search), scenario):
        if folder:
            files.update(folder_configs(folder, search))
    return dict(sorted(files.items()))


def scenarios_with(name: str, search: Iterable[str | Path] = ()) -> list[str]:
    """The scenarios that have a controller config ``name`` (a name or glob: ``pid_tuned``,
    ``*_tuned``) of their own."""
    search = tuple(search)
    live = folder_configs(TUNED_DEFAULT_SCENARIO, search)
    have = {TUNED_DEFAULT_SCENARIO} if fnmatch.filter(live, name) else set()
    for base in (*(Path(d) for d in search), USER_CONF, conf_dir()):
        root = base / "controller"
        if root.is_dir():
            have |= {d.name for d in root.iterdir() if d.is_dir() and any(d.glob(f"{name}.yaml"))}
    return sorted(have)


def controller_file(
    name: str,
    scenario: str,
    search: Iterable[str | Path] = (),
    key: str = "controller",
    stand_in: str | None = None,
) -> Path:
    """The controller YAML that ``name`` (module docstring) means on ``scenario``; else
    ``ValueError`` naming ``key``, the value and what there is, in one line."""
    search = tuple(search)
    if is_config_path(name):
        path = find_config("controller", name, search)
        if path is None:
            raise ValueError(f"{key} = {name!r}: no such file; allowed a controller YAML path")
        return path
    folder, _, rest = name.rpartition("/")
    if folder == TUNED_DEFAULT_SCENARIO:
        found = folder_configs(folder, search).get(rest)
    elif folder:
        found = find_config("controller", name, search)
    else:
        found = scenario_configs(scenario, search, stand_in).get(name)
    if found is not None:
        return found
    if not folder and name.endswith(TUNED_SUFFIX):
        have = scenarios_with(name, search)
        raise ValueError(
            f"{key} = {name!r}: no {name} tuned for scenario {scenario!r}; scenarios with one: "
            f"{have} (name one as <scenario>/{name}, or tune it: pacegym-tune)"
        )
    raise ValueError(
        f"{key} = {name!r}: no such controller config for scenario {scenario!r}; allowed "
        f"{sorted(scenario_configs(scenario, search, stand_in))}, <scenario>/<kind>_tuned or "
        "a YAML path"
    )


def controller_files(
    patterns: Iterable[str],
    scenario: str,
    search: Iterable[str | Path] = (),
    key: str = "",
    stand_in: str | None = None,
) -> list[Path]:
    """``controller_file`` of each pattern, a glob (``*_tuned``) matching among the names
    ``scenario`` sees (``scenario_configs``); each file once. ``ValueError`` naming ``key``
    for a pattern that matches nothing."""
    search = tuple(search)
    files = scenario_configs(scenario, search, stand_in)
    found: list[Path] = []
    for pat in patterns:
        if any(c in pat for c in "*?[") and not is_config_path(pat):
            hits = [f for stem, f in files.items() if fnmatch.fnmatch(stem, pat)]
            if not hits:
                raise ValueError(
                    f"{key} entry {pat!r} matches no controller config of scenario "
                    f"{scenario!r}: available {sorted(files)}; scenarios with one: "
                    f"{scenarios_with(pat, search)} (name one as <scenario>/<name>)"
                )
        else:
            hits = [controller_file(pat, scenario, search, f"{key} entry", stand_in)]
        found.extend(h for h in hits if h not in found)
    return found


def is_run_id(entry: str) -> bool:
    """True when ``entry`` reads as an MLflow run id (32 hexadecimal characters)."""
    return len(entry) == 32 and entry.isalnum()


def agent_dir(entry: str, cfg: Any, key: str = "agent") -> tuple[Path, str | None]:
    """``(model dir, MLflow train run id or None)`` that ``entry`` (module docstring) names;
    ``ValueError`` naming ``key`` otherwise. A run id or ``models:/`` URI needs ``cfg``'s
    tracking on (``experiments.tracking``)."""
    from pacegym.experiments import tracking

    found = find_model_dir(entry)
    if found is not None:
        return found, None
    remote = entry.startswith("models:/") or is_run_id(entry)
    if remote and not tracking.tracking_enabled(cfg):
        raise ValueError(
            f"{key} = {entry!r}: an MLflow run id or model URI needs tracking on "
            "(tracking=local or tracking=server)"
        )
    if remote:
        import mlflow

        client = mlflow.MlflowClient(tracking.tracking_uri(cfg))
        run_id = _registered_run(client, entry, key) if entry.startswith("models:/") else entry
        run = client.get_run(run_id)
        local = Path(run.data.tags.get("model_dir", ""))
        if (local / AGENT_FILE).is_file():
            return local, run_id
        if run.data.tags.get("run_type") != "train":
            source = run.data.tags.get("source_run_id") or "none"
            raise ValueError(
                f"{key} = {entry!r}: run {run_id} is a {run.data.tags.get('run_type')!r} run, "
                f"not a train run's model (a pacer's source run: {source})"
            )
        dst = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="model", tracking_uri=tracking.tracking_uri(cfg)
        )
        return Path(dst), run_id
    raise ValueError(
        f"{key} = {entry!r}: not a model dir (with {AGENT_FILE}), a train run dir (with "
        "model/), an MLflow run id of a train run or models:/<name>/<version>"
    )


def _registered_run(client: Any, uri: str, key: str) -> str:
    """The run id of registered model version ``models:/<name>/<version>``."""
    parts = uri[len("models:/") :].split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"{key} = {uri!r}: allowed models:/<name>/<version>")
    name, version = parts
    mv = client.get_model_version(name, version)
    if not mv.run_id:
        raise ValueError(f"{key} = {uri!r}: the registered version names no run")
    return str(mv.run_id)
