"""The centred parameterisation of the hierarchical Bayesian fits (``HierarchicalBayes(centred=...)``, issue 17).

The density and gradient checks of every parameterisation are in ``test_bayes_fast.py``
(``test_chees_density_is_the_pyro_models``, ``test_chees_density_gradient_is_its_finite_difference``).
"""

from __future__ import annotations

import hashlib
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
from cogmodels.fits import HierarchicalNUTS, HierarchicalVI  # noqa: E402
from cogmodels.fits.bayes import _reml_group_sd  # noqa: E402
from cogmodels.fits.mle import interior_start  # noqa: E402
from cogmodels.fits.sbc import _describe  # noqa: E402
from cogmodels.likelihood import log_likelihood, trial_arrays  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.simulate import simulate  # noqa: E402

ENV = "cogmodels/ReversalLearning-v0"
MODEL = make_model("q_learning")  # alpha, beta, kappa


@pytest.fixture(scope="module")
def trials() -> pd.DataFrame:
    """Four subjects, 30 trials of sticky Q-learning."""
    truth = {"alpha": [0.2, 0.4, 0.3, 0.6], "beta": [2.0, 4.0, 6.0, 3.0], "kappa": [0.3, -0.2, 0.0, 0.5]}
    return simulate(MODEL, truth, ENV, n_subjects=4, seed=2, env_kwargs={"n_trials": 30}, latents=False,
                    progress=False).trials


def _age(trials: pd.DataFrame) -> dict:
    table = pd.DataFrame({"subject": sorted(trials["subject"].unique()), "age": [20.0, 35.0, 50.0, 41.0]})
    return {"covariates": table, "regressors": {"alpha": ["age"]}}


#: SHA-1 of the draws of mu, sigma and params, taken on main before ``centred`` existed with NumPy's AVX-512 loops, re-taken
#: on 2026-12-05 from the same code with the AVX2 kernels that ``make test`` sets on every x86-64 CPU (OPENBLAS_CORETYPE=Haswell,
#: ATEN_CPU_CAPABILITY=avx2, NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"): like every pinned digest they depend
#: on the kernels and the library versions (constraints.txt)
PINNED = {
    "chees": "fc27aea99d516927dabe137a0f33f14a8cc3e753",
    "chees_reg": "9f6106b491da131b7c0287f032e1256948f3c091",
    "vi": "b03ed2c7469a5726c39b5cf83a0d3bb82ecd1c5e",
    "vi_reg": "007a88862877eebc8fe2c292ad310f356e863712",
    "nuts": "b463f8c1586c98d6513ee406a0373e0136a311a0",
    "nuts_reg": "f5a2c52202a8264ba1a5cc73fd9573787539f86d",
}


@pytest.mark.parametrize("case", list(PINNED))
def test_the_default_draws_are_the_ones_before_centred_existed(trials, case):
    """centred=None is the non-centred fit of before the option, byte for byte: ChEES, VI and Pyro's NUTS (whose sites keep
    their order), with and without regressors."""
    sampler, _, reg = case.partition("_")
    extra = _age(trials) if reg else {}
    if sampler == "vi":
        est = HierarchicalVI(MODEL, max_steps=20, n_draws=10, seed=3, centred=None, **extra)
    elif sampler == "chees":
        est = HierarchicalNUTS(MODEL, sampler="chees", n_chains=2, n_warmup=20, n_draws=10, seed=3, centred=None,
                               **extra)
    else:
        est = HierarchicalNUTS(MODEL, n_chains=1, n_warmup=5, n_draws=5, max_tree_depth=3, seed=3, centred=None,
                               **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(trials, progress=False)
    post = est.inference_data_.posterior
    draws = np.concatenate([post[v].to_numpy().ravel() for v in ("mu", "sigma", "params")])
    assert hashlib.sha1(draws.tobytes()).hexdigest() == PINNED[case]


def test_pyros_centred_density_is_the_hierarchical_model(trials):
    """With alpha centred (and a regressor on it): log N(z_alpha; mu + b age, sigma) for alpha's subjects,
    log N(z~; 0, 1) for the others', the same group priors and likelihood; the draws' z is the block itself
    for alpha."""
    import pyro.poutine as poutine

    est = HierarchicalNUTS(MODEL, centred=["alpha"], **_age(trials))
    data = trial_arrays(trials, MODEL)
    torch.manual_seed(0)
    trace = poutine.trace(est._pyro_model(data, 1, [0])).get_trace()
    mu, sigma, block, coef = (trace.nodes[n]["value"].detach().numpy()[0] for n in ("mu", "sigma", "z_raw", "coef"))
    age = est._design_for(data).weights[:, 0, MODEL.n_params:] @ coef  # the centred age of each subject times b
    z = mu + sigma * block
    z[:, 0] = block[:, 0]
    params = {s.name: s.from_unconstrained(z[:, j]) for j, s in enumerate(MODEL.param_specs)}
    m = np.array([interior_start(s) for s in MODEL.param_specs])
    expected = (stats.norm(m, 1.5).logpdf(mu).sum() + stats.halfnorm().logpdf(sigma).sum()
                + stats.norm(mu[0] + age, sigma[0]).logpdf(block[:, 0]).sum() + stats.norm().logpdf(block[:, 1:]).sum()
                + stats.norm(0, 1).logpdf(coef).sum() + log_likelihood(MODEL, params, data).sum())
    assert float(trace.log_prob_sum()) == pytest.approx(expected, abs=1e-8)
    samples = {"mu": mu[None, None], "sigma": sigma[None, None], "z_raw": block[None, None], "coef": coef[None, None]}
    np.testing.assert_allclose(est._draws(data, samples)["z"][0, 0], z, rtol=0, atol=1e-12)


def test_centred_starts_sit_at_the_prior_means(trials):
    """ChEES's uniform(-2, 2) starts are centred on mu's prior mean and, for centred columns only, z's; VI
    starts there."""
    data = trial_arrays(trials, MODEL)
    est = HierarchicalNUTS(MODEL, sampler="chees", centred=["beta"])
    k, m = MODEL.n_params, np.array([interior_start(s) for s in MODEL.param_specs])
    offsets = est._start_offsets(data)
    np.testing.assert_array_equal(offsets[:k], m)
    np.testing.assert_array_equal(offsets[k:2 * k], 0.0)
    np.testing.assert_array_equal(offsets[2 * k:].reshape(4, k), np.tile([0.0, m[1], 0.0], (4, 1)))
    starts = est._stan_starts(200, data, np.random.default_rng(0))
    assert (np.abs(starts - offsets) < 2.0).all()


def test_a_centred_chees_fit_is_summarised_and_saved(trials, tmp_path):
    """A centred ChEES fit fills the same tables; the posterior says which parameters were centred, through
    NetCDF; SBC's settings name them (and leave them out when none is, so older checkpoints resume; the
    default, "auto", is named)."""
    est = HierarchicalNUTS(MODEL, sampler="chees", n_chains=2, n_warmup=30, n_draws=20, seed=1,
                           centred=["beta", "kappa"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(trials, progress=False)
    post = est.inference_data_.posterior
    assert post["params"].shape == (2, 20, 4, 3) and np.isfinite(post["params"].to_numpy()).all()
    assert est.params_.shape == (4, 3) and {"mu[beta]", "sigma[kappa]"} <= set(est.group_summary().index)
    est.save(tmp_path / "posterior.nc")
    assert az.from_netcdf(tmp_path / "posterior.nc").posterior.attrs["centred"] == "beta,kappa"
    assert _describe(est)["centred"] == ["beta", "kappa"]
    assert "centred" not in _describe(HierarchicalNUTS(MODEL, sampler="chees", centred=None))
    assert _describe(HierarchicalNUTS(MODEL, sampler="chees"))["centred"] == "auto"


def test_cli_fit_takes_centred(trials, tmp_path, capsys):
    path = tmp_path / "trials.csv"
    trials.to_csv(path, index=False)
    out = tmp_path / "fit"
    assert main(["fit", str(path), "--model", "q_learning", "--method", "vi", "--vi-steps", "20", "--draws", "20",
                 "--centred", "kappa,alpha", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["settings"]["centred"] == ["alpha", "kappa"]
    assert az.from_netcdf(out / "posterior.nc").posterior.attrs["centred"] == "alpha,kappa"
    with pytest.raises(SystemExit):
        main(["fit", str(path), "--model", "q_learning", "--method", "vi", "--centred", "alpha,gama",
              "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert "error: centred: the model has no parameter 'gama'" in err and "['alpha', 'beta', 'kappa']" in err
    with pytest.raises(SystemExit):
        main(["fit", str(path), "--model", "q_learning", "--centred", "all", "--out", str(tmp_path / "y")])
    assert "--centred sets the nuts or vi fit: use it with --method nuts/vi, got --method mle" in capsys.readouterr().err


@pytest.mark.slow
def test_centred_chees_mixes_the_group_means_when_subjects_have_many_trials():
    """8 subjects x 400 trials pin each subject's parameters: 4 ChEES chains x (100 + 100) iterations give
    a bulk ESS of each group mean near 350 centred against 15-38 non-centred (seeds 1 and 2: 286-336 against
    6-12; the non-centred chains' R-hat reaches 1.2-1.9). About 20 CPU s."""
    model = make_model("q_learning", stickiness=False)
    rng = np.random.default_rng(4)
    truth = {"alpha": model.spec("alpha").from_unconstrained(-0.5 + 0.6 * rng.standard_normal(8)),
             "beta": 4.0 * np.exp(0.4 * rng.standard_normal(8))}
    sim = simulate(model, truth, ENV, n_subjects=8, seed=1, env_kwargs={"n_trials": 400}, latents=False,
                   progress=False).trials
    ess = {}
    for centred in (None, "all"):
        fit = HierarchicalNUTS(model, sampler="chees", n_chains=4, n_warmup=100, n_draws=100, seed=0,
                               centred=centred)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit.fit(sim, progress=False)
        ess[centred] = fit.summary_.loc[["mu[alpha]", "mu[beta]"], "ess_bulk"].min()
    assert ess["all"] > 200 and ess["all"] > 3 * ess[None], ess


def _group_trials(n_subjects: int, n_trials: int, sd: float, seed: int) -> pd.DataFrame:
    """Q-learning subjects whose unconstrained parameters spread with SD ``sd`` around the defaults."""
    rng = np.random.default_rng(seed)
    truth = {s.name: s.from_unconstrained(interior_start(s) + sd * rng.standard_normal(n_subjects))
             for s in MODEL.param_specs}
    return simulate(MODEL, truth, ENV, n_subjects=n_subjects, seed=seed, env_kwargs={"n_trials": n_trials},
                    latents=False, progress=False).trials


def test_auto_centres_the_subjects_the_data_pin_and_no_others():
    """centred="auto" (the default) reads each subject's mode and Laplace SD s_ij, estimates the group SD
    by REML from the modes and their s_ij, and centres subject i's parameter j where sqrt(2) s_ij is below the
    group SD's 95 % lower bound: 30 subjects
    x 300 trials spread with SD 1.0 pin every subject's kappa and nearly every beta (their s_ij are far below
    the group SD); 30 subjects x 40 trials sharing one parameter set leave no group spread beyond the s_ij: none
    centred. Uneven data (15 subjects x 300 trials, 15 x 20, SD 0.4): the short ones' alpha and beta not."""
    est = HierarchicalNUTS(MODEL, sampler="chees", seed=0)
    table, mask = est._auto_centring(trial_arrays(_group_trials(30, 300, 1.0, seed=5), MODEL))
    assert list(table.index) == ["alpha", "beta", "kappa"]
    assert list(table.columns) == ["spread", "laplace_sd", "group_sd", "group_sd_low", "n_centred"]
    assert (table["group_sd_low"] <= table["group_sd"]).all()
    assert mask.shape == (30, 3) and mask[:, 2].all() and mask[:, 1].sum() >= 24, table
    np.testing.assert_array_equal(table["n_centred"], mask.sum(axis=0))
    table, mask = est._auto_centring(trial_arrays(_group_trials(30, 40, 0.0, seed=6), MODEL))
    assert not mask.any(), table
    long, short = _group_trials(15, 300, 0.4, seed=8), _group_trials(15, 20, 0.4, seed=9)
    short["subject"] = short["subject"].astype(str) + "_short"
    long["subject"] = long["subject"].astype(str) + "_long"
    data = trial_arrays(pd.concat([long, short], ignore_index=True), MODEL)
    _, mask = est._auto_centring(data)
    is_long = np.char.endswith(data.subjects.astype(str), "_long")
    # none of the 20-trial subjects' alpha or beta centred; more of the 300-trial ones than of them overall
    assert not mask[~is_long, :2].any() and mask[is_long].sum() > mask[~is_long].sum(), mask


def test_reml_group_sd_is_the_textbook_estimate():
    """With equal variances v the REML estimate of the between-subject variance is the sample variance
    minus v (Harville 1977), 0 when that is negative; with regressors, the residual variance about the
    least-squares fit minus v; rows with an infinite v are left out, and a sample too small gives 0."""
    rng = np.random.default_rng(0)
    z = 0.3 + 0.8 * rng.standard_normal(40)
    sd, low, _ = _reml_group_sd(z, np.full(40, 0.25), np.ones((40, 1)))
    np.testing.assert_allclose(sd**2, z.var(ddof=1) - 0.25, rtol=1e-3)
    # equal v: (n - 1) s^2 / (sigma^2 + v) is chi-square(n - 1), so the profile bound is near the exact one
    exact = np.sqrt(39 * z.var(ddof=1) / stats.chi2.ppf(0.975, 39) - 0.25)
    assert 0.8 * exact < low < 1.1 * exact, (low, exact)
    assert _reml_group_sd(0.1 * z, np.full(40, 0.25), np.ones((40, 1)))[0] == 0.0
    x = np.column_stack([np.ones(40), np.repeat([0.0, 1.0], 20)])
    shifted = z + 2.0 * x[:, 1]
    residual = shifted - x @ np.linalg.lstsq(x, shifted, rcond=None)[0]
    sd, _, _ = _reml_group_sd(shifted, np.full(40, 0.25), x)
    np.testing.assert_allclose(sd**2, residual @ residual / 38 - 0.25, rtol=1e-3)
    with_missing = _reml_group_sd(np.append(z, 50.0), np.append(np.full(40, 0.25), np.inf), np.ones((41, 1)))
    np.testing.assert_allclose(with_missing[0] ** 2, z.var(ddof=1) - 0.25, rtol=1e-3)
    assert _reml_group_sd(z[:2], np.full(2, 0.25), np.ones((2, 1)))[0] == 0.0
    # another parameter's regressor columns are all zero for this one: left out, not a singular system
    padded = np.column_stack([x, np.zeros(40)])
    np.testing.assert_allclose(_reml_group_sd(shifted, np.full(40, 0.25), padded)[0], sd)


def test_auto_sees_the_group_spread_through_uneven_trials():
    """The case the median-based estimate missed (issue 17 breaker): many subjects with few trials and
    some with many. 20 subjects x 300 trials and 30 x 15, unconstrained SD 1.0: the group SD of beta is
    found from the long subjects (0.90, its 95 % lower bound 0.64) and most of those are centred, none of
    the short ones. (With 10 long subjects the median rule's estimate was 0 and no subject was centred.)"""
    long, short = _group_trials(20, 300, 1.0, seed=11), _group_trials(30, 15, 1.0, seed=12)
    short["subject"] = short["subject"].astype(str) + "_short"
    long["subject"] = long["subject"].astype(str) + "_long"
    data = trial_arrays(pd.concat([long, short], ignore_index=True), MODEL)
    table, mask = HierarchicalNUTS(MODEL, sampler="chees", seed=0)._auto_centring(data)
    is_long = np.char.endswith(data.subjects.astype(str), "_long")
    assert 0.6 < table.loc["beta", "group_sd"] < 1.3, table
    assert mask[is_long, 1].sum() >= 12 and mask[~is_long, 1].sum() == 0, table


def test_auto_centres_nobody_when_few_subjects_leave_the_group_sd_unknown():
    """hBayesDM-sized groups (the breaker's gng case: 10 subjects, auto centred one subject's xi under a
    point estimate of 0.69 and the sampler diverged at small sigma): 8 subjects x 200 trials, SD 0.5. The
    group SD's 95 % lower bound is what the subjects are held to, and with 8 subjects it is small."""
    data = trial_arrays(_group_trials(8, 200, 0.5, seed=13), MODEL)
    table, mask = HierarchicalNUTS(MODEL, sampler="chees", seed=0)._auto_centring(data)
    assert (table["group_sd_low"] <= 0.7 * table["group_sd"]).all(), table
    assert mask[:, :2].sum() <= 2, table


def test_auto_with_group_regressors(tmp_path):
    """centred="auto" with a regressor on one parameter (the breaker's crash: the other parameters'
    all-zero coefficient columns made the REML system singular): the fit runs and records its choice."""
    sim = _group_trials(12, 150, 0.5, seed=14)
    subjects = sorted(sim["subject"].unique())
    covariates = pd.DataFrame({"subject": subjects, "group": ["a", "b"] * (len(subjects) // 2)})
    est = HierarchicalVI(MODEL, max_steps=20, n_draws=10, seed=1, covariates=covariates,
                         regressors={"alpha": ["group"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(sim, progress=False)
    assert list(est.centring_.index) == ["alpha", "beta", "kappa"]
    assert np.isfinite(est.centring_["group_sd"]).all()


@pytest.mark.parametrize(("centred", "expected"), [(None, []), (("alpha", "kappa"), ["alpha", "kappa"]),
                                                   ("all", ["alpha", "beta", "kappa"])])
def test_centred_subjects_says_who_was_centred_for_every_setting(trials, centred, expected):
    """``centred_subjects_`` exists for every setting, not only ``"auto"``: a named list centres every subject alike."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = HierarchicalVI(MODEL, max_steps=5, n_draws=4, seed=0, centred=centred).fit(trials, progress=False)
    table = est.centred_subjects_
    assert list(table.index) == sorted(trials["subject"].unique()) and list(table.columns) == list(MODEL.param_names)
    assert [name for name in table.columns if table[name].all()] == expected
    assert not table.drop(columns=expected).to_numpy().any()
