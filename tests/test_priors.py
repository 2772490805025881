"""Default priors of the model zoo and priors written as text (``--prior``)."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.fits import MaximumAPosteriori, MaximumLikelihood
from cogmodels.models import MODELS, make_model
from cogmodels.priors import parse_prior
from cogmodels.simulate import simulate

VARIANTS = [(name, {}) for name in sorted(MODELS)] + [
    ("q_learning", {"dual_learning_rates": True, "forgetting": True, "free_initial_value": True}),
    ("kalman", {"exploration_bonus": True, "stickiness": True}),
    ("reversal_hmm", {"free_p_reward": True, "stickiness": True}),
    ("rlwm", {"free_beta": True}),
]


@pytest.mark.parametrize(("name", "structure"), VARIANTS, ids=[f"{n}-{len(s)}" for n, s in VARIANTS])
def test_every_parameter_has_a_weak_prior_within_its_bounds(name, structure):
    model = make_model(name, **structure)
    for s in model.param_specs:
        assert s.prior is not None, s.name
        # at least 95 % of the prior mass lies within the bounds (two sd for the normal priors)
        assert s.prior.cdf(s.high) - s.prior.cdf(s.low) > 0.95, s.name
        # infinite bounds (hBayesDM's go bias, Pavlovian bias, sensitivities): the prior's bulk
        low, high = max(s.low, s.prior.ppf(1e-3)), min(s.high, s.prior.ppf(1 - 1e-3))
        inside = np.linspace(low, high, 103)[1:-1]
        assert np.isfinite(s.log_prior(inside)).all(), s.name
        assert np.isfinite(s.log_prior(s.default)) or s.default in (s.low, s.high), s.name


def test_two_step_priors_are_those_of_daw_2011():
    """Beta(1.1, 1.1) on rates: mean 1/2, variance 1.21 / (4.84 * 3.2); Gamma(1.2, 5) on
    inverse temperatures: mean 6, variance 30."""
    model = make_model("two_step_hybrid")
    for name in ("alpha1", "alpha2", "lam", "w"):
        prior = model.spec(name).prior
        assert prior.mean() == pytest.approx(0.5) and prior.var() == pytest.approx(1.21 / (4.84 * 3.2))
    for name in ("beta1", "beta2"):
        prior = model.spec(name).prior
        assert prior.mean() == pytest.approx(6.0) and prior.var() == pytest.approx(30.0)


def test_map_uses_the_default_priors_and_mle_none():
    model = make_model("q_learning")
    trials = simulate(model, {"alpha": 0.3, "beta": 4.0, "kappa": 0.2}, "cogmodels/MultiArmedBandit-v0",
                      n_subjects=2, seed=0, env_kwargs={"n_trials": 40}, progress=False).trials
    mle = MaximumLikelihood(model, n_starts=2, seed=0).fit(trials, progress=False)
    np.testing.assert_allclose(mle.objective_, -mle.loglik_, rtol=1e-12)  # no prior term
    est = MaximumAPosteriori(model, n_starts=2, seed=0).fit(trials, progress=False)
    prior = sum(s.log_prior(est.params_[s.name].to_numpy()) for s in model.param_specs)
    np.testing.assert_allclose(est.objective_, -(est.loglik_ + prior), rtol=1e-10)


@pytest.mark.parametrize(
    ("text", "mean", "sd"),
    [
        ("gamma(2, 1)", 2.0, np.sqrt(2.0)),
        ("gamma(shape=2, scale=3)", 6.0, 3 * np.sqrt(2.0)),
        ("beta(2, 2)", 0.5, np.sqrt(4 / (16 * 5))),
        ("norm(0, 2)", 0.0, 2.0),
        ("lognorm(0.5, median=2)", 2 * np.exp(0.125), None),
        ("uniform(-1, 3)", 1.0, 4 / np.sqrt(12)),
        ("expon(4)", 4.0, 4.0),
    ],
)
def test_parse_prior_families(text, mean, sd):
    prior = parse_prior(text)
    assert prior.mean() == pytest.approx(mean)
    if sd is not None:
        assert prior.std() == pytest.approx(sd)


def test_parse_prior_flat_and_errors():
    assert parse_prior("flat()") is None
    families = r"Allowed priors: beta\(a, b\), gamma\(shape, scale\), norm\(mean, sd\)"
    for text, why in [
        ("cauchy(0, 1)", "unknown family 'cauchy'"),
        ("gamma(2)", "gamma needs shape, scale; missing scale"),
        ("gamma(2, -1)", "argument scale must be > 0"),
        ("gamma(2, 1, 3)", r"gamma takes 2 argument\(s\)"),
        ("gamma 2", r"write a prior as family\(arguments\)"),
        ("norm(0, sd='x')", "argument sd must be a number"),
        ("uniform(2, 1)", "uniform needs low < high"),
    ]:
        with pytest.raises(ValueError, match=rf"^--prior beta: {why}.*; got .*\. {families}"):
            parse_prior(text, flag="--prior beta")
