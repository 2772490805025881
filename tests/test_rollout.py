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
    with pytest.raises(ValueError, match="autoreset_mode='same_step'"):
        rollout(RandomPolicy().as_agent(), gym.make_vec(BANDIT, num_envs=2, vectorization_mode="vector_entry_point"))


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
