"""Pavlovian (classical) trace conditioning, unrolled in time steps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.envs.core import (
    MAX_MAGNITUDE,
    MAX_STEPS,
    MAX_TRIALS,
    PLAIN_INTS,
    TaskEnv,
    named_arguments,
    named_errors,
)
from cogmodels.validation import (
    check_int,
    check_int_pair,
    check_ints,
    check_number,
    check_probability,
)

__all__ = ["PavlovianConditioning"]

NO_LICK, LICK = 0, 1


def _check_omission_trials(value: Any, n_trials: int, name: str = "omission_trials") -> frozenset[int]:
    return frozenset(check_ints(name, value, 0, n_trials - 1))


class PavlovianConditioning(TaskEnv):
    """Classical conditioning: a cue (CS) predicts a reward (US) a fixed delay later.

    ## Description
    The task in which a temporal-difference learner's reward prediction error moves, over
    learning, from the time of the reward to the time of the cue, as the phasic responses of
    midbrain dopamine neurons do (Montague et al. 1996; Schultz, Dayan & Montague 1997).

    Each trial has ``trial_steps`` time steps ``k = 0, ..., trial_steps - 1`` followed by an
    inter-trial interval (ITI) of ``iti`` blank steps, ``iti ~ U{low, ..., high}`` drawn per trial
    from ``iti_steps``; the variable ITI makes the cue's onset unpredictable. The cue is on at
    steps ``cue_step <= k < cue_step + cue_duration``; the reward ``reward_size`` is delivered at
    step ``reward_time = cue_step + delay``, unless the trial is an omission trial: each trial is
    omitted with probability ``p_omission``, and the trials listed in ``omission_trials`` always
    are (e.g. probe trials after learning). The agent's action never affects the reward; licking
    between the cue and the reward (anticipatory licking) is the behavioural readout of the
    learned prediction (e.g. Starkweather et al. 2017).

    Timing follows the convention of the other time-step tasks: the observation at step ``k``
    shows what happens at ``k``, and ``step`` at step ``k`` returns its reward. A TD learner with
    ``delta_k = r_k + gamma * V(x_{k+1}) - V(x_k)`` therefore responds to the reward at
    ``k = reward_time`` before learning, and to the cue at ``k = cue_step - 1`` (the transition
    that reveals the cue) after learning; an omission gives ``delta < 0`` at ``reward_time``.

    ## Action Space
    ``Discrete(2)``: 0 = no lick, 1 = lick. It does not affect the task.

    ## Observation Space
    ``Box(0, 1, (2,), float32)``: ``[cue on this step, reward delivered this step]``. The second
    channel coincides with the reward returned by this step's ``step``; value learners usually
    build their state from the cue channel only (e.g. a tapped delay line from cue onset).

    ## Rewards
    ``reward_size`` on the step ``reward_time`` of a trial that is not omitted, else 0.

    ## Starting State
    Step 0 of trial 0; each trial's omission and ITI are drawn from ``self.np_random`` when the
    trial starts.

    ## Episode End
    One episode is one session: ``terminated`` at the last step (the end of its ITI) of trial
    ``n_trials - 1``.

    ## Information
    Every ``info`` describes one time step: ``reset`` the first one (about to be played),
    ``step`` the one just played. Keys: ``time_in_trial`` (``k``, counting on through the ITI),
    ``cue`` (bool: the cue is on at this step), ``us`` (bool: the reward is delivered at this
    step), ``reward_time`` (``cue_step + delay``), ``omitted`` (bool: this trial's reward is
    omitted), ``iti`` (this trial's ITI in steps), ``anticipatory_licks`` (licks so far in this
    trial at steps ``cue_step <= k < reward_time``) and ``trial`` (0-based).

    ``trial_row`` returns a row at each trial's last step: ``state`` (0), ``choice`` (1 if the
    agent licked at least once in ``cue_step <= k < reward_time``, else 0), ``reward`` (the
    reward delivered in the trial), ``omitted``, ``anticipatory_licks`` and ``iti``.

    ## Arguments
    - ``n_trials`` (int in [1, 10^6], 100): trials per session.
    - ``trial_steps`` (int in [2, 10^6], 20): steps of a trial before its ITI.
    - ``cue_step`` (int >= 0, 5): step of cue onset.
    - ``delay`` (int >= 1, 10): steps from cue onset to reward; ``cue_step + delay`` must be
      ``< trial_steps``.
    - ``cue_duration`` (int >= 1, 1): steps the cue stays on (``delay`` or more: delay
      conditioning; fewer: trace conditioning); ``cue_step + cue_duration <= trial_steps``.
    - ``reward_size`` (float in [-10^6, 10^6], 1): magnitude of the reward (US).
    - ``p_omission`` (float in [0, 1], 0): probability that a trial's reward is omitted.
    - ``omission_trials`` (sequence of int, ()): trials whose reward is always omitted;
      ``reset(options={"omission_trials": [...]})`` replaces them for one session.
    - ``iti_steps`` (int in [0, 10^6] or (low, high), (0, 10)): blank steps after each trial,
      drawn uniformly per trial when a pair.

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but 0 or
    1 (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Schultz, W., Dayan, P. & Montague, P. R. (1997). A neural substrate of prediction and
      reward. Science 275, 1593–1599.
    - Montague, P. R., Dayan, P. & Sejnowski, T. J. (1996). A framework for mesencephalic dopamine
      systems based on predictive Hebbian learning. Journal of Neuroscience 16, 1936–1947.
    - Sutton, R. S. & Barto, A. G. (1990). Time-derivative models of Pavlovian reinforcement. In
      Gabriel & Moore (eds.), Learning and Computational Neuroscience, MIT Press, 497–537.
    - Starkweather, C. K., Babayan, B. M., Uchida, N. & Gershman, S. J. (2017). Dopamine reward
      prediction errors reflect hidden-state inference across time. Nature Neuroscience 20,
      581–589.
    """

    @named_arguments
    def __init__(
        self,
        n_trials: int = 100,
        trial_steps: int = 20,
        cue_step: int = 5,
        delay: int = 10,
        cue_duration: int = 1,
        reward_size: float = 1.0,
        p_omission: float = 0.0,
        omission_trials: Iterable[int] = (),
        iti_steps: int | tuple[int, int] = (0, 10),
    ) -> None:
        self.n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
        self.trial_steps = check_int("trial_steps", trial_steps, 2, MAX_STEPS)
        self.cue_step = check_int("cue_step", cue_step, 0, MAX_STEPS)
        self.delay = check_int("delay", delay, 1, MAX_STEPS)
        if self.cue_step + self.delay >= self.trial_steps:
            raise ValueError(
                f"the reward must fall inside the trial: cue_step + delay must be < trial_steps="
                f"{self.trial_steps}, got cue_step={cue_step!r} and delay={delay!r}"
            )
        self.cue_duration = check_int("cue_duration", cue_duration, 1, MAX_STEPS)
        if self.cue_step + self.cue_duration > self.trial_steps:
            raise ValueError(
                f"cue_duration must be <= trial_steps - cue_step = "
                f"{self.trial_steps - self.cue_step}, got {cue_duration!r}"
            )
        self.reward_size = check_number("reward_size", reward_size, -MAX_MAGNITUDE, MAX_MAGNITUDE)
        self.p_omission = check_probability("p_omission", p_omission)
        self.omission_trials = _check_omission_trials(omission_trials, self.n_trials)
        self.iti_steps = check_int_pair("iti_steps", iti_steps, 0, MAX_STEPS, scalar=True)
        low, high = self.iti_steps  # None when the ITI varies
        self.steps_per_trial = self.trial_steps + low if low == high else None
        self.reward_time = self.cue_step + self.delay
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self._forced = self.omission_trials
        self._trial = self._t = self._iti = self._licks = 0
        self._omitted = False

    def _new_trial(self) -> None:
        rng = self.np_random
        self._omitted = bool(rng.random() < self.p_omission) or self._trial in self._forced
        self._iti = int(rng.integers(self.iti_steps[0], self.iti_steps[1] + 1))
        self._t = 0
        self._licks = 0

    def _cue(self) -> bool:
        return self.cue_step <= self._t < self.cue_step + self.cue_duration

    def _us(self) -> bool:
        return self._t == self.reward_time and not self._omitted

    def _observe(self) -> np.ndarray:
        return np.array([self._cue(), self._us()], dtype=np.float32)

    def _info(self) -> dict[str, Any]:
        return {
            "time_in_trial": self._t,
            "cue": self._cue(),
            "us": self._us(),
            "reward_time": self.reward_time,
            "omitted": self._omitted,
            "iti": self._iti,
            "anticipatory_licks": self._licks,
            "trial": self._trial,
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session; ``options["omission_trials"]`` overrides the omitted trials."""
        super().reset(seed=seed)
        self._forced = self.omission_trials
        if options and options.get("omission_trials") is not None:
            with named_errors(f"{type(self).__name__}.reset"):
                self._forced = _check_omission_trials(
                    options["omission_trials"], self.n_trials, 'options["omission_trials"]'
                )
        self._trial = 0
        self._new_trial()
        self._done = False
        return self._observe(), self._info()

    def step(self, action):
        """Take one time step: count anticipatory licks, deliver the reward at its time."""
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action <= LICK:
            action = self._checked_action(action)
        if action == LICK and self.cue_step <= self._t < self.reward_time:
            self._licks += 1
        info = self._info()
        reward = self.reward_size if info["us"] else 0.0
        self._t += 1
        terminated = False
        if self._t == self.trial_steps + self._iti:
            self._trial += 1
            self._done = terminated = self._trial >= self.n_trials
            if not terminated:
                self._new_trial()
        obs = np.zeros(2, dtype=np.float32) if terminated else self._observe()
        return obs, reward, terminated, False, info

    def trial_row(self, action: Any, reward: float, info: dict) -> dict | None:
        """Return the trial's row on its last step (licks, omission, ITI), else ``None``."""
        if info["time_in_trial"] != self.trial_steps + info["iti"] - 1:
            return None
        return {
            "state": 0,
            "choice": int(info["anticipatory_licks"] > 0),
            "reward": 0.0 if info["omitted"] else self.reward_size,
            "omitted": bool(info["omitted"]),
            "anticipatory_licks": int(info["anticipatory_licks"]),
            "iti": int(info["iti"]),
        }
