"""Issue 12 §1: hierarchical EM and MAP on real data never crash, stop on their own rule, and the
iBIC integrates the likelihood over the group prior (Huys et al. 2011; emfit.m)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import logsumexp

import cogmodels  # noqa: F401
from cogmodels.cli import main
from cogmodels.datasets import load_collins_frank_2012
from cogmodels.fits import ConvergenceWarning, HierarchicalEM, MaximumAPosteriori
from cogmodels.fits.mle import interior_start, laplace_variances, start_points
from cogmodels.likelihood import log_likelihood
from cogmodels.models import MODELS, make_model
from cogmodels.parameters import unpack

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
HBAYESDM = RAW / "hBayesDM"
needs_raw = pytest.mark.skipif(not HBAYESDM.is_dir(), reason="../shared/data/raw is absent")


def _first_subjects(df, n):
    keep = df["subject"].drop_duplicates().iloc[:n]
    return df[df["subject"].isin(keep)].reset_index(drop=True)


def _hbayesdm(task, n):
    from cogmodels.io import read_hbayesdm

    return _first_subjects(read_hbayesdm(HBAYESDM / f"{task}_exampleData.txt"), n)


# --- start points and group means are finite and inside the bounds ------------------------------

@pytest.mark.parametrize("name", sorted(MODELS))
def test_interior_starts_are_finite_for_every_model(name):
    specs = make_model(name).param_specs
    z = np.array([interior_start(s) for s in specs])
    assert np.isfinite(z).all()
    x = unpack(specs, z[None])
    for s in specs:  # strictly inside: a default on a bound (neg_rl = 0) is moved in
        assert s.low < x[s.name][0] < s.high
    assert np.isfinite(start_points(specs, 50, np.random.default_rng(0))).all()


def test_em_on_rlwm_data_with_defaults_on_their_bounds():
    # rl_stimulus's neg_rl default 0 sits on its bound: the group mean was -inf and EM raised
    # LinAlgError("Eigenvalues did not converge") on every Hessian
    trials = _first_subjects(load_collins_frank_2012(), 2)
    trials = trials[trials["block"] < trials["block"].min() + 3]  # 3 blocks each: fast
    model = make_model("rl_stimulus")
    assert model.spec("neg_rl").default == model.spec("neg_rl").low
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        em = HierarchicalEM(model, n_starts=1, max_em_iter=2, max_iter=30, n_samples=20, seed=0).fit(
            trials, progress=False)
    assert np.isfinite(em.group_mean_).all() and np.isfinite(em.group_var_).all()
    assert np.isfinite(em.laplace_log_evidence_).all() and np.isfinite(em.ibic_)
    for s in model.param_specs:
        assert s.low < em.group_params_[s.name] < s.high


def test_em_survives_a_non_finite_hessian_and_names_the_subject_and_parameter(monkeypatch):
    # issue 12 §1: a NaN Hessian is handled with a warning naming the subject and the parameter,
    # never a crash; that parameter's posterior variance is the group prior's
    from cogmodels.simulate import simulate

    model = make_model("q_learning")
    trials = simulate(model, {"alpha": 0.3, "beta": 4.0, "kappa": 0.2}, "cogmodels/MultiArmedBandit-v0",
                      n_subjects=3, seed=0, env_kwargs={"n_trials": 40}, latents=False, progress=False).trials
    exact = HierarchicalEM._hessians

    def broken(self, data, z):
        hess = exact(self, data, z)
        hess[1, 1, :] = hess[1, :, 1] = np.nan  # subject 1, beta
        return hess

    monkeypatch.setattr(HierarchicalEM, "_hessians", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        em = HierarchicalEM(model, n_starts=1, max_em_iter=3, n_samples=50, seed=0).fit(trials, progress=False)
    messages = [str(w.message) for w in caught if "Hessian of the log posterior is not finite" in str(w.message)]
    assert messages and "1 (subject, parameter) pair(s), e.g. [(1, 'beta')]" in messages[0], messages
    assert np.isfinite(em.group_mean_).all() and np.isfinite(em.group_var_).all()
    assert np.isfinite(em.laplace_log_evidence_).all() and np.isfinite(em.params_.to_numpy()).all()


# --- standard errors never lose a fit ------------------------------------------------------------

def test_laplace_variances_leave_out_only_the_unidentified_parameter():
    h = np.array([[4.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])  # 3rd parameter: no effect
    nan_row = h.copy()
    nan_row[2, :] = nan_row[:, 2] = np.nan
    tiny = h.copy()
    tiny[2, 2] = 2.4e-12  # positive, but 1e-12 of the largest: flat (the reported subject)
    inv = np.linalg.inv(h[:2, :2])
    for hess in (h, nan_row, tiny):
        var = laplace_variances(hess[None])[0]
        np.testing.assert_allclose(var[:2], np.diag(inv), rtol=1e-12)
        assert np.isnan(var[2])


@needs_raw
def test_map_reports_nan_standard_errors_for_an_unidentified_parameter():
    # two-step data: a prior piling up at alpha1 = 0 drives it to the edge, where lam and the
    # parameter on its bound have no effect; today the fit reported finite standard errors there
    trials = _hbayesdm("ts", 2)
    model = make_model("two_step_hybrid")
    priors = {name: None for name in model.param_names}  # flat, but for these three:
    priors |= {"alpha1": stats.beta(0.2, 1.0), "beta1": stats.gamma(2, scale=3), "beta2": stats.gamma(2, scale=3)}
    with pytest.warns(UserWarning, match=r"standard error\(s\) are NaN .* \(subject, parameter\)") as record:
        fit = MaximumAPosteriori(model, priors=priors, n_starts=2, seed=0).fit(trials, progress=False)
    message = next(str(w.message) for w in record if "are NaN" in str(w.message))
    nan = fit.se_.isna()
    assert nan.to_numpy().any()
    for subject, name in nan.stack()[nan.stack()].index[:3]:
        assert f"({subject!r}, {name!r})" in message
    # alpha1 runs to its bound, and there lam (which scales alpha1's update) has no effect:
    # both lose their standard errors, and only subjects with an estimate on a bound lose any
    assert fit.on_bound_["alpha1"].all()
    assert nan["alpha1"].all() and nan["lam"].all()
    assert not (nan.any(axis=1) & ~fit.on_bound_.any(axis=1)).any()
    se = fit.se_.to_numpy()[~nan.to_numpy()]
    assert ((se > 0) & (se < 50)).all()
    # and the fit is kept whole
    assert np.isfinite(fit.params_.to_numpy()).all() and np.isfinite(fit.loglik_).all()
    with pytest.raises(ValueError, match="standard_errors must be True or False, got 'no'"):
        MaximumAPosteriori(model, priors=priors, standard_errors="no")


@needs_raw
def test_standard_errors_can_be_skipped():
    trials = _hbayesdm("bandit2arm", 3)
    model = make_model("q_learning")
    priors = {"beta": stats.gamma(2, scale=3)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = MaximumAPosteriori(model, priors=priors, n_starts=2, seed=0).fit(trials, progress=False)
        quick = MaximumAPosteriori(model, priors=priors, n_starts=2, seed=0, standard_errors=False).fit(
            trials, progress=False)
    assert np.isfinite(full.se_.to_numpy()).all() and quick.se_.isna().to_numpy().all()
    np.testing.assert_allclose(quick.params_, full.params_)


# --- EM stops on the evidence ---------------------------------------------------------------------

@needs_raw
@pytest.mark.parametrize(("task", "covariance"), [("bandit2arm", "diagonal"), ("prl", "full")])
def test_em_meets_its_stopping_rule_on_real_data(task, covariance):
    # today: 100 iterations and a ConvergenceWarning (the group variances shrink toward 0, so
    # their logarithm keeps moving while the evidence has settled)
    trials = _hbayesdm(task, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        em = HierarchicalEM(make_model("q_learning"), covariance=covariance, n_samples=50, seed=0).fit(
            trials, progress=False)
    assert em.em_converged_ and em.n_em_iter_ == len(em.history_) < 30
    assert em.history_["change"].iloc[-1] < em.tol
    # the hyperprior keeps every group variance in a sensible range (not 0, not 10^2-10^4)
    assert em.group_var_.between(1e-3, 10).all()
    cov = em.group_cov_.to_numpy()
    np.testing.assert_allclose(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0
    off_diagonal = np.abs(cov[~np.eye(3, dtype=bool)])
    assert (off_diagonal > 0).all() if covariance == "full" else (off_diagonal == 0).all()


@pytest.mark.slow
def test_em_on_a_kool_like_two_step_model_stops_once_the_group_prior_has_settled():
    """8 simulated subjects x 200 trials of the stakes two-step task (two_step_stakes, Kool et al.
    2017's model; ~30 CPU-s). The model-based value's max over second-stage values puts kinks in
    the likelihood, and MAPs sit on them, where the Hessian's log-det jumps: the Laplace evidence
    fell at iterations 5-16 and changed by 0.007 at iteration 5, so the old rule stopped there while
    var_lam still moved by 0.12 an iteration. The summed log posterior at the MAPs (emfit's PL)
    rises monotonically and stops the loop at iteration 16 with every group mean and variance
    moving by less than 0.01."""
    from cogmodels.simulate import simulate

    model = make_model("two_step_stakes")
    n = 8
    rng = np.random.default_rng(0)
    params = {"alpha": rng.uniform(0.2, 0.8, n), "beta": rng.uniform(2, 8, n), "lam": rng.uniform(0.3, 0.9, n),
              "w_low": rng.uniform(0.1, 0.9, n), "w_high": rng.uniform(0.1, 0.9, n),
              "kappa": rng.uniform(0, 0.5, n)}
    sim = simulate(model, params, "cogmodels/TwoStepStakes-v0", seed=0, env_kwargs={"n_trials": 200},
                   progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        em = HierarchicalEM(model, seed=0, n_samples=20).fit(sim.trials, progress=False)
    h = em.history_
    assert em.em_converged_ and em.n_em_iter_ < 30
    group = h[[c for c in h.columns if c.startswith(("mean_", "var_"))]]
    assert group.diff().iloc[-1].abs().max() < 0.01  # not stopped while the prior still moves
    lp = h["log_posterior"].to_numpy()
    assert (np.diff(lp) > -1e-3).all()  # monotone up to the inner optimiser's tolerance
    np.testing.assert_allclose(h["change"].iloc[1:], np.abs(np.diff(lp)))
    assert h["change"].iloc[-1] < em.tol
    assert np.isfinite(h["log_evidence"]).all()


def test_em_settings_are_checked():
    model = make_model("q_learning")
    with pytest.raises(ValueError, match=r"covariance must be one of \['diagonal', 'full'\], got 'dense'"):
        HierarchicalEM(model, covariance="dense")
    with pytest.raises(ValueError, match="max_em_iter"):
        HierarchicalEM(model, max_em_iter=0)
    with pytest.raises(ValueError, match="tol"):
        HierarchicalEM(model, tol=-1.0)


# --- iBIC: the likelihood integrated over the group prior ----------------------------------------

@needs_raw
def test_ibic_integrates_the_likelihood_over_the_group_prior():
    # one E-step under the broad initial prior N(defaults, 10 I): there the Laplace evidence at
    # each subject's MAP is far from the integral that the iBIC needs (Huys et al. 2011)
    trials = _hbayesdm("bandit2arm", 4)
    model = make_model("q_learning")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = HierarchicalEM(model, covariance="full", n_samples=2000, max_em_iter=1, seed=0).fit(
            trials, progress=False)
    # an independent Monte-Carlo estimate of log p(D_i | mu, Σ) (other seed, 4x the samples)
    rng = np.random.default_rng(123)
    n_samples = 8000
    z = rng.multivariate_normal(em.group_mean_.to_numpy(), em.group_cov_.to_numpy(), size=n_samples)
    k = model.n_params
    for i, subject in enumerate(em.params_.index):
        ll = log_likelihood(model, unpack(model.param_specs, z), em.data_, np.full(n_samples, i))
        reference = logsumexp(ll) - np.log(n_samples)
        w = np.exp(ll - ll.max())
        se = w.std() / w.mean() / np.sqrt(n_samples)  # delta method: sd of log(mean w)
        # the estimate's own error is 2x the reference's (4x fewer samples)
        assert abs(em.integrated_loglik_[subject] - reference) < 4 * se * np.sqrt(5), subject
        # the integral lies below the best fit of the subject's own parameters
        assert em.integrated_loglik_[subject] < em.loglik_[subject]
    n_group = k + k * (k + 1) // 2
    expected = -2 * em.integrated_loglik_.sum() + n_group * np.log(em.n_trials_.sum())
    assert em.ibic_ == pytest.approx(expected)
    # the Laplace evidence keeps its own name, and is not what the iBIC sums
    assert abs(em.laplace_log_evidence_.sum() - em.integrated_loglik_.sum()) > 1.0
    assert {"laplace_log_evidence", "integrated_loglik"} <= set(em.summary().columns)


def test_ibic_draws_give_the_same_sum_in_any_chunking(monkeypatch):
    # the K draws per subject are lanes of batched likelihood calls, cut into chunks to bound the
    # memory: each lane's likelihood does not depend on the others, so any chunking gives the
    # same integrated likelihoods from the same seeded draws
    import cogmodels.fits.em as em_module
    from cogmodels.simulate import simulate

    model = make_model("q_learning")
    trials = simulate(model, {"alpha": 0.3, "beta": 4.0, "kappa": 0.2}, "cogmodels/MultiArmedBandit-v0",
                      n_subjects=3, seed=0, env_kwargs={"n_trials": 40}, latents=False, progress=False).trials
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = HierarchicalEM(model, n_starts=1, max_em_iter=2, n_samples=500, seed=0).fit(trials, progress=False)
    whole = em._integrated_loglik(em.data_, np.random.default_rng(5))
    monkeypatch.setattr(em_module, "_SAMPLE_CHUNK", 7)  # 1,500 lanes in 215 calls, one of 2 lanes
    chunked = em._integrated_loglik(em.data_, np.random.default_rng(5))
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=0)
    assert np.isfinite(whole).all() and (whole < em.loglik_.to_numpy()).all()


# --- the command line -----------------------------------------------------------------------------

@needs_raw
def test_fit_command_passes_the_em_settings(tmp_path, capsys):
    data = HBAYESDM / "bandit2arm_exampleData.txt"
    small = tmp_path / "small.csv"
    _hbayesdm("bandit2arm", 3).to_csv(small, index=False)
    out = tmp_path / "em"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(small), "--model", "q_learning", "--method", "em", "--starts", "1",
                     "--max-iter", "2", "--tol", "1e-9", "--covariance", "full", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_em_iter"] == 2 and summary["em_converged"] is False
    assert summary["covariance"] == "full" and np.isfinite(summary["ibic"])
    assert "EM: 2 iterations (not converged)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fit", str(data), "--model", "q_learning", "--max-iter", "5", "--out", str(tmp_path / "x")])
    assert "--max-iter set(s) the hierarchical EM fit: use them with --method em, got --method mle" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        main(["fit", str(small), "--model", "q_learning", "--method", "em", "--max-iter", "0",
              "--out", str(tmp_path / "y")])
    assert "--max-iter" in capsys.readouterr().err


def test_compare_command_passes_the_em_settings_and_reports_the_iterations(stakes_csv, tmp_path, capsys):
    # the EM warning tells the user to raise --max-iter or loosen --tol: compare took neither
    out = tmp_path / "cmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["compare", str(stakes_csv), "--models", "q_learning,wsls", "--method", "em", "--starts", "1",
                     "--max-iter", "2", "--tol", "1e-9", "--covariance", "full", "--quiet", "--out", str(out)]) == 0
    table = pd.read_csv(out / "comparison.csv", index_col=0)
    assert table["n_em_iter"].tolist() == [2, 2] and not table["em_converged"].any()
    assert np.isfinite(table["ibic"]).all()
    with pytest.raises(SystemExit):
        main(["compare", str(stakes_csv), "--models", "q_learning,wsls", "--tol", "0.1", "--out", str(tmp_path / "x")])
    assert "--tol set(s) the hierarchical EM fit: use them with --method em, got --method mle" in (
        capsys.readouterr().err)
