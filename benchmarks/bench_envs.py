#!/usr/bin/env python
"""Environment throughput: every registered cogmodels task against a minimal hand-written bandit.

Single environments: steps per second of each registered task (``cogmodels.envs.ENV_IDS``, default
arguments, the bare task ``gym.make(id).unwrapped``, pre-drawn random valid actions, reset at
every session end), each reported as a ratio to ``MinimalBandit`` below, a bare Gymnasium env timed
the same way in the same run, interleaved so that machine noise hits both alike. The goal is a
ratio of at least 0.5 for every task. The bandit is also timed with ``env.action_space.sample()``
in the loop. Vector: env-steps per second of ``MultiArmedBanditVector`` at 1,024 copies. Each
figure is the median of ``--repeats`` runs; each run steps for at least ``--min-time`` seconds.

    python benchmarks/bench_envs.py --repeats 7
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import gymnasium as gym
import numpy as np

import cogmodels  # noqa: F401
from cogmodels.envs import ENV_IDS


class MinimalBandit(gym.Env):
    """The least a Gymnasium two-armed Bernoulli bandit can do."""

    def __init__(self, n_trials: int = 100) -> None:
        self.action_space = gym.spaces.Discrete(2)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.n_trials = n_trials

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.p = self.np_random.uniform(size=2)
        self.t = 0
        return np.ones(1, dtype=np.float32), {}

    def step(self, action):
        reward = float(self.np_random.random() < self.p[action])
        self.t += 1
        return np.ones(1, dtype=np.float32), reward, self.t >= self.n_trials, False, {}


def _actions(space: gym.Space, n: int) -> list:
    """``n`` random valid actions of ``space``, drawn before timing (ints, or float32 arrays)."""
    rng = np.random.default_rng(0)
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, size=n).tolist()
    return list(rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(space.dtype))


def single_rate(env: gym.Env, min_time: float, sample: bool = False, chunk: int = 2000) -> float:
    """Return the steps per second of ``env``, stepped in chunks until ``min_time`` seconds pass."""
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = _actions(env.action_space, chunk)
    step, reset, space = env.step, env.reset, env.action_space
    steps, elapsed = 0, 0.0
    while elapsed < min_time:
        t0 = time.perf_counter()
        if sample:
            for _ in range(chunk):
                if step(space.sample())[2]:
                    reset()
        else:
            for a in actions:
                if step(a)[2]:
                    reset()
        elapsed += time.perf_counter() - t0
        steps += chunk
    return steps / elapsed


def vector_rate(num_envs: int, steps: int) -> float:
    envs = gym.make_vec(
        "cogmodels/MultiArmedBandit-v0", num_envs=num_envs, vectorization_mode="vector_entry_point"
    )
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, size=(steps, num_envs))
    t0 = time.perf_counter()
    for a in actions:
        envs.step(a)
    return num_envs * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.3, help="seconds each single-env run steps at least")
    ap.add_argument("--vector-steps", type=int, default=3_000)
    ap.add_argument("--num-envs", type=int, default=1024)
    ap.add_argument("--envs", nargs="*", default=list(ENV_IDS), help="ids to time (default: all registered)")
    args = ap.parse_args()
    tasks = {env_id: gym.make(env_id).unwrapped for env_id in args.envs}
    minimal = MinimalBandit()
    bandit = gym.make("cogmodels/MultiArmedBandit-v0").unwrapped
    rates: dict[str, list[float]] = {k: [] for k in [*tasks, "minimal", "bandit_sample", "minimal_sample", "vector"]}
    ratios: dict[str, list[float]] = {k: [] for k in tasks}
    for _ in range(args.repeats):  # interleave so machine noise hits every figure alike
        for env_id, env in tasks.items():
            ref = single_rate(minimal, args.min_time)
            ours = single_rate(env, args.min_time)
            rates["minimal"].append(ref)
            rates[env_id].append(ours)
            ratios[env_id].append(ours / ref)
        rates["bandit_sample"].append(single_rate(bandit, args.min_time, sample=True))
        rates["minimal_sample"].append(single_rate(minimal, args.min_time, sample=True))
        rates["vector"].append(vector_rate(args.num_envs, args.vector_steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    summary = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        "repeats": args.repeats,
        "minimal_steps_per_s": round(med["minimal"]),
        "single_envs": {
            env_id: {"steps_per_s": round(med[env_id]),
                     "ratio_to_minimal": round(statistics.median(ratios[env_id]), 3)}
            for env_id in tasks
        },
        "below_half_of_minimal": [k for k in tasks if statistics.median(ratios[k]) < 0.5],
        "bandit_action_space_sample_ratio": round(med["bandit_sample"] / med["minimal_sample"], 3),
        f"vector_{args.num_envs}_env_steps_per_s": round(med["vector"]),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
