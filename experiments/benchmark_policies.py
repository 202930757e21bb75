"""The policies a benchmark runs beside each scenario's baselines and yardsticks.

``agents(b, cfg)`` loads, once per suite: ``benchmark.controllers`` and
``benchmark.single_set`` (controller configs that run unchanged on every scenario, ranked
like agents), ``benchmark.drift_bound`` (a value-aware controller config run with each
episode's true channel drift, ``baselines.drift_bound.TrueDrift``: a clairvoyant row of
type ``bound``, never crowned), ``benchmark.model_bound`` (an ``mpc`` config run told each
episode's world model, ``baselines.mpc.ModelMPC``: a ``bound`` row too) and
``benchmark.agents`` (model directories). Each is an
``Agent``: (row name, kind, source path, controller), reset by every rollout; a row's
leaderboard type is the controller's ``role`` attribute, else ``agent``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pacegym.agents.model_dir import read_agent_meta

Agent = tuple[str, str, Path, Any]
"""(row name, kind, source path, controller): loaded once, reset by every rollout."""


def suite_controllers(b: Any) -> list[str]:
    """``benchmark.controllers``, then ``benchmark.single_set`` when it is not among them."""
    names = [str(c) for c in b.controllers]
    single = getattr(b, "single_set", None)
    return names + ([str(single)] if single and str(single) not in names else [])


def single_set_row(b: Any) -> str | None:
    """The row name of ``benchmark.single_set`` (as ``agents`` names a controller)."""
    single = getattr(b, "single_set", None)
    return str(single).replace("/", ".") if single else None


def _controller(c: str, key: str) -> tuple[str, Path, Any]:
    """(row name, path, controller) of the controller config ``c`` named under ``key``: a
    tuned set is named with its scenario (``live_commerce/pid_tuned``) or by a YAML path."""
    from pacegym.baselines.factory import load_controller_yaml
    from pacegym.experiments import policies

    if "/" not in c and c.endswith(policies.TUNED_SUFFIX):
        raise ValueError(
            f"{key} = {c!r}: runs unchanged on every scenario, so name whose set: "
            f"<scenario>/{c} (one of {policies.scenarios_with(c)}) or a YAML path"
        )
    path = policies.controller_file(c, policies.TUNED_DEFAULT_SCENARIO, key=key)
    return c.replace("/", "."), path, load_controller_yaml(path)


def _model_bound(b: Any) -> list[Agent]:
    """``benchmark.model_bound``'s row (none when unset): its ``mpc`` config as
    ``ModelMPC``, named ``<set> x true model``; another kind is refused."""
    bound = getattr(b, "model_bound", None)
    if not bound:
        return []
    from pacegym.baselines.mpc import ModelMPC

    name, path, ctrl = _controller(str(bound), "benchmark.model_bound")
    if ctrl.kind != ModelMPC.kind:
        raise ValueError(
            f"benchmark.model_bound = {str(bound)!r} is a {ctrl.kind} set: allowed an "
            f"{ModelMPC.kind} controller config (kind {ModelMPC.kind!r}, e.g. mpc_value)"
        )
    row = f"{name} x true model"
    return [(row, ModelMPC.kind, path, ModelMPC(config=ctrl.config, name=row))]


def agents(b: Any, cfg: Any = None) -> list[Agent]:
    """Every policy of the module docstring, in that order, each loaded once (named as in
    every app: ``experiments.policies``)."""
    from pacegym.experiments import policies

    out: list[Agent] = []
    for c in suite_controllers(b):
        key = "benchmark.controllers entry" if c in b.controllers else "benchmark.single_set"
        name, path, ctrl = _controller(c, key)
        out.append((name, ctrl.kind, path, ctrl))
    bound = getattr(b, "drift_bound", None)
    if bound:
        from pacegym.baselines.drift_bound import TrueDrift
        from pacegym.baselines.factory import VALUE_AWARE

        name, path, ctrl = _controller(str(bound), "benchmark.drift_bound")
        if ctrl.kind not in VALUE_AWARE:
            raise ValueError(
                f"benchmark.drift_bound = {str(bound)!r} is a {ctrl.kind} set: allowed a "
                f"value-aware controller config (kinds {sorted(VALUE_AWARE)})"
            )
        wrapped = TrueDrift(ctrl)
        out.append((f"{name} x true drift", wrapped.kind, path, wrapped))
    out += _model_bound(b)
    if b.agents:
        from pacegym.agents.policy import load_controller, one_inference_thread

        one_inference_thread()
    for a in b.agents:
        md, _ = policies.agent_dir(str(a), cfg, key="benchmark.agents entry")
        meta = read_agent_meta(md)
        name = str(meta["name"])
        out.append((name, str(meta["algo"]), md, load_controller(md, name)))
    return out
