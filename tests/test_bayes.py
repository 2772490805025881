"""Hierarchical Bayesian fits (cogmodels.fits.bayes): the joint density, NUTS, VI, LOO/WAIC, CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("pyro")
az = pytest.importorskip("arviz")
torch = pytest.importorskip("torch")

from cogmodels.cli import main  # noqa: E402
from cogmodels.fits import (  # noqa: E402
    ConvergenceWarning,
    HierarchicalNUTS,
    HierarchicalVI,
    compare_models,
    make_estimator,
)
from cogmodels.fits.mle import interior_start  # noqa: E402
from cogmodels.likelihood import log_likelihood, trial_arrays  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.simulate import simulate  # noqa: E402

ENV = "cogmodels/ReversalLearning-v0"
MODEL = make_model("q_learning", stickiness=False)


@pytest.fixture(scope="module")
def trials() -> pd.DataFrame:
    """Five subjects, 40 trials, alpha around 0.35 and beta around 4."""
    rng = np.random.default_rng(3)
    n = 5
    params = {"alpha": MODEL.spec("alpha").from_unconstrained(-0.6 + 0.3 * rng.standard_normal(n)),
              "beta": 4.0 * np.exp(0.2 * rng.standard_normal(n))}
    return simulate(MODEL, params, ENV, n_subjects=n, seed=1, env_kwargs={"n_trials": 40}, latents=False,
                    progress=False).trials


@pytest.fixture(scope="module")
def vi_fit(trials):
    return HierarchicalVI(MODEL, max_steps=80, n_draws=100, seed=0).fit(trials, progress=False)


def test_the_sampled_density_is_the_hierarchical_model(trials):
    """Pyro's log joint is log N(mu; m, 1.5) + log N+(sigma; 1) + log N(z~; 0, 1) + the model's likelihood."""
    import pyro.poutine as poutine

    est = HierarchicalNUTS(MODEL, mean_prior_sd=1.5, scale_prior_sd=1.0)
    data = trial_arrays(trials, MODEL)
    joint = est._pyro_model(data, 1, [0])
    torch.manual_seed(0)
    trace = poutine.trace(joint).get_trace()
    mu = trace.nodes["mu"]["value"].numpy()[0]
    sigma = trace.nodes["sigma"]["value"].numpy()[0]
    raw = trace.nodes["z_raw"]["value"].numpy()[0]
    z = mu + sigma * raw
    params = {s.name: s.from_unconstrained(z[:, j]) for j, s in enumerate(MODEL.param_specs)}
    m = np.array([interior_start(s) for s in MODEL.param_specs])
    expected = (stats.norm(m, 1.5).logpdf(mu).sum() + stats.halfnorm(scale=1.0).logpdf(sigma).sum()
                + stats.norm().logpdf(raw).sum() + log_likelihood(MODEL, params, data).sum())
    assert float(trace.log_prob_sum()) == pytest.approx(expected, abs=1e-8)


@pytest.mark.slow
def test_nuts_chains_are_reproducible_and_summarised(trials):
    kwargs = dict(n_chains=2, n_warmup=10, n_draws=15, max_tree_depth=3, seed=7, chain_method="vectorized")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 15 draws: the diagnostics say so
        a = HierarchicalNUTS(MODEL, **kwargs).fit(trials, progress=False)
        b = HierarchicalNUTS(MODEL, **kwargs).fit(trials, progress=False)
    post = a.inference_data_.posterior
    assert post["params"].shape == (2, 15, 5, 2)
    np.testing.assert_array_equal(post["params"].to_numpy(), b.inference_data_.posterior["params"].to_numpy())
    # the subject tables are the posterior means and SDs of the draws
    draws = post["params"].sel(parameter="alpha").to_numpy().reshape(30, 5)
    np.testing.assert_allclose(a.params_["alpha"].to_numpy(), draws.mean(axis=0))
    np.testing.assert_allclose(a.se_["alpha"].to_numpy(), draws.std(axis=0, ddof=1))
    assert a.inference_data_.sample_stats["diverging"].shape == (2, 15)
    assert a.n_gradients_ >= 30  # at least one leapfrog step per iteration
    assert set(a.summary().columns) >= {"alpha", "beta", "loglik", "aic", "bic", "r_hat", "ess_bulk"}


def test_short_chains_warn_in_one_line(trials):
    with pytest.warns(ConvergenceWarning) as record:
        HierarchicalNUTS(MODEL, n_chains=2, n_warmup=2, n_draws=4, max_tree_depth=2, seed=0,
                         chain_method="vectorized").fit(trials, progress=False)
    message = str(next(w.message for w in record if w.category is ConvergenceWarning))
    assert "\n" not in message
    assert "ESS as low as" in message and "< 200" in message


def test_vi_learns_and_agrees_with_the_numpy_likelihood(vi_fit, trials):
    elbo = vi_fit.elbo_.to_numpy()
    # the ELBO climbs from the initial approximation (prior means, SD 0.1): by 18 nats here (ADVI from a
    # start at the prior means; Pyro's AutoNormal started lower and climbed by more than 30)
    assert elbo[-20:].mean() > elbo[:5].mean() + 12
    # the stored log-likelihood of each draw is the model's numpy likelihood at that draw's parameters
    post = vi_fit.inference_data_.posterior["params"].to_numpy()[0, :3]  # (3 draws, subjects, k)
    ll = vi_fit.inference_data_.log_likelihood["choice"].to_numpy()[0, :3]
    data = trial_arrays(trials, MODEL)
    for d in range(3):
        expected = log_likelihood(MODEL, {"alpha": post[d, :, 0], "beta": post[d, :, 1]}, data)
        np.testing.assert_allclose(ll[d], expected, rtol=1e-12)
    # the group mean on the natural scale lies near the subjects' simulated centre (alpha 0.35, beta 4)
    assert 0.15 < vi_fit.group_params_["alpha"] < 0.6
    assert 2.0 < vi_fit.group_params_["beta"] < 8.0


@pytest.mark.slow
def test_trialwise_and_subjectwise_loo_score_the_same_draws(trials, vi_fit):
    by_trial = HierarchicalVI(MODEL, max_steps=80, n_draws=100, seed=0, pointwise="trial").fit(trials, progress=False)
    ll_trial = by_trial.inference_data_.log_likelihood["choice"]
    assert ll_trial.shape == (1, 100, 5 * 40)
    np.testing.assert_allclose(ll_trial.to_numpy().sum(axis=-1),
                               vi_fit.inference_data_.log_likelihood["choice"].to_numpy().sum(axis=-1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo_s, loo_t = vi_fit.loo(), by_trial.loo()
    assert len(loo_s.loo_i) == 5 and len(loo_t.loo_i) == 200
    # PSIS-LOO never scores above the in-sample fit: its weights fall as a draw's likelihood rises, so each
    # left-out density is at most the draws' plain mean (Chebyshev's sum inequality) and p_loo >= 0. (That a
    # subject left out costs more than its trials one at a time is not a theorem: with 80 VI steps and
    # Pareto k > 0.7 for 4 of 5 subjects the two estimates differ by less than their noise.)
    for loo in (loo_s, loo_t):
        assert np.isfinite(float(loo.elpd_loo)) and float(loo.p_loo) >= -1e-9


def test_netcdf_round_trip(vi_fit, tmp_path):
    vi_fit.save(tmp_path / "posterior.nc")
    back = az.from_netcdf(tmp_path / "posterior.nc")
    np.testing.assert_array_equal(back.posterior["mu"].to_numpy(), vi_fit.inference_data_.posterior["mu"].to_numpy())
    assert back.posterior.attrs["model"] == MODEL.name


@pytest.mark.slow
def test_compare_adds_looic_and_waic(trials):
    models = {"q": MODEL, "q_sticky": make_model("q_learning")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = compare_models(trials, models, method="vi", max_steps=40, n_draws=80, seed=0, progress=False)
    table = cmp.table
    for name, fit in cmp.fits.items():
        loo = fit.loo()
        assert table.loc[name, "looic"] == pytest.approx(-2 * float(loo.elpd_loo))
        per = cmp.per_subject.query("model == @name")["elpd_loo"].sum()
        assert table.loc[name, "looic"] == pytest.approx(-2 * per)
    assert table["delta_looic"].min() == 0.0
    assert cmp.best("looic") == table["looic"].idxmin()


def test_bayesian_fits_refuse_cross_validation(trials):
    with pytest.raises(ValueError, match=r"method='nuts' scores held-out data by PSIS-LOO"):
        compare_models(trials, [MODEL, make_model("q_learning")], method="nuts", cv_folds=2, progress=False)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"pointwise": "block"}, r"pointwise must be one of \['subject', 'trial'\], got 'block'"),
    ({"chain_method": "parallel"}, r"chain_method must be one of \['sequential', 'vectorized'\], got 'parallel'"),
    ({"n_chains": 0}, r"n_chains must be an integer >= 1, got 0"),
])
def test_bad_settings_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_estimator("nuts", MODEL, **kwargs)


def test_cli_fit_vi_writes_the_posterior(trials, tmp_path):
    path = tmp_path / "trials.csv"
    trials.to_csv(path, index=False)
    out = tmp_path / "fit"
    assert main(["fit", str(path), "--model", "q_learning", "--structure", "stickiness=false", "--method", "vi",
                 "--vi-steps", "30", "--draws", "50", "--quiet", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    back = az.from_netcdf(out / "posterior.nc")
    assert back.posterior["params"].shape == (1, 50, 5, 2)
    assert summary["looic"] > 0 and summary["pointwise"] == "subject"
    assert set(pd.read_csv(out / "group_summary.csv")["variable"]) >= {"mu[alpha]", "sigma[beta]", "group[alpha]"}


def test_cli_fit_nuts_takes_the_chees_sampler_and_its_processes(trials, tmp_path):
    """``--sampler chees --jobs 2`` reach the estimator: the draws are ChEES's (the same for any
    ``n_jobs``, so equal to the Python estimator's with ``n_jobs=1``) and 2 processes ran."""
    path = tmp_path / "trials.csv"
    trials.to_csv(path, index=False)
    out = tmp_path / "fit"
    assert main(["fit", str(path), "--model", "q_learning", "--structure", "stickiness=false", "--method", "nuts",
                 "--sampler", "chees", "--jobs", "2", "--chains", "4", "--warmup", "20", "--draws", "10",
                 "--seed", "3", "--quiet", "--out", str(out)]) == 0
    back = az.from_netcdf(out / "posterior.nc")
    same = make_estimator("nuts", make_model("q_learning", stickiness=False), sampler="chees", n_chains=4,
                          n_warmup=20, n_draws=10, seed=3).fit(trials, progress=False)
    np.testing.assert_array_equal(back.posterior["params"].to_numpy(),
                                  same.inference_data_.posterior["params"].to_numpy())
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["sampler"] == "chees" and settings["n_jobs"] == 2
    assert (settings["n_chains"], settings["n_warmup"], settings["n_draws"]) == (4, 20, 10)


def test_cli_chees_flags_need_nuts(trials, tmp_path, capsys):
    path = tmp_path / "trials.csv"
    trials.to_csv(path, index=False)
    with pytest.raises(SystemExit):
        main(["fit", str(path), "--model", "q_learning", "--method", "vi", "--sampler", "chees",
              "--out", str(tmp_path / "x")])
    assert "--sampler sets the nuts fit: use it with --method nuts, got --method vi" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "name"), [("--chains", "--chains"), ("--draws", "--draws"),
                                            ("--vi-steps", "--vi-steps"), ("--warmup", "--warmup")])
def test_cli_bayes_counts_are_range_checked(flag, name, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["fit", str(tmp_path / "none.csv"), "--model", "q_learning", "--method", "nuts", flag, "0",
              "--out", str(tmp_path / "x")])
    assert f"{name} must be an integer >= 1, got 0" in capsys.readouterr().err


def test_cli_bayes_flags_need_their_method(trials, tmp_path, capsys):
    path = tmp_path / "trials.csv"
    trials.to_csv(path, index=False)
    with pytest.raises(SystemExit) as err:
        main(["fit", str(path), "--model", "q_learning", "--chains", "2", "--out", str(tmp_path / "x")])
    assert err.value.code == 2
    assert "--chains sets the nuts fit: use it with --method nuts, got --method mle" in capsys.readouterr().err


def test_posterior_predictive_plays_joint_posterior_draws(vi_fit, trials):
    from cogmodels.fits import HierarchicalEM, posterior_predictive
    from cogmodels.fits.ppc import _posterior_draws

    x = _posterior_draws(vi_fit, 4, np.random.default_rng(0))
    post = vi_fit.inference_data_.posterior["params"].to_numpy()[0]  # (draws, subjects, k)
    for j in range(4):  # simulation j: one posterior draw for every subject
        alphas = x["alpha"][j::4]
        matches = np.flatnonzero(np.all(post[:, :, 0] == alphas, axis=1))
        assert matches.size >= 1
        np.testing.assert_array_equal(x["beta"][j::4], post[matches[0], :, 1])
    sims = posterior_predictive(vi_fit, source="replay", trials=trials, n_sims=3, draw="posterior", seed=0,
                                progress=False)
    assert len(sims) == 3 * len(trials) and set(sims["sim"]) == {0, 1, 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = HierarchicalEM(MODEL, n_starts=1, n_samples=10, seed=0).fit(trials, progress=False)
    with pytest.raises(ValueError, match=r"draw='posterior' needs a fit with posterior draws .* got HierarchicalEM"):
        posterior_predictive(em, source="replay", trials=trials, draw="posterior", progress=False)


def test_group_regressors_enter_the_sampled_density_and_the_tables(trials):
    """With ``regressors`` the prior mean of subject s is mu + B x_s (covariates coded as in EM)."""
    import pyro.poutine as poutine

    table = pd.DataFrame({"subject": sorted(trials["subject"].unique()), "group": ["a", "a", "b", "b", "b"]})
    est = HierarchicalVI(MODEL, covariates=table, regressors={"alpha": ["group"]}, max_steps=20, n_draws=30, seed=0)
    data = trial_arrays(trials, MODEL)
    torch.manual_seed(1)
    trace = poutine.trace(est._pyro_model(data, 1, [0])).get_trace()
    mu, sigma, raw, coef = (trace.nodes[n]["value"].numpy()[0] for n in ("mu", "sigma", "z_raw", "coef"))
    z = mu + sigma * raw
    z[:, 0] += coef[0] * np.array([0, 0, 1, 1, 1])  # group b against the reference level a
    params = {s.name: s.from_unconstrained(z[:, j]) for j, s in enumerate(MODEL.param_specs)}
    m = np.array([interior_start(s) for s in MODEL.param_specs])
    expected = (stats.norm(m, 1.5).logpdf(mu).sum() + stats.halfnorm().logpdf(sigma).sum()
                + stats.norm().logpdf(raw).sum() + stats.norm(0, 1.0).logpdf(coef).sum()
                + log_likelihood(MODEL, params, data).sum())
    assert float(trace.log_prob_sum()) == pytest.approx(expected, abs=1e-8)
    est.fit(trials, progress=False)
    row = est.coefficients_.iloc[0]
    assert (row.parameter, row.covariate) == ("alpha", "group[b]")
    coef_draws = est.inference_data_.posterior["coef"].to_numpy().ravel()
    assert row.estimate == pytest.approx(coef_draws.mean()) and row.ci_low < row.estimate < row.ci_high
