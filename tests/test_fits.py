"""MLE, MAP and hierarchical EM: recovery, agreement with scipy, warnings and errors."""

from __future__ import annotations

import dataclasses
import math
import warnings
from fractions import Fraction

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


def _q_learning_nll(x: np.ndarray, choices: list[int], rewards: list[float]) -> float:
    """Q-learning's negative log-likelihood written out trial by trial (Python floats, two arms).

    ``P(a) ∝ exp(beta Q(a) + kappa [a = previous choice])``, ``Q`` from 0.5, ``Q(a) += alpha (r - Q(a))``:
    the model of ``../shared/bench/naive_fit.py``, independent of the package's likelihood code.
    """
    alpha, beta, kappa = (float(v) for v in x)
    q = [0.5, 0.5]
    prev = -1
    nll = 0.0
    for a, r in zip(choices, rewards):
        l0 = beta * q[0] + (kappa if prev == 0 else 0.0)
        l1 = beta * q[1] + (kappa if prev == 1 else 0.0)
        top = max(l0, l1)
        nll -= (l0 if a == 0 else l1) - top - math.log(math.exp(l0 - top) + math.exp(l1 - top))
        q[a] += alpha * (r - q[a])
        prev = a
    return nll


def test_mle_matches_scipy_per_subject(population):
    # scipy's L-BFGS-B from three starts on an independent, hand-written likelihood finds no
    # better optimum than the batched fit; both likelihoods agree at the fitted parameters
    trials, _ = population
    model = make_model("q_learning")
    sub = trials[trials["subject"] < 4]
    fit = MaximumLikelihood(model, n_starts=10, seed=1).fit(sub)
    for i, (_, g) in enumerate(sub.sort_values(["subject", "trial"]).groupby("subject")):
        choices, rewards = g["choice"].astype(int).tolist(), g["reward"].astype(float).tolist()
        x_fit = fit.params_.iloc[i][["alpha", "beta", "kappa"]].to_numpy(dtype=float)
        assert -_q_learning_nll(x_fit, choices, rewards) == pytest.approx(fit.loglik_.iloc[i], abs=1e-8)
        best = min(
            (optimize.minimize(_q_learning_nll, x0, args=(choices, rewards), method="L-BFGS-B",
                               bounds=[(0, 1), (0, 20), (-5, 5)])
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
    flat = make_model("q_learning")  # a model whose parameters have no prior
    flat.param_specs = tuple(dataclasses.replace(s, prior=None) for s in flat.param_specs)
    with pytest.raises(ValueError, match="MAP needs a prior"):
        MaximumAPosteriori(flat)
    with pytest.raises(ValueError, match=r"priors for unknown parameters \['gamma'\]"):
        MaximumAPosteriori(make_model("q_learning"), priors={"gamma": stats.norm()})


def test_em_group_parameters_and_recovery(population):
    trials, truth = population
    model = make_model("q_learning")
    fit = HierarchicalEM(model, seed=0, n_samples=200).fit(trials)  # iBIC: 200 samples suffice to be finite
    spec = model.spec("alpha")
    z_true = spec.to_unconstrained(truth["alpha"])
    # the group mean in the unconstrained space sits near the population's mean
    assert abs(fit.group_mean_["alpha"] - z_true.mean()) < 0.5
    assert np.corrcoef(fit.params_["beta"], truth["beta"])[0, 1] > 0.8
    assert np.isfinite(fit.ibic_) and fit.laplace_log_evidence_.notna().all()
    assert fit.n_em_iter_ >= 2
    assert {"laplace_log_evidence", "integrated_loglik"} <= set(fit.summary())


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
    with pytest.raises(ValueError, match=r"method must be one of \['em', 'map', 'mle', 'nuts', 'vi'\], got 'bayes'"):
        make_estimator("bayes", model)
    with pytest.raises(ValueError, match="n_starts must be an integer >= 1, got 0"):
        MaximumLikelihood(model, n_starts=0)
    with pytest.raises(TypeError, match="model must be a CognitiveModel"):
        MaximumLikelihood("q_learning")


# --- issue 16: the fits validate their input ----------------------------------------------------

ESTIMATOR_CLASSES = {
    "mle": lambda m: MaximumLikelihood(m, n_starts=2, seed=0),
    "map": lambda m: MaximumAPosteriori(m, n_starts=2, seed=0, priors={"beta": stats.gamma(2.0, scale=2.0)}),
    "em": lambda m: HierarchicalEM(m, n_starts=2, max_em_iter=3, seed=0),
}


@pytest.fixture(scope="module")
def small():
    model = make_model("q_learning")
    sim = simulate(model, {"alpha": [0.2, 0.5, 0.7], "beta": [3.0, 5.0, 2.0], "kappa": [0.3, -0.2, 0.5]}, ENV,
                   seed=3, env_kwargs={"n_trials": 40}, latents=False)
    return sim.trials


def _shuffled_within_subjects(trials: pd.DataFrame) -> pd.DataFrame:
    """Rows shuffled; each subject's first row still comes before the next subject's."""
    rng = np.random.default_rng(0)
    parts = [g.iloc[rng.permutation(len(g))] for _, g in trials.groupby("subject", sort=False)]
    return pd.concat(parts)


def test_shuffled_rows_give_exactly_the_log_likelihood_of_the_ordered_table(small):
    model = make_model("q_learning")
    params = {"alpha": 0.3, "beta": 4.0, "kappa": 0.2}
    shuffled = _shuffled_within_subjects(small)
    ordered = log_likelihood(model, params, small)
    with pytest.warns(UserWarning, match=r"the rows were not in trial order within each subject and session .*"
                                         r"sorted them by \(subject, session, trial\)"):
        ll = log_likelihood(model, params, shuffled)
    np.testing.assert_array_equal(ll, ordered)
    # the trial-wise latents come back aligned with the caller's rows
    from cogmodels.likelihood import trial_latents

    with pytest.warns(UserWarning, match="sorted"):
        lat = trial_latents(model, params, shuffled)
    pd.testing.assert_frame_equal(lat, trial_latents(model, params, small).loc[shuffled.index])


@pytest.mark.parametrize("method", sorted(ESTIMATOR_CLASSES))
def test_every_estimator_sorts_shuffled_rows_to_the_ordered_fit(small, method):
    model = make_model("q_learning")
    shuffled = _shuffled_within_subjects(small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*on a parameter bound", category=UserWarning)
        ordered = ESTIMATOR_CLASSES[method](model).fit(small, progress=False)
        with pytest.warns(UserWarning, match="sorted them by"):
            fit = ESTIMATOR_CLASSES[method](model).fit(shuffled, progress=False)
    pd.testing.assert_frame_equal(fit.params_, ordered.params_)
    pd.testing.assert_series_equal(fit.loglik_, ordered.loglik_)
    with pytest.warns(UserWarning, match="sorted them by"):
        pd.testing.assert_series_equal(fit.score_subjects(shuffled), ordered.score_subjects(small))


@pytest.mark.parametrize("method", sorted(ESTIMATOR_CLASSES))
def test_every_estimator_refuses_what_validate_trials_refuses(small, method):
    model = make_model("q_learning")
    est = ESTIMATOR_CLASSES[method](model)
    # two subjects sharing an id: the trial numbers repeat, never one 80-trial subject
    shared = small.assign(subject=small["subject"].replace({1: 0}))
    with pytest.raises(ValueError, match=r"^data\.csv: column 'trial': the same \(subject, session, trial\) repeats "
                                         r"in 80 rows: row 0 \(subject 0, session 0, trial 0\), row 1 .* and 75 more\. "
                                         r"Each trial appears once per subject and session: a repeat is a "
                                         r"duplicated row, or two sessions sharing an id"):
        est.fit(shared, source="data.csv", progress=False)
    # duplicated rows are not fitted twice
    with pytest.raises(ValueError, match=r"column 'trial': the same \(subject, session, trial\) repeats in 2 rows: "
                                         r"row 5 \[index 5\] \(subject 0, session 0, trial 5\), row 120 \[index 5\]"):
        est.fit(pd.concat([small, small.iloc[[5]]]), progress=False)
    # a Timestamp choice is not a missing response
    bad = small.astype({"choice": object})
    bad.at[3, "choice"] = pd.Timestamp("2024-05-01")
    with pytest.raises(ValueError, match=r"column 'choice': not an integer action index in 1 row: row 3 "
                                         r"\(Timestamp\('2024-05-01 00:00:00'\)\)"):
        est.fit(bad, progress=False)
    # nor a Fraction(1, 2)
    bad.at[3, "choice"] = Fraction(1, 2)
    with pytest.raises(ValueError, match=r"not an integer action index in 1 row: row 3 \(Fraction\(1, 2\)\)"):
        est.fit(bad, progress=False)
    # durations are not rewards (they used to enter the model as 1,000,000)
    slow = small.assign(reward=pd.to_timedelta(small["reward"], unit="ms"))
    with pytest.raises(ValueError, match=r"column 'reward': not a number in 120 rows: row 0 \(Timedelta\("):
        est.fit(slow, progress=False)
    with pytest.raises(ValueError, match=r"column 'choice': outside the 2 actions of model 'q_learning' \(0\.\.1\) in "
                                         r"1 row: row 7 \(3\)\. Fix: the table has choices up to 3: if the task has "
                                         r"4 options, use n_actions=4 \(make_model\('q_learning', n_actions=4\); on "
                                         r"the command line --structure n_actions=4\)"):
        est.fit(small.assign(choice=small["choice"].where(small.index != 7, 3)), progress=False)


def test_a_whole_number_fraction_is_that_choice(small):
    model = make_model("q_learning")
    params = {"alpha": 0.3, "beta": 4.0, "kappa": 0.2}
    written = small.astype({"choice": object})
    written["choice"] = [Fraction(int(c)) for c in small["choice"]]
    np.testing.assert_array_equal(log_likelihood(model, params, written), log_likelihood(model, params, small))


TWO_STEP_TABLE = pd.DataFrame({"subject": 0, "trial": range(4), "choice": [0, 1, 0, 1], "state2": [0, 1, 1, 0],
                               "choice2": [1, 0, 1, 1], "reward": [1.0, 0.0, 1.0, 0.0]})
RLWM_TABLE = pd.DataFrame({"subject": 0, "trial": range(4), "block": 0, "set_size": 2, "state": [0, 1, 0, 1],
                           "choice": [0, 2, 1, 0], "reward": [1.0, 0.0, 1.0, 0.0]})


@pytest.mark.parametrize(
    "name, table, change, match",
    [
        ("two_step_hybrid", TWO_STEP_TABLE, {"state2": [0, 1, 2, 0]},
         r"^column 'state2' must hold integers in \[0, 1\] for model 'two_step_hybrid'; not so in 1 row: row 2 "
         r"\(2\)\. Fix: code 'state2' as 0-based indices in \[0, 1\]$"),
        ("two_step_hybrid", TWO_STEP_TABLE, {"state2": [0, np.nan, 1, 0]},
         r"^column 'state2': missing or not finite on an answered trial in 1 row: row 1 \(nan\)\. Model "
         r"'two_step_hybrid' reads 'state2' on every trial with a choice\. Fix: fill it in, or set the choices of "
         r"those trials to NaN$"),
        ("two_step_hybrid", TWO_STEP_TABLE, {"choice2": [0, 1, 2, 1]},
         r"column 'choice2': outside the 2 actions of model 'two_step_hybrid'"),
        ("two_step_hybrid", TWO_STEP_TABLE.drop(columns="choice2"), {},
         r"model 'two_step_hybrid' needs columns \['subject', 'choice', 'choice2', 'reward', 'state2'\]; missing "
         r"\['choice2'\]"),
        ("rlwm", RLWM_TABLE, {"set_size": [2, 2, 7, 2]},
         r"^column 'set_size' must hold integers in \[1, 6\] for model 'rlwm'; not so in 1 row: row 2 \(7\)\. Fix: "
         r"code 'set_size' as counts in \[1, 6\], or build the model for larger ones \(its max_set_size argument\)$"),
        ("rlwm", RLWM_TABLE, {"state": [0, 1, 0, 6]},
         r"column 'state' must hold integers in \[0, 5\] for model 'rlwm'; not so in 1 row: row 3 \(6\)"),
        ("rlwm", RLWM_TABLE, {"choice": [0, 1, 3, 0]},
         r"column 'choice': outside the 3 actions of model 'rlwm' \(0\.\.2\) .*use n_actions=4"),
    ],
)
def test_model_specific_columns_are_checked(name, table, change, match):
    with pytest.raises(ValueError, match=match):
        trial_arrays(table.assign(**change), make_model(name))


def test_a_missing_response_needs_no_stimulus():
    ok = RLWM_TABLE.assign(state=[0, 1, np.nan, 1], choice=[0, 2, np.nan, 0])
    assert trial_arrays(ok, make_model("rlwm")).n_valid.tolist() == [3]


def test_validation_runs_once_per_entry_point(small, monkeypatch):
    import cogmodels.likelihood as likelihood
    import cogmodels.trials as trials_module
    from cogmodels.fits import compare_models, parameter_recovery

    calls = []
    original = trials_module._validate

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(trials_module, "_validate", counting)
    monkeypatch.setattr(likelihood, "_validate", counting)
    model = make_model("q_learning")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        MaximumLikelihood(model, n_starts=1, max_iter=3).fit(small, progress=False)
        assert len(calls) == 1
        compare_models(small, {"q": model, "wsls": make_model("wsls")}, cv_folds=2, n_starts=1, max_iter=3,
                       bms_samples=1000, progress=False)
        assert len(calls) == 2  # one validation for 2 models x (1 fit + 2 folds)
        parameter_recovery(model, ENV, n_subjects=2, env_kwargs={"n_trials": 20}, n_starts=1,
                           fit_kwargs={"max_iter": 3}, progress=False)
        assert len(calls) == 3  # the simulation's; the fit takes the simulated table as validated


def test_cli_fit_names_the_n_actions_to_use(tmp_path, small, capsys):
    from cogmodels.cli import main

    path = tmp_path / "four_options.csv"
    small.assign(choice=small["choice"].where(small.index != 7, 3)).to_csv(path, index=False)
    with pytest.raises(SystemExit) as info:
        main(["fit", str(path), "--model", "q_learning", "--starts", "1", "--out", str(tmp_path / "out"), "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"{path}: column 'choice' holds choices up to 3 (4 actions), but model 'q_learning' has n_actions=2" in err
    assert "--structure n_actions=4" in err
