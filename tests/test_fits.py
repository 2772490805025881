"""MLE, MAP and hierarchical EM: recovery, agreement with scipy, warnings and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import cogmodels  # noqa: F401
from cogmodels.fits import (
    ConvergenceWarning,
    FitError,
    HierarchicalEM,
    MaximumAPosteriori,
    MaximumLikelihood,
    make_estimator,
)
from cogmodels.fits.optimize import finite_difference_hessian, minimize_batched
from cogmodels.likelihood import log_likelihood, trial_arrays
from cogmodels.models import QLearning, make_model
from cogmodels.simulate import simulate

ENV = "cogmodels/ReversalLearning-v0"


@pytest.fixture(scope="module")
def population():
    rng = np.random.default_rng(0)
    n = 30
    truth = {
        "alpha": rng.uniform(0.1, 0.9, n),
        "beta": rng.uniform(1.0, 8.0, n),
        "kappa": rng.uniform(-1.0, 1.0, n),
    }
    sim = simulate(make_model("q_learning"), truth, ENV, seed=1, env_kwargs={"n_trials": 300}, latents=False)
    return sim.trials, pd.DataFrame(truth)


def test_batched_bfgs_solves_many_quadratics_and_rosenbrock():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 3))
    scales = rng.uniform(0.5, 20, size=(50, 3))

    def quad(z, lanes):
        return (scales[lanes] * (z - centres[lanes]) ** 2).sum(axis=1)

    res = minimize_batched(quad, np.zeros((50, 3)), gtol=1e-4)
    assert res.converged.all()
    np.testing.assert_allclose(res.x, centres, atol=1e-3)

    def rosen(z, lanes):
        return (1 - z[:, 0]) ** 2 + 100 * (z[:, 1] - z[:, 0] ** 2) ** 2

    res = minimize_batched(rosen, np.array([[-1.2, 1.0], [0.0, 0.0]]), gtol=1e-6, max_iter=500)
    np.testing.assert_allclose(res.x, 1.0, atol=1e-3)


def test_finite_difference_hessian_of_quadratic():
    a = np.array([[3.0, 1.0], [1.0, 2.0]])

    def f(z, lanes):
        return 0.5 * np.einsum("li,ij,lj->l", z, a, z)

    h = finite_difference_hessian(f, np.array([[0.3, -0.2], [1.0, 2.0]]))
    np.testing.assert_allclose(h, np.stack([a, a]), rtol=1e-5)


def test_mle_recovers_parameters(population):
    trials, truth = population
    fit = MaximumLikelihood(make_model("q_learning"), n_starts=5, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(trials)
    # rank correlations: a few ML estimates of beta run to the bound (alpha-beta trade-off)
    for name, r_min in (("alpha", 0.9), ("beta", 0.75), ("kappa", 0.8)):
        assert stats.spearmanr(fit.params_[name], truth[name]).statistic > r_min, name
    summary = fit.summary()
    assert list(summary.columns[:4]) == ["subject", "alpha", "beta", "kappa"]
    for col in ("loglik", "n_trials", "aic", "bic", "se_alpha", "converged", "on_bound"):
        assert col in summary
    np.testing.assert_allclose(summary["aic"], 2 * 3 - 2 * summary["loglik"])
    np.testing.assert_allclose(summary["bic"], 3 * np.log(300) - 2 * summary["loglik"])
    # about 95 % of true values inside the 95 % Wald interval (loose: 30 subjects)
    z = (fit.params_["alpha"] - truth["alpha"]).abs() / fit.se_["alpha"]
    assert (z < 1.96).mean() > 0.7


def test_mle_matches_scipy_per_subject(population):
    trials, _ = population
    model = make_model("q_learning")
    sub = trials[trials["subject"] < 4]
    fit = MaximumLikelihood(model, n_starts=10, seed=1).fit(sub)
    data = trial_arrays(sub, model)
    for i in range(4):
        def nll(x, i=i):
            p = {"alpha": x[0], "beta": x[1], "kappa": x[2]}
            return -log_likelihood(model, p, data, np.array([i]))[0]

        best = min(
            (optimize.minimize(nll, x0, method="L-BFGS-B", bounds=[(0, 1), (0, 20), (-5, 5)])
             for x0 in ([0.5, 3, 0], [0.2, 8, 1], [0.8, 1, -1])),
            key=lambda r: r.fun,
        )
        assert fit.loglik_.iloc[i] >= -best.fun - 1e-3


def test_on_bound_warning_for_random_responder():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"subject": 0, "trial": range(200), "choice": rng.integers(0, 2, 200),
                       "reward": rng.integers(0, 2, 200).astype(float)})
    with pytest.warns(UserWarning, match="on a parameter bound"):
        fit = MaximumLikelihood(make_model("q_learning", stickiness=False), n_starts=5, seed=0).fit(df)
    assert fit.on_bound_.to_numpy().any()


def test_convergence_warning(population):
    trials, _ = population
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        MaximumLikelihood(make_model("q_learning"), n_starts=1, max_iter=1, seed=0).fit(
            trials[trials["subject"] < 3]
        )


def test_subjects_with_too_few_trials_are_reported_and_skipped(population):
    trials, _ = population
    short = pd.DataFrame({"subject": "tiny", "trial": range(4), "choice": [0, 1, 0, 1],
                          "reward": [1.0, 0.0, 1.0, 0.0]})
    df = pd.concat([trials[trials["subject"] < 2], short], ignore_index=True)
    with pytest.warns(UserWarning, match=r"skipping 1 subject\(s\) with fewer than 10 valid trials: \['tiny'\]"):
        fit = MaximumLikelihood(make_model("q_learning"), n_starts=2, seed=0).fit(df)
    assert fit.skipped_["subject"].tolist() == ["tiny"]
    assert fit.skipped_["n_valid"].tolist() == [4]
    assert "tiny" not in fit.params_.index


class NaNModel(QLearning):
    name = "nan_q"

    def action_probabilities(self, state, observation):
        p = super().action_probabilities(state, observation)
        return np.full_like(p, np.nan)


def test_nan_likelihood_is_reported_not_returned():
    df = pd.DataFrame({"subject": 7, "trial": range(20), "choice": [0, 1] * 10, "reward": 1.0})
    with pytest.raises(FitError, match=r"not finite at any start for subjects \[7\]"):
        MaximumLikelihood(NaNModel(), n_starts=2, seed=0).fit(df)


def test_map_shrinks_toward_prior(population):
    trials, _ = population
    sub = trials[trials["subject"] < 5]
    mle = MaximumLikelihood(make_model("q_learning"), n_starts=3, seed=0).fit(sub)
    tight = {"beta": stats.norm(2.0, 0.05)}
    fit = MaximumAPosteriori(make_model("q_learning"), priors=tight, n_starts=3, seed=0).fit(sub)
    assert (np.abs(fit.params_["beta"] - 2.0) < 0.2).all()
    assert (fit.loglik_ <= mle.loglik_ + 1e-6).all()
    with pytest.raises(ValueError, match="MAP needs a prior"):
        MaximumAPosteriori(make_model("q_learning"))
    with pytest.raises(ValueError, match=r"priors for unknown parameters \['gamma'\]"):
        MaximumAPosteriori(make_model("q_learning"), priors={"gamma": stats.norm()})


def test_em_group_parameters_and_recovery(population):
    trials, truth = population
    model = make_model("q_learning")
    fit = HierarchicalEM(model, seed=0).fit(trials)
    spec = model.spec("alpha")
    z_true = spec.to_unconstrained(truth["alpha"])
    # the group mean in the unconstrained space sits near the population's mean
    assert abs(fit.group_mean_["alpha"] - z_true.mean()) < 0.5
    assert np.corrcoef(fit.params_["beta"], truth["beta"])[0, 1] > 0.8
    assert np.isfinite(fit.ibic_) and fit.log_evidence_.notna().all()
    assert fit.n_em_iter_ >= 2
    assert "log_evidence" in fit.summary()


def test_score_held_out(population):
    trials, _ = population
    model = make_model("q_learning")
    fit = MaximumLikelihood(model, n_starts=2, seed=0).fit(trials)
    assert fit.score(trials) == pytest.approx(fit.loglik_.sum())
    with pytest.raises(ValueError, match="not fitted yet"):
        MaximumLikelihood(model).score(trials)


def test_make_estimator_and_bad_arguments():
    model = make_model("q_learning")
    assert isinstance(make_estimator("em", model), HierarchicalEM)
    with pytest.raises(ValueError, match=r"method must be one of \['em', 'map', 'mle'\], got 'bayes'"):
        make_estimator("bayes", model)
    with pytest.raises(ValueError, match="n_starts must be an integer >= 1, got 0"):
        MaximumLikelihood(model, n_starts=0)
    with pytest.raises(TypeError, match="model must be a CognitiveModel"):
        MaximumLikelihood("q_learning")
