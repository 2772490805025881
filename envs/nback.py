"""The n-back task, unrolled in time steps for recurrent agents."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.envs.core import (
    MAX_ACTIONS,
    MAX_STEPS,
    MAX_TRIALS,
    PLAIN_INTS,
    TaskEnv,
    TaskVectorEnv,
    lane_draws,
    named_arguments,
)
from cogmodels.validation import check_int, check_probability

__all__ = ["NBack", "NBackVector", "nback_stream", "nback_streams"]

NO_MATCH, MATCH = 0, 1


def nback_stream(
    rng: np.random.Generator, n_items: int, n_stimuli: int, n: int, p_match: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a stimulus stream and its match flags.

    Items ``i < n`` are uniform and never matches. Item ``i >= n`` is a match (``x_i = x_{i-n}``)
    with probability ``p_match``, else uniform over the ``n_stimuli - 1`` other stimuli, so that
    ``P(match) = p_match`` exactly.
    """
    x, match = nback_streams(rng, 1, n_items, n_stimuli, n, p_match)
    return x[0], match[0]


def nback_streams(
    rng: np.random.Generator, k: int, n_items: int, n_stimuli: int, n: int, p_match: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``k`` streams at once as ``(k, n_items)`` arrays (see :func:`nback_stream`).

    The draws are laid out so that ``k = 1`` consumes the generator exactly as one stream does.
    """
    u = rng.random((k, n_items))
    base = rng.integers(n_stimuli, size=(k, n_items))
    shift = 1 + rng.integers(n_stimuli - 1, size=(k, n_items))
    match = np.zeros((k, n_items), dtype=bool)
    match[:, n:] = u[:, n:] < p_match
    # x_i = x_{i-n} if match else (x_{i-n} + shift_i) mod n_stimuli, for i >= n: along each chain
    # i = r, r + n, r + 2n, ... that is x_r plus the running sum of the shifts of the non-matches
    step = np.where(match, 0, shift)
    step[:, :n] = 0
    rows = -(-n_items // n)
    padded = np.zeros((k, rows * n), dtype=np.int64)
    padded[:, :n_items] = step
    first = np.zeros((k, 1, n), dtype=np.int64)
    first[:, 0, : min(n, n_items)] = base[:, :n]
    chains = padded.reshape(k, rows, n).cumsum(axis=1) + first
    x = (chains % n_stimuli).reshape(k, rows * n)[:, :n_items]
    return x, match


class NBack(TaskEnv):
    """The n-back task: say whether each item of a stream equals the one ``n`` items back.

    ## Description
    A continuous-performance working-memory task (Kirchner 1958) in discrete time steps. A stream
    of ``n_trials`` items, each a stimulus from ``n_stimuli``, is shown one item per trial: the
    item's stimulus for ``stimulus_steps`` steps, then ``delay_steps`` blank steps. At the item's
    last stimulus step (the response step, flagged in the observation) the agent reports whether
    the item matches the one ``n`` items back. For items ``i >= n``, the item is a match
    (``x_i = x_{i-n}``) with probability ``p_match``, otherwise it is drawn uniformly from the other
    stimuli. The first ``n`` items have nothing ``n`` back: they are never matches, and the
    correct response is "no match".

    ## Action Space
    ``Discrete(2)``: 0 = "no match", 1 = "match". Only the action at a response step counts;
    actions at other steps are ignored.

    ## Observation Space
    ``Box(0, 1, (n_stimuli + 1,), float32)``: ``[onehot(stimulus), respond]``; the one-hot is all
    zeros during delay steps, and ``respond`` is 1 only at response steps.

    ## Rewards
    At a response step, 1 if the action is correct (1 for a match, else 0), else 0. Every other
    step pays 0.

    ## Starting State
    The first stimulus step of item 0; the whole stream is drawn from ``self.np_random`` at reset.

    ## Episode End
    One episode is one session: ``terminated`` at the last step (after its delay steps) of item
    ``n_trials - 1``.

    ## Information
    Every ``info`` describes one time step: ``reset`` the first one (about to be played),
    ``step`` the one just played. Keys: ``item`` and ``trial`` (both the 0-based index of the
    item in the stream: one item is one trial), ``stimulus`` (its stimulus), ``n_back_stimulus``
    (the stimulus ``n`` items back, -1 for the first ``n`` items), ``match`` (bool),
    ``correct_action`` (1 if match else 0), ``period`` ("stimulus" | "delay"), ``respond`` (bool:
    a response step) and ``time_in_trial``.

    ``trial_row`` returns one row per item, at its response step: ``state`` (the stimulus),
    ``choice``, ``reward``, ``match`` and ``correct_action``.

    ## Arguments
    - ``n_stimuli`` (int in [2, 1000], 4): number of distinct stimuli.
    - ``n`` (int in [1, 10^6], 2): how many items back to compare with.
    - ``n_trials`` (int in [1, 10^6], 100): items per session.
    - ``stimulus_steps`` (int in [1, 10^6], 1): steps each item is shown.
    - ``delay_steps`` (int in [0, 10^6], 0): blank steps after each item.
    - ``p_match`` (float in [0, 1], 1/3): match probability of items ``i >= n``.

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but 0 or
    1 (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Kirchner, W. K. (1958). Age differences in short-term retention of rapidly changing
      information. Journal of Experimental Psychology 55, 352–358.
    - Owen, A. M., McMillan, K. M., Laird, A. R. & Bullmore, E. (2005). N-back working memory
      paradigm: a meta-analysis of normative functional neuroimaging studies. Human Brain
      Mapping 25, 46–59.
    """

    @named_arguments
    def __init__(
        self,
        n_stimuli: int = 4,
        n: int = 2,
        n_trials: int = 100,
        stimulus_steps: int = 1,
        delay_steps: int = 0,
        p_match: float = 1.0 / 3.0,
    ) -> None:
        self.n_stimuli = check_int("n_stimuli", n_stimuli, 2, MAX_ACTIONS)
        self.n = check_int("n", n, 1, MAX_TRIALS)
        self.n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
        self.stimulus_steps = check_int("stimulus_steps", stimulus_steps, 1, MAX_STEPS)
        self.delay_steps = check_int("delay_steps", delay_steps, 0, MAX_STEPS)
        self.p_match = check_probability("p_match", p_match)
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.n_stimuli + 1,), dtype=np.float32)
        self._trial_steps = self.stimulus_steps + self.delay_steps
        self.steps_per_trial = self._trial_steps
        self._stimuli = np.zeros(self.n_trials, dtype=np.int64)
        self._match = np.zeros(self.n_trials, dtype=bool)
        self._items, self._matches = self._stimuli.tolist(), self._match.tolist()
        self._obs_cache: dict[tuple[int, bool], np.ndarray] = {}
        self._trial = self._t = 0

    def _respond(self) -> bool:
        return self._t == self.stimulus_steps - 1

    def _observe(self) -> np.ndarray:
        shown = self._t < self.stimulus_steps
        key = (self._items[self._trial] if shown else -1, self._respond())
        obs = self._obs_cache.get(key)
        if obs is None:  # at most 2 (n_stimuli + 1) distinct observations
            obs = np.zeros(self.n_stimuli + 1, dtype=np.float32)
            if shown:
                obs[key[0]] = 1.0
                obs[-1] = float(key[1])
            self._obs_cache[key] = obs
        return obs.copy()

    def _info(self) -> dict[str, Any]:
        i = self._trial
        match = self._matches[i]
        items = self._items
        return {
            "item": i,
            "trial": i,
            "stimulus": items[i],
            "n_back_stimulus": items[i - self.n] if i >= self.n else -1,
            "match": match,
            "correct_action": MATCH if match else NO_MATCH,
            "period": "stimulus" if self._t < self.stimulus_steps else "delay",
            "respond": self._respond(),
            "time_in_trial": self._t,
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session with a new stimulus stream."""
        super().reset(seed=seed)
        self._stimuli, self._match = nback_stream(
            self.np_random, self.n_trials, self.n_stimuli, self.n, self.p_match
        )
        # the stream as Python ints and bools for step: numpy scalars cost more than the task
        self._items, self._matches = self._stimuli.tolist(), self._match.tolist()
        self._trial = self._t = 0
        self._done = False
        return self._observe(), self._info()

    def step(self, action):
        """Take one time step; a correct match / non-match response is rewarded with 1."""
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action <= MATCH:
            action = self._checked_action(action)
        info = self._info()
        reward = float(action == info["correct_action"]) if info["respond"] else 0.0
        self._t += 1
        terminated = False
        if self._t == self._trial_steps:
            self._done = terminated = self._trial + 1 >= self.n_trials
            if not terminated:
                self._trial += 1
                self._t = 0
        obs = np.zeros(self.n_stimuli + 1, dtype=np.float32) if terminated else self._observe()
        return obs, reward, terminated, False, info

    def trial_row(self, action: Any, reward: float, info: dict) -> dict | None:
        """Return the trial's row on its response step (stimulus, choice, ...), else ``None``."""
        if not info["respond"]:
            return None
        return {
            "state": int(info["stimulus"]),
            "choice": int(action),
            "reward": float(reward),
            "match": bool(info["match"]),
            "correct_action": int(info["correct_action"]),
        }


class NBackVector(TaskVectorEnv):
    """``num_envs`` copies of :class:`NBack` stepped as one array operation.

    Same arguments and semantics as the single task (see its docstring), plus ``num_envs`` and
    ``autoreset_mode``. The streams of the copies reset together are drawn at once by
    :func:`nback_streams`, so with ``num_envs=1`` and the same seed the rollout is the single
    task's. ``info`` holds arrays over the copies, each with its ``_key`` mask: ``item``,
    ``trial``, ``stimulus``, ``n_back_stimulus``, ``match``, ``correct_action``, ``period`` (str),
    ``respond`` and ``time_in_trial``; at a reset those of the first step.
    """

    lane_streams = True

    @named_arguments
    def __init__(
        self,
        num_envs: int = 1,
        n_stimuli: int = 4,
        n: int = 2,
        n_trials: int = 100,
        stimulus_steps: int = 1,
        delay_steps: int = 0,
        p_match: float = 1.0 / 3.0,
        autoreset_mode: str = "next_step",
    ) -> None:
        single = NBack(n_stimuli, n, n_trials, stimulus_steps, delay_steps, p_match)
        self.n_stimuli, self.n, self.n_trials = single.n_stimuli, single.n, single.n_trials
        self.stimulus_steps, self.delay_steps = single.stimulus_steps, single.delay_steps
        self.p_match = single.p_match
        self.steps_per_trial = single.steps_per_trial
        self.steps_per_session = single.steps_per_session
        super().__init__(num_envs, single.observation_space, spaces.Discrete(2), autoreset_mode,
                         lane_values=self.n_trials)
        k = self.num_envs
        self._trial_steps = self.stimulus_steps + self.delay_steps
        self._lanes = np.arange(k)
        self._stimuli = np.zeros((k, self.n_trials), dtype=np.int64)
        self._match = np.zeros((k, self.n_trials), dtype=bool)
        self._trial = np.zeros(k, dtype=np.int64)
        self._t = np.zeros(k, dtype=np.int64)
        self._done = np.zeros(k, dtype=bool)

    def _reset_lanes(self, mask: np.ndarray, options: dict | None) -> None:
        x, match = nback_streams(
            lane_draws(self._rng, mask), int(mask.sum()), self.n_trials, self.n_stimuli, self.n, self.p_match
        )
        self._stimuli[mask], self._match[mask] = x, match
        self._trial[mask] = 0
        self._t[mask] = 0
        self._done[mask] = False

    def _observe(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, self.n_stimuli + 1), dtype=np.float32)
        show = ~self._done & (self._t < self.stimulus_steps)
        stim = self._stimuli[self._lanes, self._trial]
        obs[self._lanes[show], stim[show]] = 1.0
        obs[:, -1] = show & (self._t == self.stimulus_steps - 1)
        return obs

    def _latents(self) -> dict[str, np.ndarray]:
        """Return the info of every copy's current step, as :meth:`NBack._info`."""
        i = self._trial
        match = self._match[self._lanes, i]
        back = self._stimuli[self._lanes, np.maximum(i - self.n, 0)]
        return {
            "item": i.copy(),
            "trial": i.copy(),
            "stimulus": self._stimuli[self._lanes, i],
            "n_back_stimulus": np.where(i >= self.n, back, -1),
            "match": match,
            "correct_action": match.astype(np.int64),
            "period": np.where(self._t < self.stimulus_steps, "stimulus", "delay"),
            "respond": self._t == self.stimulus_steps - 1,
            "time_in_trial": self._t.copy(),
        }

    def _reset_info(self) -> dict[str, np.ndarray]:
        """Return the info of every copy's first step, as :meth:`NBack.reset`."""
        return self._in_every_copy(self._latents())

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        live = ~self._done
        latents = self._latents()
        respond, correct_action = latents["respond"], latents["correct_action"]
        reward = np.where(live & respond, (actions == correct_action).astype(np.float64), 0.0)
        self._t += live
        ended = live & (self._t == self._trial_steps)
        terminated = ended & (self._trial + 1 >= self.n_trials)
        self._done |= terminated
        nxt = ended & ~terminated
        self._trial += nxt
        self._t[nxt] = 0
        return reward, terminated, self._in_every_copy(latents)
