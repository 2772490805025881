"""Batches of closed-loop BCI sessions stepped as array operations."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from cogmodels.envs.bci.env import spaces_of
from cogmodels.envs.bci.loop import RESULT_KEYS, ClosedLoop, config_signature, make_config
from cogmodels.envs.core import TaskVectorEnv, named_arguments

__all__ = ["CursorBCIRandomTargetsVector", "CursorBCIVector"]


class CursorBCIVector(TaskVectorEnv):
    """``num_envs`` sessions of :class:`~cogmodels.envs.bci.env.CursorBCI` stepped together.

    Same arguments and semantics as the single environment (see its docstring), plus
    ``num_envs`` and ``autoreset_mode``; every copy is its own subject (population and drift
    trajectory), drawn at the first reset and at ``reset(seed=...)``. With ``num_envs=1`` it
    reproduces the single environment's rollout for the same seed.

    ``reset(options=...)`` takes ``day`` (one int, or one per copy) and ``new_subject``; its info
    holds the per-step latents below (``intended_velocity`` is the label of the first
    observation). Autoreset starts the next session of the same subject, ``days_per_session``
    days later.

    ``info`` holds arrays over the copies, each with its ``_key`` mask: every step ``cursor``,
    ``cursor_velocity``, ``target``, ``target_radius``, ``intended_velocity`` (num_envs × 2 where
    2-D), ``trial``, ``in_target``, ``day`` and ``trial_completed``; for the copies that completed a
    trial (mask ``trial_completed``) ``state`` (target index), ``success``, ``timed_out``,
    ``time_to_target``, ``dial_in_time``, ``trial_time``, ``path_length``, ``distance``,
    ``path_efficiency``, ``n_entries``, ``index_of_difficulty`` (log2(1 + D / 2r)); with an error
    signal ``error_signal`` and
    ``movement_error``.
    """

    @named_arguments
    def __init__(self, num_envs: int = 1, autoreset_mode: str = "next_step",
                 **config: Any) -> None:
        self.config = make_config(**config)
        self.n_trials = self.config.task.n_trials
        obs_space, act_space = spaces_of(self.config)
        super().__init__(num_envs, obs_space, act_space, autoreset_mode,
                         lane_values=self.config.population.n_units)
        self._loop = ClosedLoop(self.config, self.num_envs)

    @property
    def day(self) -> np.ndarray:
        """The drift day of each copy's current session."""
        return self._loop.day.copy()

    def population(self, index: int):
        """Copy ``index``'s population on its current day (a copy)."""
        sub = self._loop.subjects[index]
        if sub is None:
            raise RuntimeError("call reset() first")
        return sub.on_day(int(self._loop.day[index]))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start sessions; a ``seed`` also draws new subjects. ``info`` holds the loop's latents."""
        if seed is not None:
            options = {**(options or {}), "new_subject": True}
        return super().reset(seed=seed, options=options)

    def _reset_info(self) -> dict[str, Any]:
        return self._latents()

    def _latents(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for key, value in self._loop.latents().items():
            info[key], info[f"_{key}"] = value, self._all.copy()
        return info

    def _reset_lanes(self, mask: np.ndarray, options: dict | None) -> None:
        loop = self._loop
        loop.obs = loop.obs.copy()  # never write into an observation already handed out
        loop.reset(mask, self.np_random, options)

    def _observe(self) -> np.ndarray:
        return self._loop.obs

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        reward, terminated, done, results, signal = self._loop.step(actions, self.np_random)
        info = self._latents()
        info["trial_completed"], info["_trial_completed"] = done, self._all.copy()
        for key, value in (signal or {}).items():
            info[key], info[f"_{key}"] = value, self._all.copy()
        results = results if results is not None else self._loop.empty_results()
        extra = ("wrong_selection",) if self.config.task.selects else ()
        for key in ("state", *RESULT_KEYS, *extra):
            info[key], info[f"_{key}"] = results[key], done.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            info["index_of_difficulty"] = np.log2(
                1.0 + results["distance"] / (2.0 * results["completed_radius"]))
        info["_index_of_difficulty"] = done.copy()
        return reward, terminated, info


_NUM_ENVS = inspect.Parameter("num_envs", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=1,
                              annotation="int")
_AUTORESET = (inspect.Parameter("autoreset_mode", inspect.Parameter.KEYWORD_ONLY,
                                default="next_step", annotation="str"),)
CursorBCIVector.__init__.__signature__ = config_signature(_NUM_ENVS, trailing=_AUTORESET)


class CursorBCIRandomTargetsVector(CursorBCIVector):
    """:class:`CursorBCIVector` with ``task="random_targets"`` by default."""

    def __init__(self, num_envs: int = 1, **config: Any) -> None:
        super().__init__(num_envs, **{"task": "random_targets", **config})


CursorBCIRandomTargetsVector.__init__.__signature__ = config_signature(
    _NUM_ENVS, trailing=_AUTORESET, defaults={"task": "random_targets"})
