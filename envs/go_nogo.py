"""The orthogonalised go/no-go task: action (go, no-go) crossed with valence (win, avoid losing)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.envs.core import MAX_TRIALS, PLAIN_INTS, TaskEnv, named_arguments
from cogmodels.validation import check_int, check_probability

__all__ = ["CUES", "GoNoGo"]

NO_GO, GO = 0, 1
#: the cues in hBayesDM's order (its ``cue`` 1-4 is ``state`` 0-3): (name, correct action, win?)
CUES: tuple[tuple[str, int, bool], ...] = (
    ("go to win", GO, True),
    ("no-go to win", NO_GO, True),
    ("go to avoid losing", GO, False),
    ("no-go to avoid losing", NO_GO, False),
)
_CORRECT = np.array([c[1] for c in CUES])
_WIN = np.array([c[2] for c in CUES])


class GoNoGo(TaskEnv):
    """The orthogonalised go/no-go task of Guitart-Masip et al. (2012).

    ## Description
    Each trial shows one of four cues that cross the action it asks for (go: a key press; no-go:
    withholding it) with its valence (win a reward, or avoid a loss). The correct action earns
    the better outcome of its cue with probability ``p_valid`` and the worse one otherwise; the
    wrong action the reverse. Win cues pay 1 (better) or 0 (worse); avoid cues 0 (better) or -1
    (worse). A session of ``n_trials`` trials shows the four cues equally often (the first
    ``n_trials mod 4`` cues once more) in a random order. People learn
    go-to-win and no-go-to-avoid faster than the two cues where the Pavlovian tendency (approach
    reward, withdraw from punishment) opposes the instrumental action: the Pavlovian bias of the
    models ``gng_m3``, ``gng_m4`` (:class:`cogmodels.models.GoNoGo`).

    ## Action Space
    ``Discrete(2)``: 0 = no-go, 1 = go.

    ## Observation Space
    ``Box(0, 1, (4,), float32)``: one-hot of the cue, in the order of :data:`CUES` (go to win,
    no-go to win, go to avoid losing, no-go to avoid losing; hBayesDM's ``cue`` 1-4).

    ## Rewards
    1 or 0 on a win cue, 0 or -1 on an avoid cue: the better outcome with probability
    ``p_valid`` after the correct action and ``1 - p_valid`` after the wrong one.

    ## Starting State
    The order of the cues, a random permutation drawn at reset.

    ## Episode End
    One episode is one session: ``terminated`` after ``n_trials`` trials.

    ## Information
    After a step: ``cue`` (0-3), ``correct_action``, ``success`` (the action was the correct
    one), ``valid`` (the feedback was the one the action's correctness calls for) and ``trial``.

    ## Arguments
    - ``n_trials`` (int in [1, 10^6], 240): trials per session (60 of each cue, as in
      Guitart-Masip et al. 2012 and hBayesDM's example data).
    - ``p_valid`` (float in [0, 1], 0.8): probability that the feedback follows the action's
      correctness.

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but 0 or
    1 (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Guitart-Masip, Huys, Fuentemilla, Dayan, Duzel & Dolan (2012). Go and no-go learning in
      reward and punishment: interactions between affect and effect. NeuroImage 62, 154-166.
    """

    reward_bounds = (-1.0, 1.0)

    @named_arguments
    def __init__(self, n_trials: int = 240, p_valid: float = 0.8) -> None:
        self.n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
        self.p_valid = check_probability("p_valid", p_valid)
        self.n_actions = 2
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(len(CUES),), dtype=np.float32)
        self._order = np.zeros(self.n_trials, dtype=np.int64)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session: ``n_trials`` cues, the four equally often, in a random order."""
        super().reset(seed=seed)
        self._order = self.np_random.permutation(np.resize(np.arange(len(CUES)), self.n_trials))
        self._t = 0
        self._done = False
        return self._observe(), {}

    def _observe(self) -> np.ndarray:
        obs = np.zeros(len(CUES), dtype=np.float32)
        obs[self._order[min(self._t, self.n_trials - 1)]] = 1.0
        return obs

    def step(self, action):
        """Answer the cue with ``action`` (go or no-go); ``info`` holds the cue and the outcome."""
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action < 2:
            action = self._checked_action(action)
        cue = int(self._order[self._t])
        success = bool(action == _CORRECT[cue])
        valid = bool(self.np_random.random() < self.p_valid)
        better = success == valid
        reward = (1.0 if better else 0.0) if _WIN[cue] else (0.0 if better else -1.0)
        info = {"cue": cue, "correct_action": int(_CORRECT[cue]), "success": success,
                "valid": valid, "trial": self._t}
        self._t += 1
        self._done = self._t >= self.n_trials
        return self._observe(), reward, self._done, False, info

    def trial_context(self) -> dict[str, Any]:
        """Return the upcoming trial's cue as ``state``."""
        return {"state": int(self._order[min(self._t, self.n_trials - 1)])}

    def trial_row(self, action: Any, reward: float, info: dict) -> dict:
        """Return the trial's ``state``, ``choice``, ``reward``, ``correct_action``, ``success``."""
        return {
            "state": int(info["cue"]),
            "choice": int(action),
            "reward": float(reward),
            "correct_action": int(info["correct_action"]),
            "success": bool(info["success"]),
        }
