"""The reinforcement-learning / working-memory set-size task of Collins & Frank (2012)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.envs.core import (
    MAX_ACTIONS,
    MAX_TRIALS,
    PLAIN_INTS,
    TaskEnv,
    named_arguments,
    named_errors,
)
from cogmodels.validation import check_bool, check_int, check_int_pair, check_ints, describe

__all__ = ["RLWM", "DEFAULT_SET_SIZES"]

MAX_SET_SIZE = 6
#: the longest criterion window (``n`` of ``criterion=(k, n)``), in presentations
MAX_WINDOW = 1_000
#: the 18 blocks of Collins & Frank (2012), experiment 1: six of set size 2, three of each of 3-6
DEFAULT_SET_SIZES: tuple[int, ...] = (2, 2, 3, 4, 5, 6) * 3


def _check_set_sizes(set_sizes: Any, max_set_size: int, name: str = "set_sizes") -> tuple[int, ...]:
    sizes = check_ints(name, set_sizes, 1, max_set_size)
    if not sizes:
        raise ValueError(
            f"{name} must be a non-empty sequence of integers in [1, {max_set_size}] (one set size "
            f"per block), got {describe(set_sizes)}"
        )
    return sizes


class RLWM(TaskEnv):
    """Learn, by trial and error, the correct one of three actions for each of ``n_s`` stimuli.

    The set size ``n_s`` varies from block to block (Collins & Frank 2012).

    ## Description
    A session is a sequence of blocks, each with a set size ``n_s`` from ``set_sizes`` (shuffled
    once per session when ``shuffle_blocks``) and ``n_s`` new stimuli. Each stimulus has a
    correct action drawn uniformly from the ``n_actions`` actions; feedback is deterministic. A
    block first shows every stimulus ``iterations[0]`` times (9) in a random order; then it goes
    on, in rounds that show every stimulus once in a random order, until each stimulus has been
    answered correctly on at least ``k`` of its last ``n`` presentations (``criterion``, (3, 4))
    or has been shown ``iterations[1]`` times (15). Performance falls with set size once ``n_s``
    exceeds working-memory capacity: the set-size effect that the RLWM model explains.

    ## Action Space
    ``Discrete(n_actions)`` (3): the key pressed.

    ## Observation Space
    ``Box(0, 1, (max_set_size + 2,), float32)``: one-hot of the stimulus (its index within the
    block), then ``set_size / max_set_size``, then 1.0 on the first trial of a block (new stimuli)
    else 0.0.

    ## Rewards
    1 for the correct action for the stimulus, else 0.

    ## Starting State
    The block order is ``options["set_sizes"]`` if given (used as is), else ``set_sizes``, shuffled
    when ``shuffle_blocks``. Correct actions and stimulus orders are drawn as each block starts.

    ## Episode End
    One episode is one session: ``terminated`` after the last trial of the last block;
    ``n_trials`` is the most a session can last (every stimulus shown ``iterations[1]`` times).

    ## Information
    At reset: ``set_sizes`` (the session's block order). After a step, about the trial just
    played: ``block`` (0-based), ``set_size``, ``stimulus``, ``correct_action``, ``iteration``
    (presentation number of the stimulus in its block, from 1), ``correct`` and ``trial``.

    ## Arguments
    - ``set_sizes`` (sequence of int in [1, max_set_size], ``DEFAULT_SET_SIZES``): the blocks'
      set sizes.
    - ``n_actions`` (int in [2, 1000], 3): number of actions.
    - ``iterations`` (int | (int, int), (9, 15)): minimum and maximum presentations per stimulus;
      an int fixes both. A session lasts at most ``sum(set_sizes) * iterations[1]`` trials,
      which must be <= 10^6.
    - ``criterion`` ((int, int), (3, 4)): ``(k, n)``, ``1 <= k <= n <= 1000``, that ends a block
      early after the minimum.
    - ``shuffle_blocks`` (bool, True): shuffle the block order each session.
    - ``max_set_size`` (int in [1, 1000], 6): size of the stimulus one-hot.

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but an
    action index (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Collins, A. G. E. & Frank, M. J. (2012). How much of reinforcement learning is working
      memory, not reinforcement learning? A behavioral, computational, and neurogenetic
      analysis. European Journal of Neuroscience 35, 1024–1035.
    - Collins, A. G. E. (2018). The tortoise and the hare: interactions between reinforcement
      learning and working memory. Journal of Cognitive Neuroscience 30, 1422–1432.
    """

    @named_arguments
    def __init__(
        self,
        set_sizes: Sequence[int] = DEFAULT_SET_SIZES,
        n_actions: int = 3,
        iterations: int | tuple[int, int] = (9, 15),
        criterion: tuple[int, int] = (3, 4),
        shuffle_blocks: bool = True,
        max_set_size: int = MAX_SET_SIZE,
    ) -> None:
        self.max_set_size = check_int("max_set_size", max_set_size, 1, MAX_ACTIONS)
        self.set_sizes = _check_set_sizes(set_sizes, self.max_set_size)
        self.n_actions = check_int("n_actions", n_actions, 2, MAX_ACTIONS)
        self.iterations = check_int_pair(
            "iterations", iterations, 1, MAX_TRIALS, scalar=True, labels=("minimum", "maximum")
        )
        self.criterion = check_int_pair("criterion", criterion, 1, MAX_WINDOW, labels=("k", "n"))
        self.shuffle_blocks = check_bool("shuffle_blocks", shuffle_blocks)
        self.n_trials = sum(self.set_sizes) * self.iterations[1]  # the most a session can last
        if self.n_trials > MAX_TRIALS:
            raise ValueError(
                f"set_sizes and iterations must give sessions of at most {MAX_TRIALS} trials "
                f"(sum(set_sizes) * iterations[1]), got {self.n_trials} (set_sizes="
                f"{describe(set_sizes)}, iterations={describe(iterations)})"
            )
        self.fixed_length = self.iterations[0] == self.iterations[1]
        self.reward_bounds = (0.0, 1.0)
        self.action_space = spaces.Discrete(self.n_actions)
        self.observation_space = spaces.Box(
            0.0, 1.0, shape=(self.max_set_size + 2,), dtype=np.float32
        )
        self._order: tuple[int, ...] = self.set_sizes
        self._block = 0
        self._obs_cache: dict[tuple[int, int, bool], np.ndarray] = {}

    # -- block dynamics --------------------------------------------------------------------------
    def _start_block(self, b: int) -> None:
        # the block's state as Python lists and ints: numpy scalars cost more than the task
        rng = self.np_random
        ns = self._order[b]
        self._block = b
        self._ns = ns
        self._correct: list[int] = rng.integers(0, self.n_actions, size=ns).tolist()
        self._queue: list[int] = rng.permutation(np.repeat(np.arange(ns), self.iterations[0])).tolist()
        self._shown = [0] * ns
        self._history: list[list[bool]] = [[] for _ in range(ns)]
        self._first = True

    def _criterion_met(self) -> bool:
        k, n = self.criterion
        return all(sum(h[-n:]) >= k for h in self._history)

    def _next_stimulus(self) -> bool:
        """Set up the next trial of the block; return False when the block is over."""
        if not self._queue:
            most = self.iterations[1]
            if self._criterion_met() or all(n >= most for n in self._shown):
                return False
            left = [i for i, n in enumerate(self._shown) if n < most]
            self._queue = self.np_random.permutation(np.array(left, dtype=np.int64)).tolist()
        self._stim = self._queue.pop(0)
        return True

    # -- Gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session; ``options["set_sizes"]`` overrides the order of the blocks."""
        super().reset(seed=seed)
        if options and options.get("set_sizes") is not None:
            with named_errors(f"{type(self).__name__}.reset"):
                self._order = _check_set_sizes(
                    options["set_sizes"], self.max_set_size, 'options["set_sizes"]'
                )
        elif self.shuffle_blocks:
            self._order = tuple(int(s) for s in self.np_random.permutation(self.set_sizes))
        else:
            self._order = self.set_sizes
        self._t = 0
        self._done = False
        self._start_block(0)
        self._next_stimulus()
        return self._observe(), {"set_sizes": self._order}

    def _observe(self) -> np.ndarray:
        key = (self._stim, self._ns, self._first)
        obs = self._obs_cache.get(key)
        if obs is None:  # at most max_set_size x set sizes x 2 distinct observations
            obs = np.zeros(self.max_set_size + 2, dtype=np.float32)
            obs[self._stim] = 1.0
            obs[-2] = self._ns / self.max_set_size
            obs[-1] = 1.0 if self._first else 0.0
            self._obs_cache[key] = obs
        return obs.copy()

    def step(self, action):
        """Answer the current stimulus with ``action``: reward 1 if correct, else 0."""
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action < self.n_actions:
            action = self._checked_action(action)
        s = self._stim
        correct = action == self._correct[s]
        self._shown[s] += 1
        self._history[s].append(correct)
        info = {
            "block": self._block,
            "set_size": self._ns,
            "stimulus": s,
            "correct_action": self._correct[s],
            "iteration": self._shown[s],
            "correct": correct,
            "trial": self._t,
        }
        self._t += 1
        self._first = False
        if not self._next_stimulus():
            if self._block + 1 < len(self._order):
                self._start_block(self._block + 1)
                self._next_stimulus()
            else:
                self._done = True
        return self._observe(), float(correct), self._done, False, info

    def trial_context(self) -> dict[str, Any]:
        """Return the upcoming trial's ``state`` (stimulus), ``set_size`` and ``block``."""
        return {"state": self._stim, "set_size": self._ns, "block": self._block}

    def trial_row(self, action: Any, reward: float, info: dict) -> dict:
        """Return the trial's ``block``, ``set_size``, ``state``, ``choice``, ``reward``, ..."""
        return {
            "block": int(info["block"]),
            "set_size": int(info["set_size"]),
            "state": int(info["stimulus"]),
            "choice": int(action),
            "reward": float(reward),
            "correct_action": int(info["correct_action"]),
            "iteration": int(info["iteration"]),
            "correct": float(info["correct"]),
        }
