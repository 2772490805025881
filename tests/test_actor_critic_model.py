"""The actor-critic CognitiveModel: likelihood = simulation, reference equations, recovery."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cogmodels  # noqa: F401
from cogmodels.fits.mle import MaximumLikelihood
from cogmodels.likelihood import log_likelihood, trial_arrays, trial_latents
from cogmodels.models.actor_critic import ActorCritic
from cogmodels.parameters import pack, unpack
from cogmodels.simulate import simulate

BANDIT = "cogmodels/MultiArmedBandit-v0"
REVERSAL = "cogmodels/ReversalLearning-v0"

VARIANTS = [
    {},
    {"forgetting": True},
    {"stickiness": True, "n_actions": 3},
    {"free_beta": True, "forgetting": True, "stickiness": True},
]


def _params(model: ActorCritic, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {s.name: rng.uniform(s.low + 0.1 * (s.high - s.low), s.high - 0.1 * (s.high - s.low), n)
            for s in model.param_specs}


def _reference_loglik(choices, rewards, states, p, n_actions, n_states=1, forgetting=False,
                      stickiness=False, beta=1.0, v0=0.5):
    """The equations of the docstring, written out trial by trial."""
    v = np.full(n_states, v0)
    h = np.zeros((n_states, n_actions))
    prev = -1
    ll = 0.0
    for a, r, s in zip(choices, rewards, states):
        logits = beta * h[s] + (p.get("kappa", 0.0) * (np.arange(n_actions) == prev) if stickiness else 0)
        logits = logits - logits.max()
        ll += logits[a] - np.log(np.exp(logits).sum())
        delta = r - v[s]
        v[s] += p["alpha_c"] * delta
        if forgetting:
            other = np.arange(n_actions) != a
            h[s, other] -= p["phi"] * h[s, other]
        h[s, a] += p["alpha_a"] * delta
        prev = a
    return ll


@pytest.mark.parametrize("structure", VARIANTS, ids=lambda s: "-".join(s) or "default")
@pytest.mark.parametrize("env", [BANDIT, REVERSAL])
def test_likelihood_of_simulated_choices_equals_product_of_draw_probabilities(structure, env):
    model = ActorCritic(**structure)
    params = _params(model, 4, np.random.default_rng(0))
    sim = simulate(model, params, env, seed=1, record_probabilities=True,
                   env_kwargs={"n_trials": 80, "n_actions": model.n_actions})
    data = trial_arrays(sim.trials, model)
    ll = log_likelihood(model, params, data, trialwise=True)
    for i, subject in enumerate(data.subjects):
        p = sim.trials.loc[sim.trials["subject"] == subject, "p_choice"].to_numpy()
        np.testing.assert_allclose(ll[i, : len(p)], np.log(p), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(log_likelihood(model, params, data), ll.sum(axis=1), rtol=1e-12)
    # latents: the critic's value, the actor's preferences and delta = r - v
    for col in ("v", "delta", *[f"h_{i}" for i in range(model.n_actions)]):
        assert col in sim.trials.columns
    np.testing.assert_allclose(sim.trials.delta, sim.trials.reward - sim.trials.v, atol=1e-12)


@pytest.mark.parametrize("structure", VARIANTS[:3], ids=lambda s: "-".join(s) or "default")
def test_likelihood_matches_the_written_out_equations(structure):
    model = ActorCritic(**structure)
    rng = np.random.default_rng(5)
    n = 120
    choices = rng.integers(0, model.n_actions, n)
    rewards = rng.integers(0, 2, n).astype(float)
    p = {k: float(v[0]) for k, v in _params(model, 1, rng).items()}
    df = pd.DataFrame({"subject": 0, "trial": range(n), "choice": choices, "reward": rewards})
    ll = log_likelihood(model, p, trial_arrays(df, model))[0]
    ref = _reference_loglik(choices, rewards, np.zeros(n, int), p, model.n_actions,
                            forgetting=model.forgetting, stickiness=model.stickiness)
    assert ll == pytest.approx(ref, rel=1e-12)


def test_states_have_their_own_critic_and_actor():
    model = ActorCritic(n_actions=3, n_states=4, forgetting=True)
    assert model.observation_columns == ("state",)
    rng = np.random.default_rng(2)
    n = 150
    df = pd.DataFrame({
        "subject": np.repeat([0, 1], n),
        "trial": np.tile(np.arange(n), 2),
        "state": rng.integers(0, 4, 2 * n),
        "choice": rng.integers(0, 3, 2 * n),
        "reward": rng.integers(0, 2, 2 * n).astype(float),
    })
    params = {"alpha_c": [0.2, 0.6], "alpha_a": [0.7, 0.3], "phi": [0.1, 0.4]}
    ll = log_likelihood(model, params, trial_arrays(df, model))
    for i in range(2):
        d = df[df.subject == i]
        p = {k: v[i] for k, v in params.items()}
        ref = _reference_loglik(d.choice.to_numpy(), d.reward.to_numpy(), d.state.to_numpy(), p, 3,
                                n_states=4, forgetting=True)
        assert ll[i] == pytest.approx(ref, rel=1e-12)
    lat = trial_latents(model, params, df)
    assert {"v", "h_0", "h_1", "h_2", "delta", "p_choice"} <= set(lat.columns)
    bad = df.assign(state=7)
    with pytest.raises(ValueError, match=r"'state' must hold integers in \[0, 3\]"):
        log_likelihood(model, params, trial_arrays(bad, model))


def test_maximum_likelihood_recovers_the_learning_rates():
    model = ActorCritic()
    rng = np.random.default_rng(0)
    n = 30
    truth = {"alpha_c": rng.uniform(0.05, 0.9, n), "alpha_a": rng.uniform(0.1, 0.9, n)}
    sim = simulate(model, truth, REVERSAL, seed=1, env_kwargs={"n_trials": 200}, latents=False)
    fit = MaximumLikelihood(model, n_starts=3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(sim.trials)
    assert stats.spearmanr(fit.params_["alpha_a"], truth["alpha_a"]).statistic > 0.8
    assert stats.spearmanr(fit.params_["alpha_c"], truth["alpha_c"]).statistic > 0.4
    # the fitted likelihood is at least that of the true parameters (up to optimiser tolerance)
    data = trial_arrays(sim.trials, model)
    ll_true = log_likelihood(model, truth, data)
    assert (fit.loglik_.to_numpy() >= ll_true - 0.5).all()


def test_structure_parameters_and_errors():
    assert ActorCritic().param_names == ("alpha_c", "alpha_a")
    assert ActorCritic(free_beta=True, stickiness=True, forgetting=True).param_names == (
        "alpha_c", "alpha_a", "beta", "kappa", "phi")
    model = ActorCritic(forgetting=True)
    params = _params(model, 5, np.random.default_rng(1))
    back = unpack(model.param_specs, pack(model.param_specs, params))
    for k, v in params.items():
        np.testing.assert_allclose(back[k], v, rtol=1e-9)
    with pytest.raises(ValueError, match="n_states must be an integer >= 1"):
        ActorCritic(n_states=0)
    with pytest.raises(ValueError, match="beta must be a finite number > 0"):
        ActorCritic(beta=0.0)
    with pytest.raises(ValueError, match=r"missing \['alpha_a'\]"):
        model.check_params({"alpha_c": 0.1, "phi": 0.1})
    # fixed beta scales the preferences: beta=2 equals free beta=2
    fixed, free = ActorCritic(beta=2.0), ActorCritic(free_beta=True)
    df = simulate(fixed, {"alpha_c": 0.3, "alpha_a": 0.4}, BANDIT, n_subjects=1, seed=0,
                  env_kwargs={"n_trials": 50}).trials
    a = log_likelihood(fixed, {"alpha_c": 0.3, "alpha_a": 0.4}, trial_arrays(df, fixed))
    b = log_likelihood(free, {"alpha_c": 0.3, "alpha_a": 0.4, "beta": 2.0}, trial_arrays(df, free))
    np.testing.assert_allclose(a, b, rtol=1e-12)
