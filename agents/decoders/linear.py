"""Linear decoders: population vector, optimal linear estimator, ridge regression.

Each reads out ``v̂_t = M (y_t - d)`` per lane and smooths it, ``v_t = α v_{t-1} + (1 - α) v̂_t``
(``smoothing = α``; 0 for the raw per-bin estimate), the exponential filter that cursor BCIs put
after a memoryless decoder (Taylor et al. 2002; Chase et al. 2009).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cogmodels.agents import saving
from cogmodels.agents.decoders.base import Decoder, check_calibration
from cogmodels.agents.decoders.stats import RegressionStats
from cogmodels.validation import check_number

__all__ = ["INTENTION_SD", "EncodingDecoder", "OptimalLinearEstimator", "PopulationVector",
           "RidgeDecoder"]

#: default expected per-axis sd of the intended velocity (workspace widths/s): the simulated
#: user's in a 60 s centre-out calibration block (measured 0.326, 4 subjects, seed 0)
INTENTION_SD = 0.33


class EncodingDecoder(Decoder):
    """A decoder derived from the fitted encoding model ``y = H v + d + q`` (per lane).

    :meth:`fit` regresses the counts on the calibration velocities; :meth:`set_encoding`
    replaces the model (what closed-loop adaptation does) and recomputes the readout.

    Attributes
    ----------
    H_ : numpy.ndarray
        ``(L, N, 2)`` tuning of each unit to the velocity.
    d_, q_ : numpy.ndarray
        ``(L, N)`` baseline counts and residual variance.
    stats_ : RegressionStats
        The calibration's :class:`~cogmodels.agents.decoders.stats.RegressionStats`, saved with
        the decoder (closed-loop adaptation starts from the current ``H_, d_, q_`` instead, see
        :mod:`~cogmodels.agents.decoders.clda`); a decoder loaded from a file saved before they
        were has none.

    Parameters
    ----------
    ridge : float
        Ridge penalty of the encoding regression.
    velocity_sd : float
        Expected standard deviation of the user's intended velocity per axis (workspace widths/s):
        the scale of the kinematics the decoder expects. The Kalman filter's physical prior uses
        it; closed-loop adaptation weights its prior with it
        (:meth:`prior_velocity_cov`). Default :data:`INTENTION_SD`.
    """

    _model_arrays = ("H_", "d_", "q_")

    def __init__(self, ridge: float = 1e-3, velocity_sd: float = INTENTION_SD) -> None:
        self.ridge = check_number("ridge", ridge, 0.0)
        self.velocity_sd = check_number("velocity_sd", velocity_sd, 0.0, low_open=True)

    def prior_velocity_cov(self) -> np.ndarray:
        """Return ``(L, 2, 2)``: the covariance of the velocities the decoder expects.

        ``velocity_sd² I`` for the linear readouts; the Kalman filter returns its kinematic
        prior's stationary covariance.
        """
        self._check_fitted()
        return np.broadcast_to(self.velocity_sd**2 * np.eye(2), (self.n_lanes_, 2, 2)).copy()

    def fit(self, counts: Any, velocity: Any, sample_weight: Any = None) -> EncodingDecoder:
        """Fit the encoding model on a calibration block; return ``self``.

        The block holds counts ``(T, N)`` or ``(T, L, N)`` and the velocities the user intended,
        ``(T, 2)`` or ``(T, L, 2)``; ``sample_weight`` (``(T,)`` or ``(T, L)``, >= 0; None: 1)
        weights each bin in the regression (weighted least squares, as PRI-T's recalibration).
        The kinematic prior fitted with ``dynamics="fit"`` is not weighted.
        """
        y, x, single = check_calibration(counts, velocity)
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64).reshape(y.shape[:2]) if np.size(
                sample_weight) == y.shape[0] * y.shape[1] else None
            if w is None or not (np.isfinite(w).all() and (w >= 0).all()) or w.sum() <= 0:
                raise ValueError(f"sample_weight must be finite weights >= 0 of shape "
                                 f"{y.shape[:2] if not single else (y.shape[0],)}, not all 0, "
                                 f"got {np.shape(sample_weight)}")
        stats = RegressionStats(y.shape[1], y.shape[2])
        stats.add(y, x, weight=w)
        self.stats_ = stats
        self._fit_dynamics(x)
        self._fitted(y.shape[1], y.shape[2], single)
        self.set_encoding(*stats.solve(self.ridge))
        return self

    def _fit_dynamics(self, x: np.ndarray) -> None:
        """Fit the kinematic prior from the calibration velocities (the Kalman filter's)."""

    def set_encoding(self, H: np.ndarray, d: np.ndarray, q: np.ndarray) -> EncodingDecoder:
        """Use the encoding model ``H (L, N, 2)``, ``d (L, N)``, ``q (L, N)`` from now on."""
        self._check_fitted()
        shape = (self.n_lanes_, self.n_units_)
        H, d, q = (np.asarray(a, dtype=np.float64) for a in (H, d, q))
        if H.shape != (*shape, 2) or d.shape != shape or q.shape != shape:
            raise ValueError(
                f"H, d, q must have shapes {(*shape, 2)}, {shape}, {shape}, got {H.shape}, "
                f"{d.shape}, {q.shape}"
            )
        self.H_, self.d_, self.q_ = H, d, np.maximum(q, 1e-3)
        self._readout()
        return self

    def _readout(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _rebuild(self) -> None:
        self.set_encoding(self.H_, self.d_, self.q_)

    def _save_extra(self, writer: saving.Writer, key: str) -> dict[str, Any]:
        """Return the calibration statistics' node, ``stats_`` (arrays and counts)."""
        return {"stats": writer.value(self.stats_, f"{key}stats_")} if hasattr(
            self, "stats_") else {}

    def _load_extra(self, node: dict[str, Any], reader: saving.Reader, key: str,
                    base: Path | None) -> None:
        """Restore ``stats_`` from ``node`` (none in files saved before it was), checked against the decoder."""
        if "stats" not in node:
            return
        name = f"{key}stats_"
        stats = reader.value(node["stats"], name)
        if not isinstance(stats, RegressionStats):
            raise reader.error(name, "be a RegressionStats", type(stats).__name__)
        lanes, units, k = self.n_lanes_, self.n_units_, self.H_.shape[-1] + 1
        for field, value in (("n_lanes", lanes), ("n_units", units), ("n_inputs", k - 1)):
            got = getattr(stats, field, None)
            if type(got) is not int or got != value:
                raise reader.error(name, f"hold {field} {value} (the decoder's)", f"{got!r:.40}")
        want = {"zz": (lanes, k, k), "zy": (lanes, k, units), "yy": (lanes, units), "n": (lanes,)}
        for field, shape in want.items():
            a = getattr(stats, field, None)
            if not (isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.shape == shape):
                got = "none" if a is None else f"{getattr(a, 'dtype', type(a).__name__)} of shape {np.shape(a)}"
                raise reader.error(name, f"hold {field} of floats of shape {shape}", got)
        self.stats_ = stats

    def steady_gain(self) -> np.ndarray:
        """Return ``G (L, 2, 2)``, the long-run decoded velocity per intended velocity.

        ``E[v] = G u`` for a constant intended velocity ``u``, under the decoder's own encoding
        model (``M H`` for the linear readouts; below 1 for the Kalman filter, whose estimate
        shrinks toward rest).
        """
        self._check_fitted()
        return self.M_ @ self.H_


class _SmoothedLinear(EncodingDecoder):
    """``v_t = α v_{t-1} + (1 - α) M (y_t - d)`` with ``M_`` from the encoding model."""

    def __init__(self, smoothing: float = 0.8, ridge: float = 1e-3,
                 velocity_sd: float = INTENTION_SD) -> None:
        super().__init__(ridge, velocity_sd)
        self.smoothing = check_number("smoothing", smoothing, 0.0, 1.0, high_open=True)

    def _step(self, y: np.ndarray) -> np.ndarray:
        a = self.smoothing
        v_hat = np.einsum("lkn,ln->lk", self.M_, y - self.d_)
        return a * self.velocity_ + (1.0 - a) * v_hat


class PopulationVector(_SmoothedLinear):
    r"""The population vector (Georgopoulos et al. 1986, Science 233:1416).

    Each unit votes for its preferred direction ``p_i = h_i / |h_i|`` with its normalised rate:

    .. math::

        \hat v = \frac{2}{N} \sum_i \frac{y_i - d_i}{|h_i|}\, p_i

    which is unbiased for uniformly distributed preferred directions (``Σ p pᵀ ≈ N/2 I``) and
    biased otherwise — what the optimal linear estimator corrects.
    """

    def _readout(self) -> None:
        m = np.linalg.norm(self.H_, axis=2)  # (L, N) modulation depth, counts per bin per unit/s
        p = self.H_ / np.maximum(m, 1e-12)[..., None]
        live = m > 1e-9
        n = np.maximum(live.sum(axis=1), 1)[:, None, None]
        self.M_ = 2.0 / n * np.moveaxis(p * (live / np.maximum(m, 1e-12))[..., None], 2, 1)


class OptimalLinearEstimator(_SmoothedLinear):
    r"""The optimal linear estimator: the weighted least-squares inverse of the encoding model.

    Salinas & Abbott (1994, J Comput Neurosci 1:89); Chase, Schwartz & Kass (2009, Neural Netw
    22:1203):

    .. math::

        \hat v = (Hᵀ Q^{-1} H)^{-1} Hᵀ Q^{-1} (y - d)

    with ``Q`` the diagonal residual covariance, which removes the population vector's bias for
    non-uniform preferred directions and unequal depths.
    """

    def _readout(self) -> None:
        hq = self.H_ / self.q_[..., None]  # Q^-1 H, (L, N, 2)
        info = np.einsum("lni,lnj->lij", self.H_, hq)
        self.M_ = np.linalg.solve(info + 1e-9 * np.eye(2), np.moveaxis(hq, 1, 2))


class RidgeDecoder(Decoder):
    r"""Ridge regression of the velocity on the counts: ``v̂ = Wᵀ [y, 1]``.

    The zero-lag Wiener filter (Carmena et al. 2003; Hochberg et al. 2006), with

    .. math::

        W = (Yᵀ Y + λ I)^{-1} Yᵀ V

    (``Y`` the counts with a column of ones, ``λ = alpha`` times the mean of ``diag(Yᵀ Y)``, the
    intercept unpenalised), smoothed like the other linear decoders.

    Attributes
    ----------
    W_ : numpy.ndarray
        ``(L, N + 1, 2)`` regression weights, the intercept last.
    """

    _model_arrays = ("W_",)

    def __init__(self, alpha: float = 1e-2, smoothing: float = 0.8) -> None:
        self.alpha = check_number("alpha", alpha, 0.0)
        self.smoothing = check_number("smoothing", smoothing, 0.0, 1.0, high_open=True)

    def fit(self, counts: Any, velocity: Any) -> RidgeDecoder:
        """Fit ``W_`` on a calibration block of counts and intended velocities; return ``self``."""
        y, x, single = check_calibration(counts, velocity)
        t, n_lanes, n = y.shape
        z = np.concatenate([y.astype(np.float64), np.ones((t, n_lanes, 1))], axis=2)
        zz = np.einsum("tli,tlj->lij", z, z)
        scale = np.einsum("lii->l", zz[:, :n, :n]) / n
        reg = np.zeros((n_lanes, n + 1, n + 1))
        reg[:, np.arange(n), np.arange(n)] = (self.alpha * scale)[:, None]
        self.W_ = np.linalg.solve(zz + reg + 1e-9 * np.eye(n + 1), np.einsum("tli,tlk->lik", z, x))
        self._fitted(n_lanes, n, single)
        return self

    def _step(self, y: np.ndarray) -> np.ndarray:
        a = self.smoothing
        v_hat = np.einsum("lnk,ln->lk", self.W_[:, :-1], y) + self.W_[:, -1]
        return a * self.velocity_ + (1.0 - a) * v_hat
