r"""Assisted control: shared control between the decoder and a goal-directed velocity.

Early in closed-loop decoder adaptation the seed decoder may not move the cursor to the targets
at all, and a user who never succeeds disengages. BMI3D's assisted tasks (Orsborn et al. 2012;
Dangi et al. 2013) therefore blend the decoded velocity with a velocity toward the target and
lower the blend over the session:

.. math::

    v_t = (1 - a_t)\, \hat v_t + a_t\, s\, \frac{g - p_t}{|g - p_t|}
    \ \ (\text{the second term } 0 \text{ within the target radius}), \qquad
    a_t = a_0 \max(0, 1 - t / T)

with ``a_0 = level``, ``s = speed``, the assist falling linearly to 0 over ``T = seconds``
(BMI3D's ``assist_level`` ramp over ``assist_level_time``). CLDA must label the *decoded*
velocity ``v̂_t``, not the blended one: the blend is not the decoder's output.

- Orsborn et al. (2012). IEEE TNSRE 20:468–477.
- Dangi et al. (2013). Design and analysis of closed-loop decoder adaptation algorithms for
  brain-machine interfaces. Neural Comput 25:1693–1731.
"""

from __future__ import annotations

import numpy as np

from cogmodels.agents.decoders.clda import INTENTION_SPEED, refit_intention
from cogmodels.agents.saving import Saveable
from cogmodels.validation import check_number

__all__ = ["Assist"]


class Assist(Saveable):
    """A decaying assist (module docstring); call it once per bin, then :meth:`tick`.

    Parameters
    ----------
    level : float
        Initial assist ``a_0`` in [0, 1] (1: the cursor goes straight to the target).
    seconds : float
        Seconds over which the assist falls linearly to 0.
    speed : float
        Speed of the goal velocity (workspace widths/s).
    dt : float
        Bin width (s).

    Attributes
    ----------
    level_ : float
        The current assist ``a_t``.

    Notes
    -----
    ``save(path)`` writes the settings, ``elapsed_`` and ``level_`` (JSON);
    :func:`~cogmodels.agents.decoders.base.load_decoder` reads them back.
    """

    def __init__(self, level: float = 0.5, seconds: float = 300.0,
                 speed: float = INTENTION_SPEED, dt: float = 0.02) -> None:
        self.level = check_number("level", level, 0.0, 1.0)
        self.dt = check_number("dt", dt, 0.0, low_open=True)
        self.seconds = check_number("seconds", seconds, self.dt)
        self.speed = check_number("speed", speed, 0.0, low_open=True)
        self.elapsed_ = 0.0
        self.level_ = self.level

    def __call__(self, decoded: np.ndarray, cursor: np.ndarray, target: np.ndarray,
                 radius: np.ndarray | float) -> np.ndarray:
        """Return the blended velocity ``(L, 2)`` for decoded velocities ``(L, 2)``.

        Parameters
        ----------
        decoded, cursor, target : numpy.ndarray
            ``(L, 2)``: the decoder's velocity, the cursor and the target.
        radius : numpy.ndarray or float
            The target radius (one, or one per lane).

        Returns
        -------
        numpy.ndarray
            ``(1 - a_t) decoded + a_t goal``.
        """
        v = np.asarray(decoded, dtype=np.float64)
        if self.level_ == 0.0:
            return v
        unit = np.ones(v.shape[:-1])[..., None] * np.array([self.speed, 0.0])
        goal = refit_intention(unit, cursor, target, radius)  # speed s toward g, 0 on it
        return (1.0 - self.level_) * v + self.level_ * goal

    def tick(self) -> float:
        """Advance one bin; return the new assist level."""
        self.elapsed_ += self.dt
        self.level_ = self.level * max(0.0, 1.0 - self.elapsed_ / self.seconds)
        return self.level_
