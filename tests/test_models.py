"""Each model's equations on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cogmodels.likelihood import log_likelihood, trial_arrays
from cogmodels.models import make_model


def _table(choices, rewards):
    n = len(choices)
    return pd.DataFrame({"subject": 0, "trial": range(n), "choice": choices, "reward": rewards})


def _probs(model, params, choices, rewards):
    """exp of the trial-wise log-likelihood: the probability of each observed choice."""
    data = trial_arrays(_table(choices, rewards), model)
    return np.exp(log_likelihood(model, params, data, trialwise=True)[0])


def test_random_bias():
    p = _probs(make_model("random"), {"bias_1": np.log(3.0)}, [1, 0, 1], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(p, [0.75, 0.25, 0.75])


def test_wsls_probabilities():
    eps = 0.2
    # trial 0 uniform; win -> stay with 1 - eps/2; loss -> shift with 1 - eps/2
    p = _probs(make_model("wsls"), {"epsilon": eps}, [0, 0, 1, 1], [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(p, [0.5, 1 - eps / 2, 1 - eps / 2, eps / 2])


def test_q_learning_dual_rates_forgetting_and_initial_value():
    model = make_model("q_learning", dual_learning_rates=True, forgetting=True, free_initial_value=True,
                       stickiness=False)
    params = {"alpha_pos": 0.5, "alpha_neg": 0.1, "beta": 2.0, "phi": 0.25, "q0": 0.2}
    p = _probs(model, params, [0, 1, 0], [1.0, 0.0, 0.0])
    q = np.array([0.2, 0.2])
    expected = []
    for a, r in zip([0, 1, 0], [1.0, 0.0, 0.0]):
        e = np.exp(2.0 * q)
        expected.append(e[a] / e.sum())
        d = r - q[a]
        other = 1 - a
        q[other] += 0.25 * (0.2 - q[other])
        q[a] += (0.5 if d > 0 else 0.1) * d
    np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_kalman_filter_gain_and_diffusion():
    model = make_model("kalman", n_actions=2, decay=0.9, decay_center=10.0, diffusion_std=1.0,
                       payoff_std=2.0, initial_mean=0.0, initial_std=2.0)
    state = model.initial_state(model.check_params({"beta": 0.5}))
    state = model.update(state, {}, np.array([0]), np.array([8.0]), {})
    k = 4.0 / (4.0 + 4.0)
    mu0 = 0.0 + k * 8.0
    var0 = (1 - k) * 4.0
    np.testing.assert_allclose(state["mu"][0], [0.9 * mu0 + 1.0, 0.9 * 0.0 + 1.0])
    np.testing.assert_allclose(state["var"][0], [0.81 * var0 + 1.0, 0.81 * 4.0 + 1.0])


def test_reversal_hmm_belief_update():
    model = make_model("reversal_hmm", p_reward=0.8)
    state = model.initial_state(model.check_params({"hazard": 0.1, "beta": 1.0}))
    state = model.update(state, {}, np.array([0]), np.array([1.0]), {})
    post0 = 0.5 * 0.8 / (0.5 * 0.8 + 0.5 * 0.2)
    b0 = 0.9 * post0 + 0.1 * (1 - post0)
    np.testing.assert_allclose(state["belief"][0], [b0, 1 - b0])
    # no reward on the other option is evidence for the first option too
    state = model.update(state, {}, np.array([1]), np.array([0.0]), {})
    like = np.array([0.8, 0.2])  # P(no reward on option 1 | s = 0) = 0.8, | s = 1 = 0.2
    post = np.array([b0, 1 - b0]) * like
    post /= post.sum()
    np.testing.assert_allclose(state["belief"][0], 0.9 * post + 0.1 * (1 - post))


@pytest.mark.parametrize("name", ["q_learning", "wsls", "random", "kalman", "reversal_hmm"])
def test_models_describe_themselves(name):
    model = make_model(name)
    assert model.tasks and all(t.startswith("cogmodels/") for t in model.tasks)
    doc = type(model).__doc__
    assert "Reference" in doc or "Wilson & Collins" in doc


def test_two_step_hybrid_equations():
    model = make_model("two_step_hybrid", stickiness=False)
    params = model.check_params({"alpha1": 0.5, "alpha2": 0.4, "beta1": 2.0, "beta2": 3.0, "lam": 0.6, "w": 0.3})
    state = model.initial_state(params)
    obs = {"state2": np.array([1.0])}
    # trial: a1 = 0, rare transition to state2 = 1, a2 = 1, reward 1
    state = model.update(state, obs, np.array([[0, 1]]), np.array([1.0]), obs)
    d1 = 0.0 - 0.0
    d2 = 1.0 - 0.0
    np.testing.assert_allclose(state["q_mf"][0], [0.5 * (d1 + 0.6 * d2), 0.0])
    np.testing.assert_allclose(state["q2"][0], [[0.0, 0.0], [0.0, 0.4]])
    q_mb = [0.7 * 0.0 + 0.3 * 0.4, 0.7 * 0.4 + 0.3 * 0.0]
    q_net = 0.3 * np.array(q_mb) + 0.7 * np.array([0.3, 0.0])
    p1 = model.action_probabilities(state, {**obs, "stage": 0, "choices": np.zeros((1, 0), int)})
    e = np.exp(2.0 * q_net)
    np.testing.assert_allclose(p1[0], e / e.sum())
    p2 = model.action_probabilities(state, {**obs, "stage": 1, "choices": np.zeros((1, 1), int)})
    e = np.exp(3.0 * np.array([0.0, 0.4]))
    np.testing.assert_allclose(p2[0], e / e.sum())


def test_model_based_variant_has_no_model_free_parameters():
    assert make_model("two_step_mb").param_names == ("alpha2", "beta1", "beta2", "kappa")
    assert make_model("two_step_mf").param_names == ("alpha1", "alpha2", "beta1", "beta2", "lam", "kappa")


def test_rlwm_working_memory_weight_and_one_shot_learning():
    model = make_model("rlwm", stickiness=False, negative_feedback_bias=False)
    params = model.check_params({"alpha": 0.1, "rho": 0.9, "K": 3.0, "phi": 0.2, "epsilon": 0.03})
    np.testing.assert_allclose(model.wm_weight(params, np.array([2.0])), [0.9])
    np.testing.assert_allclose(model.wm_weight(params, np.array([6.0])), [0.45])
    state = model.initial_state(params)
    obs = {"state": np.array([2.0]), "set_size": np.array([6.0])}
    state = model.update(state, obs, np.array([1]), np.array([1.0]), obs)
    np.testing.assert_allclose(state["wm"][0, 2], [0.8 / 3 + 0.2 / 3, 1.0, 0.8 / 3 + 0.2 / 3])
    np.testing.assert_allclose(state["q"][0, 2], [1 / 3, 1 / 3 + 0.1 * (2 / 3), 1 / 3])
    p = model.action_probabilities(state, obs)[0]
    wm_pol = np.exp(25 * state["wm"][0, 2]) / np.exp(25 * state["wm"][0, 2]).sum()
    rl_pol = np.exp(25 * state["q"][0, 2]) / np.exp(25 * state["q"][0, 2]).sum()
    expected = 0.97 * (0.45 * wm_pol + 0.55 * rl_pol) + 0.01
    np.testing.assert_allclose(p, expected)


def test_rl_only_reduction_has_no_working_memory():
    model = make_model("rl_stimulus")
    assert not {"rho", "K", "phi", "neg_wm"} & set(model.param_names)
    assert model.reset_on_block and model.observation_columns == ("state", "set_size")


@pytest.mark.parametrize("name", ["rl_stimulus", "rlwm"])
def test_negative_feedback_bias_follows_the_prediction_error(name):
    """``neg_rl`` (and ``neg_wm``) scale the update on a negative prediction error, not on a
    reward <= 0: with graded, all-positive rewards they still act (Collins 2018)."""
    model = make_model(name)
    base = {"alpha": 0.5, "epsilon": 0.0, "kappa": 0.0, "neg_rl": 1.0,
            "rho": 0.5, "K": 3.0, "phi": 0.0, "neg_wm": 1.0}
    params = {k: np.array([v]) for k, v in base.items() if k in model.param_names}
    obs = {"state": np.array([0.0]), "set_size": np.array([2.0])}
    state = model.initial_state(params)
    # Q = W = 1/3; reward 0.2 > 0 but below the values: a negative prediction error, neglected
    state = model.update(state, obs, np.array([1]), np.array([0.2]), obs)
    np.testing.assert_allclose(state["q"][0, 0], [1 / 3] * 3)
    if "wm" in state:
        np.testing.assert_allclose(state["wm"][0, 0], [1 / 3] * 3)
    # reward 0.9: positive prediction error, learned at alpha (and 1 for WM)
    state = model.update(state, obs, np.array([1]), np.array([0.9]), obs)
    np.testing.assert_allclose(state["q"][0, 0, 1], 1 / 3 + 0.5 * (0.9 - 1 / 3))
    if "wm" in state:
        np.testing.assert_allclose(state["wm"][0, 0, 1], 0.9)
    # without the neglect the first update counts: Q = 1/3 + 0.5 (0.2 - 1/3)
    params["neg_rl"] = np.array([0.0])
    state = model.update(model.initial_state(params), obs, np.array([1]), np.array([0.2]), obs)
    np.testing.assert_allclose(state["q"][0, 0, 1], 1 / 3 + 0.5 * (0.2 - 1 / 3))
