"""Issue 12 §3: group-level regressors in hierarchical EM (Huys et al. 2011; emfit.m's ``reg``).

Recovery of a known group difference and covariate slope, standard errors calibrated against the
spread of the estimates over simulated studies, the algebra of the GLS step and of the observed
information (Louis 1982), and exact errors on bad subject tables."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import cogmodels  # noqa: F401
from cogmodels.cli import main
from cogmodels.constrain import constrain
from cogmodels.fits import HierarchicalEM
from cogmodels.fits.covariates import (
    GroupDesign,
    coefficient_table,
    gls_coefficients,
    group_design,
    marginal_information,
    read_covariates,
)
from cogmodels.models import make_model
from cogmodels.simulate import simulate

ENV = "cogmodels/ReversalLearning-v0"


def _study(seed: int, n: int, trials: int, diff: float, slope: float, model=None):
    """Two groups of ``n // 2`` (``control``, ``patient``) with ``diff`` on logit alpha, and a
    standardised ``age`` with ``slope`` on logit(beta / 20) when beta is free."""
    model = model or make_model("q_learning", stickiness=False)
    rng = np.random.default_rng(seed)
    group = np.repeat(["control", "patient"], n // 2)
    age = rng.standard_normal(n)
    sa = model.spec("alpha")
    params = {"alpha": sa.from_unconstrained(-0.5 + diff * (group == "patient") + 0.6 * rng.standard_normal(n))}
    if "beta" in model.param_names:
        sb = model.spec("beta")
        params["beta"] = sb.from_unconstrained(sb.to_unconstrained(4.0) + slope * age + 0.3 * rng.standard_normal(n))
    sim = simulate(model, params, ENV, n_subjects=n, seed=seed, env_kwargs={"n_trials": trials}, latents=False,
                   progress=False)
    table = pd.DataFrame({"subject": sim.params["subject"], "group": group, "age": 40 + 10 * age})
    return sim.trials, table


def _fit(model, trials, table, regressors, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return HierarchicalEM(model, covariates=table, regressors=regressors, n_starts=2, n_samples=20, seed=0,
                              **kwargs).fit(trials, progress=False)


# --- recovery --------------------------------------------------------------------------------------

@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_em_recovers_a_group_difference_on_alpha_and_an_age_slope_on_beta(covariance):
    model = make_model("q_learning", stickiness=False)
    trials, table = _study(seed=3, n=40, trials=120, diff=1.2, slope=0.5)
    em = _fit(model, trials, table, {"alpha": ["group"], "beta": ["age"]}, covariance=covariance)
    coef = em.coefficients_.set_index(["parameter", "covariate"])
    group, age = coef.loc[("alpha", "group[patient]")], coef.loc[("beta", "age")]
    # age enters in years (SD 10): the slope per year is 0.5 / 10
    for row, truth in ((group, 1.2), (age, 0.05)):
        assert abs(row.estimate - truth) < 3 * row.se
        assert row.ci_low < truth < row.ci_high or abs(row.estimate - truth) < 2.5 * row.se
    assert group.se < 0.4 and group.p_value < 0.01 and age.p_value < 0.01
    # the intercept is the control group's mean (reference level), at the mean age for beta
    assert abs(coef.loc[("alpha", "intercept")].estimate - (-0.5)) < 3 * coef.loc[("alpha", "intercept")].se
    assert em.group_mean_["alpha"] == pytest.approx(coef.loc[("alpha", "intercept")].estimate)
    # each subject's prior mean is its group's: W_i θ
    means = em.subject_means_["alpha"]
    patient = table.set_index("subject").loc[means.index, "group"].eq("patient").to_numpy()
    assert np.allclose(means[patient] - means[~patient].iloc[0], group.estimate)
    # iBIC counts the k means, the k variances (or k(k+1)/2 covariances) and the 2 coefficients
    k = 2
    m = k + (k * (k + 1) // 2 if covariance == "full" else k) + 2
    n_trials = em.n_trials_.sum()
    assert em.ibic_ == pytest.approx(-2 * em.integrated_loglik_.sum() + m * np.log(n_trials))


@pytest.mark.slow
def test_coefficient_standard_errors_are_calibrated_over_simulated_studies():
    # 20 studies: z = (estimate - truth) / se should be N(0, 1); the 99 % range of the SD of 20
    # standard normals is [0.60, 1.42] (chi-square with 19 df)
    model = constrain(make_model("q_learning", stickiness=False), fix={"beta": 5.0})
    z = []
    for seed in range(20):
        trials, table = _study(seed=seed, n=24, trials=60, diff=0.8, slope=0.0, model=model)
        em = _fit(model, trials, table, {"alpha": ["group"]}, max_em_iter=50)
        row = em.coefficients_.iloc[1]
        z.append((row.estimate - 0.8) / row.se)
    z = np.asarray(z)
    assert 0.60 < z.std(ddof=1) < 1.42
    assert abs(z.mean()) < 2.9 / np.sqrt(20)  # no bias beyond 2.9 standard errors of the mean


# --- the algebra of the M-step and of the standard errors ------------------------------------------

def _random_design(rng, n=30, k=3):
    x = rng.standard_normal((n, 2))
    weights = np.zeros((n, k, k + 3))
    weights[:, np.arange(k), np.arange(k)] = 1.0
    weights[:, 0, k], weights[:, 0, k + 1], weights[:, 2, k + 2] = x[:, 0], x[:, 1], x[:, 1]
    names = (("a", "intercept"), ("b", "intercept"), ("c", "intercept"), ("a", "x0"), ("a", "x1"), ("c", "x1"))
    return GroupDesign(weights, names)


def test_gls_with_a_diagonal_covariance_is_least_squares_per_parameter():
    rng = np.random.default_rng(0)
    design = _random_design(rng)
    z = rng.standard_normal((30, 3))
    theta = gls_coefficients(z, design, np.diag([2.0, 0.5, 3.0]))
    for j, cols in ((0, [0, 3, 4]), (1, [1]), (2, [2, 5])):
        ols = np.linalg.lstsq(design.weights[:, j, cols], z[:, j], rcond=None)[0]
        assert np.allclose(theta[cols], ols)


def test_information_is_gls_with_the_likelihood_covariance_added_to_the_group_covariance():
    # Louis (1982): sum W'(P - P S P)W with S = (L + P)^-1 equals sum W'(Σ + L^-1)^-1 W (Woodbury)
    rng = np.random.default_rng(1)
    design = _random_design(rng)
    a = rng.standard_normal((3, 3))
    sigma = a @ a.T + np.eye(3)
    prec = np.linalg.inv(sigma)
    b = rng.standard_normal((30, 3, 3))
    lik = b @ b.transpose(0, 2, 1) + 0.5 * np.eye(3)
    post = np.linalg.inv(lik + prec)
    expected = sum(w.T @ np.linalg.inv(sigma + np.linalg.inv(h)) @ w for w, h in zip(design.weights, lik))
    assert np.allclose(marginal_information(design, prec, post), expected)
    # data that pin every subject down (S -> 0): the SE of a mean is σ / sqrt(N)
    table = coefficient_table(design, np.zeros(6), marginal_information(design, prec, np.zeros((30, 3, 3))))
    intercept_only = GroupDesign(design.weights[:, :, :3], design.names[:3])
    se = coefficient_table(intercept_only, np.zeros(3), marginal_information(
        intercept_only, prec, np.zeros((30, 3, 3))))["se"].to_numpy()
    assert np.allclose(se, np.sqrt(np.diag(sigma) / 30))
    assert list(table.columns) == ["parameter", "covariate", "estimate", "se", "z", "p_value", "ci_low", "ci_high"]
    # data that say nothing (S = Σ): no information
    assert np.allclose(marginal_information(design, prec, np.repeat(sigma[None], 30, axis=0)), 0.0, atol=1e-9)


def test_coding_of_categorical_and_numeric_covariates():
    table = read_covariates(pd.DataFrame({"subject": [1, 2, 3, 4], "group": ["hc", "pt", "pt", "hc"],
                                          "site": [2, 1, 3, 1], "age": [20.0, 30.0, 40.0, 50.0]}))
    design = group_design(table, {"beta": ["age", "group"], "alpha": ["site"]}, ["alpha", "beta"],
                          ["4", "1", "2", "3"], reference={"group": "pt", "site": 1})
    assert design.names == (("alpha", "intercept"), ("beta", "intercept"), ("beta", "age"), ("beta", "group[hc]"),
                            ("alpha", "site[2]"), ("alpha", "site[3]"))
    w = design.weights  # subjects in the fit's order 4, 1, 2, 3
    assert np.allclose(w[:, 1, 2], [15.0, -15.0, -5.0, 5.0])  # age centred on 35
    assert np.allclose(w[:, 1, 3], [1, 1, 0, 0])  # hc against the named reference pt
    assert np.allclose(w[:, 0, 4:], [[0, 0], [1, 0], [0, 0], [0, 1]])  # site as categorical, reference 1
    assert np.allclose(w[:, 0, 2:4], 0) and np.allclose(w[:, 1, 4:], 0)


# --- exact errors on bad input -----------------------------------------------------------------------

MODEL = make_model("q_learning", stickiness=False)
TABLE = pd.DataFrame({"subject": ["s1", "s2", "s3"], "group": ["a", "b", "a"], "age": [20.0, np.nan, 31.0]})


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"covariates": TABLE}, ValueError, "covariates needs regressors too"),
    ({"regressors": {"alpha": ["group"]}}, ValueError, "regressors needs covariates too"),
    ({"covariates": TABLE, "regressors": {"alfa": ["group"]}}, ValueError,
     "regressors: the model has no parameter 'alfa' (did you mean 'alpha'?); its parameters are ['alpha', 'beta']"),
    ({"covariates": TABLE, "regressors": {"alpha": ["sex"]}}, ValueError,
     "regressors alpha: no column ['sex'] in the subject table; its covariates are ['group', 'age']"),
    ({"covariates": TABLE, "regressors": {"alpha": ["agee"]}}, ValueError,
     "regressors alpha: no column ['agee'] in the subject table (did you mean 'age'?); its covariates are "
     "['group', 'age']"),
    ({"covariates": TABLE, "regressors": {"alpha": ["grp", "agee", "zzz"]}}, ValueError,
     "regressors alpha: no column ['grp', 'agee', 'zzz'] in the subject table (did you mean 'group' for 'grp', "
     "'age' for 'agee'?); its covariates are ['group', 'age']"),
    ({"covariates": "no/such/subjects.csv", "regressors": {"alpha": ["group"]}}, FileNotFoundError,
     "covariates no/such/subjects.csv: no such file; the subject table is a CSV file with a 'subject' column and "
     "one column per covariate"),
    ({"covariates": TABLE, "regressors": {"alpha": []}}, ValueError,
     "regressors alpha: need a non-empty list of covariate columns, got []"),
    ({"covariates": TABLE, "regressors": ["alpha"]}, TypeError, "regressors must be a non-empty mapping"),
    ({"covariates": TABLE.drop(columns="subject"), "regressors": {"alpha": ["group"]}}, ValueError,
     "covariates: the subject table needs a 'subject' column; columns: ['group', 'age']"),
    ({"covariates": pd.concat([TABLE, TABLE.iloc[:1]]), "regressors": {"alpha": ["group"]}}, ValueError,
     "covariates: subjects ['s1'] have more than one row"),
    ({"covariates": TABLE, "regressors": {"alpha": ["group"]}, "reference": {"age": 20}}, ValueError,
     "reference: ['age'] are not covariates of any parameter"),
    ({"covariates": [1, 2], "regressors": {"alpha": ["group"]}}, TypeError,
     "covariates must be a pandas DataFrame or the path of a CSV file, got list"),
])
def test_bad_regressor_arguments_are_refused_when_the_estimator_is_made(kwargs, error, message):
    with pytest.raises(error, match=None) as info:
        HierarchicalEM(MODEL, **kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize(("subjects", "regressors", "reference", "message"), [
    (["s1", "s2", "s9", "s8"], {"alpha": ["group"]}, None,
     "covariates: 2 fitted subject(s) have no row in the subject table, e.g. ['s8', 's9']"),
    (["s1", "s2", "s3"], {"alpha": ["age"]}, None,
     "covariates: column 'age' is missing (NaN) for subjects ['s2']"),
    (["s1", "s3"], {"alpha": ["group"]}, None,
     "covariates: column 'group' has one level ('a') among the fitted subjects"),
    (["s1", "s2", "s3"], {"alpha": ["group"]}, {"group": "c"},
     "reference group: 'c' is not a level of the column; its levels are ['a', 'b']"),
    (["s1", "s3"], {"alpha": ["age"]}, None, None),
])
def test_subject_tables_that_cannot_give_a_design_are_refused(subjects, regressors, reference, message):
    table = read_covariates(TABLE)
    if message is None:  # two subjects, distinct ages: fine (s2 is named as left out)
        with pytest.warns(UserWarning, match=r"1 subject\(s\) of the subject table are not among the fitted subjects "
                                             r"and take no part in the fit: \['s2'\]"):
            assert group_design(table, regressors, MODEL.param_names, subjects, reference).n_coefficients == 1
        return
    with pytest.raises(ValueError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # subjects left out: tested above
        group_design(table, regressors, MODEL.param_names, subjects, reference)
    assert message in str(info.value)


def test_subjects_of_the_table_that_are_not_fitted_are_named_in_a_warning():
    table = read_covariates(pd.DataFrame({"subject": [f"s{i}" for i in range(14)], "x": np.arange(14.0)}))
    with pytest.warns(UserWarning) as record:
        design = group_design(table, {"alpha": ["x"]}, MODEL.param_names, ["s0", "s1"])
    assert [str(w.message) for w in record] == [
        "covariates: 12 subject(s) of the subject table are not among the fitted subjects and take no part in the "
        "fit: ['s10', 's11', 's12', 's13', 's2', 's3', 's4', 's5', 's6', 's7'] and 2 more (absent from the trial "
        "table, or skipped by the estimator; ids are compared as text)"]
    np.testing.assert_array_equal(design.weights[:, 0, 2], [-0.5, 0.5])  # centred on the fitted subjects only
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every subject fitted: no warning
        group_design(table, {"alpha": ["x"]}, MODEL.param_names, [f"s{i}" for i in range(14)])


def test_collinear_covariates_and_constant_ones_are_refused():
    table = read_covariates(pd.DataFrame({"subject": [1, 2, 3], "x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.0],
                                          "c": [5.0, 5.0, 5.0]}))
    with pytest.raises(ValueError, match=r"the covariates of some parameter are collinear \(design rank 3 < 4"):
        group_design(table, {"alpha": ["x", "y"]}, MODEL.param_names, [1, 2, 3])
    with pytest.raises(ValueError, match="column 'c' takes one value \\(5\\) for every fitted subject"):
        group_design(table, {"alpha": ["c"]}, MODEL.param_names, [1, 2, 3])


def test_a_missing_subject_is_named_before_any_fitting():
    trials, table = _study(seed=0, n=6, trials=20, diff=0.0, slope=0.0)
    em = HierarchicalEM(MODEL, covariates=table.iloc[1:], regressors={"alpha": ["group"]}, min_trials=5)
    with pytest.raises(ValueError, match=r"1 fitted subject\(s\) have no row in the subject table"):
        em.fit(trials, progress=False)


# --- command line ------------------------------------------------------------------------------------

def test_fit_command_regresses_parameters_on_covariates(tmp_path, capsys):
    trials, table = _study(seed=3, n=10, trials=40, diff=1.0, slope=0.0)
    trials.to_csv(tmp_path / "trials.csv", index=False)
    table.to_csv(tmp_path / "subjects.csv", index=False)
    base = ["fit", str(tmp_path / "trials.csv"), "--model", "q_learning", "--structure", "stickiness=false",
            "--method", "em", "--starts", "1", "--max-iter", "5", "--out", str(tmp_path / "out"), "--quiet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*base, "--covariates", str(tmp_path / "subjects.csv"), "--regress", "alpha:group+age",
                     "--reference", "group=patient"]) == 0
    printed = capsys.readouterr().out
    assert "alpha ~ group[control]" in printed and "coefficients.csv" in printed
    coef = pd.read_csv(tmp_path / "out" / "coefficients.csv")
    assert coef[["parameter", "covariate"]].values.tolist() == [
        ["alpha", "intercept"], ["beta", "intercept"], ["alpha", "group[control]"], ["alpha", "age"]]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["regressors"] == {"alpha": ["group", "age"]}
    assert len(summary["coefficients"]) == 4


@pytest.mark.parametrize(("extra", "message"), [
    (["--regress", "alpha:group"], "--covariates (the subject table) and --regress (e.g. alpha:group+age) go together"),
    (["--covariates", "x.csv", "--regress", "alpha"], "--regress takes parameter:covariate[+covariate...]"),
    (["--covariates", "x.csv", "--regress", "gamma:group"], "--regress gamma: model 'q_learning' has no parameter"),
    (["--covariates", "x.csv", "--regress", "alpha:group", "--regress", "alpha:age"], "--regress names 'alpha' twice"),
    (["--covariates", "no_such_subjects.csv", "--regress", "alpha:group"],
     "cogmodels fit: error: --covariates no_such_subjects.csv: no such file; the subject table is a CSV file with "
     "a 'subject' column and one column per covariate"),
    (["--covariates", "x.csv", "--regress", "alpha:group", "--method", "mle"],
     "--covariates, --regress: group-level regressors are part of the hierarchical fit: use --method em"),
])
def test_fit_command_refuses_bad_regression_arguments(tmp_path, capsys, extra, message):
    trials, _ = _study(seed=0, n=4, trials=12, diff=0.0, slope=0.0)
    trials.to_csv(tmp_path / "trials.csv", index=False)
    args = ["fit", str(tmp_path / "trials.csv"), "--model", "q_learning", "--method", "em", "--out", str(tmp_path / "o"),
            "--quiet", *extra]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
