r"""Point-process filter (PPF) decoder and its spike-event adaptation (Shanechi et al. 2016).

Each unit's count in a bin of ``Δ`` seconds is Poisson with a log-linear intensity of the
velocity ``v`` (Truccolo et al. 2005):

.. math::

    y_{n,t} \sim \operatorname{Poisson}(μ_n(v_t)), \qquad μ_n(v) = \exp(β_n + α_nᵀ v)

fitted on a calibration block by Newton's method (Poisson GLM, ridge ``ridge`` on ``α``). The
velocity has the Kalman filter's kinematic prior ``v_t = A v_{t-1} + w_t``, ``w ~ N(0, W)``
(:func:`~cogmodels.agents.decoders.kalman.physical_dynamics`), and the point-process filter
(Eden et al. 2004) updates it with every bin's counts:

.. math::

    v^- = A v_{t-1}, \quad P^- = A P Aᵀ + W, \quad
    P^{-1} = (P^-)^{-1} + \sum_n μ_n(v^-)\, α_n α_nᵀ, \quad
    v_t = v^- + P \sum_n α_n (y_{n,t} - μ_n(v^-))

With bins short enough to hold one spike at most, the update runs at every spike event — the
PPF of Shanechi & Carmena (2016) runs at 5 ms; here it runs at the counts' bin width.

**Spike-event CLDA** (:class:`PointProcessCLDA`; Shanechi et al. 2016): each unit's parameters
``θ_n = [β_n, α_n]`` are a random walk (``θ ← θ + ε``, ``ε ~ N(0, σ_θ² I)`` per bin) and are
estimated by the same point-process update, with the intended velocity ``u_t`` (e.g. ReFIT's)
as the known covariate ``z_t = [1, u_t]``:

.. math::

    Σ^- = Σ + σ_θ^2 I, \quad Σ^{-1} = (Σ^-)^{-1} + μ_n z_t z_tᵀ, \quad
    θ_n ← θ_n + Σ z_t (y_{n,t} - μ_n), \quad μ_n = \exp(θ_nᵀ z_t)

so the decoder changes at every bin (every spike), not every batch.

- Eden, U. T., Frank, L. M., Barbieri, R., Solo, V., & Brown, E. N. (2004). Dynamic analysis of
  neural encoding by point process adaptive filtering. Neural Comput 16:971–998.
- Truccolo, W., et al. (2005). A point process framework for relating neural spiking activity to
  spiking history, neural ensemble, and extrinsic covariate effects. J Neurophysiol 93:1074–1089.
- Shanechi, M. M., Orsborn, A. L., & Carmena, J. M. (2016). Robust brain-machine interface design
  using optimal feedback control modeling and adaptive point process filtering. PLoS Comput Biol
  12:e1004730.
- Shanechi, M. M., Orsborn, A. L., Moorman, H. G., Gowda, S., Dangi, S., & Carmena, J. M. (2017).
  Rapid control and feedback rates enhance neuroprosthetic control. Nat Commun 8:13825.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cogmodels.agents.decoders.base import Decoder, check_calibration
from cogmodels.agents.decoders.kalman import VELOCITY_TAU, physical_dynamics, solve_riccati
from cogmodels.agents.decoders.linear import INTENTION_SD
from cogmodels.validation import check_int, check_number

__all__ = ["PointProcessCLDA", "PointProcessFilter", "fit_poisson_glm"]

#: log-intensities are clipped to this (a bin's expected count at most e^8 ≈ 3000)
MAX_LOG_RATE = 8.0


def fit_poisson_glm(counts: np.ndarray, velocity: np.ndarray, ridge: float = 1e-3,
                    n_iter: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``log μ = β + αᵀ v`` per lane and unit by Newton's method; return ``(α, β)``.

    Parameters
    ----------
    counts : numpy.ndarray
        ``(T, L, N)`` counts.
    velocity : numpy.ndarray
        ``(T, L, 2)`` covariates.
    ridge : float
        L2 penalty on ``α`` (not on ``β``).
    n_iter : int
        Newton iterations (from ``β = log mean``, ``α = 0``).

    Returns
    -------
    alpha : numpy.ndarray
        ``(L, N, 2)`` velocity tuning.
    beta : numpy.ndarray
        ``(L, N)`` log baseline counts per bin.
    """
    y = np.asarray(counts, dtype=np.float64)
    z = np.concatenate([np.ones((*velocity.shape[:2], 1)), velocity], axis=2)  # (T, L, 3)
    theta = np.zeros((y.shape[1], y.shape[2], 3))
    theta[..., 0] = np.log(np.maximum(y.mean(axis=0), 1e-3))
    reg = ridge * np.diag([0.0, 1.0, 1.0])
    for _ in range(n_iter):
        mu = np.exp(np.minimum(np.einsum("tli,lni->tln", z, theta), MAX_LOG_RATE))
        grad = np.einsum("tli,tln->lni", z, y - mu) - theta @ reg
        hess = np.einsum("tli,tlj,tln->lnij", z, z, mu) + reg + 1e-9 * np.eye(3)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        theta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[..., 1:], theta[..., 0]


class PointProcessFilter(Decoder):
    """The point-process filter decoder (module docstring), batched over lanes.

    Parameters
    ----------
    ridge : float
        L2 penalty on the tuning ``α`` of the Poisson GLM fit.
    velocity_tau, velocity_sd, dt : float
        The physical kinematic prior (as :class:`~cogmodels.agents.decoders.kalman.KalmanDecoder`):
        velocity time constant (s), stationary per-axis sd (widths/s) and bin width (s).

    Attributes
    ----------
    alpha_ : numpy.ndarray
        ``(L, N, 2)`` log-intensity tuning to the velocity.
    beta_ : numpy.ndarray
        ``(L, N)`` log baseline count per bin.
    A_, W_ : numpy.ndarray
        ``(L, 2, 2)`` kinematic prior.
    P_ : numpy.ndarray
        ``(L, 2, 2)`` current posterior covariance (0 at a session start).
    """

    _model_arrays = ("alpha_", "beta_", "A_", "W_")
    _state_arrays = ("velocity_", "P_")
    _reset_arrays = ("velocity_", "P_")

    def __init__(self, ridge: float = 1e-3, velocity_tau: float = VELOCITY_TAU,
                 velocity_sd: float = INTENTION_SD, dt: float = 0.02) -> None:
        self.ridge = check_number("ridge", ridge, 0.0)
        self.velocity_tau = check_number("velocity_tau", velocity_tau, 0.0, low_open=True)
        self.velocity_sd = check_number("velocity_sd", velocity_sd, 0.0, low_open=True)
        self.dt = check_number("dt", dt, 0.0, low_open=True)

    def fit(self, counts: Any, velocity: Any) -> PointProcessFilter:
        """Fit the Poisson GLM of every unit on a calibration block; return ``self``."""
        y, x, single = check_calibration(counts, velocity)
        self.alpha_, self.beta_ = fit_poisson_glm(y, x, self.ridge)
        A, W = physical_dynamics(self.velocity_tau, self.velocity_sd, self.dt)
        self.A_ = np.broadcast_to(A, (y.shape[1], 2, 2)).copy()
        self.W_ = np.broadcast_to(W, (y.shape[1], 2, 2)).copy()
        self._fitted(y.shape[1], y.shape[2], single)
        self.P_ = np.zeros((self.n_lanes_, 2, 2))
        return self

    def _step(self, y: np.ndarray) -> np.ndarray:
        A = self.A_
        prior = A @ self.P_ @ np.swapaxes(A, 1, 2) + self.W_
        v = np.einsum("lij,lj->li", A, self.velocity_)
        mu = np.exp(np.minimum(self.beta_ + np.einsum("lnk,lk->ln", self.alpha_, v),
                               MAX_LOG_RATE))
        info = np.einsum("ln,lni,lnj->lij", mu, self.alpha_, self.alpha_)
        self.P_ = np.linalg.inv(np.linalg.inv(prior) + info)
        score = np.einsum("lnk,ln->lk", self.alpha_, y - mu)
        return v + np.einsum("lij,lj->li", self.P_, score)

    def steady_gain(self) -> np.ndarray:
        """Return ``G (L, 2, 2)``: the long-run decoded velocity per intended one, near rest.

        The filter linearised at ``v = 0`` is a Kalman filter with ``H = μ_0 α``,
        ``Q = diag μ_0`` (``μ_0 = e^β``); ``G = (I - M)^{-1} K H`` of its steady state.
        """
        self._check_fitted()
        mu0 = np.exp(self.beta_)
        info = np.einsum("ln,lni,lnj->lij", mu0, self.alpha_, self.alpha_)
        P = solve_riccati(self.A_, self.W_, info)
        KH = P @ info
        M = (np.eye(2) - KH) @ self.A_
        return np.linalg.solve(np.eye(2) - M, KH)


class PointProcessCLDA:
    """Spike-event CLDA of a :class:`PointProcessFilter` (module docstring).

    It has the adaptation rules' interface (``decoder``, :meth:`observe`, :meth:`tick`), so
    :func:`~cogmodels.agents.decoders.session.run_closed_loop` can drive it with ReFIT or the
    intended velocity as labels.

    Parameters
    ----------
    decoder : PointProcessFilter
        The fitted filter, adapted in place.
    drift_sd : float
        Per-bin standard deviation ``σ_θ`` of the parameters' random walk.
    prior_sd : float
        Initial standard deviation of every parameter (the uncertainty about the seed).
    report_bins : int
        :meth:`tick` returns True every ``report_bins`` bins: the filter changes every bin, but
        what derives from it (the debiasing gain of ``run_closed_loop``) is refreshed this often.
    """

    def __init__(self, decoder: PointProcessFilter, drift_sd: float = 1e-3,
                 prior_sd: float = 0.3, report_bins: int = 25) -> None:
        if not isinstance(decoder, PointProcessFilter):
            raise TypeError(f"decoder must be a fitted PointProcessFilter, got "
                            f"{type(decoder).__name__}")
        decoder._check_fitted()
        self.decoder = decoder
        self.drift_sd = check_number("drift_sd", drift_sd, 0.0)
        self.prior_sd = check_number("prior_sd", prior_sd, 0.0, low_open=True)
        shape = (decoder.n_lanes_, decoder.n_units_)
        self.cov_ = np.broadcast_to(prior_sd**2 * np.eye(3), (*shape, 3, 3)).copy()
        self.report_bins = check_int("report_bins", report_bins, 1)
        self.n_updates_ = 0
        self._clock = 0

    def observe(self, counts: np.ndarray, intention: np.ndarray, lanes: np.ndarray | None = None,
                weight: np.ndarray | None = None) -> None:
        """Update every unit's parameters with one bin ``(L, N)`` and its intention ``(L, 2)``.

        ``lanes`` (indices) restricts the update; lanes of ``weight`` 0 are skipped.
        """
        dec = self.decoder
        y = np.asarray(counts, dtype=np.float64)
        u = np.asarray(intention, dtype=np.float64)
        if y.ndim == 3:  # a block: bin by bin
            for t in range(y.shape[0]):
                self.observe(y[t], u[t], lanes, None if weight is None else np.asarray(weight)[t])
            return
        sel = np.arange(dec.n_lanes_) if lanes is None else np.asarray(lanes)
        if weight is not None:
            sel = sel[np.asarray(weight, dtype=bool)]
        if sel.size == 0:
            return
        z = np.concatenate([np.ones((sel.size, 1)), u], axis=1)  # (l, 3)
        theta = np.concatenate([dec.beta_[sel][..., None], dec.alpha_[sel]], axis=2)  # (l, N, 3)
        mu = np.exp(np.minimum(np.einsum("lni,li->ln", theta, z), MAX_LOG_RATE))
        prior = self.cov_[sel] + self.drift_sd**2 * np.eye(3)
        # (Σ⁻^{-1} + μ z zᵀ)^{-1} by Sherman–Morrison: a rank-one update
        pz = np.einsum("lnij,lj->lni", prior, z)
        denom = 1.0 + mu * np.einsum("lni,li->ln", pz, z)
        cov = prior - (mu / denom)[..., None, None] * pz[..., :, None] * pz[..., None, :]
        theta = theta + np.einsum("lnij,lj,ln->lni", cov, z, y - mu)
        self.cov_[sel] = cov
        dec.beta_[sel], dec.alpha_[sel] = theta[..., 0], theta[..., 1:]
        self.n_updates_ += 1

    def tick(self) -> bool:
        """One bin has passed (the filter was updated by :meth:`observe`); True every ``report_bins``."""
        self._clock += 1
        return self._clock % self.report_bins == 0

