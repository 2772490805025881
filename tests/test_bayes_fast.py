"""The fast hierarchical posteriors: prepared likelihood gradients, ChEES-HMC, simulation-based calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("pyro")
pytest.importorskip("arviz")
torch = pytest.importorskip("torch")

from cogmodels.fits import HierarchicalNUTS, HierarchicalVI, make_estimator  # noqa: E402
from cogmodels.fits.autodiff import LaneLogLikelihood  # noqa: E402
from cogmodels.fits.chees import chees_hmc  # noqa: E402
from cogmodels.fits.sbc import rank_statistics, simulation_based_calibration, uniformity_test  # noqa: E402
from cogmodels.likelihood import trial_arrays  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.simulate import simulate  # noqa: E402

ENV = "cogmodels/ReversalLearning-v0"
MODEL = make_model("q_learning")  # alpha, beta, kappa


@pytest.fixture(scope="module")
def data():
    """Four subjects, 30 trials (one missing choice), of sticky Q-learning."""
    sim = simulate(MODEL, {"alpha": [0.2, 0.4, 0.3, 0.6], "beta": [2.0, 4.0, 6.0, 3.0], "kappa": [0.3, -0.2, 0.0, 0.5]},
                   ENV, n_subjects=4, seed=2, env_kwargs={"n_trials": 30}, latents=False, progress=False)
    trials = sim.trials.copy()
    trials.loc[trials.index[7], "choice"] = np.nan
    return trial_arrays(trials, MODEL)


@pytest.mark.parametrize(("backend", "tol"), [("finite_difference", 1e-5), ("forward_difference", 1e-4)])
def test_prepared_gradients_are_autograds(data, backend, tol):
    """Central differences (h = 1e-5) agree with autograd to O(h^2) (1e-10 relative); forward differences
    (h = 1e-7) to h/2 max|f''| + 2u|f|/h: below 1e-4 at 30 trials (|f| < 25, |f''| < 1e3)."""
    lanes = np.tile(np.arange(4), 3)
    z = 0.5 * np.random.default_rng(0).standard_normal((12, 3))
    ref_v, ref_g = LaneLogLikelihood(MODEL, data, lanes, "autograd")(z)
    f = LaneLogLikelihood(MODEL, data, lanes, backend)
    v, g = f(z)
    np.testing.assert_allclose(v, ref_v, rtol=0, atol=1e-10)
    np.testing.assert_allclose(g, ref_g, rtol=0, atol=tol)
    v2, g2 = f(z + 0.1)  # the record is replayed at new parameters, not frozen at the first
    ref_v2, ref_g2 = LaneLogLikelihood(MODEL, data, lanes, "autograd")(z + 0.1)
    np.testing.assert_allclose(v2, ref_v2, atol=1e-10)
    np.testing.assert_allclose(g2, ref_g2, atol=tol)


def _regressors(data):
    """Group regressors on alpha (numeric and categorical) and kappa, with non-default prior scales."""
    table = pd.DataFrame({"subject": data.subjects, "age": [20.0, 35.0, 50.0, 41.0], "group": list("abab")})
    return {"covariates": table, "regressors": {"alpha": ["age", "group"], "kappa": ["group"]},
            "coef_prior_sd": 0.7, "mean_prior_sd": 1.3, "scale_prior_sd": 0.8}


#: a per-subject choice, as centred="auto" makes it (4 subjects x alpha, beta, kappa)
SUBJECT_MASK = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype=bool)


def _estimator(centred, **kwargs):
    """HierarchicalNUTS with ``centred``, or with SUBJECT_MASK for ``centred="subjects"``."""
    est = HierarchicalNUTS(MODEL, centred=None if centred == "subjects" else centred, **kwargs)
    if centred == "subjects":
        est._centre(SUBJECT_MASK)
    return est


@pytest.mark.parametrize("centred", [None, ["beta"], ["kappa", "alpha"], "all", "subjects"])
@pytest.mark.parametrize("with_covariates", [False, True])
def test_chees_density_is_the_pyro_models(data, with_covariates, centred):
    """The flat log density ChEES samples (NumPy, chain rule through the non-centred transform, or the
    centred prior of the centred columns) is Pyro's potential (with its log-Jacobian of sigma), value and
    gradient, with and without group regressors, for none, some and all parameters centred, and for a
    choice per subject and parameter."""
    from pyro.infer.mcmc.util import initialize_model

    extra = _regressors(data) if with_covariates else {}
    est = _estimator(centred, n_chains=2, sampler="chees", **extra)
    log_density, layout = est._log_density(data, [0])
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 0.7, (2, sum(int(np.prod(s)) for _, s in layout)))
    value, grad = log_density(x)
    torch.manual_seed(0)
    _, potential_fn, _, _ = initialize_model(est._pyro_model(data, 2, [0]))
    sizes = [int(np.prod(s)) for _, s in layout]
    xt = torch.tensor(x, requires_grad=True)
    parts = {name: p.reshape(2, *shape) for p, (name, shape) in zip(torch.split(xt, sizes, dim=1), layout,
                                                                   strict=True)}
    potential = potential_fn(parts)
    (g,) = torch.autograd.grad(potential, xt)
    assert value.sum() == pytest.approx(-float(potential.detach()), abs=1e-8)
    np.testing.assert_allclose(grad, -g.numpy(), atol=1e-8)


@pytest.mark.parametrize(("centred", "with_covariates"), [(None, True), (["beta"], False), (["alpha", "kappa"], True),
                                                          ("all", False), ("all", True), ("subjects", True)])
def test_chees_density_gradient_is_its_finite_difference(data, centred, with_covariates):
    """The analytic gradient (chain rule through the group's blocks; the likelihood's own by central differences
    here) is the central difference of the density's value in every coordinate (h = 1e-6: error below 1e-6),
    at a point where the centred subjects sit away from their group mean (sigma of e^-0.5 to e^0.5)."""
    extra = _regressors(data) if with_covariates else {}
    est = _estimator(centred, n_chains=2, sampler="chees", gradient="finite_difference", **extra)
    log_density, layout = est._log_density(data, [0])
    x = np.random.default_rng(3).normal(0.0, 0.5, (2, sum(int(np.prod(s)) for _, s in layout)))
    _, grad = log_density(x)
    h, numeric = 1e-6, np.empty_like(x)
    for i in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, i] = h
        numeric[:, i] = (log_density(x + step)[0] - log_density(x - step)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-6)


def test_chees_density_rejects_non_finite_positions_instead_of_raising(data):
    """A diverging trajectory's position (NaN, or a log sigma whose exp overflows) has density -inf and
    gradient 0, so ChEES rejects it; the other chains' values and gradients are untouched. (The
    likelihood used to receive NaN parameters and raise, ending a 4 x (1,000 + 1,000) fit.)"""
    est = HierarchicalNUTS(MODEL, n_chains=3, sampler="chees")
    log_density, layout = est._log_density(data, [0])
    x = np.random.default_rng(2).normal(0.0, 0.5, (3, sum(int(np.prod(s)) for _, s in layout)))
    clean_value, clean_grad = log_density(x)
    x[1, 3] = 800.0  # log sigma of the first parameter: exp overflows, sigma * 0-ish raw -> inf / nan
    x[2, 0] = np.nan
    value, grad = log_density(x)
    assert value[0] == clean_value[0] and np.array_equal(grad[0], clean_grad[0])
    assert value[1] == value[2] == -np.inf
    assert not grad[1:].any()


@pytest.mark.slow
def test_chees_in_two_processes_is_reproducible_from_the_seed():
    """4 chains in 2 processes (2 each) share one adaptation: the draws of one process with the same seed,
    bit for bit (each chain has its own generator), and other draws from another seed."""
    sim = simulate(MODEL, {"alpha": [0.2, 0.4, 0.3], "beta": [2.0, 4.0, 6.0], "kappa": [0.3, -0.2, 0.0]}, ENV,
                   n_subjects=3, seed=2, env_kwargs={"n_trials": 20}, latents=False, progress=False)
    fits = [HierarchicalNUTS(MODEL, sampler="chees", n_chains=4, n_jobs=jobs, n_warmup=20, n_draws=10, seed=s).fit(
        sim.trials) for jobs, s in ((2, 5), (1, 5), (2, 6))]
    draws = [f.inference_data_.posterior["params"].to_numpy() for f in fits]
    assert draws[0].shape == (4, 10, 3, 3)
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])
    assert fits[0].step_size_.shape == (2,) and fits[0].step_size_[0] == fits[0].step_size_[1] == fits[1].step_size_[0]
    assert fits[0].gradients_per_iteration_ == fits[1].gradients_per_iteration_ >= 1


def test_chees_samples_a_badly_scaled_gaussian():
    """Means within 4 MCSE and SDs within 10 % of a Gaussian whose scales span 100x."""
    scales = np.array([0.1, 0.5, 1.0, 3.0, 10.0])
    mean = np.array([1.0, -2.0, 0.0, 5.0, 20.0])

    def log_density(x):
        r = (x - mean) / scales
        return -0.5 * np.sum(r**2, axis=1), -r / scales

    res = chees_hmc(log_density, np.zeros((4, 5)), n_warmup=300, n_draws=400, seed=0)
    import arviz as az

    draws = az.convert_to_dataset(res.draws[:, :, :])
    mcse = az.mcse(draws)["x"].to_numpy()
    assert np.all(np.abs(res.draws.mean(axis=(0, 1)) - mean) < 4 * mcse)
    np.testing.assert_allclose(res.draws.std(axis=(0, 1)), scales, rtol=0.1)
    assert not res.diverging.any()
    assert 0.6 < res.accept_prob.mean() < 0.95  # around target_accept 0.8


def test_ranks_of_exact_posteriors_are_uniform_and_of_narrow_ones_are_not():
    """SBC's test on a conjugate normal model: exact posteriors pass, over-confident ones fail."""
    rng = np.random.default_rng(0)
    n_rep, n_ranks, n_obs = 200, 19, 5
    theta = rng.normal(0, 1, n_rep)
    y = theta[:, None] + rng.normal(0, 1, (n_rep, n_obs))
    post_var = 1 / (1 + n_obs)
    post_mean = post_var * y.sum(axis=1)
    exact = post_mean[:, None] + np.sqrt(post_var) * rng.standard_normal((n_rep, n_ranks))
    narrow = post_mean[:, None] + 0.3 * np.sqrt(post_var) * rng.standard_normal((n_rep, n_ranks))
    ranks_exact = np.array([rank_statistics(theta[i:i + 1], exact[i][:, None]) for i in range(n_rep)])
    ranks_narrow = np.array([rank_statistics(theta[i:i + 1], narrow[i][:, None]) for i in range(n_rep)])
    assert uniformity_test(ranks_exact, n_ranks, 5)["p_value"].iloc[0] > 0.01
    assert uniformity_test(ranks_narrow, n_ranks, 5)["p_value"].iloc[0] < 1e-6
    with pytest.raises(ValueError, match=r"n_bins must divide n_ranks \+ 1 = 20 \(equal bins\), got 3"):
        uniformity_test(ranks_exact, n_ranks, 3)


@pytest.mark.slow
def test_sbc_passes_chees_and_flags_a_misspecified_prior():
    """Tiny hierarchy (3 subjects x 20 trials, Q-learning without stickiness): 12 replications pass; 6
    replications fitted under a group-SD prior N+(0, 0.05^2) while the truth's SDs come from N+(0, 1) fail
    (the true SDs lie above every posterior draw: all 6 ranks in the top bin give chi2 = 18 on 3 df,
    p = 4e-4). Sized for the suite (the benchmark ``bench_sbc.py`` runs the useful size)."""
    model = make_model("q_learning", stickiness=False)
    kwargs = dict(n_chains=2, n_warmup=60, n_draws=10, sampler="chees")
    right = simulation_based_calibration(HierarchicalNUTS(model, **kwargs), ENV, n_subjects=3, n_trials=20,
                                         n_replications=12, n_ranks=19, n_bins=4, seed=0, progress=False)
    assert right.calibrated(0.01), right.table
    assert right.sampler_cpu_s.shape == (12,) and (right.sampler_cpu_s > 0).all()  # each fit's sampling CPU
    wrong = simulation_based_calibration(HierarchicalNUTS(model, scale_prior_sd=0.05, **kwargs), ENV, n_subjects=3,
                                         n_trials=20, n_replications=6, n_ranks=19, n_bins=4, seed=0,
                                         prior=HierarchicalNUTS(model), progress=False)
    assert not wrong.calibrated(0.01), wrong.table


@pytest.mark.slow
def test_sbc_resumes_from_its_checkpoint_with_the_uninterrupted_ranks(tmp_path):
    """A run stopped in its third replication keeps the first two in the checkpoint; the rerun
    fits only the third and returns the ranks of a run that was never stopped. Other settings are
    refused by name."""
    model = make_model("q_learning", stickiness=False)
    kwargs = dict(n_chains=2, n_warmup=60, n_draws=10, sampler="chees")
    sizes = dict(n_subjects=3, n_trials=20, n_replications=3, n_ranks=19, n_bins=4, seed=5, progress=False)
    whole = simulation_based_calibration(HierarchicalNUTS(model, **kwargs), ENV, **sizes)
    path = tmp_path / "sbc.json"
    stopped = HierarchicalNUTS(model, **kwargs)
    fit, calls = stopped.fit, []

    def fit_then_stop(trials, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fit(trials, **kw)

    stopped.fit = fit_then_stop
    with pytest.raises(KeyboardInterrupt):
        simulation_based_calibration(stopped, ENV, checkpoint=path, **sizes)
    resumed_est = HierarchicalNUTS(model, **kwargs)
    fits = []
    original = resumed_est.fit
    resumed_est.fit = lambda trials, **kw: (fits.append(1), original(trials, **kw))[1]
    resumed = simulation_based_calibration(resumed_est, ENV, checkpoint=path, **sizes)
    assert len(fits) == 1
    pd.testing.assert_frame_equal(resumed.ranks, whole.ranks)
    pd.testing.assert_frame_equal(resumed.truth, whole.truth)
    with pytest.raises(ValueError, match=r"checkpoint .* was written with other settings \(n_trials: \[20\] there, \[30\] now\)"):
        simulation_based_calibration(HierarchicalNUTS(model, **kwargs), ENV, checkpoint=path,
                                     **{**sizes, "n_trials": 30})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sampler": "hmc"}, r"sampler must be one of \['nuts', 'chees'\], got 'hmc'"),
    ({"gradient": "jax"}, r"gradient must be one of \['finite_difference', 'forward_difference', 'autograd', 'compiled'\], "
                         r"got 'jax'"),
    ({"sampler": "chees", "n_chains": 1}, r"n_chains must be an integer >= 2, got 1"),
    ({"sampler": "chees", "n_chains": 3, "n_jobs": 2}, r"n_chains must be an integer >= 4, got 3"),
    ({"sampler": "nuts", "n_jobs": 2}, r"n_jobs > 1 runs ChEES chains in processes: use sampler='chees', got "
                                       r"sampler='nuts'"),
    ({"reference": {"group": "a"}}, r"reference names reference levels of covariates: give covariates= and "
                                    r"regressors="),
    ({"centred": "alpha"}, r"centred must be None, 'all', 'auto' or a list of parameter names \(of \['alpha', 'beta', "
                           r"'kappa'\]\), got 'alpha'"),
    ({"centred": 3}, r"centred must be None, 'all', 'auto' or a list of parameter names .*, got 3"),
    ({"centred": ["beta", 1]}, r"centred must be None, 'all', 'auto' or a list of parameter names .*, got \['beta', 1\]"),
    ({"centred": ["beta", "alfa"]}, r"centred: the model has no parameter 'alfa' \(did you mean 'alpha'\?\); its "
                                    r"parameters are \['alpha', 'beta', 'kappa'\]"),
    ({"centred": ["beta", "beta"]}, r"centred: a parameter is named twice in \['beta', 'beta'\]"),
])
def test_bad_fast_settings_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_estimator("nuts", MODEL, **kwargs)


@pytest.mark.parametrize(("centred", "expected"), [(None, ()), ([], ()), ("all", ("alpha", "beta", "kappa")),
                                                  (("kappa", "alpha"), ("alpha", "kappa")), (np.array(["beta"]), ("beta",))])
def test_centred_is_kept_in_the_models_order(centred, expected):
    for method in ("nuts", "vi"):
        assert make_estimator(method, MODEL, centred=centred).centred == expected


def test_sample_prior_draws_the_fitted_prior():
    """Group means ~ N(m, s_mu), SDs ~ N+(0, s_sigma): moments over many draws."""
    est = HierarchicalVI(MODEL, mean_prior_sd=0.7, scale_prior_sd=0.4)
    rng = np.random.default_rng(0)
    draws = [est.sample_prior(1, seed=rng) for _ in range(1000)]
    mus, sigmas = np.array([d["mu"] for d in draws]), np.array([d["sigma"] for d in draws])
    # tolerances of 3.5 standard errors: 2.2 % for an SD, 2.4 % for the half-normal's mean
    assert mus.std(axis=0) == pytest.approx(np.full(3, 0.7), rel=0.08)
    assert sigmas.mean(axis=0) == pytest.approx(np.full(3, 0.4 * np.sqrt(2 / np.pi)), rel=0.085)
    draw = est.sample_prior(5, seed=0)
    assert set(draw["params"]) == {"alpha", "beta", "kappa"} and draw["z"].shape == (5, 3)
    assert stats.kstest(mus[:, 0] - mus[:, 0].mean(), "norm", args=(0, 0.7)).pvalue > 0.01


def test_elbo_convergence_is_stans_rule():
    """Window means -1000, -500, -495, -494.5 (eval_elbo 10, buffer of 2): changes 0.5, 0.01, 0.001; the rule
    fires at the 4th window, when the buffer [0.0101, 0.00101] has mean 0.0056 < 0.01, not at the 3rd ([0.5,
    0.0101]: mean and median 0.255)."""
    from cogmodels.fits.bayes import ElboConvergence

    elbo = np.repeat([-1000.0, -500.0, -495.0, -494.5, -494.5], 10)
    stop = ElboConvergence(0.01, 10, 100)
    fired = [n for n in range(1, len(elbo) + 1) if stop.update(elbo[:n])]
    assert fired[0] == 40
    np.testing.assert_allclose(stop.changes[:3], [0.5, 5 / 500, 0.5 / 495])
    never = ElboConvergence(0.0, 10, 100)
    assert not any(never.update(elbo[:n]) for n in range(1, len(elbo) + 1))


@pytest.mark.slow
def test_vi_stops_when_the_elbo_converges():
    """A loose tol_rel_obj (0.5) stops VI at a check (a multiple of eval_elbo) long before max_steps; the old
    spelling n_steps warns and still sets the cap."""
    sim = simulate(MODEL, {"alpha": [0.2, 0.4, 0.3], "beta": [2.0, 4.0, 6.0], "kappa": [0.3, -0.2, 0.0]}, ENV,
                   n_subjects=3, seed=2, env_kwargs={"n_trials": 20}, latents=False, progress=False)
    with pytest.warns(DeprecationWarning, match="n_steps is deprecated and will be removed; use max_steps instead"):
        est = HierarchicalVI(MODEL, n_steps=400, tol_rel_obj=0.5, eval_elbo=5, n_draws=20, seed=0)
    est.fit(sim.trials, progress=False)
    assert est.max_steps == 400 and est.elbo_converged_
    assert est.n_steps_run_ % 5 == 0 and 10 <= est.n_steps_run_ < 400
    assert len(est.elbo_) == est.n_steps_run_ and est.elbo_changes_.index[-1] == est.n_steps_run_
    full = HierarchicalVI(MODEL, max_steps=30, tol_rel_obj=0.0, eval_elbo=5, n_draws=20, seed=0).fit(sim.trials)
    assert full.n_steps_run_ == 30 and not full.elbo_converged_
