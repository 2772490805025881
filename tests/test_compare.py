"""Cross-validation and model comparison on simulated reversal-learning data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import cogmodels  # noqa: F401
from cogmodels.fits.compare import Comparison, CVResult, compare_models, cross_validate, fold_labels
from cogmodels.likelihood import log_likelihood, trial_arrays
from cogmodels.models import make_model
from cogmodels.simulate import simulate

ENV = "cogmodels/ReversalLearning-v0"
N_SUBJECTS = 8


@pytest.fixture(scope="module")
def sticky_data() -> pd.DataFrame:
    """Q-learning with strong choice stickiness (kappa ~ 2), 8 subjects × 200 trials, 5 blocks."""
    rng = np.random.default_rng(0)
    truth = {
        "alpha": rng.uniform(0.2, 0.6, N_SUBJECTS),
        "beta": rng.uniform(3.0, 8.0, N_SUBJECTS),
        "kappa": rng.uniform(1.5, 2.5, N_SUBJECTS),
    }
    sim = simulate(make_model("q_learning"), truth, ENV, seed=1, env_kwargs={"n_trials": 200}, latents=False)
    trials = sim.trials.copy()
    trials.loc[[5, 17, 250, 611], "choice"] = np.nan  # a few missed responses
    return trials


MODELS = {"sticky": make_model("q_learning"), "plain": make_model("q_learning", stickiness=False)}


@pytest.fixture(scope="module")
def cv_sticky(sticky_data) -> CVResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # estimates on a bound are expected with few trials
        return cross_validate(MODELS["sticky"], sticky_data, folds="block", n_starts=3, seed=2)


@pytest.fixture(scope="module")
def comparison(sticky_data) -> Comparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare_models(sticky_data, MODELS, n_starts=3, seed=3, cv_folds=2)


# -- folds --------------------------------------------------------------------------------------
def test_integer_folds_are_contiguous_near_equal_chunks():
    trials = pd.DataFrame({"subject": ["a"] * 10 + ["b"] * 7, "choice": 0})
    fold, k = fold_labels(trials, 3)
    assert k == 3
    np.testing.assert_array_equal(fold[:10], [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(fold[10:], [0, 0, 0, 1, 1, 2, 2])


def test_block_folds_hold_out_each_block_and_round_robin(sticky_data):
    fold, k = fold_labels(sticky_data, "block")
    n_blocks = sticky_data.groupby("subject")["block"].nunique()
    assert k == n_blocks.max() == 5
    rank = sticky_data.groupby("subject")["block"].rank(method="dense").to_numpy() - 1
    np.testing.assert_array_equal(fold, rank)  # blocks are numbered in order here
    fold2, k2 = fold_labels(sticky_data, "block", n_folds=2)
    assert k2 == 2
    np.testing.assert_array_equal(fold2, rank % 2)


def test_block_folds_tell_sessions_apart():
    # block numbers restart each session: (session, block) identifies a group
    trials = pd.DataFrame(
        {"subject": 0, "session": [0, 0, 0, 0, 1, 1, 1, 1], "block": [0, 0, 1, 1, 0, 0, 1, 1]}
    )
    fold, k = fold_labels(trials, "block")
    assert k == 4
    np.testing.assert_array_equal(fold, [0, 0, 1, 1, 2, 2, 3, 3])
    fold, k = fold_labels(trials, "session")
    assert k == 2
    np.testing.assert_array_equal(fold, [0, 0, 0, 0, 1, 1, 1, 1])


@pytest.mark.parametrize(
    ("trials", "folds", "n_folds", "match"),
    [
        (pd.DataFrame({"subject": [0, 0, 0]}), "block", None, "needs a 'block' column"),
        (pd.DataFrame({"subject": [0, 0, 1, 1], "block": [0, 1, 0, 0]}), "block", None, r"fewer than 2 distinct"),
        (pd.DataFrame({"subject": [0, 0], "block": [0, np.nan]}), "block", None, "missing at rows"),
        (pd.DataFrame({"subject": [0, 0, 0]}), 1, None, "integer >= 2"),
        (pd.DataFrame({"subject": [0, 0, 0]}), "trial", None, "'block' or 'session'"),
        (pd.DataFrame({"subject": [0, 0, 0]}), 4, None, "fewer than 4 trials"),
        (pd.DataFrame({"subject": [0, 0, 0, 0]}), 2, 2, "n_folds applies"),
        (pd.DataFrame({"subject": [0, 0], "block": [0, 1]}), "block", 1, "n_folds"),
    ],
)
def test_bad_folds_raise(trials, folds, n_folds, match):
    with pytest.raises(ValueError, match=match):
        fold_labels(trials, folds, n_folds)


# -- cross-validation ---------------------------------------------------------------------------
def test_each_valid_trial_is_held_out_exactly_once(sticky_data, cv_sticky):
    cv = cv_sticky
    assert cv.n_folds == 5
    valid = sticky_data["choice"].notna()
    # a held-out log-probability exactly where there is a choice, each from one fold
    np.testing.assert_array_equal(cv.trialwise["loglik"].notna().to_numpy(), valid.to_numpy())
    np.testing.assert_array_equal(cv.trialwise["fold"], fold_labels(sticky_data, "block")[0])
    n_valid = valid.groupby(sticky_data["subject"]).sum()
    held = cv.folds.groupby("subject")["n_test"].sum()
    pd.testing.assert_series_equal(held, n_valid, check_names=False)
    # train + test = all valid trials, in every fold
    both = cv.folds["n_train"] + cv.folds["n_test"]
    np.testing.assert_array_equal(both, n_valid.loc[cv.folds["subject"]].to_numpy())
    # the trialwise log-probabilities add up to the fold and subject totals
    per_fold = cv.trialwise.groupby(["subject", "fold"])["loglik"].sum()
    np.testing.assert_allclose(per_fold.to_numpy(), cv.folds.set_index(["subject", "fold"])["loglik"].loc[per_fold.index])
    np.testing.assert_allclose(cv.per_subject["loglik"].sum(), cv.loglik)
    assert cv.n_trials == int(valid.sum())
    assert cv.mean_likelihood == pytest.approx(np.exp(cv.loglik / cv.n_trials))
    assert 0.5 < cv.mean_likelihood < 1


def test_heldout_trials_are_scored_on_the_full_sequence(sticky_data, cv_sticky):
    model = MODELS["sticky"]
    data = trial_arrays(sticky_data, model)
    fold_row = cv_sticky.trialwise["fold"].to_numpy()
    fold_ts = np.where(data.row_index >= 0, fold_row[data.row_index], -1)
    naive_total = 0.0
    for f, est in enumerate(cv_sticky.estimators):
        params = {k: est.params_[k].to_numpy() for k in est.params_.columns}
        lp = log_likelihood(model, params, data, trialwise=True)  # (subjects, trials)
        held = (fold_ts == f).T
        expect = np.where(held, lp, 0.0).sum(axis=1)
        got = cv_sticky.folds[cv_sticky.folds["fold"] == f].set_index("subject")["loglik"].loc[data.subjects]
        np.testing.assert_allclose(got.to_numpy(), expect, rtol=1e-12)
        # the training fit counted exactly the other trials' choices, run over the full sequence
        train = (fold_ts != f).T & (data.row_index >= 0).T
        np.testing.assert_allclose(est.objective_.to_numpy(), -np.where(train, lp, 0.0).sum(axis=1), rtol=1e-9)
        np.testing.assert_allclose(est.loglik_.to_numpy(), np.where(train, lp, 0.0).sum(axis=1))
        np.testing.assert_array_equal(est.n_trials_.to_numpy(), (train & data.valid[0].T).sum(axis=1))
        # cutting the held-out rows out and scoring them alone (state from scratch) differs
        naive_total += est.score(sticky_data[fold_row == f])
    assert abs(naive_total - cv_sticky.loglik) > 1.0


def test_true_model_predicts_heldout_choices_better(sticky_data, cv_sticky):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = cross_validate(MODELS["plain"], sticky_data, folds="block", n_starts=3, seed=2)
    assert cv_sticky.loglik > plain.loglik + 20
    assert cv_sticky.mean_likelihood > plain.mean_likelihood
    # per subject too, for most subjects
    better = cv_sticky.per_subject["loglik"] > plain.per_subject["loglik"]
    assert better.mean() >= 0.75


def test_subjects_with_too_few_training_trials_are_reported_not_scored():
    sim = simulate(make_model("q_learning"), {"alpha": 0.3, "beta": 5.0, "kappa": 1.0}, ENV,
                   n_subjects=3, seed=0, env_kwargs={"n_trials": 120}, latents=False)
    trials = sim.trials[~((sim.trials["subject"] == 2) & (sim.trials["trial"] >= 30))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cv = cross_validate(make_model("q_learning"), trials, folds=2, n_starts=2, seed=0, min_trials=20)
    assert any("too few training trials" in str(w.message) for w in caught)
    assert cv.folds.query("subject == 2")["loglik"].isna().all()
    assert np.isnan(cv.per_subject.loc[2, "loglik"])
    assert cv.n_trials == 240 and np.isfinite(cv.loglik)


def test_cross_validate_with_hierarchical_em(sticky_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = cross_validate(MODELS["sticky"], sticky_data, method="em", folds=2, n_starts=1, seed=0, max_em_iter=3)
    assert cv.method == "em" and cv.n_folds == 2
    for f, est in enumerate(cv.estimators):
        n_train = cv.folds[cv.folds["fold"] == f].set_index("subject")["n_train"]
        np.testing.assert_array_equal(est.n_trials_.to_numpy(), n_train.loc[est.n_trials_.index].to_numpy())
        assert np.isfinite(est.laplace_log_evidence_).all()
    assert np.isfinite(cv.per_subject["loglik"]).all()


def test_cross_validate_bad_inputs(sticky_data):
    with pytest.raises(TypeError, match="CognitiveModel"):
        cross_validate("q_learning", sticky_data)
    with pytest.raises(ValueError, match="method must be one of"):
        cross_validate(MODELS["sticky"], sticky_data, method="bayes")
    with pytest.raises(ValueError, match="session"):
        cross_validate(MODELS["sticky"], sticky_data, folds="session")  # one session only


# -- comparing models ---------------------------------------------------------------------------
def test_compare_models_picks_the_generating_model(comparison):
    c = comparison
    t = c.table
    assert list(t.index) == ["sticky", "plain"]
    assert c.best("bic") == c.best("aic") == c.best("pxp") == c.best("cv_loglik") == "sticky"
    assert t.loc["plain", "delta_bic"] > 50 and t.loc["sticky", "delta_bic"] == 0
    assert t.loc["sticky", "pxp"] > 0.9
    assert t.loc["sticky", "xp"] > 0.99
    assert c.bor < 0.25  # 8 subjects, two of them ambiguous: the null keeps some mass
    np.testing.assert_allclose(t["pxp"].sum(), 1.0)
    assert (t["bor"] == c.bor).all()
    assert t.loc["sticky", "n_params"] == 3 and t.loc["plain", "n_params"] == 2
    for col in ("loglik", "aic", "bic", "cv_loglik", "cv_mean_likelihood", "alpha", "expected_frequency"):
        assert col in t.columns


def test_per_subject_table_and_information_criteria(sticky_data, comparison):
    ps = comparison.per_subject
    assert len(ps) == 2 * N_SUBJECTS
    assert set(ps.columns) >= {"subject", "model", "loglik", "aic", "bic", "log_evidence", "cv_loglik"}
    np.testing.assert_allclose(ps["log_evidence"], -ps["bic"] / 2)
    n = sticky_data["choice"].notna().groupby(sticky_data["subject"]).sum()
    for name, model in MODELS.items():
        part = ps[ps["model"] == name].set_index("subject")
        k = model.n_params
        np.testing.assert_allclose(part["aic"], 2 * k - 2 * part["loglik"])
        np.testing.assert_allclose(part["bic"], k * np.log(n.loc[part.index]) - 2 * part["loglik"])
        assert comparison.table.loc[name, "bic"] == pytest.approx(part["bic"].sum())
        # the in-sample fit beats its held-out prediction
        assert (part["loglik"] > part["cv_loglik"]).all()
    wide = ps.pivot(index="subject", columns="model", values="log_evidence")[list(MODELS)]
    np.testing.assert_allclose(comparison.bms.g.to_numpy().sum(axis=0), comparison.bms.alpha - 1, atol=1e-6)
    assert list(comparison.bms.g.columns) == list(wide.columns)


def test_plot_returns_a_figure(comparison):
    fig = comparison.plot()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3  # Δ BIC, pxp, cross-validation
    assert "BIC" in fig.axes[0].get_ylabel()


def test_em_laplace_evidence_and_aic(sticky_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EM stops early here on purpose
        c = compare_models(
            sticky_data, MODELS, method="em", bms_on="laplace", n_starts=2, seed=0, max_em_iter=5
        )
        a = compare_models(sticky_data, MODELS, bms_on="aic", n_starts=2, seed=0)
    assert {"log_evidence", "ibic"} <= set(c.table.columns)
    np.testing.assert_allclose(c.per_subject["log_evidence"], c.per_subject["laplace"])
    assert c.best("log_evidence") == c.best("ibic") == c.best("pxp") == "sticky"
    assert c.table.loc["sticky", "ibic"] == pytest.approx(c.fits["sticky"].ibic_)
    assert len(c.plot().axes) == 2
    np.testing.assert_allclose(a.per_subject["log_evidence"], -a.per_subject["aic"] / 2)
    assert a.best("pxp") == "sticky"


def test_compare_models_is_reproducible(sticky_data, comparison):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = compare_models(sticky_data, MODELS, n_starts=3, seed=3, cv_folds=2)
    pd.testing.assert_frame_equal(again.table, comparison.table)


def test_compare_models_bad_inputs(sticky_data):
    two = {"a": "q_learning", "b": make_model("q_learning", stickiness=False)}
    with pytest.raises(ValueError, match="at least 2 models"):
        compare_models(sticky_data, ["q_learning"])
    with pytest.raises(ValueError, match="two models named 'q_learning'"):
        compare_models(sticky_data, ["q_learning", make_model("q_learning", stickiness=False)])
    with pytest.raises(ValueError, match="model must be one of"):
        compare_models(sticky_data, ["q_learning", "no_such_model"])
    with pytest.raises(TypeError, match="models"):
        compare_models(sticky_data, {"a": "q_learning", "b": 3})
    with pytest.raises(ValueError, match="bms_on must be one of"):
        compare_models(sticky_data, two, bms_on="waic")
    with pytest.raises(ValueError, match="method='em'"):
        compare_models(sticky_data, two, bms_on="laplace")
    with pytest.raises(ValueError, match="method must be one of"):
        compare_models(sticky_data, two, method="vb")
    with pytest.raises(ValueError, match="needs a 'session' column|fewer than 2 distinct"):
        compare_models(sticky_data, two, cv_folds="session")
    with pytest.raises(TypeError, match="DataFrame"):
        compare_models(sticky_data.to_numpy(), two)


def test_best_rejects_unknown_criteria(comparison):
    with pytest.raises(ValueError, match="by must be one of"):
        comparison.best("waic")
    with pytest.raises(ValueError, match="by must be one of"):
        comparison.best("ibic")  # only with method="em"


# -- issue 16: one validation at the door -------------------------------------------------------
def _shuffled(trials: pd.DataFrame) -> pd.DataFrame:
    """Rows shuffled within each subject (the subjects keep their order of first appearance)."""
    rng = np.random.default_rng(1)
    return pd.concat([g.iloc[rng.permutation(len(g))] for _, g in trials.groupby("subject", sort=False)])


def test_cross_validation_of_shuffled_rows_is_that_of_the_ordered_table(sticky_data, cv_sticky):
    two = sticky_data[sticky_data["subject"] < 2]
    shuffled = _shuffled(two)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*parameter bound")
        ordered = cross_validate(MODELS["sticky"], two, folds=2, n_starts=2, seed=2, progress=False)
        with pytest.warns(UserWarning, match="sorted them by"):
            cv = cross_validate(MODELS["sticky"], shuffled, folds=2, n_starts=2, seed=2, progress=False)
    pd.testing.assert_frame_equal(cv.per_subject, ordered.per_subject)
    # folds are cut in trial order, and the trial-wise table follows the caller's rows
    assert cv.trialwise.index.equals(shuffled.index)
    pd.testing.assert_frame_equal(cv.trialwise, ordered.trialwise.loc[shuffled.index])


def test_compare_models_refuses_a_table_one_model_cannot_explain(sticky_data):
    three = sticky_data.assign(choice=sticky_data["choice"].where(sticky_data.index != 3, 2))
    models = {"q3": make_model("q_learning", n_actions=3), "q2": make_model("q_learning")}
    with pytest.raises(ValueError, match=r"column 'choice': outside the 2 actions of model 'q_learning' \(0\.\.1\) in "
                                         r"1 row: row 3 \(2\)\. Fix: the table has choices up to 2: if the task has 3 "
                                         r"options, use n_actions=3"):
        compare_models(three, models, n_starts=1, progress=False)
    with pytest.raises(ValueError, match=r"model 'two_step_hybrid' needs columns .* missing \['choice2', 'state2'\]"):
        compare_models(sticky_data, ["q_learning", "two_step_hybrid"], n_starts=1, progress=False)
