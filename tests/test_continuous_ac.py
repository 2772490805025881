"""The continuous-action (Gaussian) actor-critic: convergence, pointing, batches, seeds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium import spaces

from cogmodels.agents.continuous import GaussianActorCritic, linear_schedule


def _contextual(agent: GaussianActorCritic, w_star: np.ndarray, n: int, seed: int,
                batch: int | None = None) -> None:
    """The 1-step task: x ~ N(0, I), reward = -||a - W* x||^2."""
    rng = np.random.default_rng(seed)
    d = w_star.shape[1]
    for _ in range(n):
        x = rng.standard_normal(d if batch is None else (batch, d))
        a = agent.act(x)
        target = x @ w_star.T
        agent.update(x, a, -((a - target) ** 2).sum(axis=-1))


@pytest.mark.parametrize("w_seed", [0, 1])
@pytest.mark.parametrize(
    "settings",
    [
        {"alpha_actor": 0.01, "alpha_std": 0.001},
        {"alpha_actor": 0.02, "alpha_std": 0.005, "normalize_delta": True},
    ],
    ids=["raw", "normalized"],
)
def test_policy_mean_converges_to_the_optimal_linear_map(settings, w_seed):
    w_star = np.random.default_rng(w_seed).normal(size=(3, 3))
    agent = GaussianActorCritic(3, 3, alpha_critic=0.05, std=0.5, min_std=0.05, seed=1 + w_seed,
                                **settings)
    _contextual(agent, w_star, 6000, seed=2 + w_seed)
    # E[dW] = -2 alpha sigma^2 (W - W*) x x^T: W -> W*, the intercept -> 0
    np.testing.assert_allclose(agent.W[:, :3], w_star, atol=0.05)
    np.testing.assert_allclose(agent.W[:, 3], 0.0, atol=0.05)
    # the reward punishes exploration: the learnt noise shrinks from 0.5
    assert (agent.std < 0.25).all()
    # the critic's baseline tracks the expected reward, about -d sigma^2 near the optimum
    assert agent.w[-1] == pytest.approx(-3 * agent.std.mean() ** 2, abs=0.05)


def test_batched_updates_and_a_std_schedule():
    w_star = np.random.default_rng(3).normal(size=(2, 4))
    schedule = linear_schedule(0.5, 0.1, 300)
    agent = GaussianActorCritic(4, 2, alpha_actor=0.2, alpha_critic=0.2, std_schedule=schedule,
                                seed=0)
    assert not agent.learn_std
    _contextual(agent, w_star, 600, seed=4, batch=32)
    np.testing.assert_allclose(agent.std, [0.1, 0.1])
    np.testing.assert_allclose(agent.W[:, :4], w_star, atol=0.03)
    assert agent.last_delta.shape == (32,)


class Pointing(gym.Env):
    """Center-out pointing from a cosine-tuned population: a one-step reward-trained decoder.

    A target at one of 8 directions on the unit circle drives ``n_units`` units with rates
    ``b_i + m_i cos(theta - pd_i) + noise``; the action is the 2-D endpoint and the reward is
    ``-||a - target||^2``.
    """

    def __init__(self, n_units: int = 20, noise: float = 0.1) -> None:
        g = np.random.default_rng(123)
        self.n_units, self.noise = n_units, noise
        self.pd = g.uniform(0, 2 * np.pi, n_units)
        self.base = g.uniform(0.5, 1.5, n_units)
        self.depth = g.uniform(0.5, 1.0, n_units)
        self.observation_space = spaces.Box(-np.inf, np.inf, (n_units,), np.float64)
        self.action_space = spaces.Box(-2.0, 2.0, (2,), np.float64)

    def _obs(self) -> np.ndarray:
        rates = self.base + self.depth * np.cos(self.angle - self.pd)
        return rates + self.noise * self.np_random.standard_normal(self.n_units)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.angle = self.np_random.integers(8) * np.pi / 4
        self.target = np.array([np.cos(self.angle), np.sin(self.angle)])
        return self._obs(), {}

    def step(self, action):
        reward = -float(np.sum((np.asarray(action) - self.target) ** 2))
        return self._obs(), reward, True, False, {}


def test_reward_trained_decoder_learns_2d_pointing_from_population_features():
    env = Pointing()
    agent = GaussianActorCritic(20, 2, alpha_actor=0.01, alpha_critic=0.05, alpha_std=0.002,
                                std=0.3, min_std=0.05, seed=0)
    before = agent.run(env, n_steps=200, seed=1, learn=False, greedy=True)
    train = agent.run(env, n_steps=5000, seed=0)
    after = agent.run(env, n_steps=300, seed=1, learn=False, greedy=True)
    err_before = np.sqrt(-before.reward).mean()
    err_after = np.sqrt(-after.reward).mean()
    assert err_before == pytest.approx(1.0)  # mean 0 at the start: distance 1 to every target
    assert err_after < 0.15
    assert train.reward.iloc[-500:].mean() > 3 * train.reward.iloc[:500].mean()  # less negative
    # rollout's step table: one-step sessions, the clipped action the task got, the sampled one
    assert list(train.columns) == ["subject", "session", "step", "trial", "reward", "terminated",
                                   "truncated", "action_0", "action_1", "delta", "value", "a_0", "a_1"]
    assert (train.session.to_numpy() == np.arange(5000)).all() and (train.step == 0).all()
    np.testing.assert_array_equal(train.action_0, train.a_0.clip(-2.0, 2.0))
    # gamma = 0 and one-step episodes: delta = r - V(x)
    np.testing.assert_allclose(train.delta, train.reward - train.value, atol=1e-12)


def test_td_lambda_bootstraps_on_the_next_state():
    agent = GaussianActorCritic(2, 1, gamma=0.9, lam=0.5, alpha_critic=0.5, alpha_actor=0.0,
                                alpha_std=0.0, fit_intercept=False, seed=0)
    agent.w[:] = [1.0, 2.0]
    x, x2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    d = agent.update(x, [0.0], 0.5, x2)
    assert d == pytest.approx(0.5 + 0.9 * 2.0 - 1.0)
    np.testing.assert_allclose(agent.w, [1.0 + 0.5 * d, 2.0])
    d2 = agent.update(x2, [0.0], 0.0, None)  # terminal: bootstrap 0; traces 0.45 x + x2
    assert d2 == pytest.approx(-2.0)
    np.testing.assert_allclose(agent.w, [1.0 + 0.5 * d - 0.5 * 2.0 * 0.45, 2.0 - 0.5 * 2.0])
    np.testing.assert_allclose(agent._e_w, 0.0)  # cleared after a terminal step


def test_same_seed_same_run_and_errors():
    def play(seed):
        agent = GaussianActorCritic(20, 2, seed=5)
        return agent.run(Pointing(), n_steps=50, seed=seed)

    pd.testing.assert_frame_equal(play(0), play(0))
    assert not play(0).a_0.equals(play(1).a_0)
    agent = GaussianActorCritic(3, 2)
    with pytest.raises(ValueError, match="x must have shape"):
        agent.act(np.zeros(4))
    with pytest.raises(ValueError, match="Box action space of shape"):
        agent.run("cogmodels/MultiArmedBandit-v0", n_steps=3)
    with pytest.raises(ValueError, match="std must be > 0"):
        GaussianActorCritic(3, 2, std=0.0)
    with pytest.raises(ValueError, match="action_dim must be a positive integer"):
        GaussianActorCritic(3, 0)
    lp = agent.log_prob(np.zeros(3), np.zeros(2))
    assert lp == pytest.approx(-np.log(2 * np.pi))  # N(0, 1) in 2-D at its mean
