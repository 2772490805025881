"""Posterior predictive checks: signature curves on hand-made tables, simulation, plots, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import cogmodels  # noqa: F401
from cogmodels.fits import MaximumLikelihood, ppc, signatures
from cogmodels.fits.ppc import check, plot_ppc, posterior_predictive
from cogmodels.fits.signatures import (
    learning_curve,
    reversal_curve,
    setsize_curves,
    stay_effects,
    stay_effects_by_subject,
    stay_probabilities,
    stay_regression,
)
from cogmodels.models import make_model
from cogmodels.simulate import simulate

ENV = "cogmodels/ReversalLearning-v0"
TWO_STEP = "cogmodels/TwoStep-v0"
#: the two-step task of Wang et al. (2018): the good second-stage state persists, then swaps
WANG_TASK = {"n_trials": 100, "schedule": "switch", "p_common": 0.8, "reward_bounds": [0.1, 0.9]}
N_TRIALS = 120
NAN = np.nan


def test_signatures_keep_their_old_import_path_in_ppc():
    """The signatures moved to cogmodels.fits.signatures; notebooks import them from ppc."""
    for name in signatures.__all__:
        assert getattr(ppc, name) is getattr(signatures, name), name
        assert name in ppc.__all__, name


def _curve(df: pd.DataFrame, x: str, y: str) -> dict:
    return dict(zip(df[x], df[y]))


# -- learning curve -------------------------------------------------------------------------------
def test_learning_curve_with_correct_action_exact():
    df = pd.DataFrame({
        "subject": ["a"] * 3 + ["b"] * 3,
        "trial": [0, 1, 2] * 2,
        "choice": pd.array([0, 1, 1, 1, None, 0], dtype="Int64"),
        "correct_action": [1, 1, 1, 1, 1, 0],
    })
    lc = learning_curve(df)
    assert list(lc.columns) == ["trial", "p_correct", "sem", "n"]
    np.testing.assert_allclose(lc["p_correct"], [0.5, 1.0, 1.0])
    np.testing.assert_allclose(lc["sem"], [0.5, NAN, 0.0])  # std([0, 1], ddof=1) / sqrt(2) = 0.5
    assert lc["n"].tolist() == [2, 1, 2]  # the missing response is left out
    binned = learning_curve(df, bin_size=2)  # a: [0, 1] -> 0.5, [1] -> 1; b: [1] -> 1, [1] -> 1
    np.testing.assert_allclose(binned["p_correct"], [0.75, 1.0])
    assert binned["trial"].tolist() == [0, 2]


def test_learning_curve_other_definitions_of_the_best_choice():
    base = {"subject": [0] * 4, "trial": [0, 1, 2, 3], "choice": [0, 0, 1, 1]}
    means = pd.DataFrame({**base, "mean_0": [0.3] * 4, "mean_1": [0.7, 0.7, 0.7, 0.2]})
    assert learning_curve(means)["p_correct"].tolist() == [0.0, 0.0, 1.0, 0.0]
    given = pd.DataFrame({**base, "correct": [1, 0, 0, 1], "correct_action": [0, 0, 0, 0]})
    assert learning_curve(given)["p_correct"].tolist() == [1.0, 0.0, 0.0, 1.0]  # `correct` wins
    # observed reward rates: arm 0 -> 0.5, arm 1 -> 1.0, so arm 1 is best
    by_reward = pd.DataFrame({**base, "reward": [1.0, 0.0, 1.0, 1.0]})
    assert learning_curve(by_reward)["p_correct"].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_learning_curve_averages_simulations_within_subject():
    df = pd.DataFrame({
        "subject": [0, 0, 1], "sim": [0, 1, 0], "trial": [0, 0, 0],
        "choice": [0, 1, 1], "correct_action": [1, 1, 1],
    })
    lc = learning_curve(df)  # subject 0: mean(0, 1) = 0.5; subject 1: 1
    assert lc["p_correct"].tolist() == [0.75] and lc["n"].tolist() == [2]


# -- reversal curve -------------------------------------------------------------------------------
REV = {
    "subject": [7] * 10,
    "trial": list(range(10)),
    "choice": [0, 0, 1, 0, 0, 0, 1, 1, 1, 0],
}
# lag:        -2   -1   0    1    2  3   (reversal at trial 4: pre = 0; at trial 8: pre = 1, clipped)
EXPECTED_REV = [0.5, 1.0, 1.0, 0.5, 0.0, 0.0]


def test_reversal_curve_exact_with_reversal_column():
    df = pd.DataFrame({
        **REV,
        "correct_action": [0] * 4 + [1] * 4 + [0] * 2,
        "reversal": [False] * 4 + [True] + [False] * 3 + [True, False],
    })
    rc = reversal_curve(df, window=(-2, 3))
    assert list(rc.columns) == ["lag", "p_pre", "sem", "n"]
    assert rc["lag"].tolist() == [-2, -1, 0, 1, 2, 3]
    np.testing.assert_allclose(rc["p_pre"], EXPECTED_REV)
    assert (rc["n"] == 1).all() and rc["sem"].isna().all()
    # shuffled rows give the same curve (sorted by trial within subject)
    pd.testing.assert_frame_equal(reversal_curve(df.sample(frac=1, random_state=0), window=(-2, 3)), rc)


def test_reversal_curve_from_blocks_and_observed_rewards():
    df = pd.DataFrame({
        **REV,
        "block": [0] * 4 + [1] * 4 + [2] * 2,
        "reward": [1, 1, 0, 0, 0, 0, 1, 1, 1, 0],  # before each reversal: arm 0 then arm 1 pays most
    })
    np.testing.assert_allclose(reversal_curve(df, window=(-2, 3))["p_pre"], EXPECTED_REV)


# -- two-step stay probabilities --------------------------------------------------------------------
STAY = pd.DataFrame({
    "subject": ["s"] * 8,
    "trial": range(8),
    "choice": [0, 0, 1, 1, 1, 0, 0, 1],
    "state2": [0, 1, 1, 0, 1, 1, 0, 1],
    "reward": [1, 0, 1, 0, 1, 1, 0, 0],
})


def test_stay_probabilities_exact():
    st = stay_probabilities(STAY)
    assert st[["previous_reward", "previous_transition"]].values.tolist() == [
        ["rewarded", "common"], ["rewarded", "rare"], ["unrewarded", "common"], ["unrewarded", "rare"]
    ]
    np.testing.assert_allclose(st["p_stay"], [2 / 3, 1.0, 0.0, 0.5])
    eff = stay_effects(st)
    assert eff["reward"] == pytest.approx((2 / 3 + 1 - 0 - 0.5) / 2)
    assert eff["transition"] == pytest.approx((2 / 3 + 0 - 1 - 0.5) / 2)
    assert eff["interaction"] == pytest.approx((2 / 3 - 1) - (0 - 0.5))
    # an explicit `common` column gives the same; a second subject does not chain onto the first
    explicit = STAY.drop(columns="state2").assign(common=STAY["state2"] == STAY["choice"])
    pd.testing.assert_frame_equal(stay_probabilities(explicit), st)
    two = pd.concat([STAY, STAY.assign(subject="t")], ignore_index=True)
    st2 = stay_probabilities(two)
    np.testing.assert_allclose(st2["p_stay"], st["p_stay"])
    assert (st2["n"] == 2).all() and (st2["sem"] == 0).all()


def test_stay_probabilities_per_subject_mean_or_pooled_by_hand():
    # subject "s" (STAY): rewarded/common stays 1, 1, 0 (3 trials), rewarded/rare 1,
    # unrewarded/common 0, unrewarded/rare 0, 1; subject "t": two rewarded/common stays, 1, 1
    short = pd.DataFrame({"subject": "t", "trial": range(3), "choice": [1, 1, 1],
                          "state2": [1, 1, 1], "reward": [1, 1, 0]})
    two = pd.concat([STAY, short], ignore_index=True)
    by_subject = stay_probabilities(two)  # the default: every subject weighs the same
    np.testing.assert_allclose(by_subject["p_stay"], [(2 / 3 + 1) / 2, 1.0, 0.0, 0.5])
    # sd of (2/3, 1) with ddof=1 is (1/3)/sqrt(2); over sqrt(2) subjects: 1/6
    np.testing.assert_allclose(by_subject["sem"], [1 / 6, NAN, NAN, NAN])
    assert by_subject["n"].tolist() == [2, 1, 1, 1]  # subjects
    pooled = stay_probabilities(two, pooled=True)  # every trial weighs the same
    np.testing.assert_allclose(pooled["p_stay"], [(2 + 2) / (3 + 2), 1.0, 0.0, 0.5])
    np.testing.assert_allclose(pooled["sem"], [np.sqrt(0.8 * 0.2 / 5), 0.0, 0.0, np.sqrt(0.25 / 2)])
    assert pooled["n"].tolist() == [5, 1, 1, 2]  # trials
    assert list(pooled.columns) == list(by_subject.columns)
    # one subject: both definitions give the same probabilities
    np.testing.assert_allclose(stay_probabilities(STAY, pooled=True)["p_stay"], stay_probabilities(STAY)["p_stay"])
    with pytest.raises(ValueError, match="pooled must be True or False, got"):
        stay_probabilities(STAY, pooled="yes")


def _two_step_table(rule, n_subjects=20, n_trials=200, seed=0) -> pd.DataFrame:
    """Synthetic two-step choices: P(stay) = rule(prev rewarded, prev common)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        c = int(rng.integers(2))
        for t in range(n_trials):
            common = rng.random() < 0.7
            r = float(rng.random() < 0.5)
            rows.append((s, t, c, c if common else 1 - c, r))
            c = c if rng.random() < rule(r > 0, common) else 1 - c
    return pd.DataFrame(rows, columns=["subject", "trial", "choice", "state2", "reward"])


def test_model_free_table_shows_reward_effect_without_interaction():
    mf = stay_effects(stay_probabilities(_two_step_table(lambda rew, com: 0.8 if rew else 0.4)))
    assert mf["reward"] == pytest.approx(0.4, abs=0.05)
    assert abs(mf["transition"]) < 0.05
    assert abs(mf["interaction"]) < 0.1  # SE about 0.03
    # the model-based signature: stay after rewarded-common and unrewarded-rare
    mb = stay_effects(stay_probabilities(_two_step_table(lambda rew, com: 0.8 if rew == com else 0.4)))
    assert abs(mb["reward"]) < 0.05
    assert mb["interaction"] == pytest.approx(0.8, abs=0.1)


# -- RLWM set-size curves ---------------------------------------------------------------------------
def test_stay_effects_by_subject_gives_the_model_based_index_with_a_ci():
    base = {"alpha2": 0.5, "beta1": 5.0, "beta2": 5.0, "kappa": 0.0}
    mf = simulate(make_model("two_step_mf"), {**base, "alpha1": 0.5, "lam": 1.0}, TWO_STEP,
                  n_subjects=30, seed=1, env_kwargs={"n_trials": 201})
    mb = simulate(make_model("two_step_mb"), base, TWO_STEP, n_subjects=30, seed=1,
                  env_kwargs={"n_trials": 201})
    by_mb = stay_effects_by_subject(mb.trials)
    assert list(by_mb.columns) == ["subject", "reward", "transition", "interaction"]
    assert len(by_mb) == 30
    # each row is stay_effects of that subject alone
    one = mb.trials[mb.trials["subject"] == by_mb["subject"].iloc[3]]
    assert by_mb.iloc[3][["reward", "transition", "interaction"]].to_dict() == pytest.approx(
        stay_effects(stay_probabilities(one)).to_dict())
    s_mb, s_mf = by_mb.attrs["summary"], stay_effects_by_subject(mf.trials).attrs["summary"]
    assert s_mb.loc["interaction", "ci_low"] > 0.1  # model-based: the interaction
    assert s_mf.loc["interaction", "ci_low"] < 0 < s_mf.loc["interaction", "ci_high"]
    assert s_mf.loc["reward", "ci_low"] > 0.1  # model-free: the main effect of reward
    assert s_mb.loc["interaction", "n"] == 30
    half = s_mb.loc["interaction", "ci_high"] - s_mb.loc["interaction", "mean"]
    # Student-t with 29 degrees of freedom: 2.04523
    assert half == pytest.approx(2.045230 * by_mb["interaction"].std(ddof=1) / np.sqrt(30), rel=1e-5)
    with pytest.raises(ValueError, match="level must be a float in"):
        stay_effects_by_subject(mb.trials, level=95)


def _logistic_stay_table(beta: dict[str, float], n_subjects: int, n_trials: int, seed: int) -> pd.DataFrame:
    """Two-step-shaped sessions whose stays follow a known logistic model of the previous trial."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        choice = int(rng.integers(2))
        for t in range(n_trials):
            p = rng.uniform(0.2, 0.8, size=4)
            common, reward = bool(rng.random() < 0.7), float(rng.random() < 0.5)
            rows.append({"subject": s, "trial": t, "choice": choice, "reward": reward,
                         "common": common, **{f"p_reward_{k // 2}{k % 2}": p[k] for k in range(4)}})
            value = p.reshape(2, 2).max(axis=1)
            c = np.sign(value[choice] - value[1 - choice])
            r, tr = (1 if reward else -1), (1 if common else -1)
            eta = (beta["intercept"] + beta["correct"] * c + beta["reward"] * r
                   + beta["transition"] * tr + beta["reward:transition"] * r * tr)
            if rng.random() >= 1 / (1 + np.exp(-eta)):
                choice = 1 - choice
    return pd.DataFrame(rows)


def test_stay_regression_recovers_known_coefficients():
    beta = {"intercept": 0.4, "correct": 0.8, "reward": 0.6, "transition": -0.3, "reward:transition": 0.5}
    table = _logistic_stay_table(beta, n_subjects=100, n_trials=300, seed=0)
    fit = stay_regression(table, n_boot=200, seed=1)
    assert list(fit.index) == list(beta) and fit.attrs["n_trials"] == 100 * 299
    se = 1 / np.sqrt(100 * 299 * 0.2)  # about 0.012: each ±1 predictor, p(1-p) >= 0.2
    for term, b in beta.items():
        assert fit.loc[term, "coef"] == pytest.approx(b, abs=4 * se)
    # the count-based fit is the maximum of the trial-by-trial likelihood: its score is zero there
    lag = table.groupby("subject").shift(1)
    keep = lag["choice"].notna().to_numpy()
    prev, now = lag[keep], table[keep]
    value = prev[[f"p_reward_{s}{a}" for s in (0, 1) for a in (0, 1)]].to_numpy().reshape(-1, 2, 2).max(2)
    ch = prev["choice"].to_numpy(dtype=int)
    r, tr = np.where(prev["reward"] > 0, 1, -1), np.where(prev["common"].astype(bool), 1, -1)
    X = np.column_stack([np.ones(len(ch)), np.sign(value[np.arange(len(ch)), ch] - value[np.arange(len(ch)), 1 - ch]),
                         r, tr, r * tr])
    y = (now["choice"].to_numpy() == ch).astype(float)
    mu = 1 / (1 + np.exp(-X @ fit["coef"].to_numpy()))
    assert np.abs(X.T @ (y - mu)).max() < 1e-6
    # the bootstrap interval is as wide as the asymptotic one from the Fisher information
    # (sessions are independent and trials given the past are too)
    se_fisher = np.sqrt(np.diag(np.linalg.inv((X * (mu * (1 - mu))[:, None]).T @ X)))
    width = (fit["ci_high"] - fit["ci_low"]).to_numpy()
    np.testing.assert_allclose(width, 2 * 1.96 * se_fisher, rtol=0.25)
    # without the correct term, the design loses that column
    assert list(stay_regression(table, correct=False, n_boot=0).columns) == ["coef"]
    assert "correct" not in stay_regression(table, correct=False, n_boot=0).index


def test_stay_regression_removes_the_spurious_model_free_interaction():
    """Akam, Costa & Dayan (2015): on a task whose good state persists, a pure model-free learner's
    stay probabilities show a reward x transition interaction; the regression with the 'correct'
    predictor takes it away, and keeps the model-based learner's."""
    base = {"alpha2": 0.5, "beta1": 3.0, "beta2": 3.0, "kappa": 0.0}
    mf = simulate(make_model("two_step_mf", p_common=0.8), {**base, "alpha1": 0.5, "lam": 1.0},
                  TWO_STEP, n_subjects=300, seed=3, env_kwargs=WANG_TASK, latents=False).trials
    mb = simulate(make_model("two_step_mb", p_common=0.8), base, TWO_STEP, n_subjects=300,
                  seed=3, env_kwargs=WANG_TASK, latents=False).trials
    assert stay_effects(stay_probabilities(mf))["interaction"] > 0.2  # the confound
    assert stay_regression(mf, correct=False, n_boot=0).loc["reward:transition", "coef"] > 0.2
    f_mf, f_mb = stay_regression(mf, n_boot=300), stay_regression(mb, n_boot=300)
    assert f_mf.loc["reward:transition", "ci_low"] < 0 < f_mf.loc["reward:transition", "ci_high"]
    assert abs(f_mf.loc["reward:transition", "coef"]) < 0.08
    assert f_mf.loc["reward", "ci_low"] > 0.4  # model-free: the reward effect
    assert f_mb.loc["reward:transition", "ci_low"] > 0.15  # model-based: the interaction
    assert abs(f_mb.loc["reward", "coef"]) < 0.1


def test_stay_regression_rejects_bad_arguments():
    table = _logistic_stay_table({"intercept": 0.0, "correct": 0.0, "reward": 0.0, "transition": 0.0,
                                  "reward:transition": 0.0}, n_subjects=3, n_trials=20, seed=0)
    with pytest.raises(ValueError, match="level must be a float in"):
        stay_regression(table, level=95)
    with pytest.raises(ValueError, match="n_boot must be an integer >= 0, got -1"):
        stay_regression(table, n_boot=-1)
    with pytest.raises(ValueError, match="correct must be None, True or False, got 'yes'"):
        stay_regression(table, correct="yes")
    with pytest.raises(ValueError, match=r"stay_regression\(correct=True\) needs the columns"):
        stay_regression(table.drop(columns="p_reward_00"), correct=True)
    with pytest.raises(ValueError, match="stay_regression needs a 'common'"):
        stay_regression(table.drop(columns="common"))
    gap = table.copy()
    gap.loc[5, "p_reward_10"] = np.nan
    with pytest.raises(ValueError, match=r"missing \(NaN\) on 1 trials .*rows \[5\].*correct=False"):
        stay_regression(gap)
    assert "correct" not in stay_regression(gap, correct=False, n_boot=0).index
    with pytest.raises(ValueError, match=r"choices coded 0 and 1 .*got \[1.0, 2.0\]"):
        stay_regression(table.assign(choice=table["choice"] + 1))


def test_setsize_curves_exact():
    df = pd.DataFrame({
        "subject": [1] * 10,
        "trial": range(10),
        "block": [0] * 5 + [1] * 5,
        "set_size": [2] * 5 + [3] * 5,
        "state": [0, 1, 0, 1, 0, 0, 1, 2, 0, 1],
        "choice": [0, 0, 0, 0, 0, 0, 0, 0, 0, None],
        "reward": [0, 1, 1, 1, 0, 0, 0, 1, 1, 1],
    })
    sc = setsize_curves(df)
    assert list(sc.columns) == ["set_size", "iteration", "p_correct", "sem", "n"]
    got = {(r.set_size, r.iteration): r.p_correct for r in sc.itertuples()}
    # set size 2: iterations [1, 1, 2, 2, 3]; set size 3: [1, 1, 1, 2, 2 (missing response)]
    assert got == pytest.approx({(2, 1): 0.5, (2, 2): 1.0, (2, 3): 0.0, (3, 1): 1 / 3, (3, 2): 1.0})
    # the same block numbers in another subject are counted separately
    two = pd.concat([df, df.assign(subject=2)], ignore_index=True)
    assert setsize_curves(two)["p_correct"].tolist() == pytest.approx(sc["p_correct"].tolist())
    given = df.assign(iteration=1, correct=1 - df["reward"])
    sc2 = setsize_curves(given)  # `iteration` and `correct` columns are used as given
    assert sc2["iteration"].tolist() == [1, 1]
    np.testing.assert_allclose(sc2["p_correct"], [2 / 5, 2 / 4])


# -- posterior predictive ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    n = 30
    truth = {"alpha": rng.uniform(0.2, 0.8, n), "beta": rng.uniform(3, 10, n), "kappa": rng.uniform(-1, 1, n)}
    model = make_model("q_learning")
    data = simulate(model, truth, ENV, seed=0, env_kwargs={"n_trials": N_TRIALS}, latents=False).trials
    data["subject"] = data["subject"].map(lambda i: f"s{i:02d}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = MaximumLikelihood(model, n_starts=5, seed=0).fit(data)
    return fit, data


def test_posterior_predictive_table(fitted):
    fit, data = fitted
    pp = posterior_predictive(fit, ENV, n_sims=3, env_kwargs={"n_trials": N_TRIALS}, seed=1)
    assert len(pp) == 30 * 3 * N_TRIALS
    assert set(pp["subject"]) == set(data["subject"])
    assert sorted(pp["sim"].unique()) == [0, 1, 2]
    assert (pp.groupby(["subject", "sim"]).size() == N_TRIALS).all()
    pd.testing.assert_frame_equal(
        pp, posterior_predictive(fit, ENV, n_sims=3, env_kwargs={"n_trials": N_TRIALS}, seed=1)
    )
    assert not pp.equals(posterior_predictive(fit, ENV, n_sims=3, env_kwargs={"n_trials": N_TRIALS}, seed=2))


def test_posterior_predictive_reproduces_the_learning_curve(fitted):
    fit, data = fitted
    pp = posterior_predictive(fit, ENV, n_sims=5, env_kwargs={"n_trials": N_TRIALS}, seed=1)
    d, s = learning_curve(data, bin_size=10), learning_curve(pp, bin_size=10)
    diff = d["p_correct"].to_numpy() - s["p_correct"].to_numpy()
    se = np.hypot(d["sem"], s["sem"]).to_numpy()
    assert np.abs(diff).mean() < 0.05  # 0.017-0.038 over 10 seeds
    assert (np.abs(diff) < 4 * se).all()
    # the dips after the reversals (trials 40 and 80) are reproduced
    assert s.set_index("trial").loc[[40, 80], "p_correct"].max() < 0.65
    # a mis-specified learner (alpha = 0.02, slow to re-learn) fails the same check
    bad = type(fit).__new__(type(fit))
    bad.__dict__.update(fit.__dict__)
    bad.params_ = fit.params_.assign(alpha=0.02)
    wrong = learning_curve(posterior_predictive(bad, ENV, n_sims=2, env_kwargs={"n_trials": N_TRIALS}, seed=1),
                           bin_size=10)
    assert np.abs(d["p_correct"].to_numpy() - wrong["p_correct"].to_numpy()).mean() > 0.15


def test_laplace_draws_add_parameter_uncertainty(fitted):
    fit, data = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pp = posterior_predictive(fit, ENV, n_sims=2, env_kwargs={"n_trials": N_TRIALS}, seed=1, draw="laplace")
    point = posterior_predictive(fit, ENV, n_sims=2, env_kwargs={"n_trials": N_TRIALS}, seed=1)
    assert len(pp) == len(point) and not pp["choice"].equals(point["choice"])
    d, s = learning_curve(data), learning_curve(pp)
    assert abs(d["p_correct"].mean() - s["p_correct"].mean()) < 0.08  # 0.01-0.05 over 10 seeds


def test_check_and_plots(fitted):
    fit, data = fitted
    dc, sc, fig = check(fit, data, ENV, "reversal", n_sims=2, env_kwargs={"n_trials": N_TRIALS}, seed=3,
                        window=(-3, 10))
    pd.testing.assert_frame_equal(dc, reversal_curve(data, window=(-3, 10)))
    assert sc["lag"].tolist() == list(range(-3, 11))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["data", "model"] or sorted(labels) == ["data", "model"]
    for curve in (stay_probabilities(STAY), learning_curve(data)):
        f = plot_ppc(curve, curve)  # kind inferred from the columns
        assert isinstance(f, Figure) and len(f.axes) == 1
    stay = stay_probabilities(STAY)
    f = plot_ppc(stay, stay, "stay")
    assert len(f.axes[0].get_legend_handles_labels()[1]) == 4  # data and model per transition
    assert isinstance(plot_ppc(None, learning_curve(data)), Figure)


# -- errors -------------------------------------------------------------------------------------
def test_curves_reject_bad_tables():
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        learning_curve([1, 2, 3])
    with pytest.raises(ValueError, match=r"missing \['choice'\]"):
        learning_curve(pd.DataFrame({"subject": [0], "trial": [0]}))
    with pytest.raises(ValueError, match="to define the best choice"):
        learning_curve(pd.DataFrame({"subject": [0], "trial": [0], "choice": [0]}))
    with pytest.raises(ValueError, match="bin_size must be an integer >= 1"):
        learning_curve(STAY, bin_size=0)
    with pytest.raises(ValueError, match="'reversal'.*or a 'block'"):
        reversal_curve(STAY)
    with pytest.raises(ValueError, match="window must have first lag <= last lag"):
        reversal_curve(STAY.assign(block=0), window=(3, -3))
    with pytest.raises(ValueError, match="'common'.*or a 'state2'"):
        stay_probabilities(STAY.drop(columns="state2"))
    with pytest.raises(ValueError, match=r"missing \['set_size', 'block'\]"):
        setsize_curves(STAY.assign(state=0))
    with pytest.raises(ValueError, match="trials is empty"):
        learning_curve(STAY.iloc[:0].assign(correct=1))
    with pytest.raises(ValueError, match="lacks the cell"):
        stay_effects(stay_probabilities(STAY).iloc[:2])


def test_posterior_predictive_and_plots_reject_bad_input(fitted):
    fit, data = fitted
    with pytest.raises(ValueError, match="not fitted yet"):
        posterior_predictive(MaximumLikelihood(make_model("q_learning")), ENV)
    with pytest.raises(TypeError, match="fitted estimator"):
        posterior_predictive(data, ENV)
    with pytest.raises(ValueError, match="n_sims must be an integer >= 1"):
        posterior_predictive(fit, ENV, n_sims=0)
    with pytest.raises(ValueError, match="draw must be one of"):
        posterior_predictive(fit, ENV, draw="nuts")
    with pytest.raises(ValueError, match="registered environment id"):
        posterior_predictive(fit, "cogmodels/Nope-v0")
    with pytest.raises(ValueError, match="kind must be one of"):
        check(fit, data, ENV, "psychometric")
    with pytest.raises(ValueError, match="kind must be one of"):
        plot_ppc(learning_curve(data), None, "psychometric")
    with pytest.raises(ValueError, match="got neither"):
        plot_ppc(None, None)


def test_check_validates_the_data_table(fitted):
    fit, data = fitted
    doubled = pd.concat([data, data.iloc[[4]]])
    with pytest.raises(ValueError, match=r"column 'trial': the same \(subject, session, trial\) repeats in 2 rows: "
                                         r"row 4 \[index 4\] \(subject 's00', session 0, trial 4\)"):
        check(fit, doubled, ENV, n_sims=1, progress=False)
    with pytest.raises(ValueError, match=r"column 'choice': out of range in 1 row: row 2 \(2\)\. Expected integers "
                                         r"0\.\.1"):
        check(fit, data.assign(choice=data["choice"].where(data.index != 2, 2)), ENV, n_sims=1, progress=False)
