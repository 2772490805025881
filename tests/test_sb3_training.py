"""stable-baselines3 and sb3-contrib train on the cognitive tasks as they are."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import A2C, PPO

import cogmodels  # noqa: F401
from cogmodels.envs.wrappers import PreviousActionReward


def _mean_reward(model, env, steps: int = 500, recurrent: bool = False) -> float:
    rng = np.random.default_rng(1)
    rewards, state, start = [], None, np.ones((1,), dtype=bool)
    obs, _ = env.reset(seed=123)
    for _ in range(steps):
        if recurrent:
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=False)
            start = np.zeros((1,), dtype=bool)
        else:
            action, _ = model.predict(obs, deterministic=False)
        obs, r, term, trunc, _ = env.step(action)
        rewards.append(r)
        if term or trunc:
            obs, _ = env.reset(seed=int(rng.integers(1 << 31)))
            start = np.ones((1,), dtype=bool)
    return float(np.mean(rewards))


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_sb3_beats_chance_on_bandit(algo):
    """A 0.8 / 0.2 bandit: chance earns 0.5 per trial; a trained policy picks arm 0."""
    torch.manual_seed(0)
    env = gym.make("cogmodels/MultiArmedBandit-v0", means=[0.8, 0.2], n_trials=50)
    kwargs = {"n_steps": 256, "batch_size": 64} if algo is PPO else {"n_steps": 16}
    model = algo("MlpPolicy", env, learning_rate=3e-3, seed=0, verbose=0, **kwargs)
    model.learn(total_timesteps=3_000)
    # chance: mean 0.5 with sd 0.5/sqrt(500) = 0.022; require a clear margin above it
    assert _mean_reward(model, env) > 0.65


def test_recurrent_ppo_trains_on_the_meta_rl_input():
    """sb3-contrib RecurrentPPO on the bandit with the previous action and reward appended to
    the observation (the meta-RL input); benchmarks/bench_meta_rl.py trains it on the full task."""
    torch.manual_seed(0)
    env = PreviousActionReward(gym.make("cogmodels/MultiArmedBandit-v0", means=[0.9, 0.1], n_trials=50))
    model = RecurrentPPO("MlpLstmPolicy", env, n_steps=32, batch_size=32, n_epochs=4,
                         learning_rate=1e-2, seed=0, verbose=0, policy_kwargs={"lstm_hidden_size": 16})
    model.learn(total_timesteps=1_024)
    assert _mean_reward(model, env, recurrent=True) > 0.65


@pytest.mark.parametrize("env_id", ["cogmodels/TwoStep-v0", "cogmodels/DelayedMatchToSample-v0",
                                    "cogmodels/NBack-v0", "cogmodels/RLWM-v0"])
def test_ppo_runs_on_every_discrete_task(env_id):
    env = PreviousActionReward(gym.make(env_id))
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, verbose=0)
    model.learn(total_timesteps=128)
    action, _ = model.predict(env.reset(seed=0)[0])
    assert env.action_space.contains(int(action))


@pytest.mark.parametrize("algo", [PPO, RecurrentPPO])
def test_sb3_trains_a_reward_only_decoder_on_the_bci(algo):
    """PPO / RecurrentPPO as BCI decoders: spikes in, 2-D velocity out, reward the only signal."""
    torch.manual_seed(0)
    env = gym.make("cogmodels/CursorBCI-v0", n_trials=4, timeout=1.0, error_signal=(0.9, 0.1))
    assert env.observation_space.shape == (192,)  # spike counts only: the target is not observed
    policy = "MlpLstmPolicy" if algo is RecurrentPPO else "MlpPolicy"
    model = algo(policy, env, n_steps=64, batch_size=32, n_epochs=1, seed=0, verbose=0)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(128)
    changed = [not torch.equal(a, b) for a, b in zip(before, model.policy.parameters())]
    assert sum(changed) >= len(changed) // 2  # the updates reached the policy
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (2,) and env.action_space.contains(action.astype(np.float32))
    assert model.num_timesteps >= 128
