"""Tests of the restless bandit of Daw et al. (2006)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import cogmodels  # noqa: F401  (registers the environments)
from cogmodels.envs.restless_bandit import RestlessBandit, stationary_moments
from cogmodels.envs.wrappers import record_session

ENV_ID = "cogmodels/RestlessBandit-v0"
LAMBDA, THETA, SIGMA_D, SIGMA_O = 0.9836, 50.0, 2.8, 4.0


def rollout(env: gym.Env, seed: int, n: int | None = None) -> tuple[np.ndarray, ...]:
    """Play arm ``t % k`` for a session; return means (trials × arms), choices, rewards, regrets."""
    env = env.unwrapped
    _, info = env.reset(seed=seed)
    means, choices, rewards, regrets = [], [], [], []
    done, t = False, 0
    while not done and (n is None or t < n):
        a = t % env.n_actions
        _, r, done, truncated, info = env.step(a)
        assert truncated is False
        means.append(info["means"])
        choices.append(a)
        rewards.append(r)
        regrets.append(info["regret"])
        t += 1
    return np.array(means), np.array(choices), np.array(rewards), np.array(regrets)


@pytest.fixture(scope="module")
def long_walk() -> np.ndarray:
    """The means of one 40 000-trial session started from the stationary law."""
    means, *_ = rollout(RestlessBandit(n_trials=40_000), seed=123)
    return means


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"initial_means": [20, 40, 60, 80], "rounded": False, "payoff_bounds": None},
     {"n_actions": 2, "reward_scale": 0.01}],
)
def test_env_checkers_pass_without_warnings(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)


def test_defaults_are_daws():
    env = gym.make(ENV_ID).unwrapped
    assert isinstance(env, RestlessBandit)
    assert (env.n_actions, env.n_trials) == (4, 300)
    assert (env.decay, env.decay_center, env.diffusion_std, env.payoff_std) == (
        LAMBDA, THETA, SIGMA_D, SIGMA_O)
    assert env.action_space == gym.spaces.Discrete(4)
    assert env.observation_space == gym.spaces.Box(0, 1, (1,), np.float32)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, np.ones(1, np.float32))
    assert set(info) == {"means", "best_arm"}
    assert info["best_arm"] == int(np.argmax(info["means"]))


def test_same_seed_same_rollout_and_other_seed_differs():
    a = rollout(gym.make(ENV_ID), seed=7)
    b = rollout(gym.make(ENV_ID), seed=7)
    c = rollout(gym.make(ENV_ID), seed=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_session_ends_after_n_trials():
    env = gym.make(ENV_ID, n_trials=5)
    env.reset(seed=0)
    flags = [env.step(0)[2] for _ in range(5)]
    assert flags == [False] * 4 + [True]


def test_stationary_moments_formula():
    mean, var = stationary_moments(LAMBDA, THETA, SIGMA_D)
    assert mean == THETA
    assert var == pytest.approx(SIGMA_D**2 / (1 - LAMBDA**2))
    assert np.sqrt(var) == pytest.approx(15.5, abs=0.1)


def test_walk_matches_stationary_mean_and_variance(long_walk):
    """Long-run mean theta and variance sigma_d^2 / (1 - lambda^2), tolerances from the AR(1)."""
    n_total = long_walk.size
    mean, var = stationary_moments(LAMBDA, THETA, SIGMA_D)
    # AR(1): Var(sample mean) ~ var (1+l)/(1-l) / N; Var(sample var) ~ 2 var^2 (1+l^2)/(1-l^2) / N
    se_mean = np.sqrt(var * (1 + LAMBDA) / (1 - LAMBDA) / n_total)
    se_var = var * np.sqrt(2 * (1 + LAMBDA**2) / (1 - LAMBDA**2) / n_total)
    assert abs(long_walk.mean() - mean) < 4 * se_mean
    assert abs(long_walk.var() - var) < 4 * se_var


def test_walk_one_step_law_is_decaying_gaussian(long_walk):
    """mu_{t+1} - lambda mu_t - (1 - lambda) theta ~ N(0, sigma_d^2), independent of mu_t."""
    nu = long_walk[1:] - LAMBDA * long_walk[:-1] - (1 - LAMBDA) * THETA
    n = nu.size
    assert abs(nu.mean()) < 4 * SIGMA_D / np.sqrt(n)
    assert abs(nu.std() / SIGMA_D - 1) < 4 / np.sqrt(2 * n)
    assert abs(np.corrcoef(nu.ravel(), long_walk[:-1].ravel())[0, 1]) < 4 / np.sqrt(n)
    # arms diffuse independently
    assert abs(np.corrcoef(nu[:, 0], nu[:, 1])[0, 1]) < 4 / np.sqrt(nu.shape[0])


def test_initial_means_drawn_from_stationary_law():
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=0)
    draws = np.array([env.reset()[1]["means"] for _ in range(2000)])
    mean, var = stationary_moments(LAMBDA, THETA, SIGMA_D)
    assert abs(draws.mean() - mean) < 4 * np.sqrt(var / draws.size)
    assert abs(draws.var() / var - 1) < 4 * np.sqrt(2 / draws.size)


def test_fixed_and_per_episode_initial_means():
    env = gym.make(ENV_ID, initial_means=[20, 40, 60, 80])
    assert env.reset(seed=0)[1]["means"] == (20.0, 40.0, 60.0, 80.0)
    assert env.reset(seed=1)[1]["best_arm"] == 3
    info = env.reset(options={"initial_means": [90, 10, 10, 10]})[1]
    assert info["means"] == (90.0, 10.0, 10.0, 10.0) and info["best_arm"] == 0
    assert env.reset()[1]["means"] == (20.0, 40.0, 60.0, 80.0)


def test_payoff_noise_is_gaussian_around_the_chosen_mean():
    env = gym.make(ENV_ID, n_trials=20_000, rounded=False, payoff_bounds=None)
    means, choices, rewards, _ = rollout(env, seed=3)
    noise = rewards - means[np.arange(len(choices)), choices]
    n = noise.size
    assert abs(noise.mean()) < 4 * SIGMA_O / np.sqrt(n)
    assert abs(noise.std() / SIGMA_O - 1) < 4 / np.sqrt(2 * n)


def test_payoffs_are_whole_points_within_bounds():
    env = gym.make(ENV_ID, n_trials=2000, initial_means=[99, 2, 50, 50], diffusion_std=0.0)
    means, choices, rewards, _ = rollout(env, seed=4)
    assert np.array_equal(rewards, np.rint(rewards))
    assert rewards.min() >= 1 and rewards.max() <= 100
    # far outside the bounds every payoff is clipped
    env = gym.make(ENV_ID, initial_means=[300, -200, 50, 50], diffusion_std=0.0)
    env.reset(seed=0)
    assert env.step(0)[1] == 100.0
    assert env.step(1)[1] == 1.0


def test_means_info_best_arm_and_regret():
    env = gym.make(ENV_ID, initial_means=[20, 40, 60, 80]).unwrapped
    _, info0 = env.reset(seed=0)
    _, _, _, _, info = env.step(1)
    # step info describes the trial just played, whose means are those announced at reset
    assert info["means"] == info0["means"] and info["trial"] == 0
    assert info["best_arm"] == 3 and info["regret"] == pytest.approx(40.0)
    before = tuple(env.means.tolist())
    _, _, _, _, info = env.step(3)
    assert info["means"] == before and info["trial"] == 1
    assert info["regret"] == pytest.approx(max(before) - before[3])
    assert info["regret"] >= 0


def test_regret_is_zero_for_an_oracle():
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=5)
    for _ in range(300):
        *_, info = env.step(int(env.means.argmax()))
        assert info["regret"] == 0.0


def test_reward_scale_scales_reward_means_and_regret():
    a = rollout(gym.make(ENV_ID), seed=9)
    b = rollout(gym.make(ENV_ID, reward_scale=0.01), seed=9)
    np.testing.assert_allclose(b[0], 0.01 * a[0])
    np.testing.assert_array_equal(b[1], a[1])
    np.testing.assert_allclose(b[2], 0.01 * a[2])
    np.testing.assert_allclose(b[3], 0.01 * a[3])


def test_trial_row_and_recorded_table():
    env = gym.make(ENV_ID, n_trials=50)
    df = record_session(env, lambda obs, info: 2, seed=0, subject="s1")
    assert len(df) == 50
    expected = ["subject", "session", "trial", "state", "choice", "reward",
                "mean_0", "mean_1", "mean_2", "mean_3", "regret"]
    assert list(df.columns) == expected
    assert (df["choice"] == 2).all() and (df["state"] == 0).all()
    assert np.allclose(df[[f"mean_{i}" for i in range(4)]].max(axis=1) - df["mean_2"], df["regret"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_actions": 1}, r"^RestlessBandit: n_actions must be an integer in \[2, 1000\], got 1$"),
        ({"n_trials": 0}, r"n_trials must be an integer in \[1, 1000000\], got 0"),
        ({"decay": 1.0}, r"decay must be a finite number in \[0, 1\), got 1.0"),
        ({"decay": -0.1}, r"decay must be a finite number in \[0, 1\), got -0.1"),
        ({"decay_center": float("nan")}, "decay_center must be a finite number"),
        ({"diffusion_std": -1}, r"diffusion_std must be a finite number in \[0, 1e\+06\], got -1"),
        ({"payoff_std": "x"}, "payoff_std must be a finite number .*, got 'x'"),
        ({"payoff_std": float("inf")}, "payoff_std must be a finite number .*, got inf"),
        ({"initial_means": [1, 2, 3]}, r"initial_means must be an array of shape \(4,\) of finite numbers"),
        ({"rounded": "yes"}, "rounded must be True or False, got 'yes'"),
        ({"payoff_bounds": (100, 1)}, r"payoff_bounds must be a pair \(low, high\) .*low <= high"),
        ({"payoff_bounds": 5}, r"payoff_bounds must be a pair \(low, high\)"),
        ({"payoff_bounds": (float("inf"), float("inf"))}, r"payoff_bounds must be a pair .*, got \(inf, inf\)"),
        ({"reward_scale": 0}, r"reward_scale must be a finite number in \(0, 1e\+06\], got 0"),
        ({"reward_scale": float("inf")}, r"reward_scale must be a finite number in \(0, 1e\+06\], got inf"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make(ENV_ID, **kwargs)


def test_bad_action_and_bad_reset_option_raise():
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^RestlessBandit.step: action must be an integer in \[0, 3\]"):
        env.step(4)
    with pytest.raises(ValueError, match=r"^RestlessBandit.reset: options\[\"initial_means\"\] must be an array"):
        env.reset(options={"initial_means": [1.0, np.nan, 2.0, 3.0]})
