r"""The velocity Kalman filter decoder (Wu et al. 2006) and its steady-state form.

State: the cursor velocity ``v`` (2-D). Model, per lane:

.. math::

    v_t = A v_{t-1} + w_t,\ w_t \sim \mathcal N(0, W), \qquad
    y_t = H v_t + d + q_t,\ q_t \sim \mathcal N(0, \operatorname{diag} q)

``A, W`` are fitted by least squares on the calibration velocities, ``H, d, q`` by the
regression of :mod:`~cogmodels.agents.decoders.stats`. Each bin (information form, cheap because
``Q`` is diagonal and the state is 2-D):

.. math::

    P^- = A P Aᵀ + W, \quad P = (P^{-\,-1} + Hᵀ Q^{-1} H)^{-1}, \quad K = P Hᵀ Q^{-1}, \quad
    v_t = A v_{t-1} + K (y_t - d - H A v_{t-1})

The gain converges within a second of bins; the steady-state filter (Malik et al. 2011, IEEE
TNSRE 19:25; the ReFIT-KF of Gilja et al. 2012 runs this way) solves the Riccati equation once and
decodes with ``v_t = M v_{t-1} + K_∞ (y_t - d)``, ``M = (I - K_∞ H) A``.

- Wu et al. (2006). Bayesian population decoding of motor cortical activity using a Kalman
  filter. Neural Comput 18:80–118.
- Gilja et al. (2012). A high-performance neural prosthesis enabled by control algorithm design.
  Nat Neurosci 15:1752–1757.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cogmodels.agents.decoders.linear import EncodingDecoder

__all__ = ["KalmanDecoder", "SteadyStateKalmanDecoder", "solve_riccati"]


def solve_riccati(A: np.ndarray, W: np.ndarray, info: np.ndarray, P: np.ndarray | None = None,
                  tol: float = 1e-12, max_iter: int = 1000) -> np.ndarray:
    """Return the steady-state posterior covariance ``P (L, 2, 2)`` of the filter.

    The Riccati recursion is iterated from ``P`` (identity when None) until it changes by less
    than ``tol``.
    """
    P = np.broadcast_to(np.eye(2), info.shape).copy() if P is None else P.copy()
    for _ in range(max_iter):
        prior = A @ P @ np.swapaxes(A, 1, 2) + W
        new = np.linalg.inv(np.linalg.inv(prior) + info)
        if np.max(np.abs(new - P)) < tol:
            return new
        P = new
    return P


class KalmanDecoder(EncodingDecoder):
    """Velocity Kalman filter (see the module docstring), batched over lanes.

    ``ridge`` regularises both regressions.

    Attributes
    ----------
    A_, W_ : numpy.ndarray
        ``(L, 2, 2)`` kinematic prior: velocity transition and its noise covariance.
    H_, d_, q_ : numpy.ndarray
        The encoding model (see :class:`~cogmodels.agents.decoders.linear.EncodingDecoder`).
    P_ : numpy.ndarray
        ``(L, 2, 2)`` current posterior covariance, zero at a session start (the cursor is at
        rest).
    """

    steady_state = False

    def _fit_dynamics(self, x: np.ndarray) -> None:
        prev, cur = x[:-1], x[1:]
        s00 = np.einsum("tli,tlj->lij", prev, prev) + self.ridge * np.eye(2)
        s10 = np.einsum("tli,tlj->lij", cur, prev)
        A = np.swapaxes(np.linalg.solve(s00, np.swapaxes(s10, 1, 2)), 1, 2)
        resid = cur - np.einsum("lij,tlj->tli", A, prev)
        W = np.einsum("tli,tlj->lij", resid, resid) / max(len(resid), 1) + 1e-6 * np.eye(2)
        self.A_, self.W_ = A, W

    def _readout(self) -> None:
        self._hq = np.moveaxis(self.H_ / self.q_[..., None], 1, 2)  # Hᵀ Q^-1, (L, 2, N)
        self._info = self._hq @ self.H_  # Hᵀ Q^-1 H, (L, 2, 2)
        if not hasattr(self, "P_"):
            self.P_ = np.zeros((self.n_lanes_, 2, 2))

    def _reset_state(self, mask: np.ndarray | None) -> None:
        if mask is None:
            self.P_[:] = 0.0
        else:
            self.P_[np.asarray(mask, dtype=bool)] = 0.0

    def _step(self, y: np.ndarray) -> np.ndarray:
        A = self.A_
        prior = A @ self.P_ @ np.swapaxes(A, 1, 2) + self.W_
        self.P_ = np.linalg.inv(np.linalg.inv(prior) + self._info)
        v_prior = np.einsum("lij,lj->li", A, self.velocity_)
        innov = y - self.d_ - np.einsum("lni,li->ln", self.H_, v_prior)
        return v_prior + np.einsum("lij,ljn,ln->li", self.P_, self._hq, innov)

    def steady_gain(self) -> np.ndarray:
        """Return ``G = (I - M)^{-1} K_∞ H`` with the steady-state gain ``K_∞``.

        ``E[v] = G u`` for a constant intended velocity ``u``.
        """
        self._check_fitted()
        P = solve_riccati(self.A_, self.W_, self._info, getattr(self, "_P_ss", None))
        self._P_ss = P
        K = P @ self._hq
        M = (np.eye(2) - K @ self.H_) @ self.A_
        return np.linalg.solve(np.eye(2) - M, K @ self.H_)

    @property
    def gain_(self) -> np.ndarray:
        """The current Kalman gain ``K = P Hᵀ Q^{-1}``, ``(L, 2, N)``."""
        self._check_fitted()
        return self.P_ @ self._hq


class SteadyStateKalmanDecoder(KalmanDecoder):
    """The Kalman filter with its gain fixed at the Riccati fixed point (module docstring).

    It decodes ``v_t = M_ v_{t-1} + K_ (y_t - d_)``; :meth:`set_encoding` re-solves the Riccati
    equation from the previous fixed point.

    Attributes
    ----------
    K_ : numpy.ndarray
        ``(L, 2, N)`` float32 steady-state gain.
    M_ : numpy.ndarray
        ``(L, 2, 2)`` state transition of the decoded velocity.
    P_ : numpy.ndarray
        ``(L, 2, 2)`` steady-state posterior covariance.
    """

    steady_state = True

    def _readout(self) -> None:
        self._hq = np.moveaxis(self.H_ / self.q_[..., None], 1, 2)
        self._info = self._hq @ self.H_
        warm = getattr(self, "_P_ss", None)
        self._P_ss = solve_riccati(self.A_, self.W_, self._info, warm)
        self.P_ = self._P_ss
        K = self._P_ss @ self._hq
        self.K_ = K.astype(np.float32)
        self.M_ = (np.eye(2) - K @ self.H_) @ self.A_
        self._Kd = np.einsum("lkn,ln->lk", K, self.d_)  # K d, so a bin costs one product

    def _reset_state(self, mask: np.ndarray | None) -> None:
        """Reset nothing: the steady-state filter has no covariance to reset."""

    def _step(self, y: np.ndarray) -> np.ndarray:
        innov = np.einsum("lkn,ln->lk", self.K_, y.astype(np.float32, copy=False))
        return np.einsum("lij,lj->li", self.M_, self.velocity_) + innov - self._Kd

    def step_fast(self, counts: Any) -> np.ndarray:
        """:meth:`step` without the shape check, for ``(L, N)`` float32 counts in hot loops."""
        self.velocity_ = self._step(counts)
        return self.velocity_


