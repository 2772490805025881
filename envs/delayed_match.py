"""Delayed match-to-sample, unrolled in time steps for recurrent agents."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.envs.core import (
    MAX_ACTIONS,
    MAX_MAGNITUDE,
    MAX_STEPS,
    MAX_TRIALS,
    PLAIN_INTS,
    TaskEnv,
    TaskVectorEnv,
    lane_draws,
    named_arguments,
)
from cogmodels.validation import check_int, check_int_pair, check_number, check_probability

__all__ = ["DelayedMatchToSample", "DelayedMatchToSampleVector"]

WAIT, MATCH, NON_MATCH = 0, 1, 2


class DelayedMatchToSample(TaskEnv):
    """Delayed match-to-sample: remember a sample over a delay, then judge whether a probe matches.

    ## Description
    A working-memory task in discrete time steps, as used to train recurrent networks (Song et al.
    2017; Yang et al. 2019; NeuroGym's ``DelayMatchSample``). Each trial has three periods:

    1. **sample** (``sample_steps`` steps): the sample stimulus ``s ~ U{0, ..., n_stimuli - 1}``;
    2. **delay** (``d`` steps, ``d ~ U{low, ..., high}`` drawn per trial from ``delay_steps``):
       a blank screen;
    3. **test** (one step): the probe ``p`` with the "respond now" flag. With probability
       ``p_match`` the probe is the sample (``p = s``), otherwise it is drawn uniformly from the
       ``n_stimuli - 1`` other stimuli.

    The trial's outcome is decided at its single test step; the next trial's sample follows
    immediately.

    ## Action Space
    ``Discrete(3)``: 0 = wait (fixate), 1 = "match", 2 = "non-match".

    ## Observation Space
    ``Box(0, 1, (n_stimuli + 1,), float32)``: ``[onehot(stimulus), respond]``. The one-hot shows the
    sample during the sample period and the probe at the test step, and is all zeros during the
    delay; ``respond`` is 1 only at the test step.

    ## Rewards
    At the test step: 1 for the correct response (1 if ``p = s``, else 2) and ``penalty`` (<= 0,
    default 0) for the wrong one or for waiting (a missed response). Before the test step,
    responding (1 or 2) is an early response: it earns ``early_penalty`` (<= 0, default 0) on
    that step and changes nothing else (the trial goes on; only the test step decides the
    outcome). Waiting before the test step earns 0.

    ## Starting State
    The first step of trial 0's sample period; every trial's sample, match, probe and delay are
    drawn from ``self.np_random`` when the trial starts.

    ## Episode End
    One episode is one session: ``terminated`` at the test step of trial ``n_trials - 1``.

    ## Information
    Every ``info`` describes one time step: ``reset`` the first one (about to be played),
    ``step`` the one just played (whose observation the action answered). Keys: ``period``
    ("sample" | "delay" | "test"), ``time_in_trial``, ``sample``, ``probe``, ``match`` (bool),
    ``correct_action`` (the rewarded action at the test step: 1 or 2), ``delay`` (this trial's
    delay in steps), ``early_responses`` (responses 1/2 so far in this trial's sample and delay
    periods) and ``trial`` (0-based).

    ``trial_row`` returns a row only at the test step: ``state`` (the sample), ``probe``,
    ``match``, ``choice`` (0 = match, 1 = non-match, i.e. the action minus one; NaN if the agent
    waited), ``reward``, ``correct_action`` (same 0-based coding as ``choice``), ``delay`` and
    ``early_responses``.

    ## Arguments
    - ``n_stimuli`` (int in [2, 1000], 4): number of distinct stimuli.
    - ``n_trials`` (int in [1, 10^6], 100): trials per session.
    - ``sample_steps`` (int in [1, 10^6], 1): duration of the sample period.
    - ``delay_steps`` (int in [0, 10^6] or (low, high), 2): duration of the delay, drawn
      uniformly per trial from ``{low, ..., high}`` when a pair.
    - ``p_match`` (float in [0, 1], 0.5): probability that the probe matches the sample.
    - ``penalty`` (float in [-10^6, 0], 0): reward of a wrong or missed response at the test
      step.
    - ``early_penalty`` (float in [-10^6, 0], 0): reward of a response before the test step.

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but 0, 1
    or 2 (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Miller, E. K., Erickson, C. A. & Desimone, R. (1996). Neural mechanisms of visual working
      memory in prefrontal cortex of the macaque. Journal of Neuroscience 16, 5154–5167.
    - Song, H. F., Yang, G. R. & Wang, X.-J. (2017). Reward-based training of recurrent neural
      networks for cognitive and value-based tasks. eLife 6, e21492.
    - Yang, G. R., Joglekar, M. R., Song, H. F., Newsome, W. T. & Wang, X.-J. (2019). Task
      representations in neural networks trained to perform many cognitive tasks. Nature
      Neuroscience 22, 297–306.
    - Molano-Mazón, M. et al. (2022). NeuroGym: an open resource for developing and sharing
      neuroscience tasks. PsyArXiv aqc9n.
    """

    @named_arguments
    def __init__(
        self,
        n_stimuli: int = 4,
        n_trials: int = 100,
        sample_steps: int = 1,
        delay_steps: int | tuple[int, int] = 2,
        p_match: float = 0.5,
        penalty: float = 0.0,
        early_penalty: float = 0.0,
    ) -> None:
        self.n_stimuli = check_int("n_stimuli", n_stimuli, 2, MAX_ACTIONS)
        self.n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
        self.sample_steps = check_int("sample_steps", sample_steps, 1, MAX_STEPS)
        self.delay_steps = check_int_pair("delay_steps", delay_steps, 0, MAX_STEPS, scalar=True)
        self.p_match = check_probability("p_match", p_match)
        self.penalty = check_number("penalty", penalty, -MAX_MAGNITUDE, 0.0)
        self.early_penalty = check_number("early_penalty", early_penalty, -MAX_MAGNITUDE, 0.0)
        low, high = self.delay_steps  # sample, delay, one test step; None when the delay varies
        self.steps_per_trial = self.sample_steps + low + 1 if low == high else None
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.n_stimuli + 1,), dtype=np.float32)
        self._trial = self._t = self._sample = self._probe = self._delay = self._early = 0
        self._match = False

    # -- trial structure -------------------------------------------------------------------------
    def _new_trial(self) -> None:
        rng = self.np_random
        self._sample = int(rng.integers(self.n_stimuli))
        self._match = bool(rng.random() < self.p_match)
        other = (self._sample + 1 + int(rng.integers(self.n_stimuli - 1))) % self.n_stimuli
        self._probe = self._sample if self._match else other
        self._delay = int(rng.integers(self.delay_steps[0], self.delay_steps[1] + 1))
        self._t = 0
        self._early = 0

    def _period(self) -> str:
        if self._t < self.sample_steps:
            return "sample"
        return "delay" if self._t < self.sample_steps + self._delay else "test"

    def _observe(self) -> np.ndarray:
        obs = np.zeros(self.n_stimuli + 1, dtype=np.float32)
        period = self._period()
        if period == "sample":
            obs[self._sample] = 1.0
        elif period == "test":
            obs[self._probe] = 1.0
            obs[-1] = 1.0
        return obs

    def _info(self) -> dict[str, Any]:
        return {
            "period": self._period(),
            "time_in_trial": self._t,
            "sample": self._sample,
            "probe": self._probe,
            "match": self._match,
            "correct_action": MATCH if self._match else NON_MATCH,
            "delay": self._delay,
            "early_responses": self._early,
            "trial": self._trial,
        }

    # -- Gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session with the first trial's sample period."""
        super().reset(seed=seed)
        self._trial = 0
        self._new_trial()
        self._done = False
        return self._observe(), self._info()

    def step(self, action):
        """Take one time step; the response in the test period is rewarded (1) or penalised.

        Responding before the test period costs ``early_penalty``.
        """
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action <= NON_MATCH:
            action = self._checked_action(action)
        a = int(action)
        test = self._period() == "test"
        if test:
            reward = 1.0 if a == (MATCH if self._match else NON_MATCH) else self.penalty
        else:
            reward = 0.0 if a == WAIT else self.early_penalty
            self._early += a != WAIT
        info = self._info()
        self._t += 1
        terminated = False
        if test:
            self._trial += 1
            self._done = terminated = self._trial >= self.n_trials
            if not terminated:
                self._new_trial()
        obs = np.zeros(self.n_stimuli + 1, dtype=np.float32) if terminated else self._observe()
        return obs, reward, terminated, False, info

    def trial_row(self, action: Any, reward: float, info: dict) -> dict | None:
        """Return the trial's row on its test step (sample, probe, choice, ...), else ``None``."""
        if info["period"] != "test":
            return None
        a = int(action)
        return {
            "state": int(info["sample"]),
            "probe": int(info["probe"]),
            "match": bool(info["match"]),
            "choice": float("nan") if a == WAIT else a - 1,
            "reward": float(reward),
            "correct_action": int(info["correct_action"]) - 1,
            "delay": int(info["delay"]),
            "early_responses": int(info["early_responses"]),
        }


class DelayedMatchToSampleVector(TaskVectorEnv):
    """``num_envs`` copies of :class:`DelayedMatchToSample` stepped as one array operation.

    Same arguments and semantics as the single task (see its docstring), plus ``num_envs`` and
    ``autoreset_mode``. A trial's sample, match, probe and delay are drawn in the single task's
    order (for every copy starting a trial at once), so with ``num_envs=1`` and the same seed the
    rollout is the single task's. With a delay range the copies' trials drift apart in time and
    their sessions end on different steps. ``info`` holds arrays over the copies, each with its
    ``_key`` mask: ``period`` (str), ``time_in_trial``, ``sample``, ``probe``, ``match``,
    ``correct_action``, ``delay``, ``early_responses`` and ``trial``; at a reset those of the
    first step.
    """

    lane_streams = True

    @named_arguments
    def __init__(
        self,
        num_envs: int = 1,
        n_stimuli: int = 4,
        n_trials: int = 100,
        sample_steps: int = 1,
        delay_steps: int | tuple[int, int] = 2,
        p_match: float = 0.5,
        penalty: float = 0.0,
        early_penalty: float = 0.0,
        autoreset_mode: str = "next_step",
    ) -> None:
        single = DelayedMatchToSample(n_stimuli, n_trials, sample_steps, delay_steps, p_match,
                                      penalty, early_penalty)
        self.n_stimuli, self.n_trials, self.sample_steps = (
            single.n_stimuli, single.n_trials, single.sample_steps)
        self.delay_steps, self.p_match = single.delay_steps, single.p_match
        self.penalty, self.early_penalty = single.penalty, single.early_penalty
        self.steps_per_trial = single.steps_per_trial
        self.steps_per_session = single.steps_per_session
        super().__init__(num_envs, single.observation_space, spaces.Discrete(3), autoreset_mode)
        n = self.num_envs
        self._lanes = np.arange(n)
        self._trial = np.zeros(n, dtype=np.int64)
        self._t = np.zeros(n, dtype=np.int64)
        self._sample = np.zeros(n, dtype=np.int64)
        self._probe = np.zeros(n, dtype=np.int64)
        self._delay = np.zeros(n, dtype=np.int64)
        self._early = np.zeros(n, dtype=np.int64)
        self._match = np.zeros(n, dtype=bool)
        self._done = np.zeros(n, dtype=bool)

    def _new_trials(self, mask: np.ndarray) -> None:
        """Draw the next trial in the copies ``mask`` (in :class:`DelayedMatchToSample`'s order)."""
        k = int(mask.sum())
        if not k:
            return
        rng = lane_draws(self._rng, mask)
        sample = rng.integers(self.n_stimuli, size=k)
        match = rng.random(k) < self.p_match
        other = (sample + 1 + rng.integers(self.n_stimuli - 1, size=k)) % self.n_stimuli
        self._sample[mask] = sample
        self._match[mask] = match
        self._probe[mask] = np.where(match, sample, other)
        self._delay[mask] = rng.integers(self.delay_steps[0], self.delay_steps[1] + 1, size=k)
        self._t[mask] = 0
        self._early[mask] = 0

    def _periods(self) -> tuple[np.ndarray, np.ndarray]:
        """Masks of the copies in their sample period and at their test step."""
        sample = self._t < self.sample_steps
        test = self._t >= self.sample_steps + self._delay
        return sample, test

    def _reset_lanes(self, mask: np.ndarray, options: dict | None) -> None:
        self._trial[mask] = 0
        self._done[mask] = False
        self._new_trials(mask)

    def _observe(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, self.n_stimuli + 1), dtype=np.float32)
        sample, test = self._periods()
        show = ~self._done & (sample | test)
        stim = np.where(sample, self._sample, self._probe)
        obs[self._lanes[show], stim[show]] = 1.0
        obs[:, -1] = ~self._done & test
        return obs

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        actions = actions.astype(np.int64, copy=False)
        live = ~self._done
        sample, test = self._periods()
        correct_action = np.where(self._match, MATCH, NON_MATCH)
        reward = np.where(
            test,
            np.where(actions == correct_action, 1.0, self.penalty),
            np.where(actions == WAIT, 0.0, self.early_penalty),
        )
        reward = np.where(live, reward, 0.0)
        self._early += live & ~test & (actions != WAIT)
        latents = self._latents(sample, test, correct_action)
        self._t += live
        ended = live & test
        self._trial += ended
        terminated = ended & (self._trial >= self.n_trials)
        self._done |= terminated
        self._new_trials(ended & ~terminated)
        return reward, terminated, self._in_every_copy(latents)

    def _latents(self, sample: np.ndarray, test: np.ndarray, correct_action: np.ndarray) -> dict[str, np.ndarray]:
        """Return the info of every copy's current step, as :meth:`DelayedMatchToSample._info`."""
        return {
            "period": np.where(sample, "sample", np.where(test, "test", "delay")),
            "time_in_trial": self._t.copy(),
            "sample": self._sample.copy(),
            "probe": self._probe.copy(),
            "match": self._match.copy(),
            "correct_action": correct_action,
            "delay": self._delay.copy(),
            "early_responses": self._early.copy(),
            "trial": self._trial.copy(),
        }

    def _reset_info(self) -> dict[str, np.ndarray]:
        """Return the info of every copy's first step, as :meth:`DelayedMatchToSample.reset`."""
        return self._in_every_copy(self._latents(*self._periods(), np.where(self._match, MATCH, NON_MATCH)))
