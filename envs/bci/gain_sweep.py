"""The per-day re-sweep of a decoder's output gain, as in Wilson et al. (2023)'s protocol.

Each simulated session of Wilson et al.'s 60-session protocol ends its recalibration by choosing
the decoder's output gain ``beta`` afresh (their simulator's ``gainSweep``, github
guyhwilson/nonstationarities): the decoder is run in closed loop once per candidate gain
(``linspace(0.1, 2.5, 10)``) and the gain with the shortest mean trial time is kept, because a
day's signal-to-noise ratio (:class:`~cogmodels.envs.bci.drift.SNRMixture`) changes how fast the
same decoder moves the cursor. :func:`sweep_gain` is that hook for a
:class:`~cogmodels.envs.bci.vector.CursorBCIVector`: one best gain per copy (subject).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cogmodels.progress import progress_bar
from cogmodels.validation import check_number, describe

__all__ = ["WILSON_GAINS", "GainSweep", "StepDecoder", "sweep_gain"]

#: the candidate gains of Wilson et al. (2023)'s sweep, ``numpy.linspace(0.1, 2.5, 10)``
WILSON_GAINS: tuple[float, ...] = tuple(float(g) for g in np.linspace(0.1, 2.5, 10))
#: the largest candidate gain
MAX_GAIN = 1e3


class StepDecoder(Protocol):
    """What :func:`sweep_gain` needs of a decoder (every :mod:`cogmodels.agents.decoders` one)."""

    def reset(self, mask: np.ndarray | None = None) -> Any:
        """Zero the state of the lanes in ``mask`` (all when None)."""

    def step(self, counts: np.ndarray) -> np.ndarray:
        """Decode one bin of counts ``(L, N)`` to velocities ``(L, 2)``."""


@dataclass(frozen=True)
class GainSweep:
    """The result of :func:`sweep_gain`.

    Attributes
    ----------
    gains : numpy.ndarray
        ``(G,)`` candidate gains.
    mean_trial_time : numpy.ndarray
        ``(G, L)`` mean duration (s) of the trials completed in each block (timeouts count their
        full timeout); ``inf`` where no trial ended.
    success_rate : numpy.ndarray
        ``(G, L)`` fraction of those trials that succeeded (NaN where none ended).
    best : numpy.ndarray
        ``(L,)`` the gain with the shortest mean trial time, per copy (the first on ties).
    """

    gains: np.ndarray
    mean_trial_time: np.ndarray
    success_rate: np.ndarray
    best: np.ndarray


def sweep_gain(env: Any, decoder: StepDecoder, seconds: float = 60.0, *,
               gains: Any = WILSON_GAINS, day: Any = None, progress: bool = False) -> GainSweep:
    r"""Run one closed-loop block per candidate gain and return the best gain of each copy.

    In the block of gain ``beta`` the cursor velocity is ``beta`` times the decoder's output;
    each block is a new session on ``day`` with the decoder's state reset. The best gain
    minimises the mean trial time,

    .. math:: \beta^* = \arg\min_{\beta} \overline{T}_{trial}(\beta),

    Wilson et al. (2023)'s ``gainSweep``, ties included: where every block of a copy times out
    (equal means) the first gain is kept — with their grid 0.1, nearly a still cursor, from
    which RTI's labels never recover (``benchmarks/RESULTS.md``, E13). The decoder is only
    stepped, so an adaptive decoder keeps learning during the sweep: freeze it (or sweep a copy)
    if that is unwanted. The blocks draw from the environment's generator, so the sessions that
    follow differ from those without a sweep (still the same for the same seed).

    Parameters
    ----------
    env : CursorBCIVector
        The environment (each copy a subject), already reset once.
    decoder : StepDecoder
        An object with ``reset(mask=None)`` and ``step(counts) -> (L, 2)`` velocities, fitted.
    seconds : float
        Duration of each block, in (0, 36000].
    gains : sequence of float
        The candidate gains, each in (0, 1000] (default: Wilson et al.'s ``linspace(0.1, 2.5,
        10)``).
    day : int or sequence of int, optional
        The day of the blocks (the copies' current days when None).
    progress : bool
        Show a progress bar over the gains.

    Returns
    -------
    GainSweep
        The mean trial times and success rates per gain and copy, and the best gain per copy.

    References
    ----------
    Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
    10.1101/2023.02.03.527022.
    """
    from cogmodels.envs.bci.vector import CursorBCIVector

    if not isinstance(env, CursorBCIVector):
        raise TypeError(f"env must be a CursorBCIVector, got {describe(env)}")
    seconds = check_number("seconds", seconds, 0.0, 36_000.0, low_open=True)
    if isinstance(gains, str) or not hasattr(gains, "__len__") or len(gains) == 0:
        raise ValueError(f"gains must be a non-empty sequence of numbers in (0, {MAX_GAIN:g}], "
                         f"got {describe(gains)}")
    grid = np.array([check_number(f"gains[{i}]", g, 0.0, MAX_GAIN, low_open=True)
                     for i, g in enumerate(gains)])
    bins = max(1, int(round(seconds / env.config.task.dt)))
    days = env.day if day is None else day
    n = env.num_envs
    ttt = np.full((len(grid), n), np.inf)
    success = np.full((len(grid), n), np.nan)
    with progress_bar(progress, total=len(grid), desc="gain sweep", unit="gain") as bar:
        for g, beta in enumerate(grid):
            obs, _ = env.reset(options={"day": days, "decoder_gain": beta})
            decoder.reset()
            total, ok, count = np.zeros(n), np.zeros(n), np.zeros(n)
            for _ in range(bins):
                obs, _, term, _, info = env.step(beta * np.asarray(decoder.step(obs)))
                done = info["trial_completed"]
                if done.any():
                    total += np.where(done, info["trial_time"], 0.0)
                    ok += done & info["success"]
                    count += done
                if term.any():
                    decoder.reset(term)
            ended = count > 0
            ttt[g, ended] = total[ended] / count[ended]
            success[g, ended] = ok[ended] / count[ended]
            bar.update()
    return GainSweep(grid, ttt, success, grid[np.argmin(ttt, axis=0)])
