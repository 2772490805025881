"""Batched advantage actor-critic (A2C) for meta-reinforcement learning with recurrent policies.

A lean synchronous version of A3C (Mnih et al. 2016, ICML) as used for meta-RL by Wang et al.
(2016, arXiv:1611.05763; 2018, Nat Neurosci, "Prefrontal cortex as a meta-reinforcement learning
system"): ``n_lanes`` sessions of a task run in lockstep on the native vector environment; a
:class:`~cogmodels.agents.rnn.RecurrentPolicy` sees ``[obs, a_{t-1}, r_{t-1}]`` and is
trained across sessions, so that within a session its hidden state does the learning. Actions are
discrete (a softmax) or continuous (a Gaussian squashed or clipped into the task's ``Box``, e.g.
a BCI decoder's cursor velocity); sessions may end at different steps across lanes (the cursor
BCI's trials last until success or timeout), masked out of the loss, the returns and the
recurrent state (:mod:`cogmodels.agents.rollout_buffer`).

The pieces, as in Stable-Baselines3 and CleanRL: the policy in :mod:`cogmodels.agents.rnn`, the
rollout collection in :mod:`cogmodels.agents.rollout_buffer`, the schedules in
:mod:`cogmodels.agents.schedules`, the checkpoint files in :mod:`cogmodels.agents.checkpoint`;
this module holds the algorithm (the loss and the update) and the training loop.

One *update* processes a rollout of ``rollout_len`` environment steps of every session (one step a
trial in the bandit and reversal tasks, two in the two-step task, several in the working-memory
tasks; the whole session by
default: full-episode backpropagation through time). The rollout is played without gradients;
the network is then re-run over the recorded inputs as one sequence, and the loss is

    L = -mean(A_t log π(a_t | h_t)) + c_v · mean((G_t - V(h_t))² / 2) - c_e · mean(H[π(· | h_t)]),

with generalised advantage estimates (Schulman et al. 2016, ICLR)
``δ_t = r_t + γ V_{t+1} - V_t``, ``A_t = Σ_k (γλ)^k δ_{t+k}``, ``G_t = A_t + V_t``
(``λ = 1``: n-step returns; value 0 after the last trial, bootstrapped at a truncation); with
sessions of varying length the means run over the steps inside a session. ``r_t`` is the training
signal, ``reward_signal``: the sampled reward (``"sampled"``, the default, as Wang et al. 2018
and RL², Duan et al. 2016), or on the bandit the *expected* reward of the choice from the task's
hidden arm probabilities (``"expected"``, minus the pseudo-regret: a labelled variant that no
real learner has; the network's inputs are the sampled rewards either way). The entropy weight
``c_e`` and the learning rate decay linearly from their start to their end values over the run,
measured in updates (``total_updates``, reproducible) or in seconds (``total_s``, a
wall-clock budget the schedules end with; ``clock="cpu"`` counts the process's CPU seconds
instead); Adam (Kingma & Ba 2015) with gradient-norm clipping.

On the two-armed Bernoulli bandit with ``p ~ U(0, 1)`` three options use the Beta posterior of the
rewards *observed* in a session (counts ``c_t`` before trial ``t``, ``c_T`` after the last one;
never the arm probabilities), :class:`~cogmodels.agents.bandit_baselines.PosteriorTracker`:

- ``baseline="bayes_value"``: ``V(h_t) = V*_γ(c_t) + v_θ(h_t)``, the exact Bayes-optimal
  discounted value-to-go of the counts (dynamic programming) with the critic as a learned
  residual. A baseline that depends on the observable history only leaves the policy gradient
  unbiased (Williams 1992; Greensmith et al. 2004) and, being close to the value of a good
  policy from the first update, removes much of the variance of ``λ = 1`` returns.
- ``hindsight=True``: ``r_t`` in the returns is replaced by ``E[p_{a_t} - max(p_0, p_1) | c_T]``
  from the counts ``c_T`` at the *end* of the session: the posterior-expected pseudo-regret of
  the choice in hindsight, the observable counterpart of ``reward_signal="expected"``. The first
  term has the conditional expectation of ``r_t`` given everything up to ``a_t`` (tower
  property); the second, given the history up to any ``a_t``, has an expectation that does not
  depend on ``a_t`` (the arm is drawn independently of ``p`` given the history), so it is a
  baseline of every score term. The gradient estimate keeps the expectation of the sampled-reward
  one while the session's level ``p_0 + p_1``, the largest part of the variance of sampled
  returns, cancels (exact check in the tests).
- ``rao_blackwell=True``: ``r_t`` in the returns is replaced by its posterior-predictive mean
  ``r̂_t = (s_{a_t} + 1) / (n_{a_t} + 2)`` given ``c_t``. Every score term ``∇ log π(a_k | h_k)``,
  ``k ≤ t``, is a function of ``(h_t, a_t)``, and ``E[r_t | h_t, a_t] = r̂_t`` under the task's
  prior, so the gradient estimate keeps the expectation of the sampled-reward one (a
  Rao-Blackwellised, variance-reduced estimator of it; the exact check is in the tests).

A curriculum over horizons (``curriculum``, Bengio et al. 2009, ICML) trains on shorter sessions
first (e.g. 20, then 50, then the task's 100 trials): a batch of short sessions costs a fraction of
the CPU of a long one and its returns vary less, so the network learns to explore and exploit
before it meets the long sessions, where the estimator of the gradient is the same as without a
curriculum.

Reproducibility (with ``schedule_unit="updates"``): everything random in a batch of sessions (the environment's reset seed and the
torch generator that samples actions) is derived from ``(seed, episode index)`` through
:class:`numpy.random.SeedSequence`, and the initial weights from ``seed``; the global torch RNG is
never touched. A checkpoint (``checkpoint.pt``: model and optimiser ``state_dict``, update and
episode counters; ``config.json``; ``history.json``) is therefore all the state there is, and
training resumed from one reproduces uninterrupted training bit for bit (same torch build and
thread count). Checkpoints load with ``torch.load(weights_only=True)``.

Examples
--------
A tiny run (a real one: ``A2CConfig(**BANDIT_SETTINGS, schedule_unit="seconds",
total_s=600)`` and ``train(checkpoint_dir=...)``), checkpointed, evaluated and resumed:

>>> import tempfile
>>> from cogmodels.agents.a2c import A2CConfig, A2CTrainer
>>> run = tempfile.mkdtemp()
>>> config = A2CConfig(n_lanes=16, n_trials=20, hidden_size=8, total_updates=4, seed=0)
>>> trainer = A2CTrainer(config).train(progress=False, checkpoint_dir=run)
>>> trainer.update_
4
>>> trainer.evaluate(200, seed=1)  # doctest: +ELLIPSIS
RegretResult(mean=..., ci=(..., ...), sem=..., n_episodes=200)
>>> A2CTrainer.resume(run).update_  # later: carry on from the checkpoint
4
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
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
from cogmodels.agents.bandit_baselines import PosteriorTracker, RegretResult, evaluate
from cogmodels.agents.checkpoint import first_line, read_checkpoint, short_error, write_checkpoint
from cogmodels.agents.rnn import CELLS, LOG_STDS, SQUASHES, RecurrentPolicy
from cogmodels.agents.rollout_buffer import RolloutBuffer, SessionBatch, gae
from cogmodels.agents.schedules import SCHEDULE_UNITS, LinearSchedule, run_fraction
from cogmodels.deprecation import renamed_arguments, renamed_attribute
from cogmodels.rollout import rollout
from cogmodels.validation import check_choice, check_int, check_number

__all__ = ["A2CConfig", "A2CTrainer", "BANDIT_SETTINGS", "BASELINES", "CLOCKS", "REWARD_SIGNALS",
           "a2c_loss"]

#: what the learner is trained on: ``"sampled"``, the reward the task paid (the default, all a
#: real learner has), or ``"expected"``, minus the pseudo-regret of the choice (bandit only,
#: ``info["regret"]``: computed from the hidden arm probabilities; a labelled variant, never a
#: headline). The network's *input* is always the sampled reward.
REWARD_SIGNALS = ("sampled", "expected")
#: the baseline of the advantage: ``"critic"``, the network's value head ``v_θ(h_t)``, or
#: ``"bayes_value"`` (two-armed Bernoulli bandit with p ~ U(0, 1) only), ``V*_γ(c_t) + v_θ(h_t)``:
#: the Bayes-optimal discounted value-to-go of the observed counts ``c_t`` (exact dynamic
#: programming, :class:`~cogmodels.agents.bandit_baselines.PosteriorTracker`) plus the critic as a
#: learned residual. A function of the observable history: the policy gradient stays unbiased.
BASELINES = ("critic", "bayes_value")
#: what ``schedule_unit="seconds"`` counts: ``"wall"`` (``time.perf_counter``) or ``"cpu"``, the
#: process's CPU seconds (``time.process_time``: with one torch thread, the training thread's
#: work, unaffected by other programs sharing the cores)
CLOCKS = ("wall", "cpu")
#: the names of earlier releases, still accepted (with a DeprecationWarning)
_SIGNAL_ALIASES = {"reward": "sampled", "regret": "expected"}


#: the settings for the two-armed Bernoulli bandit with p ~ U(0, 1) and 100 trials (Wang et al.
#: 2018), trained on the sampled reward: mean regret 5.22 on held-out sessions after 10 minutes
#: on 2 CPU cores (1.88 with ``reward_signal="expected"``, the latent signal; 2.20 after 300 CPU
#: seconds with ``hindsight=True, curriculum=[[50, 0.2]]``, still on the sampled reward); the
#: searches are in benchmarks/RESULTS.md. Use as ``A2CConfig(**BANDIT_SETTINGS, schedule_unit="seconds",
#: total_s=600, seed=...)`` or with ``total_updates``.
BANDIT_SETTINGS: dict[str, Any] = {
    "n_lanes": 64,
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
    "reward_signal": "sampled",
}


@dataclass
class A2CConfig:
    """Settings of :class:`A2CTrainer` (all JSON-serialisable).

    - ``env_id``, ``env_kwargs``, ``n_trials``, ``n_lanes``: the task, sessions per batch (the
      lanes: copies of the native vector environment, its ``num_envs``).
    - ``cell``, ``hidden_size``: the :class:`RecurrentPolicy`; for a task with a ``Box`` action
      space its Gaussian: ``squash`` (``"tanh"`` or ``"clip"`` into the box), ``log_std``
      (``"parameter"``: independent of the state; ``"state"``: read out of the hidden state),
      ``log_std_init``.
    - ``rollout_len``: steps per update (``None``: the whole session); with sessions of fixed
      length it must divide the session's steps.
    - ``max_session_steps``: sessions of varying length end at this step at the latest
      (truncated, bootstrapped from their value); ``None``: when the task ends them.
    - ``gamma``, ``gae_lambda``: discount and GAE parameter.
    - ``lr`` -> ``lr_end``, ``entropy_coef`` -> ``entropy_coef_end``: linear schedules
      (:mod:`cogmodels.agents.schedules`) over the run: ``total_updates`` updates
      (``schedule_unit="updates"``, reproducible) or ``total_s`` seconds of training
      (``schedule_unit="seconds"``: a wall-clock budget; :meth:`A2CTrainer.train` then stops
      when it is spent). ``lr_end=None`` keeps ``lr`` constant.
    - ``value_coef``, ``max_grad_norm``, ``normalize_advantages``: loss weighting and clipping.
    - ``reward_signal``: one of :data:`REWARD_SIGNALS` (``"sampled"``: the reward paid).
    - ``baseline``: one of :data:`BASELINES` (``"critic"``: the value head alone).
    - ``rao_blackwell``: two-armed Bernoulli bandit, ``reward_signal="sampled"``: each sampled
      reward ``r_t`` in the returns is replaced by its posterior-predictive mean given the counts
      observed before the trial, ``(s_a + 1) / (n_a + 2)`` (a variance-reduced, unbiased estimator
      of the sampled-reward gradient: :class:`~cogmodels.agents.bandit_baselines.PosteriorTracker`).
    - ``hindsight``: two-armed Bernoulli bandit, ``reward_signal="sampled"``, whole-session
      rollouts: each sampled reward ``r_t`` in the returns is replaced by
      ``E[p_{a_t} - max(p_0, p_1) | c_T]``, the posterior-expected pseudo-regret of the choice
      given the counts at the end of the session (an unbiased estimator of the sampled-reward
      gradient: :meth:`~cogmodels.agents.bandit_baselines.PosteriorTracker.hindsight_signal`).
    - ``clock``: one of :data:`CLOCKS`, what ``total_s`` and ``time_budget_s`` count.
    - ``curriculum``: a curriculum over horizons (Bengio et al. 2009), ``[[n, until], ...]``:
      sessions of ``n`` trials until the fraction ``until`` of the run (updates or seconds, as the
      schedules), then the next pair, then ``n_trials``; ``None`` (the default): ``n_trials``
      throughout. The earlier stages only choose where the last one starts: from the end of the
      curriculum on, the gradient is the unchanged estimator for sessions of ``n_trials``.
    - ``seed``: weights, sessions and action sampling.
    - ``threads``: torch threads while training (:meth:`A2CTrainer.train` sets them and puts the
      previous setting back); ``None`` keeps the process's setting (torch: one per core). Set 1
      when anything else runs on the machine: the small networks here gain little from more, and
      threads fighting over busy cores slow training 10-80x.
    """

    env_id: str = "cogmodels/MultiArmedBandit-v0"
    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"n_actions": 2})
    n_trials: int = 100
    n_lanes: int = 256
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
    reward_signal: str = "sampled"
    seed: int = 0
    threads: int | None = None
    schedule_unit: str = "updates"
    total_s: float | None = None
    max_session_steps: int | None = None
    squash: str = "tanh"
    log_std: str = "parameter"
    log_std_init: float = -0.5
    baseline: str = "critic"
    rao_blackwell: bool = False
    clock: str = "wall"
    curriculum: list[list[float]] | None = None
    hindsight: bool = False

    def __post_init__(self) -> None:
        check_threads("threads", self.threads)
        self.curriculum = _check_curriculum(self.curriculum)
        for name in ("n_trials", "n_lanes", "hidden_size", "total_updates"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        for name in ("rollout_len", "max_session_steps"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {list(CELLS)}, got {self.cell!r}")
        if self.reward_signal in _SIGNAL_ALIASES:
            new = _SIGNAL_ALIASES[self.reward_signal]
            warnings.warn(f"reward_signal={self.reward_signal!r} is now called {new!r}",
                          DeprecationWarning, stacklevel=3)
            self.reward_signal = new
        if self.reward_signal not in REWARD_SIGNALS:
            raise ValueError(
                f"reward_signal must be one of {list(REWARD_SIGNALS)}, got {self.reward_signal!r}"
            )
        check_choice("schedule_unit", self.schedule_unit, SCHEDULE_UNITS)
        check_choice("baseline", self.baseline, BASELINES)
        check_choice("clock", self.clock, CLOCKS)
        if not isinstance(self.rao_blackwell, bool):
            raise TypeError(f"rao_blackwell must be a bool, got {type(self.rao_blackwell).__name__}")
        if self.rao_blackwell and self.reward_signal != "sampled":
            raise ValueError(f"rao_blackwell=True estimates the sampled reward: it needs "
                             f"reward_signal='sampled', got {self.reward_signal!r}")
        if not isinstance(self.hindsight, bool):
            raise TypeError(f"hindsight must be a bool, got {type(self.hindsight).__name__}")
        if self.hindsight:
            if self.reward_signal != "sampled":
                raise ValueError(f"hindsight=True estimates the sampled reward: it needs "
                                 f"reward_signal='sampled', got {self.reward_signal!r}")
            if self.rao_blackwell:
                raise ValueError("hindsight=True and rao_blackwell=True both replace the sampled "
                                 "reward in the returns: choose one")
            if self.baseline != "critic":
                raise ValueError(f"hindsight=True needs baseline='critic' (the Bayes values are "
                                 f"on the scale of the rewards, not of the hindsight signal), got "
                                 f"{self.baseline!r}")
            if self.rollout_len is not None:
                raise ValueError(f"hindsight=True needs the whole session in one rollout "
                                 f"(rollout_len=None), got rollout_len={self.rollout_len!r}")
        if self.schedule_unit == "seconds" and self.total_s is None:
            raise ValueError("schedule_unit='seconds' needs total_s (the run's length in s), "
                             "got total_s=None")
        if self.total_s is not None:
            check_number("total_s", self.total_s, 0.0, low_open=True)
        check_choice("squash", self.squash, SQUASHES)
        check_choice("log_std", self.log_std, LOG_STDS)
        check_number("log_std_init", self.log_std_init, -20.0, 5.0)
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
            raise ValueError("env_kwargs must not hold n_trials or num_envs: set n_trials and n_lanes "
                             "on A2CConfig")

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a plain dict (what checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> A2CConfig:
        """Build a configuration from :meth:`to_dict`'s dict; unknown keys are a ``ValueError``."""
        # configurations written before the renames (checkpoints' config.json): the new names
        d = {_RENAMED_FIELDS.get(k, k): v for k, v in d.items()}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown A2CConfig fields {unknown}; allowed: {sorted(known)}")
        return cls(**d)


#: the old spellings of renamed A2CConfig fields (glossary: durations end in ``_s``; lanes inside
#: the package, ``num_envs`` only at Gymnasium's edge): they still work as arguments and
#: attributes, with a DeprecationWarning
_RENAMED_FIELDS = {"total_seconds": "total_s", "num_envs": "n_lanes"}
A2CConfig.__init__ = renamed_arguments(**_RENAMED_FIELDS)(A2CConfig.__init__)
for _old, _new in _RENAMED_FIELDS.items():
    setattr(A2CConfig, _old, renamed_attribute(_old, _new))


def _check_curriculum(curriculum: Any) -> list[list[float]] | None:
    """Return ``curriculum`` as ``[[n_trials, until], ...]`` (JSON's shape), or raise."""
    if curriculum is None:
        return None
    expected = ("curriculum must be a list of [n_trials, until] pairs: an integer n_trials >= 1 and "
                "an end fraction of the run in (0, 1], increasing, e.g. [[20, 0.1], [50, 0.3]]")
    try:
        pairs = [list(p) for p in curriculum]
    except TypeError:
        raise TypeError(f"{expected}; got {curriculum!r}") from None
    ends = [p[1] for p in pairs if len(p) == 2]
    if (not pairs or any(len(p) != 2 for p in pairs)
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n, _ in pairs)
            or any(isinstance(u, bool) or not isinstance(u, int | float) or not 0 < u <= 1 for u in ends)
            or any(b <= a for a, b in zip(ends, ends[1:]))):
        raise ValueError(f"{expected}; got {curriculum!r}")
    return [[int(n), float(u)] for n, u in pairs]


def a2c_loss(
    model: RecurrentPolicy,
    buffer: RolloutBuffer,
    *,
    gamma: float,
    gae_lambda: float,
    value_coef: float,
    entropy_coef: float,
    normalize_advantages: bool = False,
    value_offset: torch.Tensor | None = None,
    diagnostics: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return the A2C loss of a rollout and its parts (module docstring).

    Parameters
    ----------
    model : RecurrentPolicy
        The network, re-run over ``buffer.inputs`` from ``buffer.h0`` with gradients.
    buffer : RolloutBuffer
        The rollout (:class:`~cogmodels.agents.rollout_buffer.SessionBatch.collect`).
    gamma, gae_lambda : float
        Discount and GAE parameter.
    value_coef, entropy_coef : float
        Weights ``c_v`` and ``c_e`` of the value loss and the entropy bonus.
    normalize_advantages : bool
        Standardise the advantages over the rollout's steps inside a session.
    value_offset : torch.Tensor, optional
        ``(T, B)``: a baseline of the observable history added to the critic's values,
        ``V_t = b_t + v_θ(h_t)`` (``baseline="bayes_value"``: ``b_t = V*_γ(c_t)``); the critic
        then learns the residual. ``buffer.v_boot`` must already hold the full value.
    diagnostics : bool
        Also return the advantages' mean and standard deviation and the explained variance.

    Returns
    -------
    loss : torch.Tensor
        ``-mean(A log pi) + c_v mean((G - V)^2 / 2) - c_e mean(H)``, means over the steps inside a
        session.
    parts : dict of str to torch.Tensor
        ``policy_loss``, ``value_loss`` and ``entropy`` (detached); with ``diagnostics`` also
        ``advantage_mean`` and ``advantage_std`` (before normalisation) and
        ``explained_variance``, ``1 - Var(G - V) / Var(G)``.
    """
    alive = buffer.alive
    out, values, _ = model(buffer.inputs, buffer.h0, alive)
    if value_offset is not None:
        values = values + value_offset
    logp, entropy = model.log_prob_entropy(out, buffer.actions)
    with torch.no_grad():
        adv = gae(buffer.signals, values.detach(), buffer.v_boot, gamma, gae_lambda, alive,
                  buffer.alive_after)
        returns = adv + values.detach()
        adv_mean = _mean(adv, alive)
        adv_std = _mean((adv - adv_mean) ** 2, alive).sqrt()
        if diagnostics:
            ret_var = _mean((returns - _mean(returns, alive)) ** 2, alive)
            extra = {"advantage_mean": adv_mean, "advantage_std": adv_std,
                     "explained_variance": 1.0 - adv_std**2 / ret_var.clamp(min=1e-12)}
        if normalize_advantages:
            std = adv.std() if alive is None else adv_std
            adv = (adv - adv_mean) / (std + 1e-8)
    entropy = _mean(entropy, alive)
    policy_loss = -_mean(logp * adv, alive)
    value_loss = 0.5 * _mean((returns - values).pow(2), alive)
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    parts = {"policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
             "entropy": entropy.detach()}
    return loss, {**parts, **extra} if diagnostics else parts


def _mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Return the mean of ``x`` over the entries where ``mask`` is 1 (all entries: ``mask=None``)."""
    return x.mean() if mask is None else (x * mask).sum() / mask.sum().clamp(min=1.0)


@dataclass
class _Stage:
    """The task at one horizon: its vector environment, steps per session, Bayes statistics."""

    n_trials: int
    env: Any
    steps_per_session: int | None
    tracker: PosteriorTracker | None


class A2CTrainer:
    """Train a :class:`RecurrentPolicy` with batched A2C on a cognitive task's vector environment.

    ``A2CTrainer(config)`` (or keyword overrides, ``A2CTrainer(hidden_size=48, seed=3)``) builds
    the network, the Adam optimiser and ``config.n_lanes`` copies of the task. :meth:`train` runs
    updates; :meth:`save_checkpoint` / :meth:`resume` persist and restore everything.

    Attributes
    ----------
    model : RecurrentPolicy
        The network.
    update_, episode_ : int
        Updates run and batches of sessions played so far.
    env_steps_ : int
        Environment steps taken so far, over all copies (padding after a session's end
        included).
    history_ : pandas.DataFrame
        One row per batch of sessions: update, env_steps, mean return and pseudo-regret per
        session of the training batch where the task reports it (and the mean session length
        when sessions vary; the trials per session with a ``curriculum``), entropy, losses, the
        advantages' mean and standard deviation (before any normalisation), the fraction of the
        returns' variance explained by the values, the gradient norm (before clipping), lr,
        entropy weight, elapsed seconds.
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
        self._stages: dict[int, _Stage] = {}
        main = self._stage(cfg.n_trials)
        #: the vector environment of the task (sessions of ``n_trials`` trials)
        self.env = main.env
        #: environment steps per session, or None when sessions end at different steps
        self.steps_per_session = main.steps_per_session
        act_space, obs_space = self.env.single_action_space, self.env.single_observation_space
        box_actions = (isinstance(act_space, spaces.Box) and len(act_space.shape) == 1
                       and bool(np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all()))
        if not (isinstance(act_space, spaces.Discrete) or box_actions) or not (
            isinstance(obs_space, spaces.Box) and len(obs_space.shape) == 1
        ):
            raise ValueError(
                f"env_id must be a task with Discrete actions or a bounded 1-d Box of actions, and "
                f"a flat Box observation, got {cfg.env_id!r} with {act_space!r} / {obs_space!r}"
            )
        if not box_actions:
            policy_kwargs: dict[str, Any] = {"n_actions": int(act_space.n)}
        else:
            policy_kwargs = {
                "n_actions": int(act_space.shape[0]), "action_kind": "gaussian",
                "action_low": act_space.low.tolist(), "action_high": act_space.high.tolist(),
                "squash": cfg.squash, "log_std": cfg.log_std, "log_std_init": cfg.log_std_init,
            }
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.model = RecurrentPolicy(
                obs_dim=int(obs_space.shape[0]), hidden_size=cfg.hidden_size, cell=cfg.cell,
                **policy_kwargs,
            )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.lr_schedule = LinearSchedule(cfg.lr, cfg.lr if cfg.lr_end is None else cfg.lr_end)
        self.entropy_schedule = LinearSchedule(cfg.entropy_coef, cfg.entropy_coef_end)
        self.update_ = 0
        self.episode_ = 0
        self.elapsed_s_ = 0.0
        self._clock = lambda: self.elapsed_s_
        self.env_steps_ = 0
        self._history: list[dict[str, float]] = []
        for n_trials, _ in cfg.curriculum or ():  # built now, so that a bad horizon fails here
            self._stage(int(n_trials))
        self._tracker = main.tracker  # of the batch being played
        self._offsets: list[np.ndarray] = []

    def _stage(self, n_trials: int) -> _Stage:
        """Return (building it once) the task with sessions of ``n_trials`` trials."""
        if n_trials in self._stages:
            return self._stages[n_trials]
        cfg = self.config
        single = gym.make(cfg.env_id, n_trials=n_trials, **cfg.env_kwargs).unwrapped
        steps = getattr(single, "steps_per_session", None)
        steps = None if steps is None else int(steps)
        if cfg.rollout_len is not None and steps is not None and steps % cfg.rollout_len:
            raise ValueError(
                f"rollout_len must divide the {steps} steps of a session of {n_trials} trials "
                f"(sessions end together), got {cfg.rollout_len!r}"
            )
        native = gym.spec(cfg.env_id).vector_entry_point is not None
        env = gym.make_vec(
            cfg.env_id,
            num_envs=cfg.n_lanes,
            vectorization_mode="vector_entry_point" if native else "sync",
            n_trials=n_trials,
            **cfg.env_kwargs,
        )
        stage = _Stage(n_trials, env, steps, self._posterior_tracker(single, n_trials))
        self._stages[n_trials] = stage
        return stage

    def _posterior_tracker(self, single: Any, n_trials: int) -> PosteriorTracker | None:
        """Return the Bayes statistics of the counts when ``baseline`` or ``rao_blackwell`` needs them."""
        cfg = self.config
        if cfg.baseline == "critic" and not cfg.rao_blackwell and not cfg.hindsight:
            return None
        option = (f"baseline={cfg.baseline!r}" if cfg.baseline != "critic"
                  else "rao_blackwell=True" if cfg.rao_blackwell else "hindsight=True")
        task = (cfg.env_id, getattr(single, "n_actions", None), getattr(single, "reward_type", None),
                tuple(getattr(single, "prior", ())), getattr(single, "_fixed_means", None))
        if task != ("cogmodels/MultiArmedBandit-v0", 2, "bernoulli", (0.0, 1.0), None):
            raise ValueError(
                f"{option} needs the two-armed Bernoulli bandit with arm probabilities ~ U(0, 1) "
                f"(env_id 'cogmodels/MultiArmedBandit-v0', n_actions 2, reward_type 'bernoulli', "
                f"prior (0, 1), no fixed means), got {cfg.env_id!r} with {cfg.env_kwargs!r}"
            )
        return PosteriorTracker(n_trials=n_trials, gamma=cfg.gamma)

    # -- schedules --------------------------------------------------------------------------------
    def run_fraction(self) -> float:
        """Return the fraction of the run done, in updates or in seconds (``schedule_unit``)."""
        cfg = self.config
        if cfg.schedule_unit == "seconds":
            return run_fraction(seconds=self.elapsed_s_, total_s=cfg.total_s)
        return run_fraction(updates=self.update_, total_updates=cfg.total_updates)

    def current_lr(self) -> float:
        """Return the learning rate now: linear from ``lr`` to ``lr_end`` over the run."""
        return self.lr_schedule(self.run_fraction())

    def current_entropy_coef(self) -> float:
        """Return the entropy weight now: linear from ``entropy_coef`` to ``entropy_coef_end``."""
        return self.entropy_schedule(self.run_fraction())

    def current_n_trials(self) -> int:
        """Return the trials per session now: the ``curriculum``'s horizon, else ``n_trials``."""
        f = self.run_fraction()
        for n_trials, until in self.config.curriculum or ():
            if f < until:
                return int(n_trials)
        return self.config.n_trials

    @property
    def rollouts_per_episode(self) -> int | None:
        """Updates per batch of sessions (``None`` when sessions vary in length)."""
        rl = self.config.rollout_len
        if rl is None:
            return 1
        return None if self.steps_per_session is None else self.steps_per_session // rl

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
        """Run ``n_updates`` more updates (default: to the end of the run).

        The end of the run is ``config.total_updates`` updates, or with
        ``schedule_unit="seconds"`` ``config.total_s`` seconds of training. Training stops
        at the end of a batch of sessions, so with truncated rollouts it may run past
        ``n_updates`` to finish the batch; it also stops at the first batch boundary after
        ``time_budget_s`` seconds. With ``checkpoint_dir``, a checkpoint is written every
        ``checkpoint_every`` updates (at batch boundaries) and at the end. ``progress`` shows a
        tqdm bar. torch computes with ``config.threads`` threads meanwhile (when set).
        """
        cfg = self.config
        by_time = cfg.schedule_unit == "seconds"
        if n_updates is None:
            n_updates = 10**12 if by_time else max(0, cfg.total_updates - self.update_)
        else:
            check_int("n_updates", n_updates, 0)
        if time_budget_s is not None and not (
            isinstance(time_budget_s, int | float) and time_budget_s > 0
        ):
            raise ValueError(f"time_budget_s must be a positive number of seconds, got {time_budget_s!r}")
        if by_time:
            left = cfg.total_s - self.elapsed_s_
            time_budget_s = left if time_budget_s is None else min(time_budget_s, left)
        if checkpoint_every is not None:
            check_int("checkpoint_every", checkpoint_every, 1)
            if checkpoint_dir is None:
                raise ValueError("checkpoint_every needs checkpoint_dir (where to write them)")
        target = self.update_ + n_updates
        now = time.process_time if cfg.clock == "cpu" else time.perf_counter
        t0 = now()
        elapsed0 = self.elapsed_s_
        last_ckpt = self.update_
        bar_total = None if by_time and n_updates == 10**12 else n_updates
        with torch_threads(cfg.threads), tqdm(total=bar_total, disable=not progress, desc="A2C",
                                               unit="upd") as bar:
            while self.update_ < target:
                if time_budget_s is not None and (spent := now() - t0) >= time_budget_s:
                    self.elapsed_s_ = elapsed0 + spent  # the reading that stopped it, not the last update's
                    break
                before = self.update_
                self._clock = lambda: elapsed0 + now() - t0  # noqa: B023
                row = self._train_episode()
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
        """Play one batch of sessions, updating after every rollout; return its statistics.

        ``self._clock()`` gives the seconds of training so far (for the schedules by time).
        """
        cfg = self.config
        env_seed, torch_seed = self._episode_seeds()
        stage = self._stage(self.current_n_trials())
        self._tracker = stage.tracker
        batch = SessionBatch(stage.env, self.model, self._signal, env_seed=env_seed,
                             torch_seed=torch_seed, fixed_steps=stage.steps_per_session,
                             max_steps=cfg.max_session_steps)
        stats: dict[str, list[float]] = {}
        if self._tracker is not None:
            self._tracker.start(cfg.n_lanes)
            self._offsets = []
        while not batch.done:
            buffer = batch.collect(cfg.rollout_len)
            self.env_steps_ += buffer.n_steps * cfg.n_lanes
            buffer, offset = self._bayes_baseline(buffer, batch.done)
            if cfg.hindsight:  # the whole session is in the buffer: its counts are c_T
                signal = self._tracker.hindsight_signal(buffer.actions.numpy())
                buffer = replace(buffer, signals=torch.from_numpy(signal.astype(np.float32)))
            for k, v in self._update(buffer, offset).items():
                stats.setdefault(k, []).append(v)
            self.update_ += 1
            self.elapsed_s_ = self._clock()
        self.episode_ += 1
        row: dict[str, float] = {
            "update": self.update_,
            "episode": self.episode_,
            "env_steps": self.env_steps_,
            "return": float(batch.total_reward.mean()),
        }
        if batch.total_regret is not None:
            row["regret"] = float(batch.total_regret.mean())
        if self.steps_per_session is None:
            row["length"] = float(batch.lengths.mean())
        if cfg.curriculum:
            row["n_trials"] = stage.n_trials
        row.update({k: float(np.mean(v)) for k, v in stats.items()})
        row["lr"] = self.current_lr()
        row["entropy_coef"] = self.current_entropy_coef()
        return row

    def _bayes_baseline(self, buffer: RolloutBuffer, done: bool) -> tuple[RolloutBuffer, torch.Tensor | None]:
        """Return the rollout (its bootstrap value completed) and ``V*_γ(c_t)`` with ``baseline="bayes_value"``."""
        if self.config.baseline != "bayes_value":
            self._offsets = []
            return buffer, None
        offset = torch.from_numpy(np.stack(self._offsets).astype(np.float32))
        self._offsets = []
        if not done:  # truncated rollout: the session goes on from the counts now
            buffer = replace(buffer, v_boot=buffer.v_boot + torch.from_numpy(
                self._tracker.value().astype(np.float32)))
        return buffer, offset

    def _signal(self, reward: torch.Tensor, actions: np.ndarray, info: dict) -> torch.Tensor:
        if self._tracker is not None:
            predictive, value = self._tracker.observe(actions, reward.numpy())
            self._offsets.append(value)
            if self.config.rao_blackwell:
                return torch.from_numpy(predictive.astype(np.float32))
        if self.config.reward_signal == "sampled":
            return reward
        if "regret" not in info:
            raise ValueError(f"reward_signal='expected' needs info['regret'] from {self.config.env_id}")
        return torch.from_numpy(-np.asarray(info["regret"], dtype=np.float32))

    def _update(self, buffer: RolloutBuffer, value_offset: torch.Tensor | None = None) -> dict[str, float]:
        cfg = self.config
        lr, c_e = self.current_lr(), self.current_entropy_coef()
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        loss, parts = a2c_loss(self.model, buffer, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                               value_coef=cfg.value_coef, entropy_coef=c_e,
                               normalize_advantages=cfg.normalize_advantages,
                               value_offset=value_offset, diagnostics=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        else:
            grad_norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in self.model.parameters() if p.grad is not None])
            )
        self.optimizer.step()
        return {**{k: float(v) for k, v in parts.items()}, "grad_norm": float(grad_norm)}

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(
        self, n_episodes: int = 10_000, *, seed: int = 1, greedy: bool = True, **kwargs: Any
    ) -> RegretResult:
        """Return the mean pseudo-regret of the current network on fresh bandit sessions.

        See :func:`cogmodels.agents.bandit_baselines.evaluate`; ``greedy`` picks argmax actions.
        """
        env_kwargs = {k: v for k, v in self.config.env_kwargs.items() if k not in ("n_arms", "n_actions")}
        return evaluate(
            self.model.as_session_policy(greedy=greedy),
            n_episodes,
            seed=seed,
            n_trials=self.config.n_trials,
            n_actions=self.model.n_actions,
            env_kwargs=env_kwargs or None,
            **kwargs,
        )

    def play(self, n_sessions: int = 100, *, seed: int = 1, greedy: bool = False) -> pd.DataFrame:
        """Play ``n_sessions`` fresh sessions of the training task; return their trial table.

        The canonical trial table (``subject`` = session) serves the analyses of behaviour (stay
        probabilities, learning curves, accuracy; success and time to target in the cursor BCI).
        It is the rollout of the frozen network as an agent,
        ``rollout(self.model.as_agent(greedy=greedy), env_id, n_subjects=n_sessions, seed=seed)``
        (:class:`~cogmodels.agents.rnn.RecurrentRolloutAgent`, :func:`cogmodels.rollout.rollout`):
        one session per subject, each played to its end (sessions of varying length included).
        ``greedy`` takes the most probable action (the Gaussian's mean), else actions are
        sampled.
        """
        n_sessions = check_int("n_sessions", n_sessions, 1)
        cfg = self.config
        return rollout(self.model.as_agent(greedy=greedy), cfg.env_id, n_subjects=n_sessions,
                       seed=seed, env_kwargs={"n_trials": cfg.n_trials, **cfg.env_kwargs})

    # -- persistence ------------------------------------------------------------------------------
    def save_checkpoint(self, path_dir: str | os.PathLike) -> Path:
        """Write ``checkpoint.pt``, ``config.json`` and ``history.json`` into ``path_dir``.

        The network alone also goes to ``path_dir/model`` (:meth:`RecurrentPolicy.save`).
        Each file is written to a temporary name and renamed, so a crash never leaves a torn file
        (:mod:`cogmodels.agents.checkpoint`).
        """
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "update": self.update_,
            "episode": self.episode_,
            "elapsed_s": self.elapsed_s_,
            "env_steps": self.env_steps_,
        }
        d = write_checkpoint(path_dir, self.config.to_dict(), self._history, state)
        self.model.save(d / "model")
        return d

    @classmethod
    def resume(cls, path_dir: str | os.PathLike) -> A2CTrainer:
        """Rebuild a trainer from :meth:`save_checkpoint`'s folder, ready to :meth:`train` on."""
        d = Path(path_dir)
        writer = "A2CTrainer.save_checkpoint"
        cfg, history, state = read_checkpoint(d, writer)
        try:
            trainer = cls(A2CConfig.from_dict(cfg))
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ValueError(f"{d / 'config.json'}: not a valid A2CTrainer config ({first_line(exc)})") from None
        try:
            trainer.model.load_state_dict(state["model"])
            trainer.optimizer.load_state_dict(state["optimizer"])
            trainer.update_ = int(state["update"])
            trainer.episode_ = int(state["episode"])
            trainer.elapsed_s_ = float(state["elapsed_s"])
            # checkpoints of earlier releases: sessions of fixed length, steps from the updates
            trainer.env_steps_ = int(state.get("env_steps", trainer.update_ * trainer.config.n_lanes * (
                trainer.config.rollout_len or trainer.steps_per_session or 0)))
        except (RuntimeError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(
                f"{d / cls.CHECKPOINT}: not a cogmodels A2C checkpoint that fits config.json "
                f"({short_error(exc)}); load only folders written by {writer}"
            ) from None
        trainer._history = history
        return trainer
