"""The deterministic two-step task of Kool, Cushman & Gershman (2016), with stakes."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.envs.core import (
    MAX_MAGNITUDE,
    MAX_TRIALS,
    PLAIN_INTS,
    TaskEnv,
    named_arguments,
    named_errors,
)
from cogmodels.envs.two_step import reflect
from cogmodels.validation import (
    check_array,
    check_int,
    check_interval,
    check_number,
    check_probability,
)

__all__ = ["KoolTwoStep"]


class KoolTwoStep(TaskEnv):
    """Two first-stage states, deterministic transitions, drifting points and a stake per trial.

    ## Description
    Each trial starts in one of two first-stage states (``state``, drawn with probability 1/2),
    each offering two actions. In either state action ``a`` leads, always, to second-stage state
    ``a``, which pays its current number of points; there is no second-stage choice. After each
    trial the points of both second-stage states take an independent step, a Gaussian draw with
    s.d. ``drift_std`` (2) rounded to whole points, reflected at the bounds ``reward_bounds``
    (0 and 9). Each trial shows its stake first: with probability ``p_high`` the points are
    multiplied by ``high_stakes`` (5), else by ``low_stakes`` (1). Because the model-free values
    are tied to the first-stage state while the model-based ones generalise across the two
    states, model-based control earns more here than in the Daw task (Kool et al. 2016); the
    stakes test whether people use it more when it pays more (Kool et al. 2017, Experiment 2).
    ``p_high=0`` gives the task without stakes of Kool et al. (2016).

    ## Action Space
    ``Discrete(2)``: the first-stage action.

    ## Observation Space
    ``Box(0, max(high_stakes, low_stakes, 1), (3,), float32)``: one-hot of the first-stage state
    followed by the trial's stake.

    ## Rewards
    The points of the second-stage state reached, times the stake.

    ## Starting State
    The points are ``options["points"]``, else ``points``, else drawn as in the authors' task:
    one state above the middle of the bounds and one below, in random order.

    ## Episode End
    ``terminated`` after ``n_trials`` trials (one step each).

    ## Information
    At reset: ``points`` (tuple, the points of both second-stage states), ``state`` and
    ``stakes`` of the first trial. After a step, about the trial just played: ``state``,
    ``state2``, ``stakes``, ``points`` (those that applied, before the drift) and ``trial``.

    ## Arguments
    - ``n_trials`` (int in [1, 10^6], 200): trials per session (Kool et al. 2017 ran 200).
    - ``drift_std`` (float in [0, 10^6], 2.0): s.d. of the Gaussian step of the points.
    - ``reward_bounds`` ((float, float), (0, 9)): reflecting bounds of the points,
      ``low <= high`` within [-10^6, 10^6].
    - ``points`` (2 numbers within the bounds | None): fixed starting points; ``None`` draws them.
    - ``low_stakes`` (float in (0, 10^6], 1.0), ``high_stakes`` (float in (0, 10^6], 5.0): the
      multipliers of a low- and a high-stakes trial.
    - ``p_high`` (float in [0, 1], 0.5): probability that a trial has high stakes.

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but 0 or
    1 (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Kool, W., Cushman, F. A. & Gershman, S. J. (2016). When does model-based control pay off?
      PLoS Computational Biology 12, e1005090.
    - Kool, W., Gershman, S. J. & Cushman, F. A. (2017). Cost-benefit arbitration between
      multiple reinforcement-learning systems. Psychological Science 28, 1321–1333.
    """

    @named_arguments
    def __init__(
        self,
        n_trials: int = 200,
        drift_std: float = 2.0,
        reward_bounds: tuple[float, float] = (0.0, 9.0),
        points: Any = None,
        low_stakes: float = 1.0,
        high_stakes: float = 5.0,
        p_high: float = 0.5,
    ) -> None:
        self.n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
        self.drift_std = check_number("drift_std", drift_std, 0.0, MAX_MAGNITUDE)
        self.bounds = check_interval("reward_bounds", reward_bounds, -MAX_MAGNITUDE, MAX_MAGNITUDE)
        self._fixed = None if points is None else check_array("points", points, (2,), *self.bounds)
        self.low_stakes = check_number("low_stakes", low_stakes, 0.0, MAX_MAGNITUDE, low_open=True)
        self.high_stakes = check_number("high_stakes", high_stakes, 0.0, MAX_MAGNITUDE, low_open=True)
        self.p_high = check_probability("p_high", p_high)
        top = max(self.low_stakes, self.high_stakes, 1.0)
        self.reward_bounds = (min(0.0, self.bounds[0] * top), max(0.0, self.bounds[1] * top))
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(0.0, top, shape=(3,), dtype=np.float32)
        self.points = np.zeros(2)
        self._state, self._stakes, self._t = 0, self.low_stakes, 0

    def _new_trial(self) -> None:
        self._state = int(self.np_random.random() < 0.5)
        self._stakes = self.high_stakes if self.np_random.random() < self.p_high else self.low_stakes

    def _observe(self) -> np.ndarray:
        obs = np.zeros(3, dtype=np.float32)
        obs[self._state] = 1.0
        obs[2] = self._stakes
        return obs

    def _draw_points(self) -> np.ndarray:
        low, high = self.bounds
        mid = (low + high) / 2.0
        u = self.np_random.random(3)
        above = np.ceil(u[0] * (high - mid) + mid)
        below = np.floor(u[1] * (mid - low) + low)
        return np.array([above, below] if u[2] < 0.5 else [below, above])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session: points from ``options["points"]``, the constructor or a random draw."""
        super().reset(seed=seed)
        given = (options or {}).get("points")
        if given is not None:
            with named_errors(f"{type(self).__name__}.reset"):
                self.points = check_array('options["points"]', given, (2,), *self.bounds).astype(float)
        elif self._fixed is not None:
            self.points = self._fixed.astype(float)
        else:
            self.points = self._draw_points()
        self._t = 0
        self._new_trial()
        self._done = False
        info = {"points": tuple(self.points.tolist()), "state": self._state, "stakes": self._stakes}
        return self._observe(), info

    def step(self, action):
        """Choose ``action`` and reach second-stage state ``action``, which pays its points.

        The reward is the points times the trial's stakes; the points then drift. ``info`` holds
        ``state``, ``state2``, ``stakes``, ``points`` and ``trial``.
        """
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action < 2:
            action = self._checked_action(action)
        points = self.points.copy()
        reward = float(points[action] * self._stakes)
        info = {"state": self._state, "state2": int(action), "stakes": self._stakes,
                "points": tuple(points.tolist()), "trial": self._t}
        step = np.rint(self.drift_std * self.np_random.standard_normal(2))
        self.points = reflect(self.points + step, *self.bounds)
        self._t += 1
        self._done = terminated = self._t >= self.n_trials
        self._new_trial()
        return self._observe(), reward, terminated, False, info

    def trial_context(self) -> dict[str, Any]:
        """Return the upcoming trial's first-stage ``state`` and ``stakes``."""
        return {"state": self._state, "stakes": self._stakes}

    def trial_row(self, action: Any, reward: float, info: dict) -> dict:
        """Return the trial's row, with the points of both second-stage states.

        Its columns are ``state``, ``choice``, ``state2``, ``reward``, ``stakes``, ``points_0``
        and ``points_1``.
        """
        return {
            "state": int(info["state"]),
            "choice": int(action),
            "state2": int(info["state2"]),
            "reward": float(reward),
            "stakes": float(info["stakes"]),
            **{f"points_{s}": float(p) for s, p in enumerate(info["points"])},
        }
