"""The orthogonalised go/no-go task and the go/no-go models simulated in it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import cogmodels  # noqa: F401
from cogmodels.envs.go_nogo import CUES
from cogmodels.envs.wrappers import record_session
from cogmodels.models import make_model
from cogmodels.simulate import simulate


def test_cues_are_balanced_and_feedback_is_valid_with_p_valid():
    env = gym.make("cogmodels/GoNoGo-v0", n_trials=4002, p_valid=0.8)
    rng = np.random.default_rng(0)
    df = record_session(env, lambda obs, info: int(rng.integers(2)), seed=3)
    assert df["state"].value_counts().sort_index().tolist() == [1001, 1001, 1000, 1000]
    win = df["state"] < 2  # go to win, no-go to win
    assert df.loc[win, "reward"].isin([0.0, 1.0]).all() and df.loc[~win, "reward"].isin([-1.0, 0.0]).all()
    assert (df["success"] == (df["choice"] == df["correct_action"])).all()
    assert df["correct_action"].tolist() == [CUES[s][1] for s in df["state"]]
    better = np.where(win, df["reward"] == 1, df["reward"] == 0)
    valid = better == df["success"]
    assert abs(valid.mean() - 0.8) < 3 * np.sqrt(0.16 / len(df))  # binomial, 3 SE
    with pytest.raises(ValueError, match=r"^GoNoGo: p_valid must be a finite number in \[0, 1\], got 1.5$"):
        gym.make("cogmodels/GoNoGo-v0", p_valid=1.5)


def _pavlovian_effect(pi: float) -> tuple[float, float]:
    """Accuracy on the cues where the Pavlovian tendency agrees with the correct action (go to
    win, no-go to avoid) minus where it opposes it, and its standard error."""
    params = {"xi": 0.05, "ep": 0.2, "b": 0.0, "pi": pi, "rho": 5.0}
    sim = simulate(make_model("gng_m3"), params, "cogmodels/GoNoGo-v0", n_subjects=40, seed=1, progress=False)
    df = sim.trials
    congruent = df["state"].isin([0, 3])
    acc_c, acc_i = df.loc[congruent, "success"].mean(), df.loc[~congruent, "success"].mean()
    se = np.sqrt(acc_c * (1 - acc_c) / congruent.sum() + acc_i * (1 - acc_i) / (~congruent).sum())
    return acc_c - acc_i, se


def test_pavlovian_bias_favours_congruent_cues_in_simulation():
    """Guitart-Masip et al. (2012): with pi > 0 go-to-win and no-go-to-avoid are learned better
    than no-go-to-win and go-to-avoid; with pi = b = 0 the four cues are symmetric."""
    none, se0 = _pavlovian_effect(0.0)
    strong, se1 = _pavlovian_effect(2.0)
    assert abs(none) < 3 * se0
    assert strong > 3 * se1
