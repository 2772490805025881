r"""The velocity Kalman filter decoder (Wu et al. 2006) and its steady-state form.

State: the cursor velocity ``v`` (2-D). Model, per lane:

.. math::

    v_t = A v_{t-1} + w_t,\ w_t \sim \mathcal N(0, W), \qquad
    y_t = H v_t + d + q_t,\ q_t \sim \mathcal N(0, \operatorname{diag} q)

``H, d, q`` are fitted by the regression of :mod:`~cogmodels.agents.decoders.stats`. The
kinematic prior ``A, W`` is by default a physical model, as in BMI3D's Kalman filter
(``riglib.bmi.state_space_models``: velocity decay 0.8 per 0.1 s, ``W`` from the expected
velocity variance), the same whatever the calibration labels were:

.. math::

    A = a I,\ a = e^{-dt/τ}, \qquad W = σ^2 (1 - a^2) I

with ``τ = velocity_tau`` (0.448 s: BMI3D's 0.8 per 0.1 s) and ``σ = velocity_sd`` the expected
per-axis sd of the intended velocity, which is then the prior's stationary sd. With
``dynamics="fit"`` they are instead fitted by least squares on the calibration velocities (Wu et
al. 2006) — which ties the prior to the labels: a shuffled-label calibration gives ``A ≈ 0`` and a
filter that closed-loop adaptation of ``H, d, q`` cannot make smooth. Each bin (information form, cheap because
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

from cogmodels.agents.decoders.linear import INTENTION_SD, EncodingDecoder
from cogmodels.validation import check_choice, check_number

__all__ = ["DYNAMICS", "VELOCITY_TAU", "KalmanDecoder", "SteadyStateKalmanDecoder",
           "physical_dynamics", "solve_riccati", "stationary_cov"]

#: how the Kalman filter's kinematic prior ``A, W`` is set
DYNAMICS = ("physical", "fit")
#: default velocity time constant (s): BMI3D's velocity decay of 0.8 per 0.1 s, 0.1 / ln(1.25)
VELOCITY_TAU = 0.1 / np.log(1.25)


def physical_dynamics(velocity_tau: float, velocity_sd: float, dt: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Return the physical kinematic prior ``A = a I``, ``W = σ² (1 - a²) I`` (each ``(2, 2)``).

    Parameters
    ----------
    velocity_tau : float
        Time constant ``τ`` (s) of the velocity's decay, ``a = exp(-dt / τ)``.
    velocity_sd : float
        Stationary per-axis sd ``σ`` of the velocity (workspace widths/s).
    dt : float
        Bin width (s).

    Returns
    -------
    A, W : numpy.ndarray
        Transition and process-noise covariance, so that ``A Σ Aᵀ + W = Σ = σ² I``.
    """
    a = float(np.exp(-dt / velocity_tau))
    return a * np.eye(2), velocity_sd**2 * (1.0 - a * a) * np.eye(2)


def stationary_cov(A: np.ndarray, W: np.ndarray, n_iter: int = 60) -> np.ndarray:
    """Return ``Σ (L, 2, 2)`` with ``Σ = A Σ Aᵀ + W`` (by doubling; ``A`` stable).

    A lane whose ``A`` is not stable (spectral radius ≥ 1) gets ``W`` summed over ``n_iter``
    doublings, a large but finite covariance.
    """
    S, Ak = W.copy(), A.copy()
    for _ in range(n_iter):  # Σ_{2k} = Σ_k + A^k Σ_k A^kᵀ
        S = S + Ak @ S @ np.swapaxes(Ak, 1, 2)
        Ak = Ak @ Ak
        if np.max(np.abs(Ak)) < 1e-12:
            break
    return S


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

    Parameters
    ----------
    ridge : float
        Ridge penalty of the encoding regression (and of the fitted dynamics).
    dynamics : {"physical", "fit"}
        The kinematic prior: the physical model (default) or fitted on the calibration
        velocities.
    velocity_tau : float
        The physical model's velocity time constant (s); default :data:`VELOCITY_TAU`.
    velocity_sd : float
        Expected per-axis sd of the intended velocity (widths/s), the physical model's
        stationary sd.
    dt : float
        Bin width (s) of the counts, for the physical model.

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
    _model_arrays = ("A_", "W_", "H_", "d_", "q_")
    _state_arrays = ("velocity_", "P_")
    _reset_arrays = ("velocity_", "P_")

    def __init__(self, ridge: float = 1e-3, dynamics: str = "physical",
                 velocity_tau: float = VELOCITY_TAU, velocity_sd: float = INTENTION_SD,
                 dt: float = 0.02) -> None:
        super().__init__(ridge, velocity_sd)
        self.dynamics = check_choice("dynamics", dynamics, DYNAMICS)
        self.velocity_tau = check_number("velocity_tau", velocity_tau, 0.0, low_open=True)
        self.dt = check_number("dt", dt, 0.0, low_open=True)

    def prior_velocity_cov(self) -> np.ndarray:
        """Return the stationary covariance ``Σ = A Σ Aᵀ + W`` of the kinematic prior."""
        self._check_fitted()
        return stationary_cov(self.A_, self.W_)

    def _fit_dynamics(self, x: np.ndarray) -> None:
        if self.dynamics == "physical":
            A, W = physical_dynamics(self.velocity_tau, self.velocity_sd, self.dt)
            self.A_ = np.broadcast_to(A, (x.shape[1], 2, 2)).copy()
            self.W_ = np.broadcast_to(W, (x.shape[1], 2, 2)).copy()
            return
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
    #: the covariance stays at the Riccati fixed point: a reset zeroes the velocity only
    _reset_arrays = ("velocity_",)
    #: the readout is saved as it is: re-solving the Riccati equation on load would start cold,
    #: not from the previous fixed point as :meth:`set_encoding` does, and differ in the last bits
    _readout_arrays = ("_P_ss", "K_", "M_", "_Kd")

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

    def _step(self, y: np.ndarray) -> np.ndarray:
        innov = np.einsum("lkn,ln->lk", self.K_, y.astype(np.float32, copy=False))
        return np.einsum("lij,lj->li", self.M_, self.velocity_) + innov - self._Kd

    def step_fast(self, counts: Any) -> np.ndarray:
        """:meth:`step` without the shape check, for ``(L, N)`` float32 counts in hot loops."""
        self.velocity_ = self._step(counts)
        return self.velocity_


