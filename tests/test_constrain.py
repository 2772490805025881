"""constrain(): fixed, tied and split parameters score, count and recover as they should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cogmodels.constrain import constrain, model_from_name
from cogmodels.fits import MaximumLikelihood, compare_models
from cogmodels.likelihood import log_likelihood
from cogmodels.models import make_model
from cogmodels.simulate import simulate

TRUE = {"alpha1": 0.5, "alpha2": 0.5, "beta1": 5.0, "beta2": 5.0, "lam": 0.6, "kappa": 0.3}


def _two_step(n_subjects: int, n_trials: int, w: float, seed: int) -> pd.DataFrame:
    sim = simulate(make_model("two_step_hybrid"), {**TRUE, "w": w}, "cogmodels/TwoStep-v0",
                   n_subjects=n_subjects, seed=seed, env_kwargs={"n_trials": n_trials},
                   latents=False, progress=False)
    return sim.trials


def _stakes_table(n_subjects: int, n_trials: int) -> pd.DataFrame:
    """Each subject plays a low-stakes session with w = 0.3 and a high-stakes one with w = 0.7
    (stakes 1 and 5, Kool et al. 2016); the model restarts at each session, so the table is
    exactly what a model with w split by stakes generates."""
    halves = [_two_step(n_subjects, n_trials, w, seed=10 + s).assign(session=s, stakes=stakes)
              for s, (stakes, w) in enumerate(((1, 0.3), (5, 0.7)))]
    df = pd.concat(halves, ignore_index=True)
    return df.sort_values(["subject", "session", "trial"], kind="stable").reset_index(drop=True)


def test_fixed_and_tied_parameters_give_the_inner_likelihood():
    inner = make_model("two_step_hybrid")
    df = _two_step(3, 40, 0.4, seed=0)
    m = constrain(inner, fix={"lam": 0.6}, tie=[("alpha1", "alpha2"), ("beta1", "beta2")])
    assert m.param_names == ("alpha1", "beta1", "w", "kappa")
    assert m.name == "two_step_hybrid|lam=0.6|alpha1=alpha2|beta1=beta2"
    free = {"alpha1": [0.2, 0.5, 0.8], "beta1": [1.0, 4.0, 7.0], "w": 0.4, "kappa": 0.3}
    full = {**free, "alpha2": free["alpha1"], "beta2": free["beta1"], "lam": 0.6}
    np.testing.assert_allclose(log_likelihood(m, free, df), log_likelihood(inner, full, df), rtol=1e-12)
    np.testing.assert_allclose(m.inner_params(free)["beta2"], [1.0, 4.0, 7.0])


def test_split_parameter_takes_each_trials_level():
    inner = make_model("two_step_hybrid")
    df = _two_step(2, 40, 0.4, seed=1)
    df["stakes"] = np.where(df["subject"] == 0, 1, 5)  # subject 0 all low stakes, subject 1 all high
    m = constrain(inner, by={"w": "stakes"}, data=df)
    assert m.param_names == ("alpha1", "alpha2", "beta1", "beta2", "lam", "w_1", "w_5", "kappa")
    ll = log_likelihood(m, {**TRUE, "w_1": 0.2, "w_5": 0.9}, df)
    np.testing.assert_allclose(ll, log_likelihood(inner, {**TRUE, "w": [0.2, 0.9]}, df), rtol=1e-12)
    # interleaved levels: equal levels reproduce the inner model, different ones do not
    df["stakes"] = np.where(df["trial"] % 2 == 0, 1, 5)
    same = log_likelihood(m, {**TRUE, "w_1": 0.4, "w_5": 0.4}, df)
    np.testing.assert_allclose(same, log_likelihood(inner, {**TRUE, "w": 0.4}, df), rtol=1e-12)
    assert not np.allclose(log_likelihood(m, {**TRUE, "w_1": 0.0, "w_5": 1.0}, df), same)


@pytest.mark.filterwarnings("ignore:.*on a parameter bound")
def test_free_parameters_are_counted_in_fits_and_comparisons():
    df = simulate(make_model("q_learning"), {"alpha": 0.3, "beta": 4.0, "kappa": 0.0},
                  "cogmodels/MultiArmedBandit-v0", n_subjects=2, seed=3, env_kwargs={"n_trials": 40},
                  progress=False).trials
    m = constrain(make_model("q_learning"), fix={"kappa": 0.0})
    est = MaximumLikelihood(m, n_starts=1, seed=0).fit(df, progress=False)
    assert list(est.params_.columns) == ["alpha", "beta"]
    n = est.n_trials_.to_numpy()
    np.testing.assert_allclose(est.bic_, 2 * np.log(n) - 2 * est.loglik_, rtol=1e-12)
    np.testing.assert_allclose(est.aic_, 4 - 2 * est.loglik_, rtol=1e-12)
    comp = compare_models(df, {"fixed": m, "free": make_model("q_learning")}, n_starts=1, seed=0,
                          progress=False)
    assert comp.table.loc["fixed", "n_params"] == 2 and comp.table.loc["free", "n_params"] == 3


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*on a parameter bound")
def test_split_w_by_stakes_is_recovered():
    """w = 0.3 on low-stakes and 0.7 on high-stakes trials: the mean estimates lie within three
    standard errors of the truth (the other parameters fixed at their true values)."""
    df = _stakes_table(12, 150)
    m = constrain(make_model("two_step_hybrid"), fix={k: TRUE[k] for k in TRUE}, by={"w": "stakes"},
                  data=df)
    assert m.param_names == ("w_1", "w_5")
    est = MaximumLikelihood(m, n_starts=1, seed=0).fit(df, progress=False)
    for name, truth in (("w_1", 0.3), ("w_5", 0.7)):
        x = est.params_[name]
        assert abs(x.mean() - truth) < 3 * x.std() / np.sqrt(len(x)), (name, x.mean())
    assert (est.params_["w_5"] > est.params_["w_1"]).mean() >= 0.75


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fix": {"beta3": 1.0}}, ValueError, r"fix: model 'two_step_hybrid' has no parameter 'beta3' \(did you mean"),
        ({"fix": {"beta1": 30.0}}, ValueError, r"fix beta1"),
        ({"fix": {"w": 0.5}, "tie": [("w", "lam")]}, ValueError, r"'w' is already constrained by fix"),
        ({"tie": [("alpha1",)]}, ValueError, r"tie: each group must name at least two"),
        ({"tie": "alpha1=alpha2"}, TypeError, r"tie must be a sequence of groups"),
        ({"by": {"w": "stakes"}}, ValueError, r"levels of column 'stakes' are unknown; pass levels="),
        ({"by": {"alpha2": "stakes"}, "tie": [("alpha1", "alpha2")], "levels": {"stakes": [0, 1]}},
         ValueError, r"tied to 'alpha1': split 'alpha1'"),
        ({"by": {"w": "stakes"}, "levels": {"stakes": [1, 1]}}, ValueError, r"levels stakes: need distinct"),
    ],
)
def test_bad_constraints_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        constrain(make_model("two_step_hybrid"), **kwargs)


def test_by_refuses_a_parameter_of_the_initial_state_and_unknown_levels():
    with pytest.raises(ValueError, match=r"tie: the ranges of \['hazard', 'p_reward'\] do not overlap"):
        constrain(make_model("reversal_hmm", free_p_reward=True), tie=[("hazard", "p_reward")])
    with pytest.raises(ValueError, match=r"uses 'q0' to set its initial state"):
        constrain(make_model("q_learning", free_initial_value=True), by={"q0": "session"},
                  levels={"session": [0, 1]})
    df = _two_step(1, 10, 0.4, seed=2).assign(stakes=1)
    m = constrain(make_model("two_step_hybrid"), by={"w": "stakes"}, levels={"stakes": [1, 5]})
    df.loc[3, "stakes"] = 2
    with pytest.raises(ValueError, match=r"column 'stakes' must hold one of the levels \[1.0, 5.0\].*row 3"):
        log_likelihood(m, {**TRUE, "w_1": 0.5, "w_5": 0.5}, df)
    with pytest.raises(ValueError, match=r"condition column 'stakes' must hold numbers"):
        constrain(make_model("two_step_hybrid"), by={"w": "stakes"}, data=df.assign(stakes="high"))


def test_a_constrained_name_builds_the_same_model():
    df = pd.DataFrame({"stakes": [1, 5, 5]})
    m = constrain(make_model("two_step_hybrid"), fix={"lam": 1.0}, tie=[("alpha1", "alpha2")],
                  by={"w": "stakes"}, data=df)
    again = model_from_name(m.name, data=df)
    assert again.name == m.name == "two_step_hybrid|lam=1|alpha1=alpha2|w~stakes"
    assert again.param_names == m.param_names
    for text, match in [("q_learning|kappa", r"'kappa' is not a constraint; after 'q_learning'"),
                        ("q_learning|kappa=x", r"'kappa=x' fixes 'kappa' to 'x', which is not a number")]:
        with pytest.raises(ValueError, match=match):
            model_from_name(text)
