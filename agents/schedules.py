r"""Schedules of training hyper-parameters: linear from a start to an end value over the run.

One implementation for every trainer of the package. A schedule maps the fraction of the run
done, ``f`` in ``[0, 1]``, to a value; the run is measured in updates or in seconds of wall
clock (:func:`run_fraction`), so a schedule sized for a time budget ends exactly when the budget
does, whatever the machine's speed:

.. math::

    v(f) = v_0 + (v_1 - v_0) \min(\max(f, 0), 1)

(the linear decay of the learning rate and the entropy weight of A3C, Mnih et al. 2016, ICML;
SB3's ``get_linear_fn``).

Examples
--------
>>> from cogmodels.agents.schedules import LinearSchedule, linear_schedule, run_fraction
>>> lr = LinearSchedule(3e-3, 3e-4)
>>> round(lr(run_fraction(updates=50, total_updates=100)), 6)
0.00165
>>> round(lr(run_fraction(seconds=700.0, total_s=600.0)), 6)  # past the end: held at the end
0.0003
>>> linear_schedule(0.5, 0.1, 4)(2)                          # a function of the update count
0.3
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cogmodels.deprecation import renamed_arguments
from cogmodels.validation import check_int, check_number

__all__ = ["SCHEDULE_UNITS", "LinearSchedule", "linear_schedule", "run_fraction"]

#: what a run is measured in: updates (reproducible) or seconds of wall clock (a time budget)
SCHEDULE_UNITS = ("updates", "seconds")


@dataclass(frozen=True)
class LinearSchedule:
    """A value going linearly from ``start`` to ``end`` as the run's fraction goes from 0 to 1.

    Parameters
    ----------
    start : float
        The value at the start of the run (fraction 0).
    end : float
        The value from the end of the run on (fraction >= 1).
    """

    start: float
    end: float

    def __post_init__(self) -> None:
        check_number("start", self.start)
        check_number("end", self.end)

    def __call__(self, fraction: float) -> float:
        """Return the value at ``fraction`` of the run (clipped to ``[0, 1]``).

        Parameters
        ----------
        fraction : float
            The fraction of the run done (:func:`run_fraction`).

        Returns
        -------
        value : float
            ``start + (end - start) * min(max(fraction, 0), 1)``.
        """
        f = min(max(float(fraction), 0.0), 1.0)
        return self.start + (self.end - self.start) * f


@renamed_arguments(total_seconds="total_s")
def run_fraction(
    *,
    updates: int | None = None,
    total_updates: int | None = None,
    seconds: float | None = None,
    total_s: float | None = None,
) -> float:
    """Return the fraction of a run done, in updates or in seconds (at most 1).

    Parameters
    ----------
    updates, total_updates : int, optional
        Updates done and the run's length in updates.
    seconds, total_s : float, optional
        Seconds of training done and the run's length in seconds (a wall-clock budget).

    Returns
    -------
    fraction : float
        ``min(1, updates / total_updates)`` or ``min(1, seconds / total_s)``.
    """
    if total_updates is not None and updates is not None:
        return min(1.0, updates / check_int("total_updates", total_updates, minimum=1))
    if total_s is not None and seconds is not None:
        check_number("total_s", total_s, 0.0, low_open=True)
        return min(1.0, max(0.0, float(seconds)) / float(total_s))
    raise ValueError("run_fraction needs updates and total_updates, or seconds and total_s")


def linear_schedule(start: float, end: float, n_steps: int) -> Callable[[int], float]:
    """Return ``v(t)`` going linearly from ``start`` to ``end`` over ``n_steps`` updates, then ``end``.

    Parameters
    ----------
    start, end : float
        The values at update 0 and from update ``n_steps`` on.
    n_steps : int
        The length of the ramp, in updates (>= 1).

    Returns
    -------
    schedule : callable
        ``t -> LinearSchedule(start, end)(t / n_steps)``.
    """
    schedule = LinearSchedule(start, end)
    n = check_int("n_steps", n_steps, minimum=1)
    return lambda t: schedule(max(t, 0) / n)
