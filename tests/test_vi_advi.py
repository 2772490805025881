"""ADVI (``cogmodels.fits.advi``) and ``HierarchicalVI`` on it: gradient, fixed point, seeds, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from cogmodels.fits.advi import advi, elbo_gradient

A = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 0.5]])  # a Gaussian target's precision
B = np.array([1.0, -2.0, 0.5])


def gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log N(x; A^-1 B, A^-1) up to a constant, batched over rows, and its gradient."""
    return -0.5 * np.einsum("si,ij,sj->s", x, A, x) + x @ B, B - x @ A


def test_the_elbo_gradient_is_its_finite_difference_for_fixed_draws():
    rng = np.random.default_rng(0)
    mean, log_sd, eps = rng.normal(size=3), rng.normal(-0.5, 0.3, 3), rng.standard_normal((5, 3))
    _, g_mean, g_log_sd = elbo_gradient(gaussian, mean, log_sd, eps)
    h = 1e-6
    for i in range(3):
        e = np.eye(3)[i] * h
        fd_m = (elbo_gradient(gaussian, mean + e, log_sd, eps)[0] - elbo_gradient(gaussian, mean - e, log_sd, eps)[0]) / (2 * h)
        fd_w = (elbo_gradient(gaussian, mean, log_sd + e, eps)[0] - elbo_gradient(gaussian, mean, log_sd - e, eps)[0]) / (2 * h)
        assert g_mean[i] == pytest.approx(fd_m, rel=1e-7, abs=1e-7)
        assert g_log_sd[i] == pytest.approx(fd_w, rel=1e-7, abs=1e-7)


def test_advi_finds_the_mean_field_optimum_of_a_gaussian():
    """For a Gaussian target the mean-field optimum is the exact mean and SDs 1 / sqrt(A_ii)
    (Bishop 2006, §10.1.2): the averaged iterate lands within a few Monte Carlo errors of it."""
    fit = advi(gaussian, np.zeros(3), max_steps=3000, rng=np.random.default_rng(1))
    np.testing.assert_allclose(fit.mean, np.linalg.solve(A, B), atol=0.05)
    np.testing.assert_allclose(np.exp(fit.log_sd), 1.0 / np.sqrt(np.diag(A)), rtol=0.05)
    assert fit.n_steps == 3000 and fit.n_skipped == 0 and not fit.converged


def test_a_draw_outside_the_support_is_left_out_and_a_step_without_any_is_skipped():
    def half(x):  # a target that refuses x_0 < 0
        v, g = gaussian(x)
        bad = x[:, 0] < 0
        return np.where(bad, -np.inf, v), np.where(bad[:, None], 0.0, g)

    value, g_mean, _ = elbo_gradient(half, np.array([-10.0, 0.0, 0.0]), np.full(3, -3.0), np.ones((2, 3)))
    assert value == -np.inf and not g_mean.any()
    fit = advi(half, np.array([-10.0, 0.0, 0.0]), max_steps=5, rng=np.random.default_rng(0))
    assert fit.n_skipped == 5 and np.all(fit.mean == [-10.0, 0.0, 0.0])


def test_the_stop_rule_ends_the_run_and_sets_converged():
    fit = advi(gaussian, np.zeros(3), max_steps=100, rng=np.random.default_rng(0), stop=lambda elbo: len(elbo) == 7)
    assert fit.n_steps == 7 and fit.converged and len(fit.elbo) == 7


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_particles": 0}, "n_particles"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"max_steps": 0}, "max_steps"),
    ({"final_learning_rate": 1.0}, "final_learning_rate"),
    ({"average": 0.0}, "average"),
])
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        advi(gaussian, np.zeros(3), rng=np.random.default_rng(0), **kwargs)


pytest.importorskip("arviz")  # VI needs ArviZ for its tables, not Pyro

from cogmodels.fits import HierarchicalVI  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.simulate import simulate  # noqa: E402

MODEL = make_model("q_learning")


@pytest.fixture(scope="module")
def trials():
    rng = np.random.default_rng(3)
    params = {"alpha": rng.uniform(0.2, 0.5, 8), "beta": rng.uniform(2.0, 5.0, 8), "kappa": rng.normal(0.2, 0.2, 8)}
    return simulate(MODEL, params, "cogmodels/ReversalLearning-v0", n_subjects=8, seed=4, env_kwargs={"n_trials": 60},
                    latents=False, progress=False).trials


def test_vi_is_reproducible_from_its_seed_and_costs_one_call_per_step(trials):
    fits = [HierarchicalVI(MODEL, max_steps=60, n_draws=50, seed=s).fit(trials, progress=False) for s in (0, 0, 1)]
    a, b, c = (f.inference_data_.posterior["params"].to_numpy() for f in fits)
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    assert fits[0].n_gradients_ == 60 and fits[0].n_steps_run_ == 60 and not fits[0].elbo_converged_


def test_vi_rejects_bad_arguments_by_name():
    with pytest.raises(ValueError, match="n_particles"):
        HierarchicalVI(MODEL, n_particles=0)
    with pytest.raises(ValueError, match="learning_rate"):
        HierarchicalVI(MODEL, learning_rate=-1.0)


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto:UserWarning")  # 20 draws, 8 subjects
def test_vi_fits_without_pyro(trials, monkeypatch):
    """VI is NumPy ADVI: with Pyro unimportable (None in sys.modules) it still fits, and its
    draws are the bytes of the same seed's fit with Pyro present."""
    with_pyro = HierarchicalVI(MODEL, max_steps=20, n_draws=20, seed=5).fit(trials, progress=False)
    for name in ("pyro", "pyro.distributions", "pyro.infer"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError):
        import pyro  # noqa: F401
    fit = HierarchicalVI(MODEL, max_steps=20, n_draws=20, seed=5).fit(trials, progress=False)
    assert (fit.inference_data_.posterior["params"].to_numpy().tobytes()
            == with_pyro.inference_data_.posterior["params"].to_numpy().tobytes())
    assert np.isfinite(fit.loo().elpd_loo)


@pytest.mark.filterwarnings("ignore::UserWarning")  # ArviZ's Pareto-k note on 8 subjects
def test_vi_means_agree_with_chees_on_a_small_hierarchy(trials):
    """8 subjects x 60 trials: VI at its defaults against ChEES 4 x (300 + 300) (R-hat 1.012).
    Measured: group means (unconstrained) 0.08-0.14 ChEES posterior SDs apart, subjects' posterior
    means at most 0.3 SD apart. Mean-field VI finds the means, not the SDs (Blei et al. 2017,
    §5.1), so only means are compared, with a margin for ChEES's Monte Carlo error (~0.05 SD)."""
    from cogmodels.fits import HierarchicalNUTS

    vi = HierarchicalVI(MODEL, seed=0).fit(trials, progress=False)
    with pytest.warns(Warning):  # ChEES's short run: ESS per chain below 100 warns
        hmc = HierarchicalNUTS(MODEL, sampler="chees", n_chains=4, n_warmup=300, n_draws=300, seed=0).fit(
            trials, progress=False)
    mu = hmc.inference_data_.posterior["mu"].to_numpy().reshape(-1, MODEL.n_params)
    assert np.all(np.abs(vi.group_mean_.to_numpy() - mu.mean(axis=0)) < 0.3 * mu.std(axis=0))
    subjects = hmc.inference_data_.posterior["params"].to_numpy().reshape(-1, 8, MODEL.n_params)
    gap = np.abs(vi.params_.to_numpy() - subjects.mean(axis=0)) / subjects.std(axis=0)
    assert gap.max() < 0.5
