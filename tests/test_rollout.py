"""The agent protocol and the one rollout loop: cognitive models, bandit baselines, budgets."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from cogmodels.agent import Agent, Learner, ModelAgent
from cogmodels.agents.bandit_baselines import (
    BayesOptimal,
    CountAgent,
    RandomPolicy,
    ThompsonSampling,
    bayes_optimal_regret,
)
from cogmodels.models import make_model
from cogmodels.rollout import rollout
from cogmodels.simulate import simulate

BANDIT = "cogmodels/MultiArmedBandit-v0"
TWO_STEP = "cogmodels/TwoStep-v0"


def test_a_model_with_parameters_is_an_agent_and_simulate_is_its_rollout():
    model = make_model("q_learning")
    params = {"alpha": [0.2, 0.5, 0.8], "beta": 3.0, "kappa": 0.1}
    agent = model.as_agent(params, record_probabilities=True)
    assert isinstance(agent, ModelAgent) and isinstance(agent, Learner) and isinstance(agent, Agent)
    table = rollout(agent, BANDIT, n_subjects=3, seed=4, env_kwargs={"n_trials": 30})
    sim = simulate(model, params, BANDIT, n_subjects=3, seed=4, env_kwargs={"n_trials": 30},
                   record_probabilities=True, progress=False)
    pd.testing.assert_frame_equal(table, sim.trials, check_exact=True)
    assert len(table) == 90 and table.groupby("subject").size().tolist() == [30, 30, 30]
    # p_choice is the softmax probability of the choice made: 1/2 before anything is learned
    first = table.groupby("subject").head(1)
    np.testing.assert_allclose(first["p_choice"], 0.5)
    assert np.all((table["p_choice"] > 0) & (table["p_choice"] < 1))


def test_two_stage_model_updates_once_per_trial_with_both_choices():
    model = make_model("two_step_hybrid")
    agent = model.as_agent(model.default_params(), latents=False, record_probabilities=True)
    table = rollout(agent, TWO_STEP, n_subjects=2, seed=0, env_kwargs={"n_trials": 15})
    assert list(table.groupby("subject").size()) == [15, 15]
    assert table["choice2"].notna().all() and set(table["choice"].unique()) <= {0, 1}
    # the probability of a trial is the product of its two stages' probabilities: 1/4 before
    # anything is learned
    np.testing.assert_allclose(table.groupby("subject").head(1)["p_choice"], 0.25)
    assert np.all((table["p_choice"] > 0) & (table["p_choice"] < 1))


def test_budgets_span_sessions_and_count_trials_steps_or_sessions():
    agent = RandomPolicy().as_agent()
    table = rollout(agent, BANDIT, n_trials=25, n_subjects=2, seed=1, env_kwargs={"n_trials": 10})
    assert table.groupby(["subject", "session"]).size().tolist() == [10, 10, 5] * 2
    assert table.groupby(["subject", "session"])["trial"].max().tolist() == [9, 9, 4] * 2
    # two steps per two-step trial: 7 steps complete 3 trials
    two = rollout(RandomPolicy().as_agent(), TWO_STEP, n_steps=7, seed=1, env_kwargs={"n_trials": 5})
    assert len(two) == 3
    one = rollout(RandomPolicy().as_agent(), TWO_STEP, seed=1, env_kwargs={"n_trials": 5})
    assert len(one) == 5 and (one["session"] == 0).all()


def test_same_seed_same_table_and_seed_sequence_children():
    agent = ThompsonSampling().as_agent()
    a = rollout(agent, BANDIT, n_subjects=3, seed=7, env_kwargs={"n_trials": 20})
    b = rollout(agent, BANDIT, n_subjects=3, seed=7, env_kwargs={"n_trials": 20})
    c = rollout(agent, BANDIT, n_subjects=3, seed=8, env_kwargs={"n_trials": 20})
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not a["choice"].equals(c["choice"])


def test_bayes_optimal_agent_reaches_its_exact_regret_on_the_vector_bandit():
    """The rollout of the Bayes-optimal agent on 2,000 vector sessions: mean pseudo-regret within
    4 standard errors of the exact dynamic-programming value (about 1.75 for T=100)."""
    n = 2000
    env = gym.make_vec(BANDIT, num_envs=n, vectorization_mode="vector_entry_point", n_trials=100,
                       autoreset_mode="same_step")
    table = rollout(BayesOptimal(100).as_agent(), env, seed=0, subjects=range(n))
    assert len(table) == n * 100 and (table["session"] == 0).all()
    regret = table.groupby("subject")["regret"].sum()
    sem = regret.std(ddof=1) / np.sqrt(n)
    assert abs(regret.mean() - bayes_optimal_regret(100)) < 4 * sem


def test_count_agent_keeps_state_out_of_the_policy():
    policy = ThompsonSampling()
    agent = CountAgent(policy)
    state = agent.initial_state(4)
    assert state.shape == (4, 2, 2) and not hasattr(policy, "_counts")
    with pytest.raises(ValueError, match="n_actions"):
        BayesOptimal(10).as_agent(n_actions=3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_trials": 3, "n_steps": 3}, ValueError, r"at most one of n_trials, n_steps and seconds"),
        ({"seconds": 1.0}, ValueError, r"seconds needs a task with a bin width dt"),
        ({"n_trials": 0}, ValueError, r"n_trials must be"),
        ({"env_kwargs": {"n_actions": 3}}, ValueError, r"has n_actions=2 but the environment has 3 actions"),
        ({"subjects": ["a", "a"], "n_subjects": 2}, ValueError, r"subjects must be 2 distinct ids"),
    ],
)
def test_bad_arguments_name_what_was_wrong(kwargs, error, match):
    with pytest.raises(error, match=match):
        rollout(RandomPolicy().as_agent(), BANDIT, **kwargs)


def test_refuses_what_is_not_an_agent_or_an_environment():
    with pytest.raises(TypeError, match="agent must be an Agent"):
        rollout(object(), BANDIT)
    with pytest.raises(TypeError, match="env must be a registered id"):
        rollout(RandomPolicy().as_agent(), 3)
    with pytest.raises(ValueError, match=r"autoreset_mode 'same_step' or 'next_step'\), got 'Disabled'"):
        rollout(RandomPolicy().as_agent(), gym.make_vec(BANDIT, num_envs=2, vectorization_mode="vector_entry_point",
                                                        autoreset_mode="disabled"))


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [(BANDIT, {"n_trials": 30}), ("cogmodels/ReversalLearning-v0", {"n_trials": 30, "reversal_every": 7}),
     (TWO_STEP, {"n_trials": 15})],
)
def test_one_copy_of_a_vector_env_gives_the_single_env_table(env_id, kwargs):
    """The vector task with one copy draws what the single task draws, and rollout seeds both
    from the same child seed: the same trial table, byte for byte, over several sessions."""
    single = rollout(ThompsonSampling().as_agent(), env_id, seed=3, n_trials=40, env_kwargs=kwargs)
    vec = gym.make_vec(env_id, num_envs=1, vectorization_mode="vector_entry_point",
                       autoreset_mode="same_step", **kwargs)
    vector = rollout(ThompsonSampling().as_agent(), vec, seed=3, n_trials=40)
    pd.testing.assert_frame_equal(vector[single.columns], single, check_exact=True)
    assert single["session"].max() >= 1


def test_model_agent_on_the_vector_bandit_matches_simulate():
    model = make_model("q_learning")
    params = {"alpha": 0.4, "beta": 5.0, "kappa": 0.0}
    vec = gym.make_vec(BANDIT, num_envs=1, vectorization_mode="vector_entry_point",
                       autoreset_mode="same_step", n_trials=25)
    table = rollout(model.as_agent(params), vec, seed=2)
    sim = simulate(model, params, BANDIT, seed=2, env_kwargs={"n_trials": 25}, progress=False)
    pd.testing.assert_frame_equal(table[sim.trials.columns], sim.trials, check_exact=True)


VECTORIZED = {
    # sessions end inside the budget; reversals after a criterion, delays and p_reversal (copies'
    # draws masked); int seed
    "reversal_criterion": ("q_learning", "cogmodels/ReversalLearning-v0", 4, dict(
        n_trials=25, seed=3, env_kwargs={"n_trials": 10, "mode": "criterion", "criterion": (2, 3),
                                         "criterion_delay": (0, 2), "p_reversal": 0.5})),
    # the second stage's state2 read from the vector task's trial_context; a Generator seed
    "two_step": ("two_step_hybrid", TWO_STEP, 3, dict(n_trials=12, seed="generator",
                                                      env_kwargs={"n_trials": 5, "schedule": "switch"})),
    # env_seed seeds lane i's env with env_seed + i; one session per lane
    "bandit_env_seed": ("wsls", BANDIT, 5, dict(seed=1, env_seed=40, env_kwargs={"n_trials": 9})),
}


@pytest.mark.parametrize("case", list(VECTORIZED))
def test_vectorize_plays_the_lanes_as_vector_copies_and_gives_the_single_envs_table(case, monkeypatch):
    """rollout(vectorize=True) plays an id's lanes as the copies of its native vector task, each
    drawing from its own generator seeded as the single env of its lane: the same table, byte for
    byte, across session ends, masked draws, trial context and every kind of seed."""
    import cogmodels.rollout as rollout_module

    name, env, lanes, kw = VECTORIZED[case]
    model = make_model(name)
    params = {s.name: np.linspace(s.low + 0.2 * (min(s.high, 5) - s.low), min(s.high, 5) - 0.1, lanes)
              if np.isfinite(s.low) else s.default for s in model.param_specs}
    agent = model.as_agent(params, record_probabilities=True)
    seed = kw.pop("seed")
    fresh = (lambda: np.random.default_rng(11)) if seed == "generator" else (lambda: seed)
    single = rollout(agent, env, n_subjects=lanes, seed=fresh(), **kw)
    played = []
    vector_loop = rollout_module._vector_loop
    monkeypatch.setattr(rollout_module, "_vector_loop", lambda agent, vec, *a, **k: played.append(
        type(vec).__name__) or vector_loop(agent, vec, *a, **k))
    vector = rollout(agent, env, n_subjects=lanes, seed=fresh(), vectorize=True, **kw)
    assert played == [env.split("/")[1].replace("-v0", "Vector")]
    pd.testing.assert_frame_equal(vector, single, check_exact=True)
    assert single["session"].max() == (0 if "n_trials" not in kw else 2)


def test_vectorize_plays_single_envs_where_the_task_has_no_vector_copies(monkeypatch):
    import cogmodels.rollout as rollout_module

    monkeypatch.setattr(rollout_module, "_vector_loop", None)  # never called
    model = make_model("rlwm")
    table = rollout(model.as_agent(model.default_params()), "cogmodels/RLWM-v0", n_subjects=2, seed=0,
                    vectorize=True)
    assert table["subject"].nunique() == 2
    with pytest.raises(ValueError, match=r"vectorize must be True or False, got .yes."):
        rollout(RandomPolicy().as_agent(), BANDIT, vectorize="yes")


# -- step tables on native vector environments ---------------------------------------------------

#: the columns every step table has, single or vector
STEP_FIXED = ["subject", "session", "step", "trial", "reward", "terminated", "truncated"]


def test_step_tables_on_a_vector_env_are_those_of_the_single_envs():
    """record='steps' on one copy of the vector bandit gives the single bandit's step table (the
    one-copy vector task draws the same numbers), across a session boundary; two copies give one
    subject each, each counting its own steps, trials and sessions."""
    from cogmodels.envs.bandit import MultiArmedBandit, MultiArmedBanditVector

    agent = ThompsonSampling().as_agent(2)
    single = rollout(agent, MultiArmedBandit(n_trials=7), n_steps=10, seed=3, record="steps")
    vector = rollout(agent, MultiArmedBanditVector(num_envs=1, n_trials=7, autoreset_mode="same_step"),
                     n_steps=10, seed=3, record="steps")
    columns = [*STEP_FIXED, "action", "regret"]
    pd.testing.assert_frame_equal(vector[columns], single[columns])
    assert vector["session"].tolist() == [0] * 7 + [1] * 3 and vector["step"].tolist()[6:8] == [6, 0]
    two = rollout(agent, MultiArmedBanditVector(num_envs=2, n_trials=4, autoreset_mode="same_step"),
                  n_trials=6, seed=0, record="steps")
    assert two.groupby("subject").size().tolist() == [6, 6]
    assert two["trial"].tolist() == [0, 1, 2, 3, 0, 1] * 2 and two["session"].tolist() == [0] * 4 + [1] * 2 + [0] * 4 + [1] * 2


def test_a_vector_env_without_trial_ends_is_refused_naming_what_it_lacks():
    from cogmodels.envs.delayed_match import DelayedMatchToSampleVector

    env = DelayedMatchToSampleVector(num_envs=2, autoreset_mode="same_step")
    with pytest.raises(TypeError, match="does not record trials"):
        rollout(RandomPolicy().as_agent(3), env, n_steps=3, seed=0)
    with pytest.raises(TypeError, match="reports no trial ends"):
        rollout(RandomPolicy().as_agent(3), env, n_steps=3, seed=0, record="steps")


def _cursor_decoder(kw: dict, seed: int):
    """A Kalman filter calibrated on the subjects that rollout(seed=seed) plays."""
    from cogmodels.agents.decoders import SteadyStateKalmanDecoder, calibrate
    from cogmodels.envs.bci.vector import CursorBCIVector
    from cogmodels.validation import int_seed

    cal = CursorBCIVector(**{**kw, "n_trials": 10**6})
    cal.reset(seed=int_seed(np.random.SeedSequence(seed).spawn(2)[1]))
    return calibrate(cal, SteadyStateKalmanDecoder(), 20.0)


def test_a_decoder_is_an_agent_that_drives_the_vector_cursor():
    """A fitted decoder as an agent plays the vector cursor task with rollout: its actions are the
    decoded velocities of the counts, bin by bin, its state restarts with each session, the trial
    column counts the trials the task completed, and the calibrated filter hits its targets."""
    from cogmodels.envs.bci.vector import CursorBCIVector
    from cogmodels.validation import int_seed

    kw = {"num_envs": 2, "n_trials": 2, "n_units": 16}
    dec = _cursor_decoder(kw, seed=4)
    table = rollout(dec.as_agent(gain=1.5), CursorBCIVector(**kw, autoreset_mode="same_step"),
                    seconds=20.0, seed=4, record="steps")
    assert table.groupby("subject").size().tolist() == [1000, 1000]  # 20 s of 20 ms bins
    # the oracle: the same loop written out
    env = CursorBCIVector(**kw, autoreset_mode="same_step")
    obs, _ = env.reset(seed=int_seed(np.random.SeedSequence(4).spawn(2)[1]))
    dec.reset()
    actions, rewards, done = [], [], []
    for _ in range(1000):
        a = 1.5 * dec.step(obs)
        obs, r, term, _, info = env.step(a)
        if term.any():
            dec.reset(term)
            # same_step: the ended copies hold their reset's info, the step's is in final_info
            info = {**info, "trial_completed": np.where(term, info["final_info"]["trial_completed"],
                                                        info["trial_completed"])}
        actions.append(a), rewards.append(r), done.append(info["trial_completed"])
    np.testing.assert_array_equal(table[["action_0", "action_1"]].to_numpy(),
                                  np.stack(actions, axis=1).reshape(-1, 2))
    np.testing.assert_array_equal(table["reward"].to_numpy(), np.stack(rewards, axis=1).ravel())
    ends = np.stack(done, axis=1).ravel()
    assert table["trial_completed"].to_numpy().tolist() == ends.tolist()
    # trial counts the trials completed before the step, within the session (2 trials a session)
    for _, lane in table.groupby("subject"):
        completed = lane["trial_completed"].to_numpy()
        session = lane["session"].to_numpy()
        assert session[-1] >= 1 and np.all(np.diff(session) >= 0)
        for s in np.unique(session):
            mine = session == s
            expected = np.concatenate([[0], np.cumsum(completed[mine])[:-1]])
            assert lane["trial"].to_numpy()[mine].tolist() == expected.tolist()
    # the results of a completed trial are in its row, missing elsewhere (NaN), as in single envs
    assert table.loc[table["trial_completed"], "success"].notna().all()
    assert table.loc[~table["trial_completed"], "success"].isna().all()
    # the calibrated filter reaches most targets in time (a decoder of noise reaches almost none)
    assert table.loc[table["trial_completed"], "success"].astype(bool).mean() >= 0.6


def test_one_copy_of_the_vector_cursor_gives_the_single_cursor_step_table():
    from cogmodels.envs.bci import CursorBCI
    from cogmodels.envs.bci.vector import CursorBCIVector

    kw = {"num_envs": 1, "n_trials": 2, "n_units": 16}
    dec = _cursor_decoder(kw, seed=1)
    vector = rollout(dec.as_agent(), CursorBCIVector(**kw, autoreset_mode="same_step"), n_steps=600,
                     seed=1, record="steps")
    single = rollout(dec.as_agent(), CursorBCI(n_trials=2, n_units=16), n_steps=600, seed=1,
                     record="steps")
    columns = [*STEP_FIXED, "time", "action_0", "action_1"]
    pd.testing.assert_frame_equal(vector[columns], single[columns])
    assert vector["session"].max() >= 1  # the sessions of 2 trials ended and restarted alike


def test_a_decoder_agent_checks_its_decoder_and_lanes():
    from cogmodels.agents.decoders import SteadyStateKalmanDecoder
    from cogmodels.agents.decoders.base import DecoderAgent
    from cogmodels.exceptions import NotFittedError

    with pytest.raises(TypeError, match=r"decoder must be a fitted Decoder or a wrapper with step\(counts\) and reset\(mask\), got str"):
        DecoderAgent("kalman")
    with pytest.raises(NotFittedError):
        SteadyStateKalmanDecoder().as_agent()
    dec = _cursor_decoder({"num_envs": 2, "n_units": 16}, seed=0)
    with pytest.raises(ValueError, match="gain"):
        dec.as_agent(gain=0.0)
    with pytest.raises(ValueError, match="n_lanes must be the decoder's 2 lanes, got 3"):
        dec.as_agent().initial_state(3)


def test_next_step_autoreset_is_read_from_the_metadata_and_its_reset_step_is_no_agent_step():
    """Gymnasium's next_step autoreset (the step after the one that ends a session resets the
    copy and ignores its action): where every copy's session ends at once (a bandit of 6 trials),
    the reset step is no trial and the agent does not act in it, so the trial table is the
    same_step one for the same seed, the sessions restarting alike."""
    from cogmodels.envs.bandit import MultiArmedBanditVector

    agent = make_model("q_learning").as_agent({"alpha": 0.3, "beta": 3.0, "kappa": 0.0})
    tables = {mode: rollout(agent, MultiArmedBanditVector(num_envs=3, n_trials=6, autoreset_mode=mode),
                            n_trials=15, seed=8) for mode in ("same_step", "next_step")}
    pd.testing.assert_frame_equal(tables["next_step"], tables["same_step"])
    assert tables["next_step"].groupby("subject").size().tolist() == [15, 15, 15]
    assert tables["next_step"]["session"].max() == 2


def test_a_decoder_drives_the_next_step_vector_cursor_as_the_loop_written_out():
    """On the BCI cursor's default next_step autoreset the reset step of a lane is no agent step:
    no row, no trial, the decoder's state restarts after it; it spends a bin of the run's clock."""
    from cogmodels.envs.bci.vector import CursorBCIVector
    from cogmodels.validation import int_seed

    kw = {"num_envs": 2, "n_trials": 2, "n_units": 16}
    dec = _cursor_decoder(kw, seed=4)
    env = CursorBCIVector(**kw)
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    table = rollout(dec.as_agent(gain=1.5), env, seconds=20.0, seed=4, record="steps")
    # the oracle: the loop written out, skipping each lane's reset step
    env = CursorBCIVector(**kw)
    obs, _ = env.reset(seed=int_seed(np.random.SeedSequence(4).spawn(2)[1]))
    dec.reset()
    resetting = np.zeros(2, dtype=bool)
    lanes: list[list] = [[], []]
    for _ in range(1000):  # 20 s of 20 ms bins
        a = 1.5 * dec.step(obs)
        obs, r, term, _, info = env.step(a)
        for i in np.flatnonzero(~resetting):
            lanes[i].append((*a[i], r[i], info["trial_completed"][i]))
        if resetting.any():
            dec.reset(resetting)
        resetting = term.copy()
    expected = np.array([row for lane in lanes for row in lane], dtype=float)
    got = table[["action_0", "action_1", "reward", "trial_completed"]].to_numpy(dtype=float)
    np.testing.assert_array_equal(got, expected)
    sizes = table.groupby("subject").size().to_numpy()
    assert (sizes < 1000).all() and (1000 - sizes == table.groupby("subject")["session"].max()).all()


class _FirstArm:
    """Always arm 0; counts its ``act`` calls (``acts_on_autoreset`` as given)."""

    def __init__(self, acts_on_autoreset: bool) -> None:
        self.acts_on_autoreset, self.calls = acts_on_autoreset, 0

    def initial_state(self, n_lanes: int) -> None:
        return None

    def act(self, observation, state, rng):
        self.calls += 1
        return np.zeros(len(observation["obs"]), dtype=np.int64), state


def test_an_agent_with_acts_on_autoreset_acts_where_every_copy_resets():
    """Sessions of 4 trials end in every copy at once under next_step: in 20 steps of the clock
    4 are reset steps (steps 5, 10, 15, 20); an ordinary agent skips them, one with
    ``acts_on_autoreset`` acts on all 20 (a BCI decoder reads every bin). The env ignores those
    actions, so the tables are the same."""
    from cogmodels.envs.bandit import MultiArmedBanditVector

    tables = {}
    for flag, acts in ((False, 16), (True, 20)):
        agent = _FirstArm(flag)
        tables[flag] = rollout(agent, MultiArmedBanditVector(num_envs=2, n_trials=4), n_steps=20,
                               seed=3, record="steps")
        assert agent.calls == acts
    pd.testing.assert_frame_equal(tables[True], tables[False])
    assert len(tables[True]) == 2 * 16


def test_env_seed_seeds_the_first_reset_in_place_of_seed():
    """``env_seed``: the vector env's reset(seed=env_seed), lane i of single envs env_seed + i (as
    Gymnasium's vector envs seed their copies); ``seed`` then seeds the agent only."""
    from cogmodels.envs.bandit import MultiArmedBandit, MultiArmedBanditVector

    def steps(env, **kw):
        return rollout(_FirstArm(False), env, n_steps=30, record="steps", **kw)

    vector = steps(MultiArmedBanditVector(num_envs=2, n_trials=10), seed=1, env_seed=11)
    pd.testing.assert_frame_equal(
        vector, steps(MultiArmedBanditVector(num_envs=2, n_trials=10), seed=2, env_seed=11))
    twin = MultiArmedBanditVector(num_envs=2, n_trials=10)
    twin.reset(seed=11)
    means = twin.means.copy()
    played = MultiArmedBanditVector(num_envs=2, n_trials=10)
    rollout(_FirstArm(False), played, n_steps=1, env_seed=11, record="steps")
    np.testing.assert_array_equal(played.means, means)  # drawn at reset(seed=11)
    single = steps([MultiArmedBandit(n_trials=10), MultiArmedBandit(n_trials=10)], env_seed=11)
    alone = steps(MultiArmedBandit(n_trials=10), env_seed=12)
    lane1 = single[single["subject"] == 1].drop(columns="subject").reset_index(drop=True)
    pd.testing.assert_frame_equal(lane1, alone.drop(columns="subject"))
    with pytest.raises(ValueError, match=r"env_seed seeds the first reset: give it with reseed=True, "
                                         r"got env_seed=3 and reseed=False"):
        rollout(_FirstArm(False), BANDIT, env_seed=3, reseed=False)
    with pytest.raises(ValueError, match="env_seed must be"):
        rollout(_FirstArm(False), BANDIT, env_seed=-1)


@pytest.mark.parametrize("kwargs", [{"foo": 1}, {"num_envs": 5}, {"autoreset_mode": "next_step"}])
def test_vectorize_names_the_task_id_and_arguments_it_cannot_take(kwargs):
    """A bad env_kwargs fails as gym.make of the id does, not inside the vector class (breaker, 2026-12-04)."""
    with pytest.raises(TypeError, match=r"environment creator for cogmodels/MultiArmedBandit-v0 with kwargs"):
        rollout(RandomPolicy().as_agent(), BANDIT, n_subjects=20, env_kwargs=kwargs, vectorize=True)
