"""The two-step task with stakes of Kool, Gershman & Cushman (2017), Experiment 1."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.envs.core import MAX_MAGNITUDE, PLAIN_INTS, named_arguments
from cogmodels.envs.two_step import DEFAULT_BOUNDS, TwoStep
from cogmodels.validation import check_number, check_probability

__all__ = ["TwoStepStakes"]


class TwoStepStakes(TwoStep):
    """The two-step task of Daw et al. (2011) with a stake announced before each trial.

    ## Description
    The task of :class:`cogmodels.envs.two_step.TwoStep` (a first-stage choice leads to one of two
    second-stage states, commonly with probability ``p_common``; the second-stage choice wins
    with a slowly drifting probability) where each trial first shows its stake: with probability
    ``p_high`` the trial's win is worth ``high_stakes`` points (5), otherwise ``low_stakes`` (1).
    Kool, Gershman & Cushman (2017) used it to ask whether people arbitrate between model-based
    and model-free control by the reward at stake.

    ## Action Space
    ``Discrete(2)``: the first-stage choice on even steps, the second-stage choice on odd steps.

    ## Observation Space
    ``Box(0, max(high_stakes, 1), (4,), float32)``: the one-hot state of the two-step task
    ``[first stage, second-stage state 0, second-stage state 1]`` followed by the current trial's
    stake.

    ## Rewards
    0 after the first-stage choice; after the second-stage choice the stake with probability
    ``p[state2, a2]``, else 0.

    ## Starting State
    As in the two-step task; the first trial's stake is drawn at reset.

    ## Episode End
    ``terminated`` after the second-stage choice of trial ``n_trials`` (2 × ``n_trials`` steps).

    ## Information
    As in the two-step task, plus ``stakes``: the stake of the trial of the step just played (at
    reset, that of the first trial).

    ## Arguments
    - ``n_trials`` (int in [1, 10^6], 200): trials per session (Kool et al. 2017 ran 200).
    - ``p_common`` (float in [0, 1], 0.7): probability of the common transition.
    - ``drift_std`` (float in [0, 1], 0.025): s.d. of the random walk of each reward probability.
    - ``reward_bounds`` ((float, float), (0.25, 0.75)): reflecting bounds of the walk.
    - ``reward_probabilities`` (2 × 2 array | None): fixed starting probabilities.
    - ``low_stakes`` (float in (0, 10^6], 1.0), ``high_stakes`` (float in (0, 10^6], 5.0): the
      points a win is worth on a low- and on a high-stakes trial.
    - ``p_high`` (float in [0, 1], 0.5): probability that a trial has high stakes.

    Bad arguments raise ``ValueError`` when the task is built.

    ## References
    - Kool, W., Gershman, S. J. & Cushman, F. A. (2017). Cost-benefit arbitration between
      multiple reinforcement-learning systems. Psychological Science 28, 1321–1333.
    - Daw, N. D., Gershman, S. J., Seymour, B., Dayan, P. & Dolan, R. J. (2011). Model-based
      influences on humans' choices and striatal prediction errors. Neuron 69, 1204–1215.
    """

    @named_arguments
    def __init__(
        self,
        n_trials: int = 200,
        p_common: float = 0.7,
        drift_std: float = 0.025,
        reward_bounds: tuple[float, float] = DEFAULT_BOUNDS,
        reward_probabilities: Any = None,
        low_stakes: float = 1.0,
        high_stakes: float = 5.0,
        p_high: float = 0.5,
    ) -> None:
        super().__init__(n_trials, p_common, drift_std, reward_bounds, reward_probabilities)
        self.low_stakes = check_number("low_stakes", low_stakes, 0.0, MAX_MAGNITUDE, low_open=True)
        self.high_stakes = check_number("high_stakes", high_stakes, 0.0, MAX_MAGNITUDE, low_open=True)
        self.p_high = check_probability("p_high", p_high)
        top = max(self.low_stakes, self.high_stakes, 1.0)
        self.reward_bounds = (0.0, top)
        self.observation_space = spaces.Box(0.0, top, shape=(4,), dtype=np.float32)
        self._stakes = self.low_stakes

    def _draw_stakes(self) -> None:
        high = self.np_random.random() < self.p_high
        self._stakes = self.high_stakes if high else self.low_stakes

    def _observation(self, base: np.ndarray) -> np.ndarray:
        return np.append(base, np.float32(self._stakes)).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session as the parent task does and draw the first trial's stakes."""
        obs, info = super().reset(seed=seed, options=options)
        self._draw_stakes()
        return self._observation(obs), {**info, "stakes": self._stakes}

    def step(self, action):
        """Take one stage as the parent task does, the win multiplied by the trial's stakes.

        The next trial's stakes are drawn when the second stage ends; ``info`` adds ``stakes``.
        """
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action < 2:
            action = self._checked_action(action)
        stakes = self._stakes
        obs, win, terminated, truncated, info = super().step(action)
        if info["stage"] == 1:  # the trial ended: the next one gets its stake
            self._draw_stakes()
        return self._observation(obs), win * stakes, terminated, truncated, {**info, "stakes": stakes}

    def trial_context(self) -> dict[str, Any]:
        """Return the parent task's trial context with the upcoming trial's ``stakes``."""
        return {**super().trial_context(), "stakes": self._stakes}

    def trial_row(self, action: Any, reward: float, info: dict) -> dict | None:
        """Return the parent task's trial row with the trial's ``stakes``, or None mid-trial."""
        row = super().trial_row(action, reward, info)
        return None if row is None else {**row, "stakes": float(info["stakes"])}
