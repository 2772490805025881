"""The multi-armed bandit task, single and natively vectorised."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.deprecation import renamed_arguments, renamed_attribute
from cogmodels.envs.core import (
    MAX_ACTIONS,
    MAX_MAGNITUDE,
    MAX_TRIALS,
    PLAIN_INTS,
    TaskEnv,
    TaskVectorEnv,
    lane_draws,
    named_arguments,
    named_errors,
)
from cogmodels.validation import (
    check_array,
    check_choice,
    check_int,
    check_interval,
    check_number,
    real_array,
)

__all__ = ["MultiArmedBandit", "MultiArmedBanditVector"]

REWARD_TYPES = ("bernoulli", "gaussian")


def _check_config(
    n_actions: int,
    n_trials: int,
    reward_type: str,
    means: Sequence[float] | None,
    prior: tuple[float, float],
    reward_std: float,
) -> tuple[int, int, np.ndarray | None, tuple[float, float], float]:
    n_actions = check_int("n_actions", n_actions, 2, MAX_ACTIONS)
    n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
    check_choice("reward_type", reward_type, REWARD_TYPES)
    fixed = None if means is None else _check_means("means", means, n_actions, reward_type)
    low, high = _mean_range(reward_type)
    prior = check_interval("prior", prior, low, high)
    reward_std = check_number("reward_std", reward_std, 0.0, MAX_MAGNITUDE, low_open=True)
    return n_actions, n_trials, fixed, prior, reward_std


def _mean_range(reward_type: str) -> tuple[float, float]:
    """Return the arm means allowed: probabilities, or Gaussian means up to ``MAX_MAGNITUDE``."""
    return (0.0, 1.0) if reward_type == "bernoulli" else (-MAX_MAGNITUDE, MAX_MAGNITUDE)


def _check_means(name: str, means: Any, n_actions: int, reward_type: str) -> np.ndarray:
    return check_array(name, means, (n_actions,), *_mean_range(reward_type))


class MultiArmedBandit(TaskEnv):
    """A k-armed bandit: on each trial choose an arm and receive its stochastic reward.

    ## Description
    The classic exploration–exploitation task. Each arm ``i`` has a mean reward ``mu_i``; Bernoulli
    arms pay 1 with probability ``mu_i``, Gaussian arms pay ``N(mu_i, reward_std^2)``. The means
    are fixed by ``means`` or redrawn at every reset from the prior ``U(low, high)`` independently
    per arm; with two Bernoulli arms and ``prior=(0, 1)`` this is the meta-learning setting of
    Wang et al. (2018), whose Bayes-optimal regret over 100 trials is about 1.75.

    ## Action Space
    ``Discrete(n_actions)``: the arm chosen.

    ## Observation Space
    ``Box(0, 1, (1,), float32)``, always ``[1.0]``: the task has no stimulus; a recurrent agent
    learns from the previous action and reward (see ``PreviousActionReward``).

    ## Rewards
    Bernoulli: 1 with probability ``mu_a``, else 0. Gaussian: ``mu_a + reward_std * N(0, 1)``.

    ## Starting State
    Means from ``options["means"]``, else ``means``, else drawn from the prior.

    ## Episode End
    One episode is one session: ``terminated`` after ``n_trials`` trials.

    ## Information
    ``means`` (tuple of the arms' means), ``best_arm`` and, after a step, ``regret`` (``max mu - mu_a``,
    the expected regret of the choice) and ``trial`` (0-based index of the trial just played).

    ## Arguments
    - ``n_actions`` (int in [2, 1000], 2): number of arms (``n_arms``: deprecated spelling).
    - ``n_trials`` (int in [1, 10^6], 100): trials per session.
    - ``reward_type`` ("bernoulli" | "gaussian"): reward distribution.
    - ``means`` (sequence of float | None): fixed arm means, in [0, 1] for Bernoulli arms, in
      [-10^6, 10^6] for Gaussian ones; ``None`` draws them each episode.
    - ``prior`` ((float, float), (0, 1)): bounds ``low <= high`` of the uniform prior over means,
      within the same range as ``means``.
    - ``reward_std`` (float in (0, 10^6], 1.0): standard deviation of Gaussian rewards.

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but an
    arm index (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Sutton & Barto (2018). Reinforcement Learning: An Introduction, ch. 2.
    - Wang et al. (2018). Prefrontal cortex as a meta-reinforcement learning system. Nat Neurosci.
    """

    n_arms = renamed_attribute("n_arms", "n_actions")

    @renamed_arguments(n_arms="n_actions")
    @named_arguments
    def __init__(
        self,
        n_actions: int = 2,
        n_trials: int = 100,
        reward_type: str = "bernoulli",
        means: Sequence[float] | None = None,
        prior: tuple[float, float] = (0.0, 1.0),
        reward_std: float = 1.0,
    ) -> None:
        (self.n_actions, self.n_trials, self._fixed_means, self.prior, self.reward_std) = (
            _check_config(n_actions, n_trials, reward_type, means, prior, reward_std)
        )
        self.reward_type = reward_type
        self._bernoulli = reward_type == "bernoulli"
        self.reward_bounds = (0.0, 1.0) if self._bernoulli else (-np.inf, np.inf)
        self.action_space = spaces.Discrete(self.n_actions)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self._obs = np.ones(1, dtype=np.float32)
        self.means = np.full(self.n_actions, np.nan)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session: arm means from ``options["means"]``, the constructor or the prior.

        Returns the observation and an ``info`` with ``means`` and ``best_arm``.
        """
        super().reset(seed=seed)
        if options and options.get("means") is not None:
            with named_errors(f"{type(self).__name__}.reset"):
                self.means = _check_means('options["means"]', options["means"], self.n_actions,
                                          self.reward_type)
        elif self._fixed_means is not None:
            self.means = self._fixed_means.copy()
        else:
            self.means = self.np_random.uniform(*self.prior, size=self.n_actions)
        self._best = float(self.means.max())
        self._means_info = tuple(self.means.tolist())  # immutable: safe to hand out every step
        self._t = 0
        self._done = False
        return self._obs.copy(), {"means": self._means_info, "best_arm": int(self.means.argmax())}

    def step(self, action):
        """Pull arm ``action``; ``info`` holds ``means``, ``regret`` and ``trial``."""
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action < self.n_actions:
            action = self._checked_action(action)
        mu = self.means[action]
        if self._bernoulli:
            reward = 1.0 if self.np_random.random() < mu else 0.0
        else:
            reward = mu + self.reward_std * self.np_random.standard_normal()
        trial = self._t
        self._t += 1
        info = {"means": self._means_info, "regret": self._best - mu, "trial": trial}
        self._done = terminated = self._t >= self.n_trials
        return self._obs.copy(), reward, terminated, False, info

    def trial_row(self, action: Any, reward: float, info: dict) -> dict:
        """Return the trial's ``state``, ``choice``, ``reward``, ``mean_<arm>`` and ``regret``."""
        row = {"state": 0, "choice": int(action), "reward": float(reward)}
        row.update({f"mean_{i}": float(m) for i, m in enumerate(info["means"])})
        row["regret"] = float(info["regret"])
        return row


class MultiArmedBanditVector(TaskVectorEnv):
    """``num_envs`` copies of :class:`MultiArmedBandit` stepped as one array operation.

    Same arguments and semantics as the single task (see its docstring), plus ``num_envs`` and
    ``autoreset_mode``. ``info`` holds arrays over the copies, each with its ``_key`` mask: at a
    reset ``means`` (num_envs × n_actions) and ``best_arm``; after a step ``means``, ``regret``
    and ``trial``.
    """

    lane_streams = True

    n_arms = renamed_attribute("n_arms", "n_actions")

    @renamed_arguments(n_arms="n_actions")
    @named_arguments
    def __init__(
        self,
        num_envs: int = 1,
        n_actions: int = 2,
        n_trials: int = 100,
        reward_type: str = "bernoulli",
        means: Sequence[float] | None = None,
        prior: tuple[float, float] = (0.0, 1.0),
        reward_std: float = 1.0,
        autoreset_mode: str = "next_step",
    ) -> None:
        (self.n_actions, self.n_trials, self._fixed_means, self.prior, self.reward_std) = (
            _check_config(n_actions, n_trials, reward_type, means, prior, reward_std)
        )
        self.reward_type = reward_type
        self._bernoulli = reward_type == "bernoulli"
        super().__init__(
            num_envs,
            spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
            spaces.Discrete(self.n_actions),
            autoreset_mode,
            lane_values=self.n_actions,
        )
        n = self.num_envs
        self.means = np.full((n, self.n_actions), np.nan)
        self._best = np.full(n, np.nan)
        self._t = np.zeros(n, dtype=np.int64)
        self._lanes = np.arange(n)
        self._obs = np.ones((n, 1), dtype=np.float32)

    def _reset_lanes(self, mask: np.ndarray, options: dict | None) -> None:
        k = int(mask.sum())
        if options and options.get("means") is not None:
            m = options["means"]
            per_copy = getattr(real_array(m), "ndim", 1) == 2
            shape = (self.num_envs, self.n_actions) if per_copy else (self.n_actions,)
            m = check_array('options["means"]', m, shape, *_mean_range(self.reward_type))
            self.means[mask] = np.broadcast_to(m, (self.num_envs, self.n_actions))[mask]
        elif self._fixed_means is not None:
            self.means[mask] = self._fixed_means
        else:
            self.means[mask] = lane_draws(self._rng, mask).uniform(*self.prior, size=(k, self.n_actions))
        self._best[mask] = self.means[mask].max(axis=1)
        self._t[mask] = 0

    def _observe(self) -> np.ndarray:
        return self._obs.copy()

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        mu = self.means[self._lanes, actions]
        if self._bernoulli:
            reward = (self._rng.random(self.num_envs) < mu).astype(np.float64)
        else:
            reward = mu + self.reward_std * self._rng.standard_normal(self.num_envs)
        trial = self._t.copy()
        self._t += 1
        terminated = self._t >= self.n_trials
        return reward, terminated, self._in_every_copy(
            {"means": self.means.copy(), "regret": self._best - mu, "trial": trial})

    def _reset_info(self) -> dict[str, np.ndarray]:
        """Return ``means`` and ``best_arm`` of every copy, as :meth:`MultiArmedBandit.reset`."""
        return self._in_every_copy({"means": self.means.copy(), "best_arm": self.means.argmax(axis=1)})

    def trial_rows(self, actions: np.ndarray, reward: np.ndarray, info: dict) -> tuple[np.ndarray, dict]:
        """Return the copies that completed a trial and the trial fields of the step just played.

        Every copy completes a trial (a trial is one step); the fields, one value per copy, are the
        columns of :meth:`MultiArmedBandit.trial_row`.
        """
        fields = {"state": np.zeros(self.num_envs, dtype=np.int64), "choice": actions,
                  "reward": np.asarray(reward, dtype=np.float64)}
        fields.update({f"mean_{i}": info["means"][:, i] for i in range(self.n_actions)})
        fields["regret"] = info["regret"]
        return self._all, fields
