#!/usr/bin/env python
"""Meta-RL on the two-armed bandit: a GRU trained by batched A2C in a fixed wall-clock budget.

Task: ``cogmodels/MultiArmedBandit-v0``, two Bernoulli arms with ``p_i ~ U(0, 1)`` redrawn every
session, 100 trials (Wang et al. 2018, Nat Neurosci). Score: mean pseudo-regret per session,
``sum_t (max p - p_{a_t})`` (the sum of ``info["regret"]``), on ``--eval-episodes`` held-out
sessions (seed ``--eval-seed``, different from the training seeds) with a 95% CI. Every agent is
scored by :func:`cogmodels.agents.bandit_baselines.evaluate` on the same sessions (same arm
probabilities and reward draws):

- the GRU (:class:`~cogmodels.agents.a2c.A2CTrainer`), trained for ``--budget`` seconds of wall
  clock with its learning-rate and entropy schedules measured in seconds (they end with the
  budget, whatever the machine's speed), evaluated greedy (argmax) and sampled;
- the baselines: exact Bayes-optimal (dynamic programming; also its exact expected regret),
  Thompson sampling, UCB1, greedy, random;
- sb3-contrib ``RecurrentPPO`` (LSTM) trained for the same budget on the single environment
  wrapped with ``PreviousActionReward`` (``--ppo-budget 0`` skips it), with sb3-contrib's
  default ``MlpLstmPolicy`` settings (overridable with ``--ppo-config``; the settings used are
  written beside its figure).

Both learners train on the same signal, ``--reward-signal``: ``sampled`` (default: the reward
the task paid, all a real learner has) or ``expected`` (minus the pseudo-regret of the choice,
computed from the hidden arm probabilities: a labelled variant, not the headline). Their inputs
are the sampled rewards either way.

The GRU's options (``--config``) that change how the sampled reward enters the returns, all
estimators of the same sampled-reward gradient (:mod:`cogmodels.agents.a2c`):
``{"hindsight": true}`` (the posterior-expected pseudo-regret of each choice given the session's
final counts), ``{"baseline": "bayes_value", "rao_blackwell": true}`` (the Bayes-optimal value
of the counts as a baseline, posterior-predictive rewards), and ``{"curriculum": [[20, 0.1]]}``
(shorter sessions first). The JSON records the training history by tenths of the run.

``--clock cpu`` counts the budgets in the process's CPU seconds (one torch thread): on a machine
shared with other work, the stand-in for that many seconds of a quiet core (wall and CPU seconds
are both reported).

Prints one JSON document (also written to ``--out``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_meta_rl.py --budget 600 --clock cpu --threads 1 --out meta_rl.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import cogmodels  # noqa: F401
from cogmodels.agents.a2c import BANDIT_SETTINGS, A2CConfig, A2CTrainer
from cogmodels.agents.bandit_baselines import (
    UCB1,
    BayesOptimal,
    Greedy,
    RandomPolicy,
    SessionPolicy,
    ThompsonSampling,
    evaluate,
)
from cogmodels.envs.wrappers import PreviousActionReward

ENV_ID = "cogmodels/MultiArmedBandit-v0"

#: the trainer settings (see benchmarks/RESULTS.md for the search)
GRU_CONFIG = {k: v for k, v in BANDIT_SETTINGS.items() if k != "reward_signal"}


def train_gru(budget: float, seed: int, config: dict[str, Any], progress: bool,
              clock: str = "wall", save_dir: str | None = None,
              checkpoint_every: int | None = None) -> tuple[A2CTrainer, dict]:
    """Train a GRU on the bandit for ``budget`` seconds of ``clock``, its schedules ending with it."""
    t0, c0 = time.perf_counter(), time.process_time()
    trainer = A2CTrainer(A2CConfig(seed=seed, schedule_unit="seconds", total_s=budget,
                                   clock=clock, **config))
    trainer.train(progress=progress, checkpoint_dir=save_dir, checkpoint_every=checkpoint_every)
    info = {
        "config": trainer.config.to_dict(),
        "sec_per_update": trainer.elapsed_s_ / max(1, trainer.update_),
        "updates": trainer.update_,
        "sessions": trainer.update_ * trainer.config.n_lanes,
        "env_steps": trainer.env_steps_,
        "clock": clock,
        "train_s": trainer.elapsed_s_,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "final_train_regret": float(trainer.history_["regret"].tail(50).mean()),
        "history_by_tenths": _tenths(trainer.history_),
    }
    return trainer, info


def _tenths(history: Any) -> dict[str, list[float]]:
    """Mean training statistics over each tenth of the run (regret, entropy, value loss, ...)."""
    cols = [c for c in ("update", "n_trials", "regret", "entropy", "value_loss", "explained_variance",
                        "advantage_std", "grad_norm") if c in history]
    tenth = np.minimum(9, (10 * np.arange(len(history))) // max(1, len(history)))
    means = history[cols].groupby(tenth).mean()
    return {c: [round(float(v), 4) for v in means[c]] for c in cols}


class SB3RecurrentAgent(SessionPolicy):
    """An sb3-contrib RecurrentPPO model as a :class:`SessionPolicy` (batched over sessions)."""

    def __init__(self, model: Any, greedy: bool) -> None:
        self.model, self.greedy = model, greedy
        self.name = f"recurrent_ppo-{'greedy' if greedy else 'sampled'}"

    def start(self, n_sessions: int, n_arms: int) -> None:
        shape = self.model.policy.lstm_hidden_state_shape
        h = torch.zeros(shape[0], n_sessions, shape[2])
        self._states = (h, torch.zeros_like(h))
        self._starts = torch.ones(n_sessions)
        self._n_arms = n_arms
        self._prev = np.zeros((n_sessions, n_arms + 1), dtype=np.float32)

    @torch.no_grad()
    def choose(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = torch.as_tensor(np.concatenate([obs, self._prev], axis=1))
        dist, self._states = self.model.policy.get_distribution(x, self._states, self._starts)
        self._starts = torch.zeros_like(self._starts)
        p = dist.distribution.probs.double().numpy()
        if self.greedy:
            return p.argmax(axis=1)
        u = rng.random(p.shape[0])[:, None]
        return np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), p.shape[1] - 1)

    def observe(self, actions: np.ndarray, rewards: np.ndarray) -> None:
        self._prev[:] = 0.0
        self._prev[np.arange(len(actions)), actions] = 1.0
        self._prev[:, -1] = rewards


class ExpectedReward(gym.Wrapper):
    """Replace the bandit's reward by minus the pseudo-regret of the choice (``"expected"``).

    Wrap *outside* ``PreviousActionReward``, so that the policy's input stays the sampled reward.
    """

    def step(self, action: Any):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, -float(info["regret"]), terminated, truncated, info


#: sb3-contrib's defaults for RecurrentPPO with MlpLstmPolicy (sb3-contrib 2.x), written out so
#: that the figure records them; --ppo-config overrides any of them
PPO_SETTINGS: dict[str, Any] = {
    "n_envs": 8,
    "n_steps": 128,
    "batch_size": 128,
    "n_epochs": 10,
    "learning_rate": 3e-4,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_range": 0.2,
    "ent_coef": 0.0,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "lstm_hidden_size": 256,
}


def train_recurrent_ppo(budget: float, seed: int, reward_signal: str,
                        overrides: dict[str, Any] | None = None, clock: str = "wall") -> tuple[Any, dict]:
    """Train sb3-contrib's RecurrentPPO for ``budget`` seconds of ``clock`` on ``reward_signal``."""
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    now = time.process_time if clock == "cpu" else time.perf_counter

    class TimeLimit(BaseCallback):
        def __init__(self, seconds: float) -> None:
            super().__init__()
            self.seconds, self.t0 = seconds, now()

        def _on_step(self) -> bool:
            return now() - self.t0 < self.seconds

    settings = {**PPO_SETTINGS, **(overrides or {})}
    unknown = sorted(set(settings) - set(PPO_SETTINGS))
    if unknown:
        raise ValueError(f"--ppo-config keys must be among {sorted(PPO_SETTINGS)}, got {unknown}")
    t0, c0, n0 = time.perf_counter(), time.process_time(), now()

    def make() -> gym.Env:
        env = PreviousActionReward(gym.make(ENV_ID, n_actions=2, n_trials=100))
        return ExpectedReward(env) if reward_signal == "expected" else env

    kw = dict(settings)
    n_envs, hidden = kw.pop("n_envs"), kw.pop("lstm_hidden_size")
    venv = DummyVecEnv([make] * n_envs)
    venv.seed(seed)
    model = RecurrentPPO("MlpLstmPolicy", venv, seed=seed, verbose=0, device="cpu",
                         policy_kwargs={"lstm_hidden_size": hidden}, **kw)
    model.learn(total_timesteps=10**10, callback=TimeLimit(budget - (now() - n0)))
    info = {
        "reward_signal": reward_signal,
        "settings": settings,
        "env_steps": int(model.num_timesteps),
        "clock": clock,
        "train_s": now() - n0,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
    }
    return model, info


def summary(res: Any) -> dict[str, float]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in res.as_dict().items()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=600.0, help="GRU training budget, s of --clock")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="what --budget counts: wall-clock s, or the process's CPU s (one torch "
                         "thread: the honest stand-in for a quiet core when the machine is shared)")
    ap.add_argument("--ppo-budget", type=float, default=None, help="RecurrentPPO budget (default --budget; 0 skips)")
    ap.add_argument("--eval-episodes", type=int, default=10_000)
    ap.add_argument("--skip-gru", action="store_true", help="train only RecurrentPPO")
    ap.add_argument("--skip-baselines", action="store_true",
                    help="do not evaluate the reference policies (quicker searches)")
    ap.add_argument("--eval-seed", type=int, default=20_181)
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1: fastest for these small networks)")
    ap.add_argument("--config", type=str, default=None, help="JSON overrides of the GRU config")
    ap.add_argument("--reward-signal", choices=["sampled", "expected"], default="sampled",
                    help="what both learners train on (default: the sampled reward)")
    ap.add_argument("--ppo-config", type=str, default=None, help="JSON overrides of PPO_SETTINGS")
    ap.add_argument("--save-dir", type=str, default=None, help="write the trained GRU here")
    ap.add_argument("--checkpoint-every", type=int, default=None,
                    help="also checkpoint into --save-dir every this many updates")
    ap.add_argument("--out", type=str, default=None, help="also write the JSON here")
    ap.add_argument("--progress", action="store_true", help="show a progress bar")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ppo_budget = args.budget if args.ppo_budget is None else args.ppo_budget
    config = dict(GRU_CONFIG, reward_signal=args.reward_signal,
                  **(json.loads(args.config) if args.config else {}))
    ev = dict(seed=args.eval_seed)
    n = args.eval_episodes

    out: dict[str, Any] = {
        "task": f"{ENV_ID}, 2 Bernoulli arms ~ U(0,1), 100 trials; pseudo-regret per session",
        "reward_signal": args.reward_signal,
        "load_average_at_start": os.getloadavg()[0],
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
        },
        "eval": {"episodes": n, "seed": args.eval_seed},
    }
    optimal = BayesOptimal(100)
    out["bayes_optimal_exact_regret"] = round(optimal.expected_regret, 4)
    out["baselines"] = {} if args.skip_baselines else {
        p.name: summary(evaluate(p, n, **ev))
        for p in (optimal, ThompsonSampling(), Greedy(), UCB1(), RandomPolicy())
    }
    print(json.dumps(out["baselines"]), file=sys.stderr, flush=True)

    if not args.skip_gru:
        trainer, info = train_gru(args.budget, args.seed, config, args.progress, args.clock,
                                  args.save_dir, args.checkpoint_every)
        model = trainer.model
        out["gru_a2c"] = {
            "budget_s": args.budget,
            **info,
            "greedy": summary(evaluate(model.as_session_policy(greedy=True), n, **ev)),
            "sampled": summary(evaluate(model.as_session_policy(greedy=False), n, **ev)),
        }
        print(json.dumps(out["gru_a2c"]), file=sys.stderr, flush=True)

    if ppo_budget > 0:
        ppo_over = json.loads(args.ppo_config) if args.ppo_config else None
        ppo, pinfo = train_recurrent_ppo(ppo_budget, args.seed, args.reward_signal, ppo_over, args.clock)
        out["recurrent_ppo"] = {
            "budget_s": ppo_budget,
            **pinfo,
            "greedy": summary(evaluate(SB3RecurrentAgent(ppo, greedy=True), n, **ev)),
            "sampled": summary(evaluate(SB3RecurrentAgent(ppo, greedy=False), n, **ev)),
        }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return out


if __name__ == "__main__":
    main()
