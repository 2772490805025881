"""The structural identifiability check: parameters no trial informs, for every estimator."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from cogmodels.fits import (
    ConvergenceWarning,
    HierarchicalEM,
    IdentifiabilityWarning,
    MaximumAPosteriori,
    MaximumLikelihood,
    uninformed_parameters,
)
from cogmodels.models import make_model


def _bandit(rewards, n_subjects=3, n_trials=40, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_subjects * n_trials
    return pd.DataFrame({
        "subject": np.repeat(np.arange(n_subjects), n_trials),
        "trial": np.tile(np.arange(n_trials), n_subjects),
        "choice": rng.integers(0, 2, n),
        "reward": rewards(rng, n),
    })


ALWAYS = _bandit(lambda rng, n: np.ones(n))  # every outcome a reward of 1
MIXED = _bandit(lambda rng, n: rng.integers(0, 2, n).astype(float))


def test_rlwm_mechanisms_that_never_fire_are_flagged():
    """Every response rewarded (r = 1 >= every value): no negative prediction error, so neither
    neglect parameter acts; set size 1 <= K: the capacity never limits the WM weight."""
    table = ALWAYS.assign(state=0, set_size=1, block=0)
    flags = uninformed_parameters(make_model("rlwm", n_actions=2), table)
    assert flags.index.name == "subject" and flags.index.tolist() == [0, 1, 2]
    assert flags.columns[flags.all()].tolist() == ["K", "neg_rl", "neg_wm"]
    assert not flags.drop(columns=["K", "neg_rl", "neg_wm"]).to_numpy().any()
    # graded rewards below the values (points scaled to [0, 1]) do inform the neglect
    graded = table.assign(reward=np.where(np.arange(len(table)) % 3, 0.9, 0.2), set_size=4)
    assert not uninformed_parameters(make_model("rlwm", n_actions=2), graded).to_numpy().any()


def test_one_subject_can_be_uninformed_and_another_not():
    table = pd.concat([ALWAYS[ALWAYS["subject"] == 0], MIXED[MIXED["subject"] == 1]])
    flags = uninformed_parameters(make_model("q_learning", dual_learning_rates=True), table)
    assert flags["alpha_neg"].tolist() == [True, False]
    assert not flags.drop(columns="alpha_neg").to_numpy().any()


PRIORS = {"alpha_pos": scipy.stats.beta(2, 2), "alpha_neg": scipy.stats.beta(2, 2),
          "beta": scipy.stats.gamma(2, scale=2), "kappa": scipy.stats.norm(0, 2)}


@pytest.mark.parametrize("estimator", [
    lambda m: MaximumLikelihood(m, n_starts=2, seed=0),
    lambda m: MaximumAPosteriori(m, n_starts=2, seed=0, priors=PRIORS),
    lambda m: HierarchicalEM(m, n_starts=2, seed=0, max_em_iter=3),
], ids=["mle", "map", "em"])
def test_every_estimator_warns_and_records_uninformed_parameters(estimator):
    """Q-learning's ``alpha_neg`` acts on ``delta <= 0``; with every reward 1 > Q it never does."""
    model = make_model("q_learning", dual_learning_rates=True)
    with pytest.warns(IdentifiabilityWarning, match=r"q_learning: no trial informs 'alpha_neg' for 3 of 3"):
        warnings.simplefilter("ignore", ConvergenceWarning)  # EM: 3 iterations only
        fit = estimator(model).fit(ALWAYS, progress=False)
    assert fit.uninformed_.columns.tolist() == list(model.param_names)
    assert fit.uninformed_["alpha_neg"].all() and not fit.uninformed_.drop(columns="alpha_neg").to_numpy().any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", IdentifiabilityWarning)
        fit = estimator(model).fit(MIXED, progress=False)  # losses: alpha_neg informed, silent
    assert not fit.uninformed_.to_numpy().any()


def test_arguments_are_checked():
    model = make_model("q_learning")
    with pytest.raises(ValueError, match="n_points"):
        uninformed_parameters(model, MIXED, n_points=0)
    with pytest.raises(ValueError, match="step must be a non-zero number, got 0.0"):
        uninformed_parameters(model, MIXED, step=0.0)
