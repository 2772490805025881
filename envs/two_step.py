"""The two-step task of Daw et al. (2011), single and natively vectorised.

The vector task runs array code over a leading lane axis (:class:`_TwoStepTask`). The single task
starts its sessions with the same code (one lane) and steps with a scalar transcription of it
(:meth:`TwoStep.step`: numpy calls on one-element arrays cost more than the task itself), which
draws the same random numbers in the same order, so with ``num_envs=1`` the vector task reproduces
the single task's rollout for the same seed (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.envs.core import (
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
    check_probability,
)

__all__ = ["TwoStep", "TwoStepVector", "reflect"]

DEFAULT_BOUNDS = (0.25, 0.75)
SCHEDULES = ("drift", "switch")


def reflect(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold ``x`` back into ``[low, high]`` by reflection at the bounds (any number of times)."""
    width = high - low
    if width == 0:
        return np.full_like(x, low)
    y = np.mod(x - low, 2.0 * width)
    return low + np.where(y > width, 2.0 * width - y, y)


def _reflect_scalar(x: float, low: float, high: float) -> float:
    """:func:`reflect` of one float, with the same floating-point operations."""
    width = high - low
    if width == 0:
        return low
    y = (x - low) % (2.0 * width)  # Python's float % is numpy's np.mod (a floored modulo)
    return low + (2.0 * width - y if y > width else y)


@dataclass(frozen=True)
class _Config:
    n_trials: int
    p_common: float
    drift_std: float
    bounds: tuple[float, float]
    initial: np.ndarray | None  # (2, 2): reward probability of (state2, action2)
    schedule: str = "drift"
    p_switch: float = 0.025


def _check_probabilities(name: str, value: Any, bounds: tuple[float, float]) -> np.ndarray:
    """Check a 2 x 2 array of reward probabilities (state2 x action) within ``bounds``."""
    return check_array(name, value, (2, 2), *bounds)


def _check_config(
    n_trials: int,
    p_common: float,
    drift_std: float,
    reward_bounds: tuple[float, float],
    reward_probabilities: Any,
    schedule: str = "drift",
    p_switch: float = 0.025,
) -> _Config:
    n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
    check_choice("schedule", schedule, SCHEDULES)
    p_switch = check_probability("p_switch", p_switch)
    p_common = check_probability("p_common", p_common)
    sd = check_number("drift_std", drift_std, 0.0, 1.0)
    low, high = check_interval("reward_bounds", reward_bounds, 0.0, 1.0)
    initial = None
    if reward_probabilities is not None:
        initial = _check_probabilities("reward_probabilities", reward_probabilities, (low, high))
    if schedule == "switch" and initial is not None:
        raise ValueError(
            "reward_probabilities applies only to schedule='drift' (with schedule='switch' the "
            f"good state pays reward_bounds[1]), got reward_probabilities={reward_probabilities!r}"
        )
    return _Config(n_trials, p_common, sd, (low, high), initial, schedule, p_switch)


class _TwoStepTask:
    """The state of ``n`` lanes of the two-step task and its dynamics, as array operations.

    Per lane: the trial index ``t``, the ``stage`` (0: first-stage choice, 1: second-stage
    choice), the second-stage state ``state2`` reached on the current trial, whether its
    transition was ``common``, and the reward probabilities ``p`` (lanes × state2 × action2).
    Every step draws one uniform number per lane (the transition at stage 0, the reward at stage
    1) and, for the lanes that finish a trial, the Gaussian increments of the drift.
    """

    def __init__(self, cfg: _Config, n: int) -> None:
        self.cfg = cfg
        self.lanes = np.arange(n)
        self.t = np.zeros(n, dtype=np.int64)
        self.stage = np.zeros(n, dtype=np.int64)
        self.state2 = np.zeros(n, dtype=np.int64)
        self.common = np.zeros(n, dtype=bool)
        self.choice1 = np.zeros(n, dtype=np.int64)
        self.p = np.full((n, 2, 2), 0.5)

    def reset(self, mask: np.ndarray, rng: np.random.Generator, options: dict | None) -> None:
        cfg = self.cfg
        given = (options or {}).get("reward_probabilities")
        if given is not None:
            self.p[mask] = _check_probabilities('options["reward_probabilities"]', given, cfg.bounds)
        elif cfg.initial is not None:
            self.p[mask] = cfg.initial
        elif cfg.schedule == "switch":  # one good second-stage state, chosen at random
            first_good = lane_draws(rng, mask).random(int(mask.sum())) < 0.5
            low, high = cfg.bounds
            p = np.empty((first_good.size, 2, 2))
            p[:, 0] = np.where(first_good, high, low)[:, None]
            p[:, 1] = np.where(first_good, low, high)[:, None]
            self.p[mask] = p
        else:
            self.p[mask] = lane_draws(rng, mask).uniform(*cfg.bounds, size=(int(mask.sum()), 2, 2))
        self.t[mask] = 0
        self.stage[mask] = 0
        self.state2[mask] = 0
        self.common[mask] = False
        self.choice1[mask] = 0

    def observe(self) -> np.ndarray:
        """One-hot of the current state: [first stage, second-stage state 0, state 1]."""
        obs = np.zeros((self.lanes.size, 3), dtype=np.float32)
        obs[self.lanes, np.where(self.stage == 0, 0, 1 + self.state2)] = 1.0
        return obs

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Advance every lane one step; return the rewards and the latents of that step."""
        cfg = self.cfg
        u = rng.random(self.lanes.size)
        first = self.stage == 0
        second = ~first
        # stage 0: action a leads to state2 = a with probability p_common, else to 1 - a
        common = u < cfg.p_common
        self.common = np.where(first, common, self.common)
        self.state2 = np.where(first, np.where(common, actions, 1 - actions), self.state2)
        self.choice1 = np.where(first, actions, self.choice1)
        # stage 1: Bernoulli reward, then every lane that finished its trial drifts
        p_now = self.p.copy()
        p_chosen = p_now[self.lanes, self.state2, actions]
        reward = np.where(second, (u < p_chosen).astype(np.float64), 0.0)
        latents = {
            "stage": self.stage.copy(),
            "state2": self.state2.copy(),
            "common": self.common.copy(),
            "choice1": self.choice1.copy(),
            "reward_probabilities": p_now.reshape(-1, 4),
            "trial": self.t.copy(),
        }
        k = int(second.sum())
        if k and cfg.schedule == "switch":
            swap = np.zeros_like(second)
            swap[second] = lane_draws(rng, second).random(k) < cfg.p_switch
            self.p[swap] = self.p[swap][:, ::-1]
        elif k and cfg.drift_std > 0:
            step = cfg.drift_std * lane_draws(rng, second).standard_normal((k, 2, 2))
            self.p[second] = reflect(self.p[second] + step, *cfg.bounds)
        self.t += second
        self.stage = np.where(first, 1, 0)
        return reward, latents


class TwoStep(TaskEnv):
    """The two-step task: a first-stage choice leads, probabilistically, to a second-stage state.

    In each of the two second-stage states a second choice is rewarded with a slowly drifting
    probability.

    ## Description
    Each trial has two steps. In the first stage choose action ``a1 ∈ {0, 1}``; it leads to the
    second-stage state ``state2 = a1`` with probability ``p_common`` (0.7, a *common* transition)
    and to ``1 - a1`` otherwise (*rare*). In the second-stage state choose ``a2 ∈ {0, 1}``; it pays
    1 with probability ``p[state2, a2]``. After every trial the four reward probabilities take an
    independent Gaussian step (s.d. ``drift_std``, 0.025) and are reflected at the bounds
    ``reward_bounds`` ([0.25, 0.75]), so the best second-stage option keeps changing. A model-free
    learner repeats a rewarded first-stage choice whatever the transition; a model-based one
    repeats it after a common transition and switches after a rare one (the reward × transition
    interaction of the stay probabilities).

    With ``schedule="switch"`` the reward probabilities do not drift: one second-stage state is
    good and pays ``reward_bounds[1]`` for either action, the other ``reward_bounds[0]``, and after
    each trial the two swap with probability ``p_switch``: the version on which Wang et al. (2018)
    meta-trained recurrent networks (``reward_bounds=(0.1, 0.9)``, ``p_common=0.8``).

    ## Action Space
    ``Discrete(2)``: the first-stage choice on even steps, the second-stage choice on odd steps.

    ## Observation Space
    ``Box(0, 1, (3,), float32)``: one-hot of the current state, ``[first stage, second-stage state
    0, second-stage state 1]``.

    ## Rewards
    0 after the first-stage choice; after the second-stage choice 1 with probability
    ``p[state2, a2]``, else 0.

    ## Starting State
    The reward probabilities are ``options["reward_probabilities"]`` (2 × 2, second-stage state ×
    action), else ``reward_probabilities``, else drawn uniformly within ``reward_bounds``.

    ## Episode End
    One episode is one session: ``terminated`` after the second-stage choice of trial
    ``n_trials`` (2 × ``n_trials`` steps).

    ## Information
    At reset: ``reward_probabilities`` (tuple ``p[0,0], p[0,1], p[1,0], p[1,1]``). After a step,
    about the step just played: ``stage`` (0 or 1), ``state2`` (the second-stage state of the
    trial), ``common`` (whether its transition was common), ``reward_probabilities`` (those that
    applied on this trial, before the drift) and ``trial`` (0-based).

    ## Arguments
    - ``n_trials`` (int in [1, 10^6], 201): trials per session (Daw et al. 2011 ran 201).
    - ``p_common`` (float in [0, 1], 0.7): probability of the common transition.
    - ``drift_std`` (float in [0, 1], 0.025): s.d. of the Gaussian random walk of each reward
      probability.
    - ``reward_bounds`` ((float, float), (0.25, 0.75)): reflecting bounds of the walk,
      ``0 <= low <= high <= 1``.
    - ``reward_probabilities`` (2 × 2 array | None): fixed starting probabilities; ``None`` draws
      them.
    - ``schedule`` ("drift" | "switch", "drift"): how the reward probabilities change.
    - ``p_switch`` (float in [0, 1], 0.025): with ``schedule="switch"``, the per-trial probability
      that the good and the bad second-stage state swap.

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but 0 or
    1 (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Daw, N. D., Gershman, S. J., Seymour, B., Dayan, P. & Dolan, R. J. (2011). Model-based
      influences on humans' choices and striatal prediction errors. Neuron 69, 1204–1215.
    - Wang, J. X. et al. (2018). Prefrontal cortex as a meta-reinforcement learning system. Nature
      Neuroscience 21, 860–868.
    """

    @named_arguments
    def __init__(
        self,
        n_trials: int = 201,
        p_common: float = 0.7,
        drift_std: float = 0.025,
        reward_bounds: tuple[float, float] = DEFAULT_BOUNDS,
        reward_probabilities: Any = None,
        schedule: str = "drift",
        p_switch: float = 0.025,
    ) -> None:
        self.config = _check_config(n_trials, p_common, drift_std, reward_bounds,
                                    reward_probabilities, schedule, p_switch)
        self.n_trials = self.config.n_trials
        self.steps_per_trial = 2
        self.reward_bounds = (0.0, 1.0)
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
        self._task = _TwoStepTask(self.config, 1)  # starts the sessions (reset)
        # the scalar state of the session: trial, stage, second-stage state, common, first choice
        # and the reward probabilities p[2 * state2 + action] as a tuple of floats
        self._t = self._stage = self._state2 = self._choice1 = 0
        self._common = False
        self._p: tuple[float, ...] = (0.5,) * 4
        self._obs = np.eye(3, dtype=np.float32)  # row k: the one-hot observation of state k

    @property
    def stage(self) -> int:
        """The stage of the coming step: 0 (first-stage choice) or 1 (second-stage choice)."""
        return self._stage

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session; ``info`` holds the initial ``reward_probabilities``."""
        super().reset(seed=seed)
        with named_errors(f"{type(self).__name__}.reset"):
            self._task.reset(np.ones(1, dtype=bool), self.np_random, options)
        self._p = tuple(self._task.p[0].reshape(-1).tolist())
        self._t = self._stage = self._state2 = self._choice1 = 0
        self._common = False
        self._done = False
        return self._obs[0].copy(), {"reward_probabilities": self._p}

    def step(self, action):
        """Take the choice of the current stage; the second-stage choice is rewarded."""
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action < 2:
            action = self._checked_action(action)
        action = int(action)
        cfg = self.config
        rng = self.np_random
        u = rng.random()
        p = self._p
        if self._stage == 0:  # the transition: common (state2 = action) with probability p_common
            self._common = common = u < cfg.p_common
            self._state2 = state2 = action if common else 1 - action
            self._choice1 = action
            self._stage = 1
            info = {"stage": 0, "state2": state2, "common": common, "reward_probabilities": p,
                    "trial": self._t}
            return self._obs[1 + state2].copy(), 0.0, False, False, info
        state2 = self._state2
        reward = 1.0 if u < p[2 * state2 + action] else 0.0
        info = {"stage": 1, "state2": state2, "common": self._common, "reward_probabilities": p,
                "trial": self._t, "choice1": self._choice1}
        if cfg.schedule == "switch":  # the good and the bad second-stage state swap
            if rng.random() < cfg.p_switch:
                self._p = (p[2], p[3], p[0], p[1])
        elif cfg.drift_std > 0:  # every probability takes a Gaussian step, reflected at the bounds
            low, high = cfg.bounds
            sd = cfg.drift_std
            steps = rng.standard_normal(4).tolist()
            self._p = tuple(_reflect_scalar(x + sd * e, low, high) for x, e in zip(p, steps))
        self._t += 1
        self._stage = 0
        self._done = terminated = self._t >= self.n_trials
        return self._obs[0].copy(), reward, terminated, False, info

    def trial_context(self) -> dict[str, Any]:
        """Return ``state``, and ``state2`` before a second-stage choice."""
        if self._stage == 1:
            return {"state": 0, "state2": self._state2}
        return {"state": 0}

    def trial_row(self, action: Any, reward: float, info: dict) -> dict | None:
        """Return the trial's row on its second-stage step (choices, common, ...), else ``None``."""
        if info["stage"] == 0:
            return None
        p = info["reward_probabilities"]
        return {
            "state": 0,
            "choice": int(info["choice1"]),
            "state2": int(info["state2"]),
            "choice2": int(action),
            "reward": float(reward),
            "common": bool(info["common"]),
            **{f"p_reward_{s}{a}": float(p[2 * s + a]) for s in (0, 1) for a in (0, 1)},
        }


class TwoStepVector(TaskVectorEnv):
    """``num_envs`` copies of :class:`TwoStep` stepped as one array operation.

    Same arguments and semantics as the single task (see its docstring), plus ``num_envs`` and
    ``autoreset_mode``. ``info`` holds arrays over the copies: ``stage``, ``state2``, ``common``,
    ``trial``, ``choice1`` (the first-stage choice of the trial, after the second-stage choice
    only) and ``reward_probabilities`` (num_envs × 4), each with its ``_key`` mask; at a reset
    ``reward_probabilities``.
    """

    lane_streams = True

    @named_arguments
    def __init__(
        self,
        num_envs: int = 1,
        n_trials: int = 201,
        p_common: float = 0.7,
        drift_std: float = 0.025,
        reward_bounds: tuple[float, float] = DEFAULT_BOUNDS,
        reward_probabilities: Any = None,
        schedule: str = "drift",
        p_switch: float = 0.025,
        autoreset_mode: str = "next_step",
    ) -> None:
        self.config = _check_config(n_trials, p_common, drift_std, reward_bounds,
                                    reward_probabilities, schedule, p_switch)
        self.n_trials = self.config.n_trials
        super().__init__(
            num_envs,
            spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32),
            spaces.Discrete(2),
            autoreset_mode,
        )
        self._task = _TwoStepTask(self.config, self.num_envs)

    def _reset_lanes(self, mask: np.ndarray, options: dict | None) -> None:
        self._task.reset(mask, self._rng, options)

    def _observe(self) -> np.ndarray:
        return self._task.observe()

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        reward, lat = self._task.step(actions.astype(np.int64), self._rng)
        terminated = self._task.t >= self.n_trials
        keys = ("stage", "state2", "common", "reward_probabilities", "trial")
        info = self._in_every_copy({key: lat[key] for key in keys})
        # the first-stage choice, on the trial's second step only (as the single task's info)
        second = lat["stage"] == 1
        info["choice1"], info["_choice1"] = np.where(second, lat["choice1"], 0), second
        return reward, terminated, info

    def _reset_info(self) -> dict[str, np.ndarray]:
        """Return every copy's ``reward_probabilities`` (num_envs × 4), as :meth:`TwoStep.reset`."""
        return self._in_every_copy({"reward_probabilities": self._task.p.reshape(-1, 4).copy()})

    def trial_context(self) -> dict[str, np.ndarray]:
        """Return ``state`` and ``state2`` of every copy (0 before a first-stage choice)."""
        task = self._task
        return {"state": np.zeros(self.num_envs, dtype=np.int64),
                "state2": np.where(task.stage == 1, task.state2, 0)}

    def trial_rows(self, actions: np.ndarray, reward: np.ndarray, info: dict) -> tuple[np.ndarray, dict]:
        """Return the copies that completed a trial and the columns of :meth:`TwoStep.trial_row`.

        A trial ends at its second stage (``info["stage"] == 1``).
        """
        p = info["reward_probabilities"]
        fields = {"state": np.zeros(self.num_envs, dtype=np.int64), "choice": info["choice1"],
                  "state2": info["state2"], "choice2": actions,
                  "reward": np.asarray(reward, dtype=np.float64), "common": info["common"]}
        fields.update({f"p_reward_{s}{a}": p[:, 2 * s + a] for s in (0, 1) for a in (0, 1)})
        return info["stage"] == 1, fields
