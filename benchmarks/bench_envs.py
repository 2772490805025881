#!/usr/bin/env python
"""Environment throughput: cogmodels bandits against a minimal hand-written Gymnasium bandit.

Single environment: steps per second of ``MultiArmedBandit`` (2 arms, 100-trial sessions, random
actions, reset at every session end), reported as a ratio to ``MinimalBandit`` below, a bare
Gymnasium env timed the same way in the same run. Vector: env-steps per second of
``MultiArmedBanditVector`` at 1,024 copies. Each figure is the median of ``--repeats`` runs.

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


def single_rate(env: gym.Env, steps: int, sample: bool) -> float:
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = np.random.default_rng(0).integers(0, 2, size=steps).tolist()
    step, reset, space = env.step, env.reset, env.action_space
    t0 = time.perf_counter()
    if sample:
        for _ in range(steps):
            if step(space.sample())[2]:
                reset()
    else:
        for a in actions:
            if step(a)[2]:
                reset()
    return steps / (time.perf_counter() - t0)


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
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--vector-steps", type=int, default=3_000)
    ap.add_argument("--num-envs", type=int, default=1024)
    args = ap.parse_args()
    ours = gym.make("cogmodels/MultiArmedBandit-v0").unwrapped
    minimal = MinimalBandit()
    res: dict[str, list[float]] = {k: [] for k in ("ours", "minimal", "ours_sample", "minimal_sample", "vector")}
    for _ in range(args.repeats):  # interleave so machine noise hits both alike
        res["ours"].append(single_rate(ours, args.steps, sample=False))
        res["minimal"].append(single_rate(minimal, args.steps, sample=False))
        res["ours_sample"].append(single_rate(ours, args.steps, sample=True))
        res["minimal_sample"].append(single_rate(minimal, args.steps, sample=True))
        res["vector"].append(vector_rate(args.num_envs, args.vector_steps))
    med = {k: statistics.median(v) for k, v in res.items()}
    ratios = [a / b for a, b in zip(res["ours"], res["minimal"])]
    ratios_s = [a / b for a, b in zip(res["ours_sample"], res["minimal_sample"])]
    summary = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        "repeats": args.repeats,
        "single_steps_per_s": round(med["ours"]),
        "minimal_steps_per_s": round(med["minimal"]),
        "ratio_to_minimal": round(statistics.median(ratios), 3),
        "single_steps_per_s_action_space_sample": round(med["ours_sample"]),
        "minimal_steps_per_s_action_space_sample": round(med["minimal_sample"]),
        "ratio_to_minimal_action_space_sample": round(statistics.median(ratios_s), 3),
        f"vector_{args.num_envs}_env_steps_per_s": round(med["vector"]),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
