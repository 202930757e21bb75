"""Train an SB3 agent on the batched pacing env (no Hydra, no MLflow: typed settings in).

``train_agent(scenario, agent, train, run_dir, log_fn)`` takes an ``AgentSettings`` and
a ``TrainSettings`` (``agents.settings``: every key's type, default and range; build
them from plain mappings with ``from_mapping``). ``validate`` runs every check that can
fail (agent/action space, scenario, domain randomisation, model build, resume point)
without training; ``train_agent`` then trains, evaluates on held-out seeds,
checkpoints, and writes ``<run_dir>/model`` (see ``agents.policy``), the evaluation
curve ``<run_dir>/eval_history.csv`` and ``<run_dir>/last_model``. With
``train.resume`` (a run dir or checkpoint) it continues from the latest checkpoint:
same step count, weights, optimiser, normalisation, replay buffer, env and RNG state.
A resume must continue the checkpoint's own run: ``check_resume`` refuses (one line,
``AgentConfigError``) another scenario, other agent settings, another ``train.n_envs``, and
a budget the checkpoint has already reached (nothing left to train), before any work.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecNormalize

from pacegym.agents.algos import build_model, check_agent, make_env
from pacegym.agents.callbacks import (
    CheckpointFn,
    EvalFn,
    LogFn,
    ProgressBar,
    TrainingCallback,
    _no_log,
)
from pacegym.agents.checkpoint import (
    AGENT_KEY,
    latest_checkpoint,
    load_checkpoint,
    plain,
    read_state,
)
from pacegym.agents.discount import flight_scales
from pacegym.agents.distill import check as check_distill
from pacegym.agents.distill import pretrain
from pacegym.agents.features import check_max_segments
from pacegym.agents.policy import save_model
from pacegym.agents.residual import build_base
from pacegym.agents.settings import AgentConfigError, AgentSettings, TrainSettings
from pacegym.baselines.weighting import reference_scores, scenario_weights
from pacegym.envs.core import RANDOMIZABLE
from pacegym.envs.mixture import jittered
from pacegym.envs.params import ScenarioError, ScenarioParams
from pacegym.envs.scenarios import resolve, to_dict


@dataclass
class TrainResult:
    """What a training run produced."""

    model_dir: Path  # the selected model (best on held-out seeds, or the last)
    last_model_dir: Path
    num_timesteps: int  # env-steps (campaign-steps) done in total
    steps_this_run: int
    wall_s: float
    steps_per_s: float
    eval: dict[str, float]  # held-out metrics of the selected model (means)
    history: list[dict[str, float]]
    stopped_early: bool
    resumed_from: str | None
    mlflow_run_id: str | None


def mixture_name(scenarios: list[ScenarioParams]) -> str:
    """The label of a model trained on several scenarios: ``mixture(a, b, ...)``."""
    return f"mixture({', '.join(s.name for s in scenarios)})"


def randomised_scenario(scenario: ScenarioParams, ranges: Mapping[str, Any]) -> ScenarioParams:
    """``scenario`` with ``{"section.key": [low, high]}`` (or nested) ranges for training.

    Only parameters in ``envs.core.RANDOMIZABLE`` may be ranges; others raise naming the key.
    """
    flat: dict[str, Any] = {}
    for k, v in ranges.items():
        if isinstance(v, Mapping):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    data = to_dict(scenario)
    for key, value in flat.items():
        if key not in RANDOMIZABLE:
            raise ValueError(
                f"train.randomize.{key}: not a randomisable parameter; allowed {list(RANDOMIZABLE)}"
            )
        section, name = key.split(".")
        data[section][name] = list(value) if isinstance(value, list | tuple) else value
    return resolve(data)


def training_scenarios(
    evaluation: list[ScenarioParams], train: TrainSettings
) -> list[ScenarioParams]:
    """The scenarios the training campaigns run: the ``evaluation_scenarios``
    (``train.scenarios``, domain randomisation, ``envs.mixture``; or the run's scenario),
    each with ``train.randomize`` ranges and ``train.jitter`` applied. Errors name the key
    (``ScenarioError``)."""
    return [jittered(randomised_scenario(sc, train.randomize), train.jitter) for sc in evaluation]


def evaluation_scenarios(scenario: Any, train: TrainSettings) -> list[ScenarioParams]:
    """The scenarios validation episodes run (model selection): ``train.scenarios`` as given
    (no ranges, no jitter), or the run's ``scenario``."""
    if not train.scenarios:
        return [resolve(scenario)]
    out = []
    for i, name in enumerate(train.scenarios):
        try:
            out.append(resolve(name))
        except ScenarioError as exc:
            raise AgentConfigError(f"train.scenarios[{i}] = {name!r}: {exc}") from None
    return out


def discount_scales(scenarios: list[ScenarioParams], train: TrainSettings) -> list[float] | None:
    """Per-campaign discount exponents for ``train.discount: flight`` (``agents.discount``),
    else None (SB3's constant ``gamma``)."""
    return flight_scales(scenarios, train.n_envs) if train.discount == "flight" else None


def check_resume(
    train_sc: ScenarioParams | list[ScenarioParams], agent: AgentSettings, train: TrainSettings
) -> tuple[Path, dict[str, Any]]:
    """The checkpoint ``train.resume`` continues and its state, if the resume matches it.

    Refused with one ``AgentConfigError`` line naming ``train.resume``: no checkpoint there,
    a training scenario (after ``train.randomize``) or agent settings other than the
    checkpoint's, another ``train.n_envs``, or ``train.total_timesteps`` already reached.
    """
    key = f"train.resume = {train.resume!r}"
    try:
        ckpt = latest_checkpoint(str(train.resume))
    except FileNotFoundError as exc:
        raise AgentConfigError(str(exc)) from None
    state = read_state(ckpt)  # CheckpointError: an older pacegym's or a damaged checkpoint
    now_scs = list(train_sc) if isinstance(train_sc, list) else [train_sc]
    saved_scs = state.get("scenarios")
    if not isinstance(saved_scs, list) or plain([to_dict(s) for s in now_scs]) != saved_scs:
        now_names = ", ".join(s.name for s in now_scs)
        was = saved_scs if isinstance(saved_scs, list) else []
        was_names = ", ".join(str(s.get("name")) for s in was if isinstance(s, dict))
        raise AgentConfigError(
            f"{key}: scenario {now_names!r} (with train.randomize, train.scenarios, "
            f"train.jitter) differs from the checkpoint's {was_names!r}: resume with the "
            "run's own scenario"
        )
    saved_agent = state["extra"].get(AGENT_KEY)
    now = plain({k: v for k, v in dataclasses.asdict(agent).items() if k != "name"})
    if saved_agent is not None:
        was = {k: v for k, v in saved_agent.items() if k != "name"}
        diff = sorted(k for k in now.keys() | was.keys() if now.get(k) != was.get(k))
        if diff:
            raise AgentConfigError(
                f"{key}: agent.{diff[0]} = {now.get(diff[0])!r} differs from the checkpoint's "
                f"{was.get(diff[0])!r}: resume with the run's own agent settings"
            )
    n_saved = state.get("n_envs")
    if n_saved != train.n_envs:
        raise AgentConfigError(
            f"{key}: train.n_envs = {train.n_envs} differs from the checkpoint's {n_saved}: "
            "resume with the same n_envs"
        )
    done = int(state.get("num_timesteps", 0))
    if done >= train.total_timesteps:
        raise AgentConfigError(
            f"{key}: the run already reached {done:,} env-steps (train.total_timesteps = "
            f"{train.total_timesteps:,}): nothing to train; allowed train.total_timesteps > {done}"
        )
    return ckpt, state


@dataclass(frozen=True)
class RunScenarios:
    """A run's scenarios, resolved once (``plan_run``) and shared by its checks, its
    training, its validation and its reference score."""

    evaluation: list[ScenarioParams]  # validation episodes (``evaluation_scenarios``)
    training: list[ScenarioParams]  # the campaigns' scenarios (``training_scenarios``)
    mixture: bool  # ``train.scenarios`` set: one env over several scenarios
    model_class: type  # the agent's SB3 class (``check_agent``)

    @property
    def name(self) -> str:
        """The model's scenario label (``agent.json``'s ``scenario``)."""
        return mixture_name(self.evaluation) if self.mixture else self.evaluation[0].name

    @property
    def env_scenario(self) -> ScenarioParams | list[ScenarioParams]:
        """What ``make_env`` takes: the list of a mixture, else the one scenario."""
        return self.training if self.mixture else self.training[0]


def plan_run(scenario: Any, agent: AgentSettings, train: TrainSettings) -> RunScenarios:
    """The agent's class and the run's resolved scenarios; raises ``AgentConfigError`` or
    ``ScenarioError`` naming the key for a bad agent, scenario, range or ``train.n_envs``
    (with ``train.scenarios``, a multiple of their number: each gets the same share of the
    campaigns, so of the env-steps)."""
    cls = check_agent(agent)
    check_distill(agent)
    evaluation = evaluation_scenarios(scenario, train)
    sc = training_scenarios(evaluation, train)
    k = len(sc)
    if train.n_envs % k:  # equal shares: every scenario gets as many env-steps as the next
        raise AgentConfigError(
            f"train.n_envs = {train.n_envs}: {k} train.scenarios need the same number of "
            f"campaigns each; allowed a multiple of {k} (e.g. {k * max(train.n_envs // k, 1)})"
        )
    check_max_segments(agent.max_segments, [*sc, *evaluation])
    return RunScenarios(evaluation, sc, bool(train.scenarios), cls)


def validate(scenario: Any, agent: AgentSettings, train: TrainSettings) -> RunScenarios:
    """Every check that can fail, without training: scenario, ranges, agent, model build,
    and a resume's match with its checkpoint (``check_resume``); returns the checked
    ``RunScenarios`` for ``train_agent``.

    Builds the env and the model once (well under a second) so that bad hyperparameter
    values fail here, before an MLflow run is opened or any time is spent. (The
    settings' own keys and ranges were checked when they were constructed.)
    """
    plan = plan_run(scenario, agent, train)
    sc = plan.training
    # the weights' values do not matter to the checks (the real ones need the reference run)
    ones = [1.0] * len(sc) if train.reward_scale == "normalised" else None
    env, _ = make_env(plan.env_scenario, agent, train.n_envs, train.seed, train.reward_scale, ones)
    build_model(agent, env, train.seed, train.device, discount_scales(sc, train))
    if train.resume:
        check_resume(sc, agent, train)
    for key in ("teacher", "alternative") if agent.distill.enabled else ():
        spec = getattr(agent.distill, key)
        try:  # a bad teacher config fails before any run, named by its key
            if spec:
                build_base(spec)
        except ValueError as e:
            raise AgentConfigError(f"agent.distill.{key}: {e}") from None
    if train.tensorboard:
        tensorboard_writer(None)
    return plan


def tensorboard_writer(run_dir: Path | None) -> Any:
    """A ``SummaryWriter`` on ``<run_dir>/tensorboard/pacegym`` (None: only check that the
    ``tensorboard`` package is there); without it, ``AgentConfigError`` in one line."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise AgentConfigError(
            f"train.tensorboard = true needs the 'tensorboard' package ({err}): "
            "pip install 'pacegym[train]'"
        ) from None
    return None if run_dir is None else SummaryWriter(str(run_dir / "tensorboard" / "pacegym"))


def model_extra(
    seed: int, segments: Any, scenarios: Any, meta: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``agent.json``'s extra keys: the seed, the segment names, a mixture's ``scenarios``
    (what ``pacegym-export`` verifies a padded agent on) and the caller's ``meta``."""
    mix = {"scenarios": list(scenarios)} if scenarios else {}
    return {"seed": seed, "segments": list(segments), **mix, **dict(meta or {})}


def train_agent(
    scenario: Any,
    agent: AgentSettings,
    train: TrainSettings,
    run_dir: str | Path,
    log_fn: LogFn = _no_log,
    meta: Mapping[str, Any] | None = None,
    checked: RunScenarios | None = None,
    on_checkpoint: CheckpointFn | None = None,
    on_eval: EvalFn | None = None,
) -> TrainResult:
    """Train (or resume) one agent; see the module docstring for what is written.

    ``checked``: what ``validate`` returned for these settings (its checks are not run
    again); None runs ``plan_run`` and a resume's ``check_resume`` here. ``on_checkpoint``:
    called with each checkpoint (``agents.callbacks.TrainingCallback``); ``on_eval``: called
    after each held-out evaluation (``agents.callbacks.EvalFn``).
    """
    run_dir = Path(run_dir)
    if checked is None:
        checked = plan_run(scenario, agent, train)
        if train.resume:
            check_resume(checked.training, agent, train)
    eval_scs, name, seed = checked.evaluation, checked.name, train.seed
    torch.set_num_threads(train.torch_threads)
    set_random_seed(seed)
    reference = weights = None
    if train.reward_scale == "normalised":
        reference = reference_scores(eval_scs, train.eval_episodes, train.eval_seed)
        weights = scenario_weights(reference)
    env, pacing = make_env(
        checked.env_scenario, agent, train.n_envs, seed, train.reward_scale, weights
    )
    model, env, state, resumed_from = _model(agent, train, checked, env)
    if distilled := agent.distill.enabled and resumed_from is None:  # a resume keeps weights
        pretrain(model, env, agent, checked.training, log_fn)
    run_dir.mkdir(parents=True, exist_ok=True)  # after a resume's checkpoint was accepted
    start = int(model.num_timesteps)
    extra = model_extra(seed, pacing.segments, train.scenarios, meta)
    cb = TrainingCallback(
        run_dir,
        agent,
        eval_scs,
        name,
        train,
        log_fn=log_fn,
        meta=extra,
        state=state,
        reference=reference,
        on_checkpoint=on_checkpoint,
        on_eval=on_eval,
        tensorboard=_tensorboard(model, run_dir) if train.tensorboard else None,
    )
    if distilled and train.eval_freq:  # validated before the first update moves it
        cb.last_eval = start - train.eval_freq
    t0 = time.perf_counter()
    callbacks = [cb, ProgressBar(train.total_timesteps)] if train.progress_bar else [cb]
    steps_left = max(train.total_timesteps - start, 0)
    model.learn(steps_left, callback=CallbackList(callbacks), reset_num_timesteps=False)
    wall = time.perf_counter() - t0
    if cb.tensorboard is not None:
        cb.tensorboard.close()
    vecnorm = env if isinstance(env, VecNormalize) else None
    last_dir = save_model(run_dir / "last_model", model, agent, vecnorm, name, extra)
    model_dir, sel = _select(run_dir, last_dir, train, cb)
    cb.write_history(run_dir / "eval_history.csv")
    steps = int(model.num_timesteps) - start
    return TrainResult(
        model_dir=model_dir,
        last_model_dir=last_dir,
        num_timesteps=int(model.num_timesteps),
        steps_this_run=steps,
        wall_s=wall,
        steps_per_s=steps / wall if wall > 0 else 0.0,
        eval=sel,
        history=cb.history,
        stopped_early=cb.stopped_early,
        resumed_from=resumed_from,
        mlflow_run_id=(meta or {}).get("mlflow_run_id"),
    )


def _tensorboard(model: Any, run_dir: Path) -> Any:
    """pacegym's ``SummaryWriter`` (``tensorboard_writer``); SB3's own scalars (``rollout/``,
    ``time/``, ``train/``) go beside it, to ``<run_dir>/tensorboard/<ALGO>_<n>``."""
    model.tensorboard_log = str(run_dir / "tensorboard")
    return tensorboard_writer(run_dir)


def _model(
    agent: AgentSettings, train: TrainSettings, checked: RunScenarios, env: Any
) -> tuple[Any, Any, dict[str, Any], str | None]:
    """``(model, env, checkpoint state, checkpoint path)``: a resume's model loaded from its
    latest checkpoint (the env gets the checkpoint's state), else a new model on ``env``."""
    if not train.resume:
        scales = discount_scales(checked.training, train)
        return build_model(agent, env, train.seed, train.device, scales), env, {}, None
    ckpt = latest_checkpoint(train.resume)
    model, env, saved = load_checkpoint(
        ckpt, checked.model_class, env, train.device, agent.hyperparams
    )
    return model, env, dict(saved.get("extra") or {}), str(ckpt)


def _select(
    run_dir: Path, last_dir: Path, train: TrainSettings, cb: TrainingCallback
) -> tuple[Path, dict[str, float]]:
    """Copy the selected model to ``<run_dir>/model`` (the best on held-out seeds with
    ``train.select: best`` when one was saved, else the last); returns it and its held-out
    metrics (the evaluation row it was chosen on)."""
    model_dir = run_dir / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    best = run_dir / "best_model"
    chosen = best if train.select == "best" and best.is_dir() else last_dir
    shutil.copytree(chosen, model_dir)
    hist = cb.history
    best_row = max(hist, key=lambda r: r[cb.select_key]) if hist else {}
    sel = best_row if chosen == best else (hist[-1] if hist else {})
    return model_dir, {k: v for k, v in sel.items() if k != "step"}
