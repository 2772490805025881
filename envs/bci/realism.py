"""Named levels of simulator realism: keyword arguments for :class:`CursorBCI` / :class:`CursorBCIVector`.

- ``"off"``: the plain feedback user of the first simulator (no issue-14 realism);
- ``"realistic"``: Willett et al. (2019)'s user (their fitted piecewise-linear push, braking, AR
  intention noise, a forward model that learns the decoder's gain and smoothing;
  :data:`~cogmodels.envs.bci.user.WILLETT_USER`; it pushed with a tanh stand-in until 2026-12-07);
- ``"full"``: everything of issue 14 section 1 at once: 20 % untuned units, speed tuning, a
  10-dimensional shared latent drive (Sadtler et al. 2014), spike history, threshold crossings of
  1–2 neurons per channel with noise spikes, and within-session baseline shifts (Perge et al.
  2013's sizes reached over an hour of the day's clock, so a minute's session sees a small part
  of them) and transient losses. The latent drive's size (3 Hz) is illustrative, not calibrated to a
  recorded population's shared variance: the populations share about 1 % of their count
  variance in 45 ms bins (above the estimator's floor), where recorded M1 during BCI control
  shares 29-41 %
  (``benchmarks/measure_shared_variance.py``; scaling the drive alone to that share leaves a fresh
  Kalman filter at a quarter of its rate, so the drive alone is not the missing piece; ``"full_m1"``
  calibrates tuning and drive together).
- ``"full_m1"``: the full level on a population drawn closer to recorded monkey M1's shared
  variance (:data:`M1_POPULATION`): one Utah array's 96 channels (the recorded sessions had
  85-94 units), each neuron tuned 15-45 Hz per width/s instead of 2-10, and a slow (1 s)
  10-dimensional latent drive of 15 Hz instead of a fast (0.1 s) one of 3 Hz. On average its
  channels share 24 % of their count variance in 45 ms bins (21 % with each target's mean
  removed) against 29-41 % (20-24 %) recorded, and Gilja et al. (2012)'s ReFIT gain is kept on
  its population, weaker (ReFIT-KF / open-loop KF time to target about 0.6, 0.59-0.62 over
  seeds, some from scratch runs recorded in RESULTS; 0.50-0.54 with the full level's
  population). The raw share is left short: with a drive, reaching it puts the demeaned share
  above the recorded range, and tuning alone strong enough for it (40-120 Hz per width/s) leaves
  ReFIT little to gain (about 0.87). The point is one of a region of equally good ones
  (``benchmarks/calibrate_m1_population.py``, ``benchmarks/RESULTS.md``).

``benchmarks/bench_bci.py`` times the first three levels; ``tests/test_bci_loop_identity.py`` pins
their counts.

:func:`wilson_task` is the task of Wilson et al. (2023)'s simulator beside these levels (random
targets, no walls, no speed limit; :mod:`.task`).

- Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
  10.1101/2023.02.03.527022.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cogmodels.envs.bci.encoder import PopulationSpec
from cogmodels.envs.bci.session_drift import BaselineShift, TransientLoss
from cogmodels.envs.bci.user import WILLETT_USER

__all__ = ["FULL_POPULATION", "M1_POPULATION", "REALISM_LEVELS", "realism", "wilson_task"]

REALISM_LEVELS = ("off", "realistic", "full", "full_m1")

#: the population of the ``"full"`` level: issue 14 section 1's features on 192 channels
FULL_POPULATION = PopulationSpec(untuned_fraction=0.2, speed_depth=(0.0, 3.0), latent_dim=10,
                                 latent_sd=3.0, history=(-0.3, 0.0),
                                 recording="threshold_crossings", neurons_per_channel=(1, 2),
                                 noise_rate=2.0)

#: the ``"full_m1"`` population: :data:`FULL_POPULATION` on 96 channels tuned 15-45 Hz per
#: width/s with a slow 15 Hz latent drive, the point of ``benchmarks/calibrate_m1_population.py``'s
#: grid with recorded M1's shared variance once each target's mean is removed (Sadtler et al.
#: 2014's setting: 10 factors, 45 ms bins) that keeps Gilja et al. (2012)'s ReFIT gain
M1_POPULATION = dataclasses.replace(FULL_POPULATION, n_units=96, depth=(15.0, 45.0),
                                    latent_sd=15.0, latent_tau=1.0)


def realism(level: str) -> dict[str, Any]:
    """Return the environment keyword arguments of realism ``level`` (fresh objects each call).

    Parameters
    ----------
    level : str
        One of :data:`REALISM_LEVELS`.

    Returns
    -------
    dict
        ``user``, and for ``"full"`` and ``"full_m1"`` also ``population`` and
        ``session_drift``.
    """
    if level not in REALISM_LEVELS:
        raise ValueError(f"level must be one of {list(REALISM_LEVELS)}; got {level!r}")
    if level == "off":
        return {"user": "feedback"}
    if level == "realistic":
        return {"user": WILLETT_USER}
    population = FULL_POPULATION if level == "full" else M1_POPULATION
    return {"user": WILLETT_USER, "population": population,
            "session_drift": [BaselineShift(), TransientLoss()]}


def wilson_task() -> dict[str, Any]:
    """Return the environment keyword arguments of Wilson et al. (2023)'s task.

    Their simulator (``simulateFitts_Numba`` in ``utils/simulation/simulation.py`` of github
    guyhwilson/nonstationarities): Fitts targets of radius 0.075 drawn uniformly in the square
    of half-width 0.5, a 0.5 s hold, a 10 s timeout, the cursor never re-centred, and neither its
    position (``applyWallBound`` is commented out) nor its speed bounded. Here: random targets
    (``task="random_targets"``, each target inside the workspace and at least ``MIN_GAP`` from
    the last, unlike theirs: add ``target_draw="uniform"`` for their draw), ``walls=False`` and
    ``v_max=None``.

    Returns
    -------
    dict
        ``task``, ``workspace``, ``target_radius``, ``hold_time``, ``timeout``, ``walls`` and
        ``v_max``.
    """
    return {"task": "random_targets", "workspace": 0.5, "target_radius": 0.075,
            "hold_time": 0.5, "timeout": 10.0, "walls": False, "v_max": None}
