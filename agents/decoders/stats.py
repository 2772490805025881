r"""Sufficient statistics of the linear encoding model ``y = H x + d + noise``, per lane.

The observation model of every decoder here is a regression of the counts ``y`` (``N`` units) on
the kinematics ``x`` (``k = 2``: velocity) plus an intercept. With ``z = [x, 1]`` its sufficient
statistics are the weighted sums ``Szz = Σ w z zᵀ``, ``Szy = Σ w z yᵀ``, ``Syy = Σ w y²`` (per
unit: the noise is diagonal) and ``n = Σ w``. Exponential forgetting, ``S ← λ S + new``, gives
the recursive maximum-likelihood estimate of Dangi et al. (2014); resetting them per batch gives
SmoothBatch's batch estimate (Orsborn et al. 2012). The fit is ridge-regularised least squares,

.. math::

    [H, d]ᵀ = (S_{zz} + ρ I)^{-1} S_{zy}, \qquad
    q = (S_{yy} - 2\,\mathrm{diag}(Bᵀ S_{zy}) + \mathrm{diag}(Bᵀ S_{zz} B)) / n

with ``B = [H, d]ᵀ`` and ``q`` the per-unit residual variance.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RegressionStats", "as_lanes"]

#: the residual variance never goes below this (counts² per bin): silent units stay finite
MIN_VARIANCE = 1e-3


def as_lanes(counts: np.ndarray, name: str = "counts") -> tuple[np.ndarray, bool]:
    """Return ``(T, N)`` or ``(T, L, N)`` as ``(T, L, N)``, and whether a lane axis was added.

    float32/64 and integer counts are kept as they are, anything else becomes float64.
    """
    a = np.asarray(counts)
    if a.dtype not in (np.float32, np.float64, np.uint8, np.int32, np.int64):
        a = a.astype(np.float64)
    if a.ndim == 2:
        return a[:, None, :], True
    if a.ndim == 3:
        return a, False
    raise ValueError(f"{name} must have shape (T, N) or (T, L, N), got shape {a.shape}")


class RegressionStats:
    """Weighted sufficient statistics of ``y`` on ``[x, 1]`` for ``n_lanes`` lanes."""

    def __init__(self, n_lanes: int, n_units: int, n_inputs: int = 2) -> None:
        self.n_lanes, self.n_units, self.n_inputs = n_lanes, n_units, n_inputs
        k = n_inputs + 1
        self.zz = np.zeros((n_lanes, k, k))
        self.zy = np.zeros((n_lanes, k, n_units))
        self.yy = np.zeros((n_lanes, n_units))
        self.n = np.zeros(n_lanes)

    def clear(self, lanes: np.ndarray | None = None) -> None:
        """Forget everything (in ``lanes``, or all)."""
        sl = slice(None) if lanes is None else lanes
        self.zz[sl] = 0.0
        self.zy[sl] = 0.0
        self.yy[sl] = 0.0
        self.n[sl] = 0.0

    def decay(self, factor: float | np.ndarray) -> None:
        """``S ← factor · S`` (a scalar, or one factor per lane)."""
        f = np.asarray(factor, dtype=np.float64)
        self.zz *= f[..., None, None] if f.ndim else f
        self.zy *= f[..., None, None] if f.ndim else f
        self.yy *= f[..., None] if f.ndim else f
        self.n *= f

    def add(self, y: np.ndarray, x: np.ndarray, lanes: np.ndarray | None = None,
            weight: np.ndarray | None = None) -> None:
        """Add bins ``y (T, l, N)``, ``x (T, l, k)`` (or one bin, ``(l, N)``, ``(l, k)``).

        They go to the lanes ``lanes`` (``l`` of them; all when None), each bin with
        ``weight (T, l)`` (default 1).
        """
        y, x = np.asarray(y), np.asarray(x, dtype=np.float64)
        if y.ndim == 2:
            y, x = y[None], x[None]
            weight = None if weight is None else np.asarray(weight)[None]
        sl = slice(None) if lanes is None else lanes
        for t in range(0, y.shape[0], 256):  # chunks: long calibration blocks of many lanes
            yc = y[t:t + 256].astype(np.float64)
            xc = x[t:t + 256]
            z = np.concatenate([xc, np.ones((*xc.shape[:2], 1))], axis=2)
            w = (np.ones(z.shape[:2]) if weight is None
                 else np.asarray(weight, dtype=np.float64)[t:t + 256])
            wz = z * w[..., None]
            self.zz[sl] += np.einsum("tli,tlj->lij", wz, z)
            self.zy[sl] += np.einsum("tli,tln->lin", wz, yc)
            self.yy[sl] += np.einsum("tl,tln->ln", w, yc * yc)
            self.n[sl] += w.sum(axis=0)

    def copy(self) -> RegressionStats:
        """Return an independent copy of the statistics."""
        out = RegressionStats(self.n_lanes, self.n_units, self.n_inputs)
        out.zz, out.zy, out.yy, out.n = (self.zz.copy(), self.zy.copy(), self.yy.copy(),
                                         self.n.copy())
        return out

    def solve(self, ridge: float = 1e-6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(H (L, N, k), d (L, N), q (L, N))``: tuning, baseline counts and residual variance."""
        k = self.n_inputs + 1
        reg = ridge * np.eye(k)
        reg[-1, -1] = 0.0  # the intercept is not shrunk
        zz = self.zz + reg + 1e-12 * np.eye(k)
        coef = np.linalg.solve(zz, self.zy)  # (L, k, N)
        resid = (self.yy - 2.0 * np.einsum("lkn,lkn->ln", coef, self.zy)
                 + np.einsum("lkn,lkj,ljn->ln", coef, self.zz, coef))
        q = np.maximum(resid / np.maximum(self.n, 1e-12)[:, None], MIN_VARIANCE)
        return np.moveaxis(coef[:, :-1], 1, 2), coef[:, -1], q
