r"""Closed-loop recalibration: ReFIT (Gilja et al. 2012) and retrospective target inference.

**ReFIT** (:func:`refit`; recalibrated feedback intention-trained): a decoder calibrated in open
loop drives the cursor for a block; each bin's decoded velocity is then rotated to point at the
target with its speed kept, and set to zero while the cursor is on the target
(:func:`~cogmodels.agents.decoders.clda.refit_intention`) — the user is assumed to want to go
straight to the target and to hold still on it — and a new decoder is fit on the block's counts
against those labels. Gilja et al. (2012, Nat Neurosci 15:1752) report that a ReFIT Kalman filter
acquires targets in about half the time of a Kalman filter fit on the open-loop block.

**Retrospective target inference** (Jarosiewicz et al. 2015):

In a clinical session nobody tells the decoder where the user was aiming. But when a trial ends
in a success (the reward), the place the cursor ended is, in hindsight, where the user wanted to
go. Retrospective target inference (RTI) keeps each trial's counts and cursor path, and at a
success labels the trial's bins with ReFIT intention estimates toward that inferred target:

.. math::

    \hat g = p_{\text{end}}, \qquad \hat u_t = |v_t|\, \frac{\hat g - p_t}{|\hat g - p_t|}
    \ \ (0 \text{ within the target radius})

then hands them to a closed-loop adaptation rule (:class:`~cogmodels.agents.decoders.clda.RML`
or :class:`~cogmodels.agents.decoders.clda.SmoothBatch`). It uses only what the decoder itself
knows — its own outputs, the cursor they moved, the trial boundaries, the reward and the target
size — never the target position or the user's intended velocity. Trials that time out are not
used.

- Jarosiewicz et al. (2015). Virtual typing by people with tetraplegia using a self-calibrating
  intracortical brain-computer interface. Sci Transl Med 7:313ra179.
- Wilson et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
  2023.02.03.527022.
"""

from __future__ import annotations

import copy

import numpy as np

from cogmodels.agents.decoders.clda import _Adaptation, refit_intention
from cogmodels.agents.decoders.linear import EncodingDecoder

__all__ = ["RetrospectiveTargetInference", "refit"]


def refit(decoder: EncodingDecoder, counts: np.ndarray, velocity: np.ndarray, cursor: np.ndarray,
          target: np.ndarray, radius: np.ndarray) -> EncodingDecoder:
    """Return a copy of ``decoder`` fit on a closed-loop block with ReFIT intention labels.

    Parameters
    ----------
    decoder : EncodingDecoder
        The decoder that drove the block (its class and settings are kept; it is not changed).
    counts : numpy.ndarray
        ``(T, L, N)`` counts of the block.
    velocity, cursor, target : numpy.ndarray
        ``(T, L, 2)``: each bin's decoded velocity, the cursor it moved from, the target shown.
    radius : numpy.ndarray
        ``(T, L)`` target radii.

    Returns
    -------
    EncodingDecoder
        The re-fit decoder: encoding model and (for Kalman filters) kinematic prior fit on the
        labels ``refit_intention(velocity, cursor, target, radius)``.
    """
    labels = refit_intention(velocity, cursor, target, radius)
    fresh = copy.deepcopy(decoder)
    return fresh.fit(counts, labels)


class RetrospectiveTargetInference:
    """Buffers each lane's current trial and labels it when the trial succeeds.

    ``adaptation``: the rule fed with the labelled bins (its decoder is the one being
    recalibrated); ``max_bins``: the longest trial, in bins (the task's timeout), which sizes the
    buffer ``(max_bins, L, N)`` of counts (kept as uint8: counts are at most 255).
    """

    def __init__(self, adaptation: _Adaptation, max_bins: int) -> None:
        if not isinstance(adaptation, _Adaptation):
            raise TypeError(f"adaptation must be an RML or SmoothBatch rule, got {adaptation!r}")
        if isinstance(max_bins, bool) or not isinstance(max_bins, int) or max_bins < 1:
            raise ValueError(f"max_bins must be a positive integer, got {max_bins!r}")
        self.adaptation = adaptation
        lanes, units = adaptation.decoder.n_lanes_, adaptation.decoder.n_units_
        self.max_bins = max_bins
        self._counts = np.zeros((max_bins, lanes, units), dtype=np.uint8)
        self._velocity = np.zeros((max_bins, lanes, 2))
        self._cursor = np.zeros((max_bins, lanes, 2))
        self._len = np.zeros(lanes, dtype=np.int64)
        self.n_labelled_trials_ = 0

    def record(self, counts: np.ndarray, velocity: np.ndarray, cursor: np.ndarray) -> None:
        """One bin of every lane: its counts, the decoded velocity and the cursor it moved from."""
        i = np.minimum(self._len, self.max_bins - 1)
        lanes = np.arange(self._len.size)
        self._counts[i, lanes] = np.minimum(counts, 255)
        self._velocity[i, lanes] = velocity
        self._cursor[i, lanes] = cursor
        self._len = np.minimum(self._len + 1, self.max_bins)

    def end_trials(self, done: np.ndarray, success: np.ndarray, end_cursor: np.ndarray,
                   radius: np.ndarray) -> None:
        """End the trials in the lanes of ``done``; label and hand over the successful ones' bins.

        Trials with ``success`` ended at ``end_cursor`` (``(L, 2)``), on a target of ``radius``.
        """
        for lane in np.flatnonzero(success & done):
            n = int(self._len[lane])
            if n >= 3:
                label = refit_intention(self._velocity[:n, lane], self._cursor[:n, lane],
                                        end_cursor[lane], radius[lane])
                self.adaptation.observe(self._counts[:n, lane][:, None], label[:, None],
                                        lanes=np.array([lane]))
                self.n_labelled_trials_ += 1
        self._len[done] = 0

    def clear(self, mask: np.ndarray) -> None:
        """Drop the buffered bins of the lanes of ``mask`` (a session restarted)."""
        self._len[mask] = 0
