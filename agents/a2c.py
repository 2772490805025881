"""Batched advantage actor-critic (A2C) for meta-reinforcement learning with recurrent policies.

A lean synchronous version of A3C (Mnih et al. 2016, ICML) as used for meta-RL by Wang et al.
(2016, arXiv:1611.05763; 2018, Nat Neurosci, "Prefrontal cortex as a meta-reinforcement learning
system"): ``num_envs`` sessions of a task run in lockstep on the native vector environment; a
:class:`~cogmodels.agents.rnn.RecurrentPolicy` sees ``[obs, onehot(a_{t-1}), r_{t-1}]`` and is
trained across sessions, so that within a session its hidden state does the learning.

One *update* processes a rollout of ``rollout_len`` environment steps of every session (one step a
trial in the bandit and reversal tasks, two in the two-step task, several in the working-memory
tasks; the whole session by
default: full-episode backpropagation through time). The rollout is played without gradients;
the network is then re-run over the recorded inputs as one sequence, and the loss is

    L = -mean(A_t log π(a_t | h_t)) + c_v · mean((G_t - V(h_t))² / 2) - c_e · mean(H[π(· | h_t)]),

with generalised advantage estimates (Schulman et al. 2016, ICLR)
``δ_t = r_t + γ V_{t+1} - V_t``, ``A_t = Σ_k (γλ)^k δ_{t+k}``, ``G_t = A_t + V_t``
(``λ = 1``: n-step returns; value 0 after the last trial, bootstrapped at a truncation). The entropy
weight ``c_e`` and the learning rate decay linearly from their start to their end values over
``total_updates``; Adam (Kingma & Ba 2015) with gradient-norm clipping.

Reproducibility: everything random in a batch of sessions (the environment's reset seed and the
torch generator that samples actions) is derived from ``(seed, episode index)`` through
:class:`numpy.random.SeedSequence`, and the initial weights from ``seed``; the global torch RNG is
never touched. A checkpoint (``checkpoint.pt``: model and optimiser ``state_dict``, update and
episode counters; ``config.json``; ``history.json``) is therefore all the state there is, and
training resumed from one reproduces uninterrupted training bit for bit (same torch build and
thread count). Checkpoints load with ``torch.load(weights_only=True)``.

Examples
--------
A tiny run (a real one: ``A2CConfig(num_envs=256, hidden_size=64, total_updates=5000)`` and
``train(time_budget_s=600, checkpoint_dir=...)``), checkpointed, evaluated and resumed:

>>> import tempfile
>>> from cogmodels.agents.a2c import A2CConfig, A2CTrainer
>>> run = tempfile.mkdtemp()
>>> config = A2CConfig(num_envs=16, n_trials=20, hidden_size=8, total_updates=4, seed=0)
>>> trainer = A2CTrainer(config).train(progress=False, checkpoint_dir=run)
>>> trainer.update_
4
>>> trainer.evaluate(200, seed=1)  # doctest: +ELLIPSIS
RegretResult(mean=..., ci=(..., ...), sem=..., n_episodes=200)
>>> A2CTrainer.resume(run).update_  # later: carry on from the checkpoint
4
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from gymnasium import spaces
from tqdm.auto import tqdm

import cogmodels.envs  # noqa: F401  (registers the environments)
from cogmodels._threads import check_threads, torch_threads
from cogmodels.agents.bandit_baselines import RegretResult, evaluate
from cogmodels.agents.rnn import (
    CELLS,
    RecurrentPolicy,
    _atomic_torch_save,
    _atomic_write_text,
    _first_line,
    _load_checkpoint,
    _load_json,
    _short_error,
)
from cogmodels.validation import check_int, int_seed

__all__ = ["A2CConfig", "A2CTrainer", "BANDIT_SETTINGS", "REWARD_SIGNALS"]

#: what the learner is trained on: the sampled reward, the mean reward of the chosen arm
#: (bandit only, ``info["means"]``) or minus the pseudo-regret (bandit only, ``info["regret"]``).
#: The network's *input* is always the sampled reward.
REWARD_SIGNALS = ("reward", "mean", "regret")


#: the settings tuned for the two-armed Bernoulli bandit with p ~ U(0, 1) and 100 trials
#: (Wang et al. 2018): mean regret 1.88 on held-out sessions after 10 minutes on 2 CPU cores;
#: the search (γ 0.9 / 0.95 / 0.98, the reward or the regret as the signal) is in
#: benchmarks/RESULTS.md. Use as ``A2CConfig(**BANDIT_SETTINGS, total_updates=..., seed=...)``.
BANDIT_SETTINGS: dict[str, Any] = {
    "num_envs": 64,
    "cell": "gru",
    "hidden_size": 64,
    "gamma": 0.95,
    "gae_lambda": 1.0,
    "lr": 3e-3,
    "lr_end": 3e-4,
    "entropy_coef": 0.05,
    "entropy_coef_end": 0.0,
    "value_coef": 0.5,
    "max_grad_norm": 1.0,
    "reward_signal": "regret",
}


@dataclass
class A2CConfig:
    """Settings of :class:`A2CTrainer` (all JSON-serialisable).

    - ``env_id``, ``env_kwargs``, ``n_trials``, ``num_envs``: the task, sessions per batch.
    - ``cell``, ``hidden_size``: the :class:`RecurrentPolicy`.
    - ``rollout_len``: trials per update (``None``: the whole session); must divide ``n_trials``.
    - ``gamma``, ``gae_lambda``: discount and GAE parameter.
    - ``lr`` -> ``lr_end``, ``entropy_coef`` -> ``entropy_coef_end``: linear schedules over
      ``total_updates`` (``lr_end=None`` keeps ``lr`` constant).
    - ``value_coef``, ``max_grad_norm``, ``normalize_advantages``: loss weighting and clipping.
    - ``reward_signal``: one of :data:`REWARD_SIGNALS`.
    - ``seed``: weights, sessions and action sampling.
    - ``threads``: torch threads while training (:meth:`A2CTrainer.train` sets them and puts the
      previous setting back); ``None`` keeps the process's setting (torch: one per core). Set 1
      when anything else runs on the machine: the small networks here gain little from more, and
      threads fighting over busy cores slow training 10-80x.
    """

    env_id: str = "cogmodels/MultiArmedBandit-v0"
    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"n_arms": 2})
    n_trials: int = 100
    num_envs: int = 256
    cell: str = "gru"
    hidden_size: int = 64
    rollout_len: int | None = None
    gamma: float = 0.9
    gae_lambda: float = 1.0
    lr: float = 1e-3
    lr_end: float | None = None
    entropy_coef: float = 0.05
    entropy_coef_end: float = 0.0
    value_coef: float = 0.5
    max_grad_norm: float = 1.0
    normalize_advantages: bool = False
    total_updates: int = 1000
    reward_signal: str = "reward"
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        check_threads("threads", self.threads)
        for name in ("n_trials", "num_envs", "hidden_size", "total_updates"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        if self.rollout_len is not None:
            check_int("rollout_len", self.rollout_len, 1)
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {list(CELLS)}, got {self.cell!r}")
        if self.reward_signal not in REWARD_SIGNALS:
            raise ValueError(
                f"reward_signal must be one of {list(REWARD_SIGNALS)}, got {self.reward_signal!r}"
            )
        for name in ("gamma", "gae_lambda"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0.0 <= v <= 1.0):
                raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
        for name in ("lr", "lr_end"):
            v = getattr(self, name)
            if v is None and name == "lr_end":
                continue
            if not (isinstance(v, int | float) and v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        for name in ("entropy_coef", "entropy_coef_end", "value_coef", "max_grad_norm"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        if not isinstance(self.env_kwargs, dict):
            raise ValueError(f"env_kwargs must be a dict, got {self.env_kwargs!r}")
        if "n_trials" in self.env_kwargs or "num_envs" in self.env_kwargs:
            raise ValueError("env_kwargs must not hold n_trials or num_envs: set them on A2CConfig")

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a plain dict (what checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> A2CConfig:
        """Build a configuration from :meth:`to_dict`'s dict; unknown keys are a ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown A2CConfig fields {unknown}; allowed: {sorted(known)}")
        return cls(**d)


class A2CTrainer:
    """Train a :class:`RecurrentPolicy` with batched A2C on a cognitive task's vector environment.

    ``A2CTrainer(config)`` (or keyword overrides, ``A2CTrainer(hidden_size=48, seed=3)``) builds
    the network, the Adam optimiser and ``config.num_envs`` copies of the task. :meth:`train` runs
    updates; :meth:`save_checkpoint` / :meth:`resume` persist and restore everything.

    Attributes
    ----------
    model : RecurrentPolicy
        The network.
    update_, episode_ : int
        Updates run and batches of sessions played so far.
    env_steps_ : int
        Environment steps taken so far, over all copies.
    history_ : pandas.DataFrame
        One row per batch of sessions: update, env_steps, mean return and pseudo-regret per
        session of the training batch where the task reports it, entropy, losses, gradient
        norm, lr, entropy weight, elapsed seconds.
    """

    CHECKPOINT = "checkpoint.pt"

    def __init__(self, config: A2CConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = A2CConfig(**overrides)
        elif overrides:
            config = A2CConfig.from_dict({**config.to_dict(), **overrides})
        if not isinstance(config, A2CConfig):
            raise TypeError(f"config must be an A2CConfig, got {type(config).__name__}")
        self.config = cfg = config
        if cfg.env_id not in gym.registry:
            raise ValueError(f"env_id must be a registered environment id, got {cfg.env_id!r}")
        single = gym.make(cfg.env_id, n_trials=cfg.n_trials, **cfg.env_kwargs).unwrapped
        steps = getattr(single, "steps_per_session", None)
        if steps is None:
            raise ValueError(
                f"{cfg.env_id} with env_kwargs={cfg.env_kwargs} has sessions of varying length "
                "(a delay or interval drawn per trial, or a performance criterion); the A2C trainer "
                "runs sessions in lockstep and needs a fixed number of steps per session: fix the "
                "varying argument (e.g. delay_steps=2)"
            )
        #: environment steps per session; every session of a batch ends on the same step
        self.steps_per_session = int(steps)
        if cfg.rollout_len is not None and self.steps_per_session % cfg.rollout_len:
            raise ValueError(
                f"rollout_len must divide the {self.steps_per_session} steps of a session "
                f"(sessions end together), got {cfg.rollout_len!r}"
            )
        native = gym.spec(cfg.env_id).vector_entry_point is not None
        self.env = gym.make_vec(
            cfg.env_id,
            num_envs=cfg.num_envs,
            vectorization_mode="vector_entry_point" if native else "sync",
            n_trials=cfg.n_trials,
            **cfg.env_kwargs,
        )
        act_space, obs_space = self.env.single_action_space, self.env.single_observation_space
        if not isinstance(act_space, spaces.Discrete) or not (
            isinstance(obs_space, spaces.Box) and len(obs_space.shape) == 1
        ):
            raise ValueError(
                f"env_id must be a task with Discrete actions and a flat Box observation, got "
                f"{cfg.env_id!r} with {act_space!r} / {obs_space!r}"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.model = RecurrentPolicy(
                n_actions=int(act_space.n),
                obs_dim=int(obs_space.shape[0]),
                hidden_size=cfg.hidden_size,
                cell=cfg.cell,
            )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self._gen = torch.Generator()
        self.update_ = 0
        self.episode_ = 0
        self.elapsed_s_ = 0.0
        self._history: list[dict[str, float]] = []

    # -- schedules --------------------------------------------------------------------------------
    def _progress(self) -> float:
        return min(1.0, self.update_ / self.config.total_updates)

    def current_lr(self) -> float:
        """Return the learning rate now: linear from ``lr`` to ``lr_end`` over the updates."""
        cfg = self.config
        end = cfg.lr if cfg.lr_end is None else cfg.lr_end
        return cfg.lr + (end - cfg.lr) * self._progress()

    def current_entropy_coef(self) -> float:
        """Return the entropy weight now: linear from ``entropy_coef`` to ``entropy_coef_end``."""
        cfg = self.config
        return cfg.entropy_coef + (cfg.entropy_coef_end - cfg.entropy_coef) * self._progress()

    @property
    def env_steps_(self) -> int:
        """Environment steps taken so far, over all copies."""
        cfg = self.config
        return self.update_ * cfg.num_envs * (cfg.rollout_len or self.steps_per_session)

    @property
    def rollouts_per_episode(self) -> int:
        """Updates per batch of sessions: the session's steps over ``rollout_len``."""
        rl = self.config.rollout_len
        return 1 if rl is None else self.steps_per_session // rl

    @property
    def history_(self) -> pd.DataFrame:
        """Training history, one row per batch of sessions."""
        return pd.DataFrame.from_records(self._history)

    # -- training ---------------------------------------------------------------------------------
    def train(
        self,
        n_updates: int | None = None,
        *,
        time_budget_s: float | None = None,
        progress: bool = True,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
    ) -> A2CTrainer:
        """Run ``n_updates`` more updates (default: up to ``config.total_updates``).

        Training stops at the end of a batch of sessions, so with truncated rollouts it may run
        past ``n_updates`` to finish the batch; it also stops at the first batch boundary after
        ``time_budget_s`` seconds. With ``checkpoint_dir``, a checkpoint is written every
        ``checkpoint_every`` updates (at batch boundaries) and at the end. ``progress`` shows a
        tqdm bar. torch computes with ``config.threads`` threads meanwhile (when set).
        """
        cfg = self.config
        if n_updates is None:
            n_updates = max(0, cfg.total_updates - self.update_)
        else:
            check_int("n_updates", n_updates, 0)
        if time_budget_s is not None and not (
            isinstance(time_budget_s, int | float) and time_budget_s > 0
        ):
            raise ValueError(f"time_budget_s must be a positive number of seconds, got {time_budget_s!r}")
        if checkpoint_every is not None:
            check_int("checkpoint_every", checkpoint_every, 1)
            if checkpoint_dir is None:
                raise ValueError("checkpoint_every needs checkpoint_dir (where to write them)")
        target = self.update_ + n_updates
        t0 = time.perf_counter()
        elapsed0 = self.elapsed_s_
        last_ckpt = self.update_
        with torch_threads(cfg.threads), tqdm(total=n_updates, disable=not progress, desc="A2C",
                                               unit="upd") as bar:
            while self.update_ < target:
                if time_budget_s is not None and time.perf_counter() - t0 >= time_budget_s:
                    break
                before = self.update_
                row = self._train_episode()
                self.elapsed_s_ = elapsed0 + time.perf_counter() - t0
                row["elapsed_s"] = self.elapsed_s_
                self._history.append(row)
                bar.update(self.update_ - before)
                if "regret" in row:
                    bar.set_postfix(regret=f"{row['regret']:.2f}", ent=f"{row['entropy']:.3f}")
                if checkpoint_every and self.update_ - last_ckpt >= checkpoint_every:
                    self.save_checkpoint(checkpoint_dir)
                    last_ckpt = self.update_
        if checkpoint_dir is not None:
            self.save_checkpoint(checkpoint_dir)
        return self

    def _episode_seeds(self) -> tuple[int, int]:
        env_seed, torch_seed = np.random.SeedSequence([self.config.seed, self.episode_]).generate_state(2)
        return int(env_seed), int(torch_seed)

    def _train_episode(self) -> dict[str, float]:
        """Play one batch of sessions, updating after every rollout; return its statistics."""
        cfg, model, env = self.config, self.model, self.env
        B, n_obs = cfg.num_envs, model.obs_dim
        L = cfg.rollout_len or self.steps_per_session
        env_seed, torch_seed = self._episode_seeds()
        obs, _ = env.reset(seed=env_seed)
        self._gen.manual_seed(torch_seed)
        lanes = torch.arange(B)
        h = model.initial_state(B)
        prev_a: torch.Tensor | None = None
        prev_r: torch.Tensor | None = None
        total_reward = torch.zeros(B, dtype=torch.float64)
        total_regret = np.zeros(B)
        has_regret = True
        stats: dict[str, list[float]] = {k: [] for k in ("entropy", "policy_loss", "value_loss", "grad_norm")}
        n_chunks = self.rollouts_per_episode
        for chunk in range(n_chunks):
            h0 = _detach(h)
            xs = torch.zeros(L, B, model.input_size)
            actions = torch.empty(L, B, dtype=torch.long)
            signal = torch.empty(L, B)
            with torch.no_grad():
                for t in range(L):
                    x = xs[t]
                    x[:, :n_obs] = torch.from_numpy(np.asarray(obs, dtype=np.float32))
                    if prev_a is not None:
                        x[lanes, n_obs + prev_a] = 1.0
                        x[:, -1] = prev_r
                    logits, _, h = model.step(x, h)
                    a = _sample(logits, self._gen)
                    obs, reward, _, _, info = env.step(a.numpy())
                    actions[t] = a
                    r = torch.from_numpy(np.asarray(reward, dtype=np.float32))
                    total_reward += r
                    if "regret" in info:
                        total_regret += info["regret"]
                    else:
                        has_regret = False
                    signal[t] = self._signal(r, a.numpy(), info)
                    prev_a, prev_r = a, r
                if chunk < n_chunks - 1:  # bootstrap from the value of the next trial's input
                    x = torch.zeros(B, model.input_size)
                    x[:, :n_obs] = torch.from_numpy(np.asarray(obs, dtype=np.float32))
                    x[lanes, n_obs + prev_a] = 1.0
                    x[:, -1] = prev_r
                    _, v_boot, _ = model.step(x, h)
                else:
                    v_boot = torch.zeros(B)
            s = self._update(xs, h0, actions, signal, v_boot)
            for k, v in s.items():
                stats[k].append(v)
            self.update_ += 1
        self.episode_ += 1
        row: dict[str, float] = {
            "update": self.update_,
            "episode": self.episode_,
            "env_steps": self.env_steps_,
            "return": float(total_reward.mean()),
        }
        if has_regret:
            row["regret"] = float(total_regret.mean())
        row.update({k: float(np.mean(v)) for k, v in stats.items()})
        row["lr"] = self.current_lr()
        row["entropy_coef"] = self.current_entropy_coef()
        return row

    def _signal(self, reward: torch.Tensor, actions: np.ndarray, info: dict) -> torch.Tensor:
        kind = self.config.reward_signal
        if kind == "reward":
            return reward
        if kind == "regret":
            if "regret" not in info:
                raise ValueError(f"reward_signal='regret' needs info['regret'] from {self.config.env_id}")
            return torch.from_numpy(-np.asarray(info["regret"], dtype=np.float32))
        if "means" not in info:
            raise ValueError(f"reward_signal='mean' needs info['means'] from {self.config.env_id}")
        means = np.asarray(info["means"])
        return torch.from_numpy(means[np.arange(means.shape[0]), actions].astype(np.float32))

    def _update(
        self,
        xs: torch.Tensor,
        h0: Any,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        v_boot: torch.Tensor,
    ) -> dict[str, float]:
        cfg = self.config
        lr, c_e = self.current_lr(), self.current_entropy_coef()
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        logits, values, _ = self.model(xs, h0)
        logp_all = torch.log_softmax(logits, dim=-1)
        logp = logp_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
        with torch.no_grad():
            adv = _gae(rewards, values.detach(), v_boot, cfg.gamma, cfg.gae_lambda)
            returns = adv + values.detach()
            if cfg.normalize_advantages:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = -(logp * adv).mean()
        value_loss = 0.5 * (returns - values).pow(2).mean()
        loss = policy_loss + cfg.value_coef * value_loss - c_e * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        else:
            grad_norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in self.model.parameters() if p.grad is not None])
            )
        self.optimizer.step()
        return {
            "entropy": float(entropy.detach()),
            "policy_loss": float(policy_loss.detach()),
            "value_loss": float(value_loss.detach()),
            "grad_norm": float(grad_norm),
        }

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(
        self, n_episodes: int = 10_000, *, seed: int = 1, greedy: bool = True, **kwargs: Any
    ) -> RegretResult:
        """Return the mean pseudo-regret of the current network on fresh bandit sessions.

        See :func:`cogmodels.agents.bandit_baselines.evaluate`; ``greedy`` picks argmax actions.
        """
        env_kwargs = {k: v for k, v in self.config.env_kwargs.items() if k != "n_arms"}
        return evaluate(
            self.model.as_session_policy(greedy=greedy),
            n_episodes,
            seed=seed,
            n_trials=self.config.n_trials,
            n_arms=self.model.n_actions,
            env_kwargs=env_kwargs or None,
            **kwargs,
        )

    @torch.no_grad()
    def play(self, n_sessions: int = 100, *, seed: int = 1, greedy: bool = False) -> pd.DataFrame:
        """Play ``n_sessions`` fresh sessions of the training task; return their trial table.

        The canonical trial table (``subject`` = session, as
        :class:`~cogmodels.envs.wrappers.RecordTrials` writes it) serves the analyses of
        behaviour (stay probabilities, learning curves, accuracy). ``greedy`` takes argmax
        actions, else actions are sampled; session ``i`` is seeded from ``SeedSequence(seed)``.
        """
        from cogmodels.envs.wrappers import RecordTrials

        n_sessions = check_int("n_sessions", n_sessions, 1)
        cfg, model = self.config, self.model
        envs = [RecordTrials(gym.make(cfg.env_id, n_trials=cfg.n_trials, **cfg.env_kwargs), subject=i)
                for i in range(n_sessions)]
        seeds = np.random.SeedSequence(seed).spawn(n_sessions + 1)
        gen = torch.Generator().manual_seed(int_seed(seeds[0]))
        obs = np.stack([e.reset(seed=int_seed(s))[0] for e, s in zip(envs, seeds[1:])])
        h = model.initial_state(n_sessions)
        prev_a = prev_r = None
        for _ in range(self.steps_per_session):
            x = model.make_input(obs, prev_a, prev_r)
            logits, _, h = model.step(x, h)
            a = logits.argmax(dim=1) if greedy else _sample(logits, gen)
            out = [e.step(int(ai)) for e, ai in zip(envs, a.tolist())]
            obs = np.stack([o[0] for o in out])
            prev_a, prev_r = a, torch.tensor([o[1] for o in out], dtype=torch.float32)
        return pd.concat([e.table() for e in envs], ignore_index=True)

    # -- persistence ------------------------------------------------------------------------------
    def save_checkpoint(self, path_dir: str | os.PathLike) -> Path:
        """Write ``checkpoint.pt``, ``config.json`` and ``history.json`` into ``path_dir``.

        The network alone also goes to ``path_dir/model`` (:meth:`RecurrentPolicy.save`).
        Each file is written to a temporary name and renamed, so a crash never leaves a torn file.
        """
        d = Path(path_dir)
        d.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(d / "config.json", json.dumps(self.config.to_dict(), indent=2))
        _atomic_write_text(d / "history.json", json.dumps(self._history))
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "update": self.update_,
            "episode": self.episode_,
            "elapsed_s": self.elapsed_s_,
        }
        _atomic_torch_save(state, d / self.CHECKPOINT)
        self.model.save(d / "model")
        return d

    @classmethod
    def resume(cls, path_dir: str | os.PathLike) -> A2CTrainer:
        """Rebuild a trainer from :meth:`save_checkpoint`'s folder, ready to :meth:`train` on."""
        d = Path(path_dir)
        if not (d / cls.CHECKPOINT).is_file() or not (d / "config.json").is_file():
            raise ValueError(
                f"path_dir must be a folder written by A2CTrainer.save_checkpoint holding "
                f"{cls.CHECKPOINT} and config.json, got {str(d)!r}"
            )
        writer = "A2CTrainer.save_checkpoint"
        cfg = _load_json(d / "config.json", writer)
        try:
            trainer = cls(A2CConfig.from_dict(cfg))
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ValueError(f"{d / 'config.json'}: not a valid A2CTrainer config ({_first_line(exc)})") from None
        state = _load_checkpoint(d / cls.CHECKPOINT, writer)
        try:
            trainer.model.load_state_dict(state["model"])
            trainer.optimizer.load_state_dict(state["optimizer"])
            trainer.update_ = int(state["update"])
            trainer.episode_ = int(state["episode"])
            trainer.elapsed_s_ = float(state["elapsed_s"])
        except (RuntimeError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(
                f"{d / cls.CHECKPOINT}: not a cogmodels A2C checkpoint that fits config.json "
                f"({_short_error(exc)}); load only folders written by {writer}"
            ) from None
        if (d / "history.json").is_file():
            trainer._history = _load_json(d / "history.json", writer)
        return trainer


def _detach(h: Any) -> Any:
    return tuple(x.detach() for x in h) if isinstance(h, tuple) else h.detach()


def _sample(logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Draw one action per row of ``logits`` by inverting the CDF with ``gen``'s uniforms."""
    p = torch.softmax(logits, dim=-1)
    u = torch.rand(p.shape[0], generator=gen)
    if p.shape[1] == 2:
        return (u >= p[:, 0]).long()
    return (u[:, None] >= p.cumsum(-1)).sum(-1).clamp_(max=p.shape[1] - 1)


def _gae(
    rewards: torch.Tensor, values: torch.Tensor, v_boot: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """Return generalised advantage estimates over a ``(time, batch)`` rollout.

    The rollout has no episode end inside it; ``v_boot`` is the value after the last step (0 at
    the end of the session).
    """
    T = rewards.shape[0]
    adv = torch.empty_like(rewards)
    nxt = v_boot
    last = torch.zeros_like(v_boot)
    for t in range(T - 1, -1, -1):
        delta = rewards[t] + gamma * nxt - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
        nxt = values[t]
    return adv
