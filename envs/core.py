"""Shared machinery of the cognitive task environments.

Every task is a session of trials. Single environments subclass :class:`TaskEnv`; the native
vectorised versions subclass :class:`TaskVectorEnv`, which steps every copy with one array
operation and implements Gymnasium's autoreset modes once for all tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

__all__ = [
    "TaskEnv",
    "TaskVectorEnv",
    "check_choice",
    "check_nonpositive",
    "check_positive_int",
    "check_probability",
    "check_step_range",
]


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise naming the argument, the allowed range and the value."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1], or raise naming the argument and the value."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise listing the allowed values."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def check_step_range(name: str, value: Any, minimum: int = 0) -> tuple[int, int]:
    """A number of time steps: an int ``k`` as ``(k, k)``, or a pair ``(low, high)``.

    Raises ``ValueError`` naming the argument unless ``minimum <= low <= high`` are integers.
    """
    what = (
        f"an integer >= {minimum} or a pair (low, high) of integers with "
        f"{minimum} <= low <= high"
    )
    pair = (value, value) if isinstance(value, int | np.integer) else value
    try:
        low, high = pair
        low, high = check_positive_int(name, low, minimum), check_positive_int(name, high, minimum)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if low > high:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return low, high


def check_nonpositive(name: str, value: Any) -> float:
    """Return ``value`` as a finite float <= 0 (a penalty), or raise naming the argument."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number <= 0, got {value!r}") from None
    if not (np.isfinite(v) and v <= 0):
        raise ValueError(f"{name} must be a finite number <= 0, got {value!r}")
    return v


class TaskEnv(gym.Env):
    """Base class of the single cognitive-task environments.

    Subclasses follow Gymnasium's conventions (randomness only through ``self.np_random``; static
    configuration in the constructor, per-episode changes through ``reset(options=...)``) and add
    one method, :meth:`trial_row`, which :class:`cogmodels.envs.wrappers.RecordTrials` uses to
    write a session as the canonical trial table.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    #: the range of the reward (used to bound observations that carry it, e.g. meta-RL inputs)
    reward_bounds: tuple[float, float] = (-np.inf, np.inf)
    #: whether every session has exactly ``n_trials`` trials (else ``n_trials`` is the maximum)
    fixed_length: bool = True
    #: environment steps per trial (``None`` when it varies from trial to trial)
    steps_per_trial: int | None = 1

    @property
    def steps_per_session(self) -> int | None:
        """Environment steps in one session, or ``None`` when sessions differ in length."""
        n_trials = getattr(self, "n_trials", None)
        if not self.fixed_length or self.steps_per_trial is None or n_trials is None:
            return None
        return int(n_trials) * int(self.steps_per_trial)

    def trial_row(self, action: Any, reward: float, info: Mapping[str, Any]) -> dict | None:
        """The canonical trial-table fields of the trial that this step completed, else ``None``.

        Called right after :meth:`step` with its action, reward and info. The row holds
        ``state``, ``choice``, ``reward`` and the task's own columns and latents; the recorder adds
        ``subject``, ``session`` and ``trial``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define trial_row()")

    def trial_context(self) -> dict[str, Any]:
        """Trial-table fields known before the choice of the upcoming trial.

        For example ``state`` (the stimulus), ``set_size`` or ``block``. A cognitive model reads
        its ``observation_columns`` from here when it is simulated in the task, and from the same
        columns of a trial table when it is fitted. Tasks without a stimulus return ``{}``.
        """
        return {}


class TaskVectorEnv(VectorEnv):
    """Base class of the native vectorised tasks: every copy stepped by one array operation.

    Subclasses hold the state of all copies as arrays with a leading ``num_envs`` axis and
    implement three methods:

    - ``_reset_lanes(mask, options)``: start a new session in the copies where ``mask`` is True,
      drawing from ``self.np_random``;
    - ``_observe()``: the batch of current observations;
    - ``_step(actions)``: advance every copy one step, return ``(reward, terminated, info)``.
      Under ``"next_step"`` autoreset, copies that finished on the previous step are stepped too
      and then reset, their results discarded, so ``_step`` must tolerate a copy past its last
      trial (clip indices rather than fail).

    The base class handles seeding and the autoreset mode (``"next_step"``, Gymnasium's default,
    or ``"same_step"``), so the semantics match ``SyncVectorEnv`` of the single task. All copies
    share one generator, seeded by ``reset(seed=...)``: the same seed gives the same rollout.
    """

    _AUTORESET = {
        "next_step": AutoresetMode.NEXT_STEP,
        "same_step": AutoresetMode.SAME_STEP,
        "disabled": AutoresetMode.DISABLED,
    }

    def __init__(
        self,
        num_envs: int,
        single_observation_space: gym.Space,
        single_action_space: gym.Space,
        autoreset_mode: str = "next_step",
    ) -> None:
        self.num_envs = check_positive_int("num_envs", num_envs)
        check_choice("autoreset_mode", autoreset_mode, tuple(self._AUTORESET))
        self.metadata = {"render_modes": [], "autoreset_mode": self._AUTORESET[autoreset_mode]}
        self._autoreset = autoreset_mode
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.observation_space = batch_space(single_observation_space, self.num_envs)
        self.action_space = batch_space(single_action_space, self.num_envs)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._all = np.ones(self.num_envs, dtype=bool)
        self._false = np.zeros(self.num_envs, dtype=bool)

    # -- to implement -------------------------------------------------------------------------
    def _reset_lanes(self, mask: np.ndarray, options: dict | None) -> None:
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        raise NotImplementedError

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        raise NotImplementedError

    # -- Gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_lanes(self._all, options)
        self._needs_reset[:] = False
        return self._observe(), {}

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape[:1] != (self.num_envs,):
            raise ValueError(
                f"actions must have a leading axis of length num_envs={self.num_envs}, "
                f"got shape {actions.shape}"
            )
        if self._autoreset == "next_step" and self._needs_reset.any():
            mask = self._needs_reset.copy()
            if mask.all():
                self._reset_lanes(mask, None)
                self._needs_reset[:] = False
                return (
                    self._observe(),
                    np.zeros(self.num_envs, dtype=np.float64),
                    self._false.copy(),
                    self._false.copy(),
                    {},
                )
            reward, terminated, info = self._step(actions)
            self._reset_lanes(mask, None)
            reward = np.where(mask, 0.0, reward)
            terminated = terminated & ~mask
            obs = self._observe()
        else:
            reward, terminated, info = self._step(actions)
            obs = self._observe()
        truncated = self._false.copy()
        if self._autoreset == "next_step":
            self._needs_reset[:] = terminated
        elif self._autoreset == "same_step" and terminated.any():
            info = dict(info, final_obs=obs.copy(), _final_obs=terminated.copy())
            self._reset_lanes(terminated, None)
            obs = self._observe()
        return obs, reward, terminated, truncated, info
