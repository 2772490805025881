"""What every decoder shares: shapes, lanes, the per-bin state and the offline ``decode``."""

from __future__ import annotations

from typing import Any

import numpy as np

from cogmodels.agents.decoders.stats import as_lanes
from cogmodels.validation import check_is_fitted

__all__ = ["Decoder", "check_calibration"]


def check_calibration(counts: Any, velocity: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Check a calibration block; return it with a lane axis and whether one was added.

    Counts ``(T, N)``/``(T, L, N)`` and velocities ``(T, 2)``/``(T, L, 2)`` must have matching
    ``T`` and ``L``, be finite and have at least 3 bins.
    """
    y, single = as_lanes(counts, "counts")
    x, _ = as_lanes(velocity, "velocity")
    if x.shape[:2] != y.shape[:2] or x.shape[2] != 2:
        raise ValueError(
            f"velocity must have shape {(y.shape[0], 2) if single else (*y.shape[:2], 2)} to match "
            f"counts of shape {np.shape(counts)}, got shape {np.shape(velocity)}"
        )
    if y.shape[0] < 3:
        raise ValueError(f"counts must hold at least 3 bins to fit a decoder, got {y.shape[0]}")
    if not (np.isfinite(y).all() and np.isfinite(x).all()):
        raise ValueError("counts and velocity must be finite (found NaN or inf)")
    return y, x, single


class Decoder:
    """Base class: a decoder of ``n_lanes_`` sessions at once, each with its own parameters.

    Subclasses implement :meth:`fit` (which must call :meth:`_fitted`) and :meth:`_step`, the
    decoded velocity ``(L, 2)`` of counts ``(L, N)`` given the state :attr:`velocity_`.
    """

    n_lanes_: int
    n_units_: int
    velocity_: np.ndarray

    def fit(self, counts: Any, velocity: Any) -> Decoder:  # pragma: no cover - abstract
        """Fit on a calibration block of counts and intended velocities; return ``self``."""
        raise NotImplementedError

    def _fitted(self, n_lanes: int, n_units: int, single: bool) -> None:
        self.n_lanes_, self.n_units_, self._single = n_lanes, n_units, single
        self.velocity_ = np.zeros((n_lanes, 2))

    def _check_fitted(self) -> None:
        check_is_fitted(self, "n_units_", "fit()")

    def reset(self, mask: np.ndarray | None = None) -> Decoder:
        """Zero the decoder's state (in the lanes of ``mask``, or all): a session starts."""
        self._check_fitted()
        if mask is None:
            self.velocity_[:] = 0.0
        else:
            self.velocity_[np.asarray(mask, dtype=bool)] = 0.0
        self._reset_state(mask)
        return self

    def _reset_state(self, mask: np.ndarray | None) -> None:
        """Extra state of a subclass (the Kalman covariance); nothing by default."""

    def step(self, counts: Any) -> np.ndarray:
        """Decode one bin: counts ``(N,)`` (a one-lane decoder) or ``(L, N)`` to a velocity.

        The velocity, ``(2,)`` or ``(L, 2)``, is a view of the state: copy it to keep it.
        """
        self._check_fitted()
        y = np.asarray(counts)
        one = y.ndim == 1
        if one:
            y = y[None]
        if y.shape != (self.n_lanes_, self.n_units_):
            want = (self.n_units_,) if self.n_lanes_ == 1 else (self.n_lanes_, self.n_units_)
            raise ValueError(f"counts must have shape {want}, got shape {np.shape(counts)}")
        self.velocity_ = self._step(y)
        return self.velocity_[0] if one else self.velocity_

    def _step(self, y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, counts: Any) -> np.ndarray:
        """Decode a block offline from a reset state.

        ``(T, N)`` → ``(T, 2)``, ``(T, L, N)`` → ``(T, L, 2)``. The state is reset before and
        left at the block's end.
        """
        self._check_fitted()
        y, single = as_lanes(counts)
        self.reset()
        out = np.stack([self.step(y[t]).copy() for t in range(y.shape[0])])
        return out[:, 0] if single else out

    def __repr__(self) -> str:
        fitted = f"n_lanes={self.n_lanes_}, n_units={self.n_units_}" if hasattr(
            self, "n_units_") else "unfitted"
        return f"{type(self).__name__}({fitted})"
