"""Tests of the two-step task (Daw et al. 2011), single and natively vectorised."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import cogmodels  # noqa: F401  (registers the environments)
from cogmodels.envs.two_step import TwoStep, TwoStepVector, reflect
from cogmodels.envs.wrappers import record_session
from cogmodels.fits import stay_probabilities
from cogmodels.fits.ppc import stay_effects
from cogmodels.models import make_model
from cogmodels.simulate import simulate

ENV_ID = "cogmodels/TwoStep-v0"
Z = 4.0  # width of the confidence intervals, in standard errors


def make_vec(num_envs: int, **kwargs) -> TwoStepVector:
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def random_session(seed: int, **kwargs):
    env = gym.make(ENV_ID, **kwargs)
    rng = np.random.default_rng(seed)
    return record_session(env, lambda obs, info: int(rng.integers(2)), seed=seed)


def test_spaces_and_stage_alternation():
    env = gym.make(ENV_ID, n_trials=3).unwrapped
    assert isinstance(env, TwoStep)
    assert env.action_space == gym.spaces.Discrete(2)
    assert env.observation_space == gym.spaces.Box(0, 1, (3,), np.float32)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [1, 0, 0])
    assert len(info["reward_probabilities"]) == 4
    for trial in range(3):
        obs, r, term, trunc, info = env.step(1)
        assert r == 0.0 and info["stage"] == 0 and not term and not trunc
        s2 = info["state2"]
        assert obs[1 + s2] == 1.0 and obs.sum() == 1.0
        assert info["common"] == (s2 == 1)
        obs, r, term, _, info = env.step(0)
        assert info["stage"] == 1 and info["trial"] == trial and r in (0.0, 1.0)
        np.testing.assert_array_equal(obs, [1, 0, 0])
        assert term == (trial == 2)


def test_transitions_are_common_with_p_common():
    df = random_session(0, n_trials=4000)
    common = df["common"].to_numpy()
    n = len(common)
    assert abs(common.mean() - 0.7) < Z * np.sqrt(0.21 / n)
    # the common destination of action a is state a
    np.testing.assert_array_equal(common, (df["state2"] == df["choice"]).to_numpy())


def test_rewards_follow_the_current_probabilities():
    df = random_session(1, n_trials=4000)
    p = np.array([df[f"p_reward_{s}{a}"].iloc[i] for i, (s, a) in
                  enumerate(zip(df["state2"], df["choice2"]))])
    r = df["reward"].to_numpy()
    # sum of independent Bernoulli(p_i): mean sum p_i, variance sum p_i (1 - p_i)
    assert abs(r.sum() - p.sum()) < Z * np.sqrt((p * (1 - p)).sum())


def test_reward_probabilities_drift_as_reflected_gaussian_walks():
    df = random_session(2, n_trials=3000)
    cols = [f"p_reward_{s}{a}" for s in (0, 1) for a in (0, 1)]
    p = df[cols].to_numpy()
    assert p.min() >= 0.25 and p.max() <= 0.75
    steps = np.diff(p, axis=0)
    # away from the bounds a step is N(0, 0.025^2)
    inner = ((p[:-1] > 0.35) & (p[:-1] < 0.65)).ravel()
    s = steps.ravel()[inner]
    assert abs(s.std() - 0.025) < 0.002
    assert abs(s.mean()) < Z * 0.025 / np.sqrt(s.size)
    # a walk explores the whole band over a long session
    assert p.max() - p.min() > 0.3


def test_fixed_probabilities_and_reset_options():
    fixed = [[0.25, 0.75], [0.5, 0.5]]
    env = gym.make(ENV_ID, reward_probabilities=fixed, drift_std=0.0).unwrapped
    _, info = env.reset(seed=0)
    assert info["reward_probabilities"] == (0.25, 0.75, 0.5, 0.5)
    _, info = env.reset(seed=0, options={"reward_probabilities": [[0.3, 0.3], [0.7, 0.7]]})
    assert info["reward_probabilities"] == (0.3, 0.3, 0.7, 0.7)
    env.step(0)
    _, _, _, _, info = env.step(0)
    assert info["reward_probabilities"] == (0.3, 0.3, 0.7, 0.7)  # no drift


def test_reflect_folds_into_the_band():
    x = np.array([0.5, 0.76, 0.24, 0.75 + 0.5 + 0.1, -1.0])
    y = reflect(x, 0.25, 0.75)
    np.testing.assert_allclose(y, [0.5, 0.74, 0.26, 0.35, 0.5])
    assert ((y >= 0.25) & (y <= 0.75)).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_trials": 0}, r"^TwoStep: n_trials must be an integer in \[1, 1000000\], got 0$"),
        ({"p_common": 1.5}, r"p_common must be a finite number in \[0, 1\], got 1.5"),
        ({"drift_std": -0.1}, r"drift_std must be a finite number in \[0, 1\], got -0.1"),
        ({"reward_bounds": (0.8, 0.2)}, "reward_bounds must be .* got"),
        ({"reward_probabilities": [0.5, 0.5]}, r"reward_probabilities must be an array of shape \(2, 2\)"),
        ({"reward_probabilities": [[0.1, 0.5], [0.5, 0.5]]}, r"of finite numbers in \[0.25, 0.75\]"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TwoStep(**kwargs)


def test_bad_action():
    env = TwoStep()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^TwoStep.step: action must be an integer in \[0, 1\] .*, got 2$"):
        env.step(2)


def test_vector_with_one_copy_reproduces_the_single_task():
    single = TwoStep(n_trials=50)
    vec = TwoStepVector(num_envs=1, n_trials=50)
    o1, _ = single.reset(seed=9)
    o2, _ = vec.reset(seed=9)
    np.testing.assert_array_equal(o1, o2[0])
    rng = np.random.default_rng(0)
    for _ in range(100):
        a = int(rng.integers(2))
        o1, r1, t1, *_ = single.step(a)
        o2, r2, t2, *_ = vec.step(np.array([a]))
        np.testing.assert_array_equal(o1, o2[0])
        assert r1 == r2[0] and t1 == t2[0]


def test_vector_statistics_match_the_single_task():
    vec = make_vec(256, n_trials=100)
    vec.reset(seed=3)
    common, stage1 = 0, 0
    for _ in range(200):
        _, r, _, _, info = vec.step(np.ones(256, dtype=np.int64))
        first = info["stage"] == 0
        common += int(info["common"][first].sum())
        stage1 += int(first.sum())
        assert (r[first] == 0).all()
    assert abs(common / stage1 - 0.7) < Z * np.sqrt(0.21 / stage1)


def test_model_free_and_model_based_stay_patterns():
    """Daw et al. (2011), Fig. 2: a model-free learner shows a main effect of reward on staying,
    a model-based one a reward x transition interaction."""
    base = {"alpha2": 0.5, "beta1": 5.0, "beta2": 5.0, "kappa": 0.0}
    mf = simulate(make_model("two_step_mf"), {**base, "alpha1": 0.5, "lam": 1.0}, ENV_ID,
                  n_subjects=40, seed=0, env_kwargs={"n_trials": 201})
    mb = simulate(make_model("two_step_mb"), base, ENV_ID, n_subjects=40, seed=0,
                  env_kwargs={"n_trials": 201})
    e_mf = stay_effects(stay_probabilities(mf.trials))
    e_mb = stay_effects(stay_probabilities(mb.trials))
    assert e_mf["reward"] > 0.1 and abs(e_mf["interaction"]) < 0.05
    assert e_mb["interaction"] > 0.1 and abs(e_mb["reward"]) < 0.05


def test_switch_schedule_of_wang_et_al_2018():
    env = TwoStep(n_trials=4000, schedule="switch", p_switch=0.05, reward_bounds=(0.1, 0.9),
                  p_common=0.8)
    rng = np.random.default_rng(0)
    df = record_session(env, lambda obs, info: int(rng.integers(2)), seed=0)
    p = df[["p_reward_00", "p_reward_01", "p_reward_10", "p_reward_11"]].to_numpy()
    # one good state paying 0.9 for either action, the other 0.1
    assert set(np.unique(p)) == {0.1, 0.9}
    assert (p[:, 0] == p[:, 1]).all() and (p[:, 2] == p[:, 3]).all() and (p[:, 0] != p[:, 2]).all()
    switches = (np.diff(p[:, 0]) != 0).sum()
    n = len(p) - 1
    assert abs(switches / n - 0.05) < Z * np.sqrt(0.05 * 0.95 / n)
    assert abs(df["common"].mean() - 0.8) < Z * np.sqrt(0.16 / len(df))
    vec = TwoStepVector(num_envs=1, n_trials=50, schedule="switch")
    single = TwoStep(n_trials=50, schedule="switch")
    np.testing.assert_array_equal(single.reset(seed=3)[0], vec.reset(seed=3)[0][0])
    for t in range(100):
        a = t % 2
        r1 = single.step(a)[1]
        r2 = vec.step(np.array([a]))[1][0]
        assert r1 == r2


def test_switch_schedule_bad_arguments():
    with pytest.raises(ValueError, match=r"schedule must be one of \['drift', 'switch'\], got 'flip'"):
        TwoStep(schedule="flip")
    with pytest.raises(ValueError, match="reward_probabilities applies only to schedule='drift'"):
        TwoStep(schedule="switch", reward_probabilities=[[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"p_switch must be a finite number in \[0, 1\], got 2"):
        TwoStep(schedule="switch", p_switch=2)
