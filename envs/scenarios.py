"""Scenario presets, scenario files, and conversion from/to plain dicts (Hydra YAML, JSON).

A scenario file sets only what differs from the schema's defaults (the dataclasses of
``envs.params``) or, with ``base: <scenario>``, from that scenario. The presets
(``PRESETS``) are the package's files ``conf/scenario/<preset>.yaml``: there is no second
copy in Python. ``resolve`` also takes the name of any other scenario file
(``pacegym.resources.find_config`` order: a path, the working directory's
``conf/scenario/``, the package's) or a path to one. A relative ``traffic.trace_csv``
inside a scenario file is relative to that file.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pacegym import ENV_IDS
from pacegym.envs import yaml_io
from pacegym.envs.params import ScenarioError, ScenarioParams
from pacegym.resources import conf_dir, config_names, find_config

SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(ScenarioParams)
    if dataclasses.is_dataclass(f.default_factory)
}
"""Section name -> its parameter class, in ``ScenarioParams``' order (``time``, ``traffic``,
``forecast``, ``serving``, ``delay``, ``money``, ``plan``, ``score``)."""


PRESETS: tuple[str, ...] = tuple(dict.fromkeys(ENV_IDS.values()))
"""The presets: the scenarios of the registered Gymnasium ids (``pacegym.ENV_IDS``), each
the package's ``conf/scenario/<name>.yaml`` (its one home; Hydra composes the same file).
A preset name always means the package's file, whatever a user's ``conf/`` holds."""


@functools.cache
def _preset(name: str) -> ScenarioParams:
    """The package's preset file ``name`` as params (read once per process)."""
    return from_file(conf_dir() / "scenario" / f"{name}.yaml")


def _tupleize(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_tupleize(v) for v in value)
    return value


def anchor_trace(data: Mapping[str, Any], origin: str | Path) -> dict[str, Any]:
    """``data`` with a relative ``traffic.trace_csv`` made absolute against the directory
    ``origin`` (the scenario file's folder), when the file is there; else unchanged."""
    out = dict(data)
    traffic = out.get("traffic")
    trace = traffic.get("trace_csv") if isinstance(traffic, Mapping) else None
    if isinstance(trace, str) and trace and not Path(trace).expanduser().is_absolute():
        candidate = Path(origin) / trace
        if candidate.is_file():
            out["traffic"] = {**traffic, "trace_csv": str(candidate.resolve())}  # type: ignore[dict-item]
    return out


def from_file(path: str | Path) -> ScenarioParams:
    """The scenario in a YAML file (sections as in ``to_dict``, optional ``base`` preset).

    A relative ``traffic.trace_csv`` is resolved against the file's folder. A file without
    a ``name`` is named by its stem (``mine.yaml`` with ``base: live_commerce`` is ``mine``,
    never its base's name). Errors name the file and never quote its content (a path to a
    system file must not echo it).
    """
    data = _file_data(path)
    data.setdefault("name", Path(path).stem)
    return _with_base(data, (), (str(Path(path).resolve()),))


def _file_data(path: str | Path) -> dict[str, Any]:
    """The mapping in a scenario file, its relative trace path anchored (``from_file``)."""
    p = Path(path)
    try:
        data = yaml_io.load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ScenarioError(f"scenario = {str(path)!r}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(
            f"scenario = {str(path)!r}: not UTF-8 text (byte {e.start}); allowed a YAML file"
        ) from None
    except yaml.YAMLError as e:  # its message quotes the file's lines: only say where
        raise ScenarioError(f"scenario = {str(path)!r}: {yaml_io.problem(e)}") from None
    if not isinstance(data, Mapping):
        raise ScenarioError(f"scenario = {str(path)!r}: the file must hold a mapping of sections")
    return anchor_trace(data, p.resolve().parent)


def from_dict(data: Mapping[str, Any], base: ScenarioParams | None = None) -> ScenarioParams:
    """Build a scenario from a nested mapping, starting from ``base`` (or the defaults).

    Unknown sections or keys raise ``ScenarioError`` naming the key and the allowed ones;
    values are validated by the dataclasses.
    """
    scenario = base if base is not None else ScenarioParams()
    updates: dict[str, Any] = {}
    for section, values in data.items():
        if section == "name":
            updates["name"] = str(values)
            continue
        if section == "reward":
            raise ScenarioError(
                "scenario.reward is gone: the env's reward is the score, set its weights in "
                "scenario.score (waste, misplaced, burst; docs/objective.md)"
            )
        if section not in SECTIONS:
            raise ScenarioError(
                f"scenario.{section} is not a scenario section: allowed {sorted(SECTIONS)} or 'name'"
            )
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ScenarioError(f"scenario.{section} must be a mapping, got {values!r}")
        cls = SECTIONS[section]
        allowed = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in allowed:
                raise ScenarioError(
                    f"scenario.{section}.{key} is not a parameter: allowed {sorted(allowed)}"
                )
        current = getattr(scenario, section)
        updates[section] = dataclasses.replace(
            current, **{k: _tupleize(v) for k, v in values.items()}
        )
    return dataclasses.replace(scenario, **updates)


def to_dict(scenario: ScenarioParams, against: ScenarioParams | None = None) -> dict[str, Any]:
    """Plain nested dict (lists for tuples) that ``from_dict`` turns back into ``scenario``.

    With ``against``: the name and only the keys whose value differs from ``against``'s
    (sections with none left out), what ``from_dict(..., base=against)`` turns back into
    ``scenario``; ``against=ScenarioParams()`` gives a scenario file's form.
    """

    def plain(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if dataclasses.is_dataclass(v):  # a nested section (traffic.departures): a mapping
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        return v

    out: dict[str, Any] = {"name": scenario.name}
    for section in SECTIONS:
        obj = getattr(scenario, section)
        ref = getattr(against, section) if against is not None else None
        values = {
            f.name: plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if ref is None or getattr(obj, f.name) != getattr(ref, f.name)
        }
        if values or against is None:
            out[section] = values
    return out


def scenario_names(search: Iterable[str | Path] = ()) -> list[str]:
    """The presets and every scenario file visible by name (see ``resolve``), sorted."""
    return sorted({*PRESETS, *config_names("scenario", search)})


def resolve(
    scenario: str | Path | ScenarioParams | Mapping[str, Any], search: Iterable[str | Path] = ()
) -> ScenarioParams:
    """Params as they are; a preset name; the name of a scenario file (in the ``search``
    directories' ``scenario/``, then ``./conf/scenario/``, then the package's) or a path to
    one; or a mapping (with an optional ``base``, itself resolved this way)."""
    if isinstance(scenario, ScenarioParams):
        return scenario
    if isinstance(scenario, str | Path):
        name = str(scenario)
        if name in PRESETS:
            return _preset(name)
        return from_file(_scenario_file("scenario", name, search))
    return _with_base(dict(scenario), search, ())


def _scenario_file(key: str, name: str, search: Iterable[str | Path]) -> Path:
    """The scenario file ``name`` names (``resolve``'s lookup), else ``ScenarioError``
    naming ``key`` (``scenario`` or ``base``) with the names there are."""
    path = find_config("scenario", name, search)
    if path is None:
        raise ScenarioError(
            f"{key} = {name!r}: not a preset, a scenario file name or a path to a YAML "
            f"file; allowed {scenario_names(search)} or a path"
        )
    return path


def _with_base(
    data: dict[str, Any], search: Iterable[str | Path], chain: tuple[str, ...]
) -> ScenarioParams:
    """``data`` over its ``base`` (resolved as ``resolve`` does); ``chain``: the bases met so
    far, so that a loop (``a`` based on ``b`` based on ``a``) is refused naming it."""
    base_name = data.pop("base", None)
    if base_name is None:
        return from_dict(data)
    if not isinstance(base_name, str) or not base_name:
        raise ScenarioError(f"base = {base_name!r}: allowed a scenario name or a path to one")
    if base_name in PRESETS:
        return from_dict(data, _preset(base_name))
    path = _scenario_file("base", base_name, search)
    key = str(Path(path).resolve())
    if key in chain:
        raise ScenarioError(f"base = {base_name!r}: a loop of bases ({' -> '.join((*chain, key))})")
    parent = _file_data(path)
    return from_dict(data, _with_base(parent, search, (*chain, key)))
