"""Exact derivatives of the fitting objectives by autograd through the models' one definition."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cogmodels  # noqa: E402, F401
from cogmodels.fits import MaximumAPosteriori, MaximumLikelihood  # noqa: E402
from cogmodels.fits.autodiff import AutogradObjective  # noqa: E402
from cogmodels.fits.optimize import finite_difference_hessian  # noqa: E402
from cogmodels.likelihood import trial_arrays  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.parameters import pack  # noqa: E402
from cogmodels.simulate import simulate  # noqa: E402


@pytest.fixture(scope="module")
def bandit():
    model = make_model("q_learning")
    truth = {"alpha": [0.2, 0.5, 0.7], "beta": [3.0, 5.0, 2.0], "kappa": [0.3, -0.4, 0.1]}
    sim = simulate(model, truth, "cogmodels/MultiArmedBandit-v0", seed=3, env_kwargs={"n_trials": 80})
    return model, truth, sim.trials


def _z(model, truth):
    return pack(model.param_specs, truth)


def test_map_objective_gradient_and_hessian_equal_finite_differences(bandit):
    """The MAP objective (likelihood by autograd, scipy prior by central differences) has the
    gradient and Hessian of the numpy objective's finite differences: central differences are
    accurate to O(h^2) ~ 1e-8 at h = 1e-4 (plus rounding ~ 1e-16 |f| / h^2 ~ 1e-6 for the Hessian)."""
    model, truth, trials = bandit
    est = MaximumAPosteriori(model)
    data = trial_arrays(trials, model)
    lanes = np.arange(3)
    z = _z(model, truth)
    exact = AutogradObjective(model, data, lanes, est._log_prior_z, device=torch.device("cpu"))
    fun = est._objective(data, lanes)
    f, g = exact.value_and_gradient(z, lanes)
    np.testing.assert_allclose(f, fun(z, lanes), rtol=1e-12)
    h = 1e-5
    fd = np.stack([(fun(z + h * e, lanes) - fun(z - h * e, lanes)) / (2 * h) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)
    hess = exact.hessian(z)
    assert hess.shape == (3, 3, 3)
    np.testing.assert_allclose(hess, hess.transpose(0, 2, 1), atol=1e-9)  # exact: symmetric
    np.testing.assert_allclose(hess, finite_difference_hessian(fun, z), rtol=1e-4, atol=1e-4)


@pytest.mark.slow  # ~6 s on the shared 2-core machine: the torch loop is overhead-bound on a CPU
def test_mle_with_autograd_reaches_the_finite_difference_optimum(bandit):
    """Exact and finite-difference gradients lead BFGS to the same maximum (log-likelihood within
    1e-4, the optimiser's gtol of 1e-3 times the parameters' curvature scale) and the same SEs."""
    model, _, trials = bandit
    trials = trials[trials["subject"] == trials["subject"].iloc[0]].head(50)
    fits = {}
    for how in ("finite_difference", "autograd"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[how] = MaximumLikelihood(model, n_starts=1, seed=0, gradient=how, hessian=how).fit(
                trials, progress=False)
    np.testing.assert_allclose(fits["autograd"].loglik_, fits["finite_difference"].loglik_, atol=1e-4)
    np.testing.assert_allclose(fits["autograd"].se_, fits["finite_difference"].se_, rtol=1e-2)


@pytest.mark.parametrize("option", ["gradient", "hessian"])
def test_unknown_derivatives_option_is_refused(option):
    with pytest.raises(ValueError, match=rf"{option} must be one of \['finite_difference', 'autograd'\], got 'exact'"):
        MaximumLikelihood(make_model("q_learning"), **{option: "exact"})
