"""Replay: predictive checks on the observed trial sequences, without an environment."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import cogmodels  # noqa: F401
from cogmodels.datasets import load_collins_frank_2012
from cogmodels.fits import MaximumLikelihood
from cogmodels.fits.ppc import (
    check,
    learning_curve,
    posterior_predictive,
    setsize_curves,
    signature_kinds,
    stay_by_reward,
    stay_probabilities,
)
from cogmodels.fits.replay import REPLAY_OUTCOMES, replay
from cogmodels.models import make_model
from cogmodels.simulate import simulate

BANDIT = "cogmodels/MultiArmedBandit-v0"
TRUTH = {"alpha": 0.3, "beta": 5.0, "kappa": 0.3}
N_TRIALS = 60


@pytest.fixture(scope="module")
def bandit():
    """Q-learning data from the bandit env (60 subjects) and a fresh env simulation (120)."""
    model = make_model("q_learning")
    kw = {"env_kwargs": {"n_trials": N_TRIALS}, "progress": False, "latents": False}
    data = simulate(model, TRUTH, BANDIT, n_subjects=60, seed=0, **kw).trials
    data["subject"] = data["subject"].map(lambda i: f"s{i:02d}")
    env = simulate(model, TRUTH, BANDIT, n_subjects=120, seed=1, **kw).trials
    return model, data, env


def _agree(a: pd.DataFrame, b: pd.DataFrame, y: str, k: float = 4.0) -> np.ndarray:
    """|a - b| / combined SEM, per row (the curves share their x values)."""
    diff = a[y].to_numpy() - b[y].to_numpy()
    se = np.hypot(a["sem"].to_numpy(), b["sem"].to_numpy())
    assert np.isfinite(se).all() and (se > 0).all()
    return np.abs(diff) / se


@pytest.mark.parametrize("schedule", [True, False], ids=["schedule", "estimate"])
def test_replay_agrees_with_env_simulation_on_the_bandit(bandit, schedule):
    model, data, env = bandit
    if not schedule:  # no mean_<a> columns: unobserved outcomes are estimated from the data
        data = data.drop(columns=["mean_0", "mean_1"])
    rep = replay(model, TRUTH, data, n_sims=2, seed=2, progress=False)
    sources = rep.attrs["replay"]["reward_sources"]
    assert sources["observed"] + sources["schedule" if schedule else "estimate"] == len(rep)
    assert 0.2 < sources["schedule" if schedule else "estimate"] / len(rep) < 0.5
    # win-stay / lose-shift: P(stay | reward) and P(stay | no reward) agree within Monte-Carlo error
    z = _agree(stay_by_reward(rep), stay_by_reward(env), "p_stay")
    assert (z < 4).all(), z
    # the learning curve (best arm by the true means, bins of 20 trials)
    if schedule:
        z = _agree(learning_curve(rep, bin_size=20), learning_curve(env, bin_size=20), "p_correct")
        assert (z < 4).all(), z
    # the reward rate (a mean over subjects of subject means)
    r_rep, r_env = rep.groupby("subject")["reward"].mean(), env.groupby("subject")["reward"].mean()
    se = np.hypot(r_rep.std() / np.sqrt(len(r_rep)), r_env.std() / np.sqrt(len(r_env)))
    assert abs(r_rep.mean() - r_env.mean()) < 4 * se


def test_replay_table_schema_and_same_seed_same_bytes(bandit):
    model, data, _ = bandit
    rep = replay(model, TRUTH, data, n_sims=3, seed=5, progress=False)
    assert list(rep.columns[:2]) == ["subject", "sim"]
    assert {"trial", "choice", "reward", "mean_0", "mean_1", "reward_source"} <= set(rep.columns)
    assert len(rep) == 3 * len(data) and set(rep["sim"]) == {0, 1, 2}
    assert list(pd.unique(rep["subject"])) == list(pd.unique(data["subject"]))
    first = rep[(rep["subject"] == "s00") & (rep["sim"] == 1)]
    assert first["trial"].tolist() == list(range(N_TRIALS))
    assert rep.attrs["replay"]["outcomes"] == REPLAY_OUTCOMES
    # the outcome rules: the observed reward where the model chose what the subject chose
    merged = rep.merge(data[["subject", "trial", "choice", "reward"]], on=["subject", "trial"], suffixes=("", "_obs"))
    same = merged["choice"].to_numpy() == merged["choice_obs"].to_numpy()
    assert (merged["reward_source"].to_numpy()[same] == "observed").all()
    assert (merged["reward"].to_numpy()[same] == merged["reward_obs"].to_numpy()[same]).all()
    assert (merged["reward_source"].to_numpy()[~same] == "schedule").all()
    again = replay(model, TRUTH, data, n_sims=3, seed=5, progress=False)
    assert rep.to_csv(index=False).encode() == again.to_csv(index=False).encode()
    other = replay(model, TRUTH, data, n_sims=3, seed=6, progress=False)
    assert not rep["choice"].equals(other["choice"])


def test_outcome_rules_on_a_hand_made_table():
    """Unchosen outcomes recorded, estimates from the subject's own outcomes, the fall-backs."""
    # subject a: option 0 always pays 2, option 1 always pays 5 (state 0); in state 1 only
    # option 0 was chosen, so option 1 there falls back to the subject's option-1 payoffs (5)
    df = pd.DataFrame({
        "subject": ["a"] * 8 + ["b"] * 4,
        "trial": list(range(8)) + list(range(4)),
        "state": [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0],
        "choice": [0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1],
        "reward": [2.0, 5.0, 2.0, 5.0, 2.0, 2.0, 2.0, 2.0, 7.0, 7.0, 7.0, 7.0],
    })
    model = make_model("random")  # choices at random, P(1) = 0.5 with bias_1 = 0
    rep = replay(model, {"bias_1": 0.0}, df, n_sims=50, seed=0, progress=False)
    est = rep[rep["reward_source"] == "estimate"]
    assert len(est) > 100
    a = est[est["subject"] == "a"]
    assert (a["reward"] == np.where(a["choice"] == 1, 5.0, 2.0)).all()
    # subject b never chose option 0: everyone's option-0 outcomes (2.0)
    b = est[est["subject"] == "b"]
    assert (b["choice"] == 0).all() and (b["reward"] == 2.0).all()
    # a recorded outcome of the unchosen option is used as it is
    full = df.assign(unchosen=1 - df["choice"], reward_unchosen=-1.0)
    rep = replay(model, {"bias_1": 0.0}, full, n_sims=20, seed=0, progress=False)
    unchosen = rep["reward_source"] == "unchosen"
    assert unchosen.sum() > 50 and (rep.loc[unchosen, "reward"] == -1.0).all()
    assert set(rep["reward_source"]) == {"observed", "unchosen"}
    # missing responses stay missing and keep the model's state
    gap = df.assign(choice=df["choice"].astype(float).where(df.index != 2))
    rep = replay(model, {"bias_1": 0.0}, gap, n_sims=3, seed=0, progress=False)
    hole = rep[(rep["subject"] == "a") & (rep["trial"] == 2)]
    assert hole["choice"].isna().all() and hole["reward_source"].isna().all()


#: parameters typical of RLWM fits to Collins & Frank (2012) (medians of MLE fits of the
#: subjects that rely on working memory: `MaximumLikelihood(rlwm, n_starts=2).fit` on subjects 1-12)
RLWM_TYPICAL = {"alpha": 0.04, "rho": 1.0, "K": 3.0, "phi": 0.15, "epsilon": 0.03, "kappa": 0.0,
                "neg_rl": 1.0, "neg_wm": 0.6}


def test_rlwm_replay_reproduces_the_set_size_effect_of_collins_frank_2012():
    data = load_collins_frank_2012()
    data = data[data["subject"].isin(pd.unique(data["subject"])[:20])]
    model = make_model("rlwm")
    rep = replay(model, RLWM_TYPICAL, data, n_sims=2, seed=0, progress=False)
    # feedback is deterministic (reward = correct), so estimated outcomes are exact
    answered = rep["choice"].notna()
    assert (rep.loc[answered, "reward"] == rep.loc[answered, "correct"]).all()
    by_size = {name: t.groupby("set_size")["correct"].mean() for name, t in (("data", data), ("replay", rep))}
    np.testing.assert_allclose(by_size["replay"], by_size["data"], atol=0.03)  # 0.00-0.016 measured
    effect = by_size["replay"][2] - by_size["replay"][6]
    assert 0.08 < effect < 0.2  # data: 0.139
    curves = setsize_curves(rep), setsize_curves(data)
    assert (curves[0]["iteration"] == curves[1]["iteration"]).all()
    assert np.abs(curves[0]["p_correct"] - curves[1]["p_correct"]).mean() < 0.05  # 0.036 measured
    # a working memory without a capacity limit (K = 6) loses the effect: the check can fail
    big = replay(model, {**RLWM_TYPICAL, "K": 6.0}, data, n_sims=1, seed=0, progress=False)
    acc = big.groupby("set_size")["correct"].mean()
    assert acc[2] - acc[6] < effect / 2


def test_two_step_replay_same_bytes_and_transitions():
    model = make_model("two_step_hybrid")
    params = {**model.default_params(), "w": 0.8, "beta1": 5.0, "beta2": 5.0}
    data = simulate(model, params, "cogmodels/TwoStep-v0", n_subjects=4, seed=0, progress=False,
                    latents=False, env_kwargs={"n_trials": 150}).trials
    rep = replay(model, params, data, n_sims=15, seed=1, progress=False)
    assert {"choice", "choice2", "state2", "common", "p_reward_00"} <= set(rep.columns)
    # common transitions at the table's rate (0.7 in the env), for the model's own choices
    assert abs(rep["common"].mean() - data["common"].mean()) < 0.03
    assert (rep["common"] == (rep["state2"] == rep["choice"])).all()
    assert set(rep["reward_source"]) == {"observed", "schedule"}
    assert stay_probabilities(rep)["n"].gt(0).all()
    again = replay(model, params, data, n_sims=15, seed=1, progress=False)
    assert rep.to_csv(index=False).encode() == again.to_csv(index=False).encode()
    # hBayesDM's names of the schedule (A1prob = p_reward_00 ... B2prob = p_reward_11); here
    # deterministic: only option A2 (state 0, choice 1) pays
    hb = data.drop(columns=[c for c in data.columns if c.startswith("p_reward_")]).assign(
        A1prob=0.0, A2prob=1.0, B1prob=0.0, B2prob=0.0)
    rep = replay(model, params, hb, n_sims=3, seed=1, progress=False)
    sched = rep[rep["reward_source"] == "schedule"]
    assert len(sched) > 300
    assert (sched["reward"] == ((sched["state2"] == 0) & (sched["choice2"] == 1))).all()


# -- through the predictive-check functions ---------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(bandit):
    model, data, _ = bandit
    small = data[data["subject"].isin([f"s{i:02d}" for i in range(10)])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MaximumLikelihood(model, n_starts=2, seed=0).fit(small, progress=False)
    return fit, small


def test_posterior_predictive_and_check_with_source_replay(fitted):
    fit, data = fitted
    pp = posterior_predictive(fit, source="replay", trials=data, n_sims=2, seed=3, progress=False)
    assert len(pp) == 2 * len(data) and set(pp["subject"]) == set(data["subject"])
    pd.testing.assert_frame_equal(pp, posterior_predictive(fit, source="replay", trials=data, n_sims=2, seed=3,
                                                           progress=False))
    # each subject is replayed with its own fitted parameters: the same as replay(fit.params_)
    direct = replay(fit.model, fit.params_, data, n_sims=2, seed=3, progress=False)
    assert set(direct.columns) == set(pp.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lap = posterior_predictive(fit, source="replay", trials=data, n_sims=2, seed=3, draw="laplace",
                                   progress=False)
    assert len(lap) == len(pp) and not lap["choice"].equals(pp["choice"])
    dc, sc, fig = check(fit, data, kind="winstay", source="replay", n_sims=2, seed=0, progress=False)
    assert dc["previous_reward"].tolist() == sc["previous_reward"].tolist() == ["rewarded", "unrewarded"]
    assert "replay" in fig.get_supxlabel() and fig.replay_outcomes == REPLAY_OUTCOMES


def test_source_arguments_are_checked(fitted, bandit):
    fit, data = fitted
    with pytest.raises(ValueError, match=r"source must be one of \['env', 'replay'\], got 'sim'"):
        posterior_predictive(fit, BANDIT, source="sim")
    with pytest.raises(ValueError, match="source='replay' needs trials="):
        posterior_predictive(fit, source="replay")
    with pytest.raises(ValueError, match="source='replay' uses no environment: drop env="):
        posterior_predictive(fit, BANDIT, source="replay", trials=data)
    with pytest.raises(ValueError, match="source='env' needs env"):
        posterior_predictive(fit)
    with pytest.raises(ValueError, match=r"trials has 50 subject\(s\) that the fit has no parameters for"):
        posterior_predictive(fit, source="replay", trials=bandit[1], progress=False)
    model = fit.model
    with pytest.raises(ValueError, match=r"params has no row for 50 subject\(s\)"):
        replay(model, fit.params_, bandit[1], progress=False)
    with pytest.raises(ValueError, match=r"params lacks the parameters \['kappa'\]"):
        replay(model, fit.params_.drop(columns="kappa"), data, progress=False)
    with pytest.raises(ValueError, match=r"params\['alpha'\] has 3 values; give a scalar or one per subject \(10"):
        replay(model, {**TRUTH, "alpha": [0.1, 0.2, 0.3]}, data, progress=False)
    with pytest.raises(ValueError, match="n_sims must be an integer >= 1, got 0"):
        replay(model, TRUTH, data, n_sims=0)
    with pytest.raises(TypeError, match="model must be a CognitiveModel"):
        replay("q_learning", TRUTH, data)


def test_stay_by_reward_exact_and_signature_kinds():
    df = pd.DataFrame({
        "subject": [0] * 5 + [1] * 3,
        "trial": [0, 1, 2, 3, 4, 0, 1, 2],
        "choice": [0, 0, 1, np.nan, 1, 1, 1, 0],
        "reward": [1, 0, 1, 0, 1, 0, 1, 0],
    })
    # subject 0: after reward: t1 stay (1); after no reward: t2 shift (0); t3 missing, t4 after missing
    # subject 1: after no reward: t1 stay (1); after reward: t2 shift (0)
    out = stay_by_reward(df)
    assert out["previous_reward"].tolist() == ["rewarded", "unrewarded"]
    np.testing.assert_allclose(out["p_stay"], [0.5, 0.5])
    assert out["n"].tolist() == [2, 2]
    assert signature_kinds(make_model("two_step_mf"), df) == ["stay"]
    assert signature_kinds(make_model("rlwm"), df.assign(set_size=2)) == ["setsize"]
    assert signature_kinds(make_model("q_learning"), df.assign(reversal=False)) == ["learning", "reversal", "winstay"]
    assert signature_kinds(make_model("q_learning"), df) == ["learning", "winstay"]
