"""Replay a trained model on a scenario and write each episode as an MP4 (RL Zoo's "enjoy").

pacegym-enjoy model=<model dir | train run dir | latest> [scenario=...] [episodes=1] [seed=0]

The model (``model``: a model dir with ``agent.json``, a ``pacegym-train`` run dir, or
``latest``: the newest ``outputs/train/*/model``) is loaded as every app loads one
(``agents.policy.load_controller``: nothing in it is unpickled) and drives
``PacingEnv(render_mode="rgb_array")`` wrapped in ``gymnasium.wrappers.RecordVideo``;
episode ``i`` is reset with ``seed + i``. Its throttles reach the env as actions through
``envs.spaces.throttle_to_action`` (the env's own action map). Writes
``<run dir>/videos/enjoy-episode-<i>.mp4`` (``outputs/enjoy/<time>/``) and prints each
episode's ``info["episode"]`` return and length and its score. Needs the ``train`` and
``video`` (moviepy) extras; without them the command says which to install (exit 2).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from pacegym.agents.model_dir import AGENT_FILE, find_model_dir
from pacegym.envs.metrics import SCORE_KEY
from pacegym.envs.spaces import throttle_to_action
from pacegym.experiments.config import check_settings, count_setting, schema, seed_setting
from pacegym.experiments.hydra_app import app_run_dir, hydra_app, scenario_dict
from pacegym.experiments.scenario_schema import ScenarioNode

log = logging.getLogger(__name__)

LATEST = "outputs/train/*/model"
"""Where ``model=latest`` looks (relative to the working directory): the newest one."""


@dataclass
class EnjoyConfig:
    """``pacegym-enjoy``'s config: which model, on which scenario, how many episodes."""

    scenario: ScenarioNode = field(default_factory=ScenarioNode)  # type: ignore[valid-type]
    model: str = "latest"  # a model dir, a pacegym-train run dir, or latest (LATEST)
    episodes: int = count_setting(1, 1000)  # [episodes] replayed, one MP4 each
    seed: int = seed_setting(0)  # episode i is reset with seed + i
    overwrite: bool = False  # replace an earlier run's files in hydra.run.dir (pacegym.outdir)


def register() -> None:
    """Store the schema as ``enjoy_schema`` (referenced by ``conf/enjoy.yaml``)."""
    ConfigStore.instance().store(name="enjoy_schema", node=schema(EnjoyConfig))


register()


def model_dir(entry: str) -> Path:
    """The model dir ``entry`` names (``EnjoyConfig.model``); ``ValueError`` naming
    ``model`` otherwise."""
    if entry == "latest":
        found = sorted(Path().glob(f"{LATEST}/{AGENT_FILE}"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise ValueError(f"model = 'latest': no {LATEST} here: train one (pacegym-train)")
        return found[-1].parent
    d = find_model_dir(entry)
    if d is None:
        raise ValueError(
            f"model = {entry!r}: not a model dir (with {AGENT_FILE}), a pacegym-train run dir "
            "(with model/) or latest"
        )
    return d


def enjoy(cfg: Any, out_dir: Path) -> list[dict[str, float]]:
    """Replay ``cfg.episodes`` episodes of ``cfg.model`` on ``cfg.scenario`` into
    ``out_dir/videos``; returns each episode's ``r`` (return), ``l`` (length) and score."""
    from gymnasium.wrappers import RecordVideo

    from pacegym.agents.policy import load_controller
    from pacegym.envs.pacing_env import PacingEnv

    check_settings("", cfg, EnjoyConfig)
    src = model_dir(str(cfg.model))
    ctrl = load_controller(src)
    env = PacingEnv(scenario_dict(cfg), render_mode="rgb_array", episode_stats=True)
    width = env.action_space.shape[0]
    log.info("%s on %s: %d episode(s) from seed %d", src, env.scenario.name, cfg.episodes, cfg.seed)
    videos = out_dir / "videos"
    rec = RecordVideo(env, str(videos), episode_trigger=lambda _: True, name_prefix="enjoy")
    rows: list[dict[str, float]] = []
    for i in range(int(cfg.episodes)):
        obs, _ = rec.reset(seed=int(cfg.seed) + i)
        ctrl.reset(1)
        if hasattr(ctrl, "attach"):
            ctrl.attach(env.core)
        info: dict[str, Any] = {}
        done = False
        while not done:
            throttle = np.asarray(ctrl.act(obs[None, :]), dtype=np.float64).reshape(width)
            action = throttle_to_action(throttle).astype(np.float32)
            obs, _, done, _, info = rec.step(action)
        row = {"r": info["episode"]["r"], "l": info["episode"]["l"]}
        row[SCORE_KEY] = info["metrics"][SCORE_KEY]
        rows.append(row)
        print(
            f"episode {i} (seed {int(cfg.seed) + i}): return {row['r']:.4f}, "
            f"length {row['l']} steps, {SCORE_KEY} {row[SCORE_KEY]:.4f}"
        )
    rec.close()
    log.info("wrote %s", videos)
    return rows


@hydra_app("enjoy")
def main(cfg: DictConfig) -> None:
    enjoy(cfg, app_run_dir("enjoy"))


if __name__ == "__main__":
    main()
