"""RNNs scored against behaviour: a frozen RL-trained policy as a model, and tiny RNNs fitted to
choices as a cross-validated ceiling."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import cogmodels  # noqa: F401
from cogmodels.agents.a2c import A2CConfig, A2CTrainer
from cogmodels.agents.rnn import RecurrentPolicy
from cogmodels.agents.rnn_model import RecurrentModel
from cogmodels.agents.tiny_rnn import TinyRNN
from cogmodels.fits import MaximumLikelihood, compare_models
from cogmodels.likelihood import log_likelihood, trial_arrays
from cogmodels.models import make_model
from cogmodels.simulate import simulate

BANDIT = "cogmodels/MultiArmedBandit-v0"
REVERSAL = "cogmodels/ReversalLearning-v0"


pytestmark = pytest.mark.usefixtures("silence_warnings")


@pytest.fixture(scope="module")
def trained_policy() -> RecurrentPolicy:
    """A GRU meta-trained briefly by A2C on 20-trial two-armed bandit sessions."""
    torch.set_num_threads(1)
    cfg = A2CConfig(num_envs=64, n_trials=20, hidden_size=16, lr=1e-2, gamma=0.9,
                    entropy_coef=0.01, reward_signal="expected", total_updates=150, seed=0)
    return A2CTrainer(cfg).train(progress=False).model  # 150 updates, not a clock budget


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_frozen_rnn_likelihood_equals_the_simulation_probabilities(cell):
    torch.manual_seed(1)
    policy = RecurrentPolicy(hidden_size=5, cell=cell)
    with torch.no_grad():
        policy.policy_head.weight.mul_(30)  # far from uniform, so the check has teeth
    model = RecurrentModel(policy)
    sim = simulate(model, {"beta": [0.5, 1.0, 2.0]}, BANDIT, seed=3, env_kwargs={"n_trials": 40},
                   record_probabilities=True)
    data = trial_arrays(sim.trials, model)
    ll = log_likelihood(model, {"beta": np.array([0.5, 1.0, 2.0])}, data)
    expected = np.log(sim.trials["p_choice"]).groupby(sim.trials["subject"]).sum().to_numpy()
    np.testing.assert_allclose(ll, expected, rtol=1e-6)
    assert {f"h_{i}" for i in range(5)} <= set(sim.trials.columns)
    assert ({f"c_{i}" for i in range(5)} <= set(sim.trials.columns)) == (cell == "lstm")


def test_rl_trained_rnn_is_fitted_and_compared_like_a_cognitive_model(trained_policy):
    model = RecurrentModel(trained_policy, name="rnn")
    betas = np.repeat([0.5, 3.0], 8)
    sim = simulate(model, {"beta": betas}, BANDIT, seed=0, env_kwargs={"n_trials": 100})
    fit = MaximumLikelihood(model, n_starts=2, seed=0).fit(sim.trials)
    est = fit.params_["beta"].to_numpy()
    assert np.median(est[:8]) < 1.0 < 2.0 < np.median(est[8:])
    result = compare_models(sim.trials, {"rnn": model, "q_learning": make_model("q_learning"),
                                         "random": make_model("random")}, n_starts=2, seed=0,
                            bms_samples=20_000)
    assert result.table["bic"].idxmin() == "rnn"
    assert result.best("pxp") == "rnn"


def test_recurrent_model_bad_input():
    with pytest.raises(TypeError, match="policy must be a RecurrentPolicy"):
        RecurrentModel("gru")
    with pytest.raises(ValueError, match="obs_dim=1"):
        RecurrentModel(RecurrentPolicy(obs_dim=3))
    with pytest.raises(ValueError, match="beta_max must be"):
        RecurrentModel(RecurrentPolicy(), beta_max=0.5)


@pytest.fixture(scope="module")
def q_data():
    model = make_model("q_learning")
    return simulate(model, {"alpha": 0.4, "beta": 6.0, "kappa": 0.3}, REVERSAL, n_subjects=16,
                    seed=2, env_kwargs={"n_trials": 160}).trials


@pytest.fixture(scope="module")
def comparison(q_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few beta estimates on the bound: expected here
        return compare_models(q_data, ["q_learning", "wsls"], cv_folds=4, n_starts=2, seed=0,
                              bms_samples=20_000,
                              ceilings={"tiny_gru2": TinyRNN(hidden_size=2, lr=0.1)})


def test_tiny_rnn_reaches_the_generating_model_held_out(q_data, comparison):
    """A 2-unit GRU trained on the choices predicts held-out choices about as well as the
    true model with its fitted parameters, and far better than chance or a wrong model."""
    t = comparison.table
    assert list(t.index) == ["q_learning", "wsls", "tiny_gru2"]
    tiny, true = comparison.cv["tiny_gru2"], comparison.cv["q_learning"]
    assert tiny.n_trials == true.n_trials == len(q_data)
    assert tiny.mean_likelihood > 0.6
    assert abs(tiny.mean_likelihood - true.mean_likelihood) < 0.03
    assert t.loc["tiny_gru2", "cv_loglik"] > t.loc["wsls", "cv_loglik"] + 50
    # every trial is held out exactly once, and the folds are those of the cognitive models
    assert tiny.trialwise["loglik"].notna().all()
    assert (tiny.trialwise["fold"] == true.trialwise["fold"]).all()


def test_compare_models_shows_tiny_rnn_ceilings(q_data, comparison):
    t = comparison.table
    assert np.isnan(t.loc["tiny_gru2", "bic"]) and np.isnan(t.loc["tiny_gru2", "pxp"])
    assert t.loc["tiny_gru2", "n_params"] == TinyRNN(hidden_size=2).n_weights()
    assert t.loc["q_learning", "pxp"] + t.loc["wsls", "pxp"] == pytest.approx(1.0)
    assert comparison.plot() is not None
    with pytest.raises(ValueError, match="give cv_folds"):
        compare_models(q_data, ["q_learning", "wsls"], ceilings={"t": TinyRNN()})
    with pytest.raises(TypeError, match="cross_validate method"):
        compare_models(q_data, ["q_learning", "wsls"], cv_folds=2, ceilings={"t": object()})


def test_tiny_rnn_is_reproducible_and_masks_training_trials(q_data):
    fast = dict(hidden_size=1, seed=5, max_epochs=25)
    a = TinyRNN(**fast).fit(q_data)
    b = TinyRNN(**fast).fit(q_data)
    np.testing.assert_array_equal(a.trial_loglik(q_data), b.trial_loglik(q_data))
    half = np.arange(len(q_data)) % 2 == 0
    c = TinyRNN(**fast).fit(q_data, mask=half)
    assert c.n_trials_ == half.sum()
    assert c.score(q_data, mask=half) == pytest.approx(c.loglik_, rel=1e-5)
    assert a.n_weights() == 3 * (1 * 3 + 1 * 1 + 2) + 2 * 1 + 2  # GRU(3 -> 1) + readout(1 -> 2)


def test_tiny_rnn_bad_input(q_data):
    with pytest.raises(ValueError, match="hidden_size must be an integer >= 1, got 0"):
        TinyRNN(hidden_size=0)
    with pytest.raises(ValueError, match="cell must be one of"):
        TinyRNN(cell="transformer")
    with pytest.raises(ValueError, match="not fitted yet"):
        TinyRNN().trial_loglik(q_data)
    with pytest.raises(ValueError, match="outside the 2 actions"):
        TinyRNN().fit(q_data.assign(choice=q_data["choice"] + 1))
    with pytest.raises(ValueError, match="missing"):
        TinyRNN().fit(q_data.drop(columns="reward"))
    with pytest.raises(ValueError, match="mask must be a boolean array"):
        TinyRNN().fit(q_data, mask=[True])


def test_tiny_rnn_refuses_shuffled_rows_and_shared_subject_ids():
    table = pd.DataFrame({"subject": [0] * 4 + [1] * 4, "trial": [0, 1, 2, 3] * 2,
                          "choice": [0, 1, 1, 0, 1, 1, 0, 0], "reward": [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]})
    net = TinyRNN(hidden_size=1, max_epochs=1, seed=0)
    with pytest.raises(ValueError, match="trial"):
        net.fit(table.iloc[[1, 0, 2, 3, 4, 5, 6, 7]], progress=False)
    with pytest.raises(ValueError, match="subject"):
        net.fit(table.assign(subject=0), progress=False)
    assert np.isfinite(net.fit(table, progress=False).score(table))
