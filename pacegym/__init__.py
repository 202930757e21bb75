"""pacegym: an open workbench for ad budget pacing.

Subpackages (each imports only what is below it): ``pacegym.envs`` the simulator,
``pacegym.baselines`` classical controllers and the evaluation harness,
``pacegym.agents`` SB3 agents and the export (extra ``train``), ``pacegym.experiments``
the Hydra apps; ``pacegym.conf`` holds the Hydra configs as package data.

Importing ``pacegym`` registers the Gymnasium ids in ``ENV_IDS`` (single env and
native vector env), so ``gym.make("pacegym/LiveCommerce-v0")`` works after it and
``gym.make("pacegym:pacegym/LiveCommerce-v0")`` works with no prior import. It imports
gymnasium only (the simulator itself is imported when an env is made), and where
gymnasium cannot be imported it registers nothing: a production service that only loads
an exported pacer (``pacegym.agents.export.runtime``, numpy-only) does not need it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pacegym")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

ENV_IDS: dict[str, str] = {
    "pacegym/LiveCommerce-v0": "live_commerce",
    "pacegym/DailyBudget-v0": "daily_budget",
    "pacegym/MultiDayFlight-v0": "multi_day_flight",
    "pacegym/ValueChannels-v0": "value_channels",
}
"""Registered Gymnasium id -> the scenario preset it runs (``scenario=`` overrides it)."""


def _register() -> None:
    try:
        import gymnasium
    except ImportError:  # numpy-only deployments of the exported pacer
        return
    for env_id, scenario in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point="pacegym.envs.pacing_env:PacingEnv",
                vector_entry_point="pacegym.envs.vector:PacingVectorEnv",
                kwargs={"scenario": scenario},
            )


_register()

__all__ = ["ENV_IDS", "__version__"]
