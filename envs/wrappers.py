"""Wrappers for the cognitive tasks: meta-RL observations and trial-table recording."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces

from cogmodels.envs.core import TaskEnv

__all__ = ["PreviousActionReward", "RecordTrials", "record_session", "trial_table"]


def _augmented_space(obs_space: gym.Space, n_actions: int, reward_bounds: tuple[float, float]) -> spaces.Box:
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(
            f"PreviousActionReward needs a flat Box observation space, got {obs_space!r}"
        )
    # the first step's "previous reward" is 0, so the bounds always include it
    r_low, r_high = min(reward_bounds[0], 0.0), max(reward_bounds[1], 0.0)
    low = np.concatenate([obs_space.low, np.zeros(n_actions), [r_low]]).astype(np.float32)
    high = np.concatenate([obs_space.high, np.ones(n_actions), [r_high]]).astype(np.float32)
    return spaces.Box(low, high, dtype=np.float32)


class PreviousActionReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Append the one-hot previous action and the previous reward to the observation.

    The input of a meta-reinforcement-learning agent (Wang et al. 2018, Nat Neurosci; Duan et al.
    2016, arXiv:1611.02779): ``[obs, onehot(a_{t-1}), r_{t-1}]``, zeros at the start of a
    session. Needs a ``Discrete`` action space and a flat ``Box`` observation space. The reward
    entry is bounded by ``reward_bounds`` (default: the task's own ``reward_bounds``).
    """

    def __init__(self, env: gym.Env, reward_bounds: tuple[float, float] | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, reward_bounds=reward_bounds)
        gym.Wrapper.__init__(self, env)
        if not isinstance(env.action_space, spaces.Discrete):
            raise ValueError(
                f"PreviousActionReward needs a Discrete action space, got {env.action_space!r}"
            )
        self._n_actions = int(env.action_space.n)
        self._n_obs = int(env.observation_space.shape[0])
        if reward_bounds is None:
            reward_bounds = getattr(env.unwrapped, "reward_bounds", (-np.inf, np.inf))
        self.observation_space = _augmented_space(env.observation_space, self._n_actions, reward_bounds)

    def _augment(self, obs: np.ndarray, action: int | None, reward: float) -> np.ndarray:
        out = np.zeros(self._n_obs + self._n_actions + 1, dtype=np.float32)
        out[: self._n_obs] = obs
        if action is not None:
            out[self._n_obs + int(action)] = 1.0
            out[-1] = reward
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset the task; the observation carries no previous action or reward."""
        obs, info = self.env.reset(seed=seed, options=options)
        return self._augment(obs, None, 0.0), info

    def step(self, action):
        """Step the task; the observation carries this step's action (one-hot) and reward."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._augment(obs, action, float(reward)), reward, terminated, truncated, info


class RecordTrials(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Record every completed trial as a row of the canonical trial table.

    Each reset starts a new ``session``; rows carry ``subject``, ``session``, ``trial`` (0-based
    within the session) and the task's own fields from :meth:`TaskEnv.trial_row`. ``table()``
    returns everything recorded so far as a DataFrame.

    Examples
    --------
    >>> import gymnasium as gym
    >>> from cogmodels.envs.wrappers import RecordTrials
    >>> env = RecordTrials(gym.make("cogmodels/ReversalLearning-v0", n_trials=4), subject="s01")
    >>> obs, info = env.reset(seed=0)
    >>> for action in [0, 0, 1, 1]:
    ...     obs, reward, terminated, truncated, info = env.step(action)
    >>> env.table()[["subject", "session", "trial", "choice", "reward"]]
      subject  session  trial  choice  reward
    0     s01        0      0       0     0.0
    1     s01        0      1       0     1.0
    2     s01        0      2       1     1.0
    3     s01        0      3       1     0.0
    """

    def __init__(self, env: gym.Env, subject: Hashable = 0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, subject=subject)
        gym.Wrapper.__init__(self, env)
        if not isinstance(env.unwrapped, TaskEnv):
            raise ValueError(
                f"RecordTrials needs a cogmodels task environment, got {type(env.unwrapped).__name__}"
            )
        self.subject = subject
        self._base = env.unwrapped
        self._rows: list[dict[str, Any]] = []
        self._session = -1
        self._trial = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset the task and start a new ``session``."""
        self._session += 1
        self._trial = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        """Step the task and record the trial it completed, if any."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.record(action, reward, info)
        return obs, reward, terminated, truncated, info

    def record(self, action: Any, reward: float, info: dict) -> bool:
        """Record the trial that a step of the wrapped task just completed, if any.

        Return whether the step completed one. :meth:`step` calls it; a loop that steps the task
        itself (as :func:`cogmodels.rollout.rollout` does) calls it after each step.
        """
        row = self._base.trial_row(action, reward, info)
        if row is None:
            return False
        self._rows.append({"subject": self.subject, "session": self._session, "trial": self._trial, **row})
        self._trial += 1
        return True

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows recorded so far, one dict per trial (the list itself: do not modify it)."""
        return self._rows

    def table(self) -> pd.DataFrame:
        """All trials recorded so far, in order, as the canonical trial table."""
        return trial_table(self._rows)


def trial_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return the trial table of recorded rows (:meth:`RecordTrials.rows` of one or more recorders).

    The table is a DataFrame in the rows' order with ``choice`` and ``choice2`` as nullable
    ``Int64``.
    """
    df = pd.DataFrame.from_records(rows)
    if not df.empty:
        for col in ("choice", "choice2"):
            if col in df:
                df[col] = df[col].astype("Int64")
    return df


def record_session(
    env: gym.Env, policy: Any, *, seed: int | None = None, subject: Hashable = 0
) -> pd.DataFrame:
    """Play one session with ``policy(obs, info) -> action`` and return its trial table."""
    rec = RecordTrials(env, subject=subject)
    obs, info = rec.reset(seed=seed)
    done = False
    while not done:
        obs, _, terminated, truncated, info = rec.step(policy(obs, info))
        done = terminated or truncated
    return rec.table()
