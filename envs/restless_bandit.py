"""The restless four-armed bandit of Daw et al. (2006): payoff means drift as decaying random walks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.deprecation import renamed_arguments, renamed_attribute
from cogmodels.envs.core import (
    MAX_ACTIONS,
    MAX_MAGNITUDE,
    MAX_TRIALS,
    PLAIN_INTS,
    TaskEnv,
    named_arguments,
    named_errors,
)
from cogmodels.validation import check_array, check_bool, check_int, check_interval, check_number

__all__ = ["RestlessBandit", "stationary_moments"]


def stationary_moments(decay: float, decay_center: float, diffusion_std: float) -> tuple[float, float]:
    """Mean and variance of the stationary law of ``mu' = decay*mu + (1-decay)*center + N(0, sd^2)``.

    ``E[mu] = center`` and ``Var[mu] = sd^2 / (1 - decay^2)`` (an AR(1) process, ``|decay| < 1``).
    """
    return float(decay_center), float(diffusion_std) ** 2 / (1.0 - float(decay) ** 2)


def _check_initial_means(name: str, initial_means: Any, n_actions: int) -> np.ndarray:
    return check_array(name, initial_means, (n_actions,), -MAX_MAGNITUDE, MAX_MAGNITUDE)


class RestlessBandit(TaskEnv):
    """The restless k-armed bandit: Gaussian payoffs whose means drift as decaying random walks.

    ## Description
    The exploration task of Daw et al. (2006). Each arm ``i`` pays a noisy number of points around
    a mean ``mu_i`` that drifts, independently of the choices, as a decaying Gaussian random walk
    (an AR(1) process)::

        mu_{i,t+1} = lambda * mu_{i,t} + (1 - lambda) * theta + nu,   nu ~ N(0, sigma_d^2)

    with Daw's values ``lambda = 0.9836`` (``decay``), ``theta = 50`` (``decay_center``) and
    ``sigma_d = 2.8`` (``diffusion_std``). The walk's stationary law has mean ``theta`` and variance
    ``sigma_d^2 / (1 - lambda^2)`` (standard deviation about 15.5 points with Daw's values).
    Because the means keep moving, the best arm changes over a session and an agent must keep
    exploring.

    ## Action Space
    ``Discrete(n_actions)``: the arm chosen.

    ## Observation Space
    ``Box(0, 1, (1,), float32)``, always ``[1.0]``: the task has no stimulus; a recurrent agent
    learns from the previous action and reward (see ``PreviousActionReward``).

    ## Rewards
    The payoff in points ``x = mu_{a,t} + sigma_o * N(0, 1)`` (``sigma_o = 4``, ``payoff_std``),
    rounded to the nearest integer when ``rounded`` and clipped to ``payoff_bounds`` (Daw's
    payoffs were integers between 1 and 100); the reward is ``reward_scale * x``.

    ## Starting State
    Initial means from ``options["initial_means"]``, else ``initial_means``, else drawn
    independently per arm from the walk's stationary law ``N(theta, sigma_d^2 / (1 - lambda^2))``.
    Daw et al. gave each subject one of three pre-generated instantiations of the walk: pass its
    starting means (and a seed) to reproduce a fixed design.

    ## Episode End
    One episode is one session: ``terminated`` after ``n_trials`` trials (Daw et al.: 300, in two
    runs of 150).

    ## Information
    At reset: ``means`` (tuple of the arms' means on trial 0) and ``best_arm``. After a step, about
    the trial just played: ``means`` (tuple of the means that generated its payoff), ``best_arm``,
    ``regret`` (``max_i mu_i - mu_a``, the expected regret of the choice) and ``trial`` (0-based).
    Means and regret are in reward units (points × ``reward_scale``).

    ## Arguments
    - ``n_actions`` (int in [2, 1000], 4): number of arms (``n_arms``: deprecated spelling).
    - ``n_trials`` (int in [1, 10^6], 300): trials per session.
    - ``decay`` (float in [0, 1), 0.9836): ``lambda``, the decay of the means toward the centre.
    - ``decay_center`` (float in [-10^6, 10^6], 50): ``theta``, the centre of the walk, in points.
    - ``diffusion_std`` (float in [0, 10^6], 2.8): ``sigma_d``, the standard deviation of the
      diffusion.
    - ``payoff_std`` (float in [0, 10^6], 4): ``sigma_o``, the standard deviation of the payoff
      noise.
    - ``initial_means`` (sequence of float in [-10^6, 10^6] | None): fixed means on trial 0, in
      points; ``None`` draws them from the stationary law at every reset.
    - ``rounded`` (bool, True): round payoffs to whole points.
    - ``payoff_bounds`` ((float, float) | None, (1, 100)): clip payoffs to this range
      ``low <= high`` within [-10^6, 10^6], in points; ``None`` leaves them unbounded.
    - ``reward_scale`` (float in (0, 10^6], 1): multiplies the payoff (and the means in ``info``).

    Bad arguments raise ``ValueError`` when the task is built; ``step`` refuses anything but an
    arm index (``ValueError``) and stepping after the session ended (``SessionEndedError``).

    ## References
    - Daw, N. D., O'Doherty, J. P., Dayan, P., Seymour, B. & Dolan, R. J. (2006). Cortical
      substrates for exploratory decisions in humans. Nature 441, 876–879.
    - Speekenbrink, M. & Konstantinidis, E. (2015). Uncertainty and exploration in a restless
      bandit problem. Topics in Cognitive Science 7, 351–367.
    """

    n_arms = renamed_attribute("n_arms", "n_actions")

    @renamed_arguments(n_arms="n_actions")
    @named_arguments
    def __init__(
        self,
        n_actions: int = 4,
        n_trials: int = 300,
        decay: float = 0.9836,
        decay_center: float = 50.0,
        diffusion_std: float = 2.8,
        payoff_std: float = 4.0,
        initial_means: Sequence[float] | None = None,
        rounded: bool = True,
        payoff_bounds: tuple[float, float] | None = (1.0, 100.0),
        reward_scale: float = 1.0,
    ) -> None:
        self.n_actions = check_int("n_actions", n_actions, 2, MAX_ACTIONS)
        self.n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
        self.decay = check_number("decay", decay, 0.0, 1.0, high_open=True)
        self.decay_center = check_number(
            "decay_center", decay_center, -MAX_MAGNITUDE, MAX_MAGNITUDE
        )
        self.diffusion_std = check_number("diffusion_std", diffusion_std, 0.0, MAX_MAGNITUDE)
        self.payoff_std = check_number("payoff_std", payoff_std, 0.0, MAX_MAGNITUDE)
        self._fixed_means = None if initial_means is None else _check_initial_means(
            "initial_means", initial_means, self.n_actions
        )
        self.rounded = check_bool("rounded", rounded)
        self.payoff_bounds = None if payoff_bounds is None else check_interval(
            "payoff_bounds", payoff_bounds, -MAX_MAGNITUDE, MAX_MAGNITUDE
        )
        self.reward_scale = check_number(
            "reward_scale", reward_scale, 0.0, MAX_MAGNITUDE, low_open=True
        )
        self.action_space = spaces.Discrete(self.n_actions)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self._obs = np.ones(1, dtype=np.float32)
        # the arms' means as Python floats: with a few arms, numpy calls cost more than the task
        self._mu: list[float] = [float("nan")] * self.n_actions
        self._drift = (1.0 - self.decay) * self.decay_center
        self._t = 0

    @property
    def means(self) -> np.ndarray:
        """The arms' current mean payoffs (before ``reward_scale``), a fresh array."""
        return np.array(self._mu)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session; means from ``options["initial_means"]``, the constructor or at random.

        Random initial means are drawn from the stationary distribution of the diffusion.
        """
        super().reset(seed=seed)
        if options and options.get("initial_means") is not None:
            with named_errors(f"{type(self).__name__}.reset"):
                means = _check_initial_means(
                    'options["initial_means"]', options["initial_means"], self.n_actions
                )
        elif self._fixed_means is not None:
            means = self._fixed_means.copy()
        else:
            mean, var = stationary_moments(self.decay, self.decay_center, self.diffusion_std)
            means = mean + np.sqrt(var) * self.np_random.standard_normal(self.n_actions)
        self._mu = means.tolist()
        self._t = 0
        self._done = False
        return self._obs.copy(), {"means": self._means_info(), "best_arm": int(means.argmax())}

    def _means_info(self) -> tuple[float, ...]:
        scale = self.reward_scale
        return tuple([scale * m for m in self._mu])

    def _payoff(self, mu: float, e: float) -> float:
        """Return the payoff ``mu + payoff_std e`` (``e ~ N(0, 1)``), rounded and clipped as set."""
        x = mu + self.payoff_std * e
        if self.rounded:
            x = np.rint(x)
        if self.payoff_bounds is not None:
            x = min(max(x, self.payoff_bounds[0]), self.payoff_bounds[1])
        return float(x)

    def step(self, action):
        """Pull arm ``action``, then let the means diffuse; ``info`` holds means and regret."""
        if self._done or type(action) not in PLAIN_INTS or not 0 <= action < self.n_actions:
            action = self._checked_action(action)
        mu = self._mu
        chosen = mu[action]
        best = max(mu)
        scale = self.reward_scale
        # one draw for the payoff, then one per arm for the diffusion, in a single call
        e, *noise = self.np_random.standard_normal(self.n_actions + 1).tolist()
        if self.rounded or self.payoff_bounds is not None:
            reward = scale * self._payoff(chosen, e)
        else:
            reward = scale * (chosen + self.payoff_std * e)
        info = {
            "means": tuple(mu) if scale == 1.0 else tuple([scale * m for m in mu]),
            "best_arm": mu.index(best),
            "regret": scale * (best - chosen),
            "trial": self._t,
        }
        # the diffusion: mu <- decay mu + (1 - decay) center + diffusion_std e, e ~ N(0, I)
        d, c, sd = self.decay, self._drift, self.diffusion_std
        self._mu = [d * m + c + sd * x for m, x in zip(mu, noise)]
        self._t += 1
        self._done = terminated = self._t >= self.n_trials
        return self._obs.copy(), reward, terminated, False, info

    def trial_row(self, action: Any, reward: float, info: dict) -> dict:
        """Return the trial's ``state``, ``choice``, ``reward``, ``mean_<arm>`` and ``regret``."""
        row = {"state": 0, "choice": int(action), "reward": float(reward)}
        row.update({f"mean_{i}": float(m) for i, m in enumerate(info["means"])})
        row["regret"] = float(info["regret"])
        return row
