"""agents.distill: the teacher's throttles as the student's actions, DAgger data recorded
as evaluation builds the input, the actor fitted to it, refusals, and a real train_agent run
with the value MPC as teacher (tiny budgets)."""

import dataclasses

import numpy as np
import pytest

from pacegym.agents.algos import build_model, make_env
from pacegym.agents.distill import (
    Dataset,
    DistillController,
    check,
    choose_teachers,
    fit_actor,
    leads,
    set_normalisation,
    teacher_targets,
)
from pacegym.agents.policy import controller_from_model, load_controller
from pacegym.agents.residual import FLOOR, build_base, compose
from pacegym.agents.settings import AgentConfigError, AgentSettings, TrainSettings
from pacegym.agents.training import train_agent
from pacegym.baselines.harness import run_episodes
from pacegym.envs.scenarios import resolve
from pacegym.envs.spaces import action_to_throttle, obs_width

SHORT = {"base": "value_channels", "time": {"flight_min": 10.0}}  # 40 ticks, 12 segments
DUAL = {"kind": "dual_price", "name": "dual price", "params": {}}
MPC = {"kind": "mpc", "name": "mpc_value", "params": {"replans": 2}}
PID = {"kind": "pid", "name": "pid", "params": {}}


def _agent(**distill) -> AgentSettings:
    return AgentSettings.from_mapping(
        {
            "name": "distilled",
            "net_arch": [32, 32],
            "hyperparams": {"n_steps": 16, "batch_size": 64},
            "residual": {"enabled": True, "base": DUAL, "scale_decades": 4.0},
            "distill": {"enabled": True, "teacher": MPC, **distill},
        }
    )


def test_residual_targets_invert_the_composition():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.0, 1.0, (50, 12))
    b[:5] = 0.0
    p = 10.0 ** rng.uniform(-4.0, 0.0, (50, 12))
    a = teacher_targets(p, b, 4.0)
    assert a.shape == (50, 12) and np.all(np.abs(a) <= 1.0)
    assert np.allclose(compose(b, a, 4.0), p, rtol=1e-9)
    # one decade cannot reach a throttle 100x the base: clipped to the reachable end
    assert teacher_targets(np.array([[1.0]]), np.array([[0.01]]), 1.0)[0, 0] == 1.0
    # a campaign-wide teacher throttle counts for every segment; 0 reads as the floor
    a0 = teacher_targets(np.array([0.0, 0.5]), np.full((2, 3), 0.5), 4.0)
    assert np.allclose(a0[0], np.log10(FLOOR / 0.5) / 4.0) and np.allclose(a0[1], 0.0)


def test_plain_targets_invert_the_throttle_mapping():
    p = np.array([[2e-4, 0.01, 0.3, 1.0]])  # the action -1 is a throttle of 0
    assert np.allclose(action_to_throttle(teacher_targets(p, None, 1.0))[0], p.ravel())


def test_refusals_name_the_key():
    with pytest.raises(AgentConfigError, match=r"agent\.distill\.teacher = \{\}.*'kind'"):
        AgentSettings.from_mapping({"distill": {"enabled": True}})
    with pytest.raises(AgentConfigError, match=r"agent\.distill\.rounds = 0"):
        AgentSettings.from_mapping({"distill": {"rounds": 0}})
    sac = AgentSettings.from_mapping({"algo": "sac", "distill": {"enabled": True, "teacher": PID}})
    with pytest.raises(AgentConfigError, match=r"agent\.algo = 'sac'.*allowed with algo 'ppo'"):
        check(sac)
    check(_agent())  # PPO + MlpPolicy passes


def test_recorded_rows_are_the_evaluation_input_and_the_fit_learns_them():
    agent = _agent(epochs=60, batch_size=256, learning_rate=3e-3)
    env, _ = make_env(resolve(SHORT), agent, 4, 0)
    model = build_model(agent, env, 0)
    data = Dataset()
    student = controller_from_model(model, env, agent)
    ctl = DistillController(student, build_base(MPC), "teacher", data)
    roll = run_episodes(ctl, SHORT, 3, seed=7)
    ctl.flush()
    ref = run_episodes(build_base(MPC), SHORT, 3, seed=7)  # the teacher drove: its episodes
    assert np.array_equal(roll.metrics["pacing_score_v2"], ref.metrics["pacing_score_v2"])
    x, a = data.arrays()
    assert len(x) == 3 * 40 and a.shape == (120, 12)  # every campaign-tick of the flights
    # the evaluation input: the observation, then base_log10 of dual price per segment
    assert x.shape[1] == obs_width(12) + 12
    assert np.all((x[:, -12:] >= -4.0) & (x[:, -12:] <= 0.0))
    set_normalisation(env, x)
    assert np.allclose(env.obs_rms.mean, x.mean(axis=0))
    before = float(np.mean(a**2))  # the untrained actor's mean is ~0
    mse = fit_actor(model, env, data, agent.distill, 0)
    assert mse < 0.5 * before


def test_dagger_rounds_then_ppo_through_train_agent(tmp_path):
    agent = _agent(rounds=2, episodes=2, epochs=5)
    train = TrainSettings.from_mapping(
        {
            "n_envs": 4,
            "total_timesteps": 64,
            "eval_freq": 0,
            "eval_episodes": 2,
            "checkpoint_freq": 0,
            "progress_bar": False,
        }
    )
    logged: list[dict] = []
    result = train_agent(SHORT, agent, train, tmp_path, log_fn=lambda m, s: logged.append(dict(m)))
    metrics = next(m for m in logged if "distill/rows" in m)
    assert metrics["distill/rows"] == 2 * 2 * 40  # two rounds of 2 episodes x 40 ticks
    assert {"distill/teacher_score_0", "distill/student_score_1"} <= set(metrics)
    ctl = load_controller(result.model_dir)
    assert run_episodes(ctl, SHORT, 2, seed=3).metrics["pacing_score_v2"].shape == (2,)


def test_pretrain_refits_a_resumed_model_never(tmp_path, monkeypatch):
    """A resume continues from its checkpoint's weights: no distillation rounds again."""
    calls: list[int] = []
    monkeypatch.setattr("pacegym.agents.training.pretrain", lambda *a, **k: calls.append(1))
    agent = _agent(rounds=1, episodes=1, epochs=1)
    base = {"n_envs": 4, "eval_freq": 0, "eval_episodes": 1, "progress_bar": False}
    train = TrainSettings.from_mapping({**base, "total_timesteps": 64, "checkpoint_freq": 64})
    train_agent(SHORT, agent, train, tmp_path / "a")
    assert calls == [1]
    again = TrainSettings.from_mapping(
        {**base, "total_timesteps": 128, "checkpoint_freq": 64, "resume": str(tmp_path / "a")}
    )
    train_agent(SHORT, agent, again, tmp_path / "b")
    assert calls == [1]


class _FailsOnRow1:
    """The MPC, reporting its plan failed on campaign 1 of each batch (a solver timeout)."""

    def __init__(self) -> None:
        self.mpc = build_base(MPC)
        self.name = "mpc_value"

    def reset(self, n: int) -> None:
        self.mpc.reset(n)

    def attach(self, core) -> None:
        self.mpc.attach(core)

    @property
    def failed(self) -> np.ndarray:
        return np.arange(self.mpc.failed.shape[0]) == 1

    def act(self, obs):
        return self.mpc.act(obs)


def test_a_failed_teacher_episode_is_never_imitated():
    agent = _agent()
    env, _ = make_env(resolve(SHORT), agent, 4, 0)
    data = Dataset()
    student = controller_from_model(build_model(agent, env, 0), env, agent)
    ctl = DistillController(student, _FailsOnRow1(), "teacher", data)
    run_episodes(ctl, SHORT, 5, seed=7, batch_size=3)  # batches of 3 and 2: rows 1 fail
    ctl.flush()
    assert ctl.dropped == 2 and data.rows == (5 - 2) * 40


@pytest.mark.parametrize("require_lead", [True, False])
def test_each_scenario_imitates_the_teacher_only_where_it_leads(require_lead):
    """Round 0 keeps, per scenario, the teacher where it leads the alternative on the
    round's episodes (``leads``), else the alternative: the same as each scores alone on
    those seeds, and the rows are the chosen one's. On these seeds the MPC leads dual price
    on the 10-minute flight (interval above zero) and not on the 20-minute one."""
    other = {"base": "value_channels", "time": {"flight_min": 20.0}}
    agent = _agent(episodes=6, alternative=DUAL, require_lead=require_lead)
    env, _ = make_env(resolve(SHORT), agent, 4, 0)
    model = build_model(agent, env, 0)
    data = Dataset()
    scenarios = [resolve(SHORT), resolve(other)]
    chosen, scores = choose_teachers(model, env, agent, scenarios, data)
    assert chosen == [MPC, DUAL]
    rows = 0
    for sc, spec, score in zip(scenarios, chosen, scores, strict=True):
        mpc, dual = (run_episodes(build_base(c), sc, 6, agent.distill.seed) for c in (MPC, DUAL))
        lead, _ = leads(mpc.metrics["pacing_score_v2"], dual.metrics["pacing_score_v2"], True)
        assert spec == (MPC if lead else DUAL)
        assert score == float((mpc if lead else dual).metrics["pacing_score_v2"].mean())
        rows += 6 * (40 if sc.time.flight_min == 10.0 else 80)
    assert data.rows == rows


def test_a_lead_needs_an_interval_above_zero_unless_the_mean_is_asked_for():
    base = np.linspace(1.0, 1.5, 8)
    noisy = base + np.array([0.05, -0.04, 0.06, -0.03, 0.05, -0.04, 0.04, -0.02])  # mean > 0
    clear = base + 0.01 + np.linspace(0.0, 0.002, 8)
    assert leads(clear, base, True)[0] and leads(clear, base, False)[0]
    assert not leads(noisy, base, True)[0] and leads(noisy, base, False)[0]
    assert not leads(base, base, True)[0] and not leads(base, base, False)[0]  # a tie
    few = leads(clear[:5], base[:5], True)  # below min_episodes: no interval, no lead
    assert not few[0] and np.isnan(few[1][1])


def test_require_lead_with_fewer_episodes_than_an_interval_needs_is_refused():
    with pytest.raises(AgentConfigError, match=r"agent\.distill\.episodes = 5: .*\[6, 100000\]"):
        _agent(episodes=5, alternative=DUAL)
    assert _agent(episodes=5, alternative=DUAL, require_lead=False).distill.episodes == 5
    assert _agent(episodes=2).distill.episodes == 2  # no alternative: nothing to choose


def test_a_teacher_without_a_significant_lead_leaves_the_base_alone():
    """Two candidates with the same rule: a zero difference on every episode is no lead, so
    the alternative (the residual's base: a = 0) labels the scenario, not the teacher; by
    the mean a tie keeps the alternative too."""
    for require_lead in (True, False):
        agent = _agent(episodes=6, alternative=DUAL, require_lead=require_lead)
        twin = {**DUAL, "name": "dual price twin"}  # the same rule under another name
        agent = dataclasses.replace(agent, distill=dataclasses.replace(agent.distill, teacher=twin))
        env, _ = make_env(resolve(SHORT), agent, 4, 0)
        data = Dataset()
        chosen, _ = choose_teachers(build_model(agent, env, 0), env, agent, [resolve(SHORT)], data)
        assert chosen == [DUAL] and np.all(data.arrays()[1] == 0.0)


def test_the_base_as_teacher_labels_a_zero_correction():
    agent = AgentSettings.from_mapping(
        {**dataclasses.asdict(_agent()), "distill": {"enabled": True, "teacher": DUAL}}
    )
    env, _ = make_env(resolve(SHORT), agent, 4, 0)
    data = Dataset()
    chosen, _ = choose_teachers(build_model(agent, env, 0), env, agent, [resolve(SHORT)], data)
    assert chosen == [DUAL] and data.rows == 8 * 40 and np.all(data.arrays()[1] == 0.0)


def test_a_bad_teacher_is_refused_before_any_run_by_its_key():
    from pacegym.agents.training import validate

    train = TrainSettings.from_mapping({"n_envs": 4, "eval_episodes": 1})
    for key in ("teacher", "alternative"):
        bad = _agent(**{key: {"kind": "nope", "params": {}}})
        with pytest.raises(AgentConfigError, match=rf"agent\.distill\.{key}: .*'nope'"):
            validate(SHORT, bad, train)
