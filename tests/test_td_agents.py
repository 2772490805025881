"""TD agents: time representations, the dopamine prediction error, tabular control."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import cogmodels  # noqa: F401
from cogmodels.agents.features import (
    CompleteSerialCompound,
    Microstimulus,
    Presence,
    TabularOneHot,
    make_representation,
)
from cogmodels.agents.td import (
    ActorCriticAgent,
    QLearningAgent,
    SarsaAgent,
    TDCritic,
)
from cogmodels.experiments.dopamine import (
    dopamine_figure,
    pavlovian_prediction_errors,
    trial_deltas,
)

PAV = "cogmodels/PavlovianConditioning-v0"


def _obs(cue: float, us: float = 0.0) -> np.ndarray:
    return np.array([cue, us], dtype=np.float32)


# -- representations --------------------------------------------------------------------------


def test_csc_is_one_hot_of_time_since_cue_onset_and_silent_otherwise():
    rep = CompleteSerialCompound(4)
    stream = [0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0]  # cue onsets at 2 and 8 (on for two steps)
    x = np.array([rep.observe(_obs(c)) for c in stream])
    expected_elapsed = [-1, -1, 0, 1, 2, 3, 4, 5, 0, 1, 2]
    for t, e in enumerate(expected_elapsed):
        want = np.zeros(4)
        if 0 <= e < 4:
            want[e] = 1.0
        np.testing.assert_array_equal(x[t], want, err_msg=f"step {t}")
    rep.reset()
    np.testing.assert_array_equal(rep.observe(_obs(0)), np.zeros(4))
    np.testing.assert_array_equal(rep.features(np.array([-1, 0, 3, 4]))[:, 0], [0, 1, 0, 0])


def test_microstimuli_follow_ludvig_sutton_kehoe_2008():
    m, sigma, d = 6, 0.08, 0.9
    rep = Microstimulus(m, sigma=sigma, decay=d)
    elapsed = np.arange(40)
    x = rep.features(elapsed)
    y = d**elapsed
    mu = np.arange(1, m + 1) / m
    want = y[:, None] * np.exp(-((y[:, None] - mu) ** 2) / (2 * sigma**2)) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(x, want, rtol=1e-12)
    peaks = x.argmax(axis=0)  # microstimuli with lower centres peak later, and are weaker
    assert (np.diff(peaks[::-1]) > 0).all()
    assert (np.diff(x.max(axis=0)) > 0).all()
    np.testing.assert_array_equal(rep.features(-1), np.zeros(m))
    # a second set for the reward channel, and presence bits
    rep2 = Microstimulus(m, decay=d, us_index=1, presence=True)
    assert rep2.n_features == 2 * (m + 1)
    f = rep2.observe(_obs(1, 0))
    assert f[m] == 1.0 and f[-1] == 0.0 and np.allclose(f[m + 1:-1], 0)
    f = rep2.observe(_obs(0, 1))
    assert f[m] == 0.0 and f[-1] == 1.0


def test_presence_and_tabular_representations():
    pres = Presence(bias=True)
    np.testing.assert_array_equal(pres.observe(_obs(1)), [1.0, 1.0])
    np.testing.assert_array_equal(pres.observe(_obs(0)), [0.0, 1.0])
    tab = TabularOneHot(3)
    ids = [int(tab.observe(o).argmax()) for o in ([1, 0], [0, 1], [1, 0], [0, 0])]
    assert ids == [0, 1, 0, 2]
    with pytest.raises(ValueError, match="more than max_states=3"):
        tab.observe([5, 5])
    hist = TabularOneHot(10, history=2)
    a = [hist.observe(o).argmax() for o in ([1], [2], [1], [2])]
    assert a[1] == a[3] and a[0] != a[2]  # (-, 1) vs (2, 1)
    with pytest.raises(ValueError, match="representation must be one of"):
        make_representation("fourier")
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
        CompleteSerialCompound(0)


# -- the dopamine prediction error --------------------------------------------------------------


@pytest.fixture(scope="module")
def csc_run():
    return pavlovian_prediction_errors("csc", n_trials=150, alpha=0.1, gamma=0.98, lam=0.9, seed=0)


def test_td_lambda_csc_prediction_error_moves_from_reward_to_cue_and_dips_at_omission(csc_run):
    """Schultz, Dayan & Montague (1997): the dopamine-like δ of TD(λ) with a CSC."""
    d = trial_deltas(csc_run)
    early, late = d.iloc[0], d[(d.trial >= 140) & ~d.omitted]
    omission = d[d.omitted].iloc[0]
    # before learning: a response to the reward, none to the cue
    assert early.delta_us == pytest.approx(1.0, abs=1e-12)
    assert early.delta_cue == pytest.approx(0.0, abs=1e-12)
    assert d.delta_cue.iloc[:3].abs().max() < 0.1
    # after learning: the response has moved to the cue; the predicted reward evokes none
    assert (late.delta_cue > 0.5).all()
    assert (late.delta_us.abs() < 0.2).all()
    # the cue response equals gamma^delay (the cue is unpredictable: value 0 before it)
    assert late.delta_cue.mean() == pytest.approx(0.98**10, abs=0.02)
    # an omitted reward: a dip below baseline at the expected time of the reward
    assert omission.delta_us < -0.5
    trial = csc_run[csc_run.trial == omission.trial]
    assert trial.delta.idxmin() == trial.index[trial.time_in_trial == 15][0]
    # pre-cue steps (random ITI) carry no value and no prediction error
    pre = csc_run[(csc_run.time_in_trial < 5) & (csc_run.trial > 100)]
    assert pre.value.abs().max() < 1e-12 and pre.delta.abs().max() < 1e-12


def test_td_critic_learns_the_discounted_value_of_each_time_step():
    gamma, delay = 0.95, 10
    rep = CompleteSerialCompound(15)
    critic = TDCritic(rep, alpha=0.2, gamma=gamma, lam=0.5)
    critic.run(PAV, seed=3, env_kwargs={"n_trials": 300})
    # V(x_t) predicts the rewards after t: gamma^(delay - 1 - k) at k steps after the cue
    want = np.r_[gamma ** (delay - 1 - np.arange(delay)), np.zeros(15 - delay)]
    np.testing.assert_allclose(critic.w, want, atol=0.02)
    assert critic.last_delta == pytest.approx(0.0, abs=1e-6)


def test_microstimulus_prediction_error_also_moves_to_the_cue():
    steps = pavlovian_prediction_errors("microstimulus", n_trials=150, alpha=0.3, seed=0)
    d = trial_deltas(steps)
    late = d[(d.trial >= 140) & ~d.omitted]
    assert d.delta_us.iloc[0] == pytest.approx(1.0) and d.delta_cue.iloc[0] == 0.0
    assert late.delta_cue.mean() > 0.5
    assert late.delta_us.mean() < 0.7  # smaller, but (Ludvig et al. 2008) not abolished
    assert d[d.omitted].delta_us.iloc[0] < -0.1


def test_critic_run_is_a_tidy_reproducible_table(csc_run):
    for col in ("trial", "time_in_trial", "delta", "value", "action", "reward", "cue", "us",
                "omitted", "phase", "representation"):
        assert col in csc_run.columns
    assert csc_run.trial.max() == 149
    assert set(csc_run.phase.unique()) == {"early", "training", "late", "omission"}
    again = pavlovian_prediction_errors("csc", n_trials=150, alpha=0.1, gamma=0.98, lam=0.9, seed=0)
    pd.testing.assert_frame_equal(csc_run, again)
    other = pavlovian_prediction_errors("csc", n_trials=150, alpha=0.1, gamma=0.98, lam=0.9, seed=1)
    assert not other["time_in_trial"].equals(csc_run["time_in_trial"])  # other ITIs


def test_learn_false_leaves_the_weights_and_lick_readout():
    critic = TDCritic(CompleteSerialCompound(15), lick_threshold=0.5)
    critic.run(PAV, seed=0, env_kwargs={"n_trials": 100})
    w = critic.w.copy()
    probe = critic.run(PAV, seed=1, env_kwargs={"n_trials": 3}, learn=False)
    np.testing.assert_array_equal(critic.w, w)
    # after learning the critic licks between the cue and the reward (anticipatory licking)
    licks = probe.groupby("time_in_trial").action.mean()
    assert licks.loc[5:14].min() == 1.0 and licks.loc[:4].max() == 0.0


def test_run_limits_and_episodes():
    critic = TDCritic(CompleteSerialCompound(15))
    steps = critic.run(PAV, seed=0, env_kwargs={"n_trials": 5}, n_trials=12)
    # rollout's step table: each episode a session, step and trial counted from 0 in each
    assert list(steps.columns[:8]) == ["subject", "session", "step", "trial", "action", "reward",
                                       "terminated", "truncated"]
    assert list(steps.columns[-2:]) == ["delta", "value"] and (steps.subject == 0).all()
    assert steps.groupby("session").trial.max().tolist() == [4, 4, 1]  # 5 + 5 + 2 trials
    assert (steps.groupby("session").step.first() == 0).all()
    assert (steps.groupby("session").step.diff().dropna() == 1).all()
    assert steps.terminated.sum() == 2 and not {"episode", "run_trial", "info_trial"} & set(steps.columns)
    # time_in_trial is the task's own info entry (a step count); info_keys keeps only those named
    assert "time_in_trial" in steps and "time" not in steps  # no bin width: no time column
    kept = critic.run(PAV, seed=0, env_kwargs={"n_trials": 2}, info_keys=("cue",))
    assert list(kept.columns[8:]) == ["cue", "delta", "value"]
    bandit = QLearningAgent(TabularOneHot(2), gamma=0.0).run("cogmodels/MultiArmedBandit-v0", seed=0, n_trials=3)
    assert "time_in_trial" not in bandit  # a task without it has no such column
    with pytest.raises(ValueError, match=r"steps must hold one session.*sessions \[0, 1, 2\]"):
        trial_deltas(steps)
    steps = critic.run(PAV, seed=0, n_steps=37)
    assert len(steps) == 37
    with pytest.raises(ValueError, match="n_trials must be a positive integer"):
        critic.run(PAV, n_trials=0)
    with pytest.raises(ValueError, match="registered environment id"):
        critic.run("cogmodels/Nope-v0")


# -- control: Q-learning, SARSA, actor-critic ---------------------------------------------------


@pytest.mark.parametrize(
    "agent",
    [
        QLearningAgent(TabularOneHot(2), gamma=0.0, alpha=0.2, epsilon=0.1, seed=0),
        SarsaAgent(TabularOneHot(2), gamma=0.0, alpha=0.2, policy="softmax", beta=8.0, seed=0),
        ActorCriticAgent(TabularOneHot(2), gamma=0.0, alpha_critic=0.2, alpha_actor=0.5, beta=3.0,
                         seed=0),
    ],
    ids=["q_learning", "sarsa", "actor_critic"],
)
def test_agents_learn_a_bandit(agent):
    steps = agent.run("cogmodels/MultiArmedBandit-v0", seed=0,
                      env_kwargs={"means": [0.2, 0.8], "n_trials": 300})
    assert (steps.action.iloc[-100:] == 1).mean() > 0.85
    # gamma = 0: the TD error is the Rescorla-Wagner error r - value
    np.testing.assert_allclose(steps.delta, steps.reward - steps.value, atol=1e-12)


@pytest.mark.parametrize(
    "agent",
    [
        QLearningAgent(TabularOneHot(2), gamma=0.0, alpha=0.3, epsilon=0.1, seed=0),
        SarsaAgent(TabularOneHot(2), gamma=0.0, alpha=0.3, policy="softmax", beta=8.0, seed=0),
    ],
    ids=["q_learning", "sarsa"],
)
def test_agents_learn_reversals_above_chance(agent):
    steps = agent.run("cogmodels/ReversalLearning-v0", seed=0, env_kwargs={"n_trials": 400})
    accuracy = (steps.action == steps.correct_action).mean()
    # chance is 0.5; a binomial 0.5 over 400 trials exceeds 0.6 with probability < 1e-4
    assert accuracy > 0.6
    # and it recovers after reversals: accuracy in the second half of each block is higher
    half = steps.groupby("block").cumcount() >= 20
    assert (steps.action == steps.correct_action)[half].mean() > 0.7


@pytest.mark.parametrize("cls", [QLearningAgent, SarsaAgent])
def test_each_choice_reflects_the_previous_outcome(cls):
    """Greedy learners on a deterministic bandit (arm 1 always pays, arm 0 never): after the
    first trial's update the values are untied, so every later choice is arm 1."""
    for seed in range(8):
        agent = cls(TabularOneHot(2), gamma=0.0, alpha=0.5, epsilon=0.0, initial_value=0.5)
        steps = agent.run("cogmodels/MultiArmedBandit-v0", seed=seed,
                          env_kwargs={"means": [0.0, 1.0], "n_trials": 6})
        assert (steps.action.iloc[1:] == 1).all(), seed


def test_q_learning_with_history_solves_2_back():
    agent = QLearningAgent(TabularOneHot(64, history=3), gamma=0.0, alpha=0.3, epsilon=0.05, seed=0)
    steps = agent.run("cogmodels/NBack-v0", seed=0,
                      env_kwargs={"n_stimuli": 3, "n": 2, "n_trials": 3000})
    late = steps[steps.trial >= 2000]
    # always answering "no match" scores 1 - p_match = 2/3
    assert (late.action == late.correct_action).mean() > 0.9


def test_sarsa_lambda_and_watkins_traces_run_in_time_step_tasks():
    for agent in (SarsaAgent(TabularOneHot(64), gamma=0.9, lam=0.8, seed=0),
                  QLearningAgent(TabularOneHot(64), gamma=0.9, lam=0.8, seed=0)):
        steps = agent.run("cogmodels/DelayedMatchToSample-v0", seed=0, n_trials=30)
        assert steps.trial.max() == 29 and np.isfinite(steps.delta).all()
        assert agent.last_delta == steps.delta.iloc[-1]


def test_same_seed_same_table_and_input_errors():
    def play(seed):
        agent = SarsaAgent(TabularOneHot(4), gamma=0.0, seed=123)
        return agent.run("cogmodels/ReversalLearning-v0", seed=seed, env_kwargs={"n_trials": 50})

    pd.testing.assert_frame_equal(play(4), play(4))
    assert not play(4).action.equals(play(5).action)
    with pytest.raises(TypeError, match="representation must be"):
        QLearningAgent("tabular")
    with pytest.raises(ValueError, match="policy must be one of"):
        QLearningAgent(TabularOneHot(2), policy="greedy")
    with pytest.raises(ValueError, match="gamma must be a finite number in"):
        SarsaAgent(TabularOneHot(2), gamma=1.5)
    agent = QLearningAgent(TabularOneHot(2), n_actions=3)
    with pytest.raises(ValueError, match="built for n_actions=3"):
        agent.run("cogmodels/MultiArmedBandit-v0", n_trials=2)

    class Cont(gym.Env):
        observation_space = gym.spaces.Box(0, 1, (1,))
        action_space = gym.spaces.Box(-1, 1, (1,))

    with pytest.raises(ValueError, match="needs a Discrete action space"):
        QLearningAgent(TabularOneHot(2)).run(Cont())


def test_the_pavlovian_study_keeps_its_old_import_paths():
    """The study moved to cogmodels.experiments.dopamine; the old paths give the same objects and warn."""
    from cogmodels.agents import plots, td
    from cogmodels.experiments import dopamine

    for module, names in ((td, ["pavlovian_prediction_errors", "trial_deltas"]),
                          (plots, ["DEFAULT_SETTINGS", "dopamine_figure"])):
        for name in names:
            new = f"cogmodels.experiments.dopamine.{name}"
            with pytest.warns(DeprecationWarning, match=f"{module.__name__}.{name} is deprecated.*use {new}"):
                assert getattr(module, name) is getattr(dopamine, name)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        td.nope  # noqa: B018


def test_dopamine_figure_returns_a_figure():
    fig = dopamine_figure(n_trials=40)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == ["early", "late", "omission"]


# -- the agents as models of the protocol ---------------------------------------------------------
BANDIT_MEANS = {"means": [0.3, 0.7], "n_trials": 10**6}


@pytest.mark.parametrize(
    "agent",
    [
        ActorCriticAgent(TabularOneHot(4), n_actions=2, gamma=0.0, alpha_critic=0.3, alpha_actor=0.6,
                         beta=2.5, actor_update="direct", initial_value=0.5, seed=0),
        QLearningAgent(TabularOneHot(4), n_actions=2, gamma=0.0, alpha=0.4, policy="softmax",
                       beta=4.0, initial_value=0.2, seed=0),
        SarsaAgent(TabularOneHot(4), n_actions=2, gamma=0.0, alpha=0.2, policy="softmax", beta=6.0,
                   seed=0),
    ],
    ids=["actor_critic", "q_learning", "sarsa"],
)
def test_trial_level_learner_is_a_thin_adapter_over_its_model(agent):
    """A trial-level tabular learner follows the rule of its cogmodels.models model: rolled out
    with the same seed, the model as an agent makes the same 150 choices with the same
    prediction errors, and the model's likelihood scores exactly the probabilities it drew from."""
    from cogmodels.likelihood import trial_latents
    from cogmodels.rollout import rollout

    model, params = agent.to_model()
    steps = agent.run("cogmodels/MultiArmedBandit-v0", n_trials=150, seed=7, env_kwargs=BANDIT_MEANS)
    sim = rollout(model.as_agent(params, record_probabilities=True), "cogmodels/MultiArmedBandit-v0",
                  n_trials=150, seed=7, env_kwargs=BANDIT_MEANS)
    np.testing.assert_array_equal(steps.action.to_numpy(), sim.choice.to_numpy(dtype=np.int64))
    np.testing.assert_allclose(steps.delta, sim.delta, rtol=0, atol=1e-12)
    trials = pd.DataFrame({"subject": 0, "trial": np.arange(150), "choice": steps.action,
                           "reward": steps.reward})
    lat = trial_latents(model, params, trials)
    np.testing.assert_allclose(lat["p_choice"], sim["p_choice"], rtol=0, atol=1e-12)
    # the learner's own policy after the run is the model's after the same 150 trials
    x = np.eye(agent.n_features)[0]
    last = model.update(*_model_after(model, params, trials))
    np.testing.assert_allclose(agent.policy(x), model.action_probabilities(last, {})[0], atol=1e-12)


def _model_after(model, params, trials):
    """The model's state before the last trial, and that trial's observation, choice and reward."""
    state = model.initial_state(model.check_params(params, n_lanes=1))
    for t in range(len(trials) - 1):
        state = model.update(state, {}, trials.choice.to_numpy()[t : t + 1], trials.reward.to_numpy()[t : t + 1], {})
    last = len(trials) - 1
    return state, {}, trials.choice.to_numpy()[last:], trials.reward.to_numpy()[last:], {}


def test_fitting_recovers_an_actor_critic_agents_learning_rates():
    """The fitting module estimates the agent's parameters from its choices alone."""
    from cogmodels.fits import MaximumLikelihood

    agent = ActorCriticAgent(TabularOneHot(4), gamma=0.0, alpha_critic=0.2, alpha_actor=0.5,
                             beta=3.0, actor_update="direct", initial_value=0.5, seed=0)
    steps = agent.run("cogmodels/ReversalLearning-v0", n_trials=3000, seed=1)
    trials = pd.DataFrame({"subject": 0, "trial": np.arange(len(steps)), "choice": steps.action,
                           "reward": steps.reward})
    model, truth = agent.to_model()
    fit = MaximumLikelihood(model, n_starts=4, seed=0).fit(trials)
    est = fit.params_.iloc[0]
    assert est["alpha_c"] == pytest.approx(truth["alpha_c"], abs=0.05)  # measured 0.199
    assert est["alpha_a"] == pytest.approx(truth["alpha_a"], abs=0.1)  # measured 0.495


def test_to_model_names_the_setting_that_has_no_model():
    with pytest.raises(ValueError, match=r"to_model needs gamma = 0 .*got 0.9"):
        ActorCriticAgent(TabularOneHot(4), n_actions=2, gamma=0.9, actor_update="direct").to_model()
    with pytest.raises(ValueError, match=r"to_model needs actor_update = 'direct'.*got 'gradient'"):
        ActorCriticAgent(TabularOneHot(4), n_actions=2, gamma=0.0).to_model()
    with pytest.raises(ValueError, match=r"to_model needs policy = 'softmax'.*'epsilon_greedy'"):
        QLearningAgent(TabularOneHot(4), n_actions=2, gamma=0.0).to_model()
    with pytest.raises(ValueError, match=r"to_model needs representation = TabularOneHot\(history=1\)"):
        SarsaAgent(CompleteSerialCompound(5), n_actions=2, gamma=0.0, policy="softmax").to_model()
    with pytest.raises(ValueError, match=r"to_model needs n_actions = set"):
        SarsaAgent(TabularOneHot(4), gamma=0.0, policy="softmax").to_model()
    with pytest.raises(ValueError, match=r"to_model needs beta = a finite number > 0, got inf"):
        QLearningAgent(TabularOneHot(4), n_actions=2, gamma=0.0, policy="softmax",
                       beta=float("inf")).to_model()
    two_states = SarsaAgent(TabularOneHot(4), gamma=0.0, policy="softmax", seed=0)
    two_states.run("cogmodels/RLWM-v0", n_trials=30, seed=0, env_kwargs={"set_sizes": [2]})
    with pytest.raises(ValueError, match=r"to_model needs n_states = at least the [2-9] states the agent has seen, got 1"):
        two_states.to_model()
    # a beta above the default bound of 20 still lies inside the model's bounds
    model, params = QLearningAgent(TabularOneHot(4), n_actions=2, gamma=0.0, policy="softmax",
                                   beta=30.0).to_model()
    spec = {s.name: s for s in model.param_specs}["beta"]
    assert spec.low < params["beta"] < spec.high


def test_agents_package_is_a_table_of_contents_that_imports_lazily():
    import ast
    import importlib.util
    from pathlib import Path

    import cogmodels.agents as agents
    from cogmodels.agents import td

    assert agents.TDCritic is td.TDCritic
    assert "GaussianActorCritic" in dir(agents)
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        agents.Nope  # noqa: B018
    # every listed name is defined in its module (read, not imported: the RNN ones need torch)
    for name, module in agents._CONTENTS.items():
        path = Path(importlib.util.find_spec(f"cogmodels.agents.{module}").origin)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        defined |= {t.id for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign)
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                    if isinstance(t, ast.Name)}
        assert name in defined, (name, module)
