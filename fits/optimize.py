"""A batched quasi-Newton minimiser: many independent small problems solved together.

Every lane (subject × start) is its own minimisation of ``f(z)`` over an unconstrained vector
``z``; ``fun`` evaluates a whole batch of points in one call, so finite-difference gradients,
line searches and Hessians of all lanes share one vectorised pass through the model. The
algorithm is BFGS (Nocedal & Wright 2006, *Numerical Optimization*, ch. 6) with forward-difference
gradients and a backtracking Armijo line search; lanes leave the active set as they converge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["BatchResult", "finite_difference_hessian", "minimize_batched"]

BatchFun = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: ``(points, lanes) -> (values, gradients)``, e.g. exact gradients by autograd
GradientFun = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class BatchResult:
    """Solutions of a batch of minimisations."""

    x: np.ndarray  # (L, k)
    fun: np.ndarray  # (L,)
    grad: np.ndarray  # (L, k)
    converged: np.ndarray  # (L,) bool
    n_iter: np.ndarray  # (L,) int
    message: np.ndarray  # (L,) str


def _value_and_gradient(
    fun: BatchFun, z: np.ndarray, lanes: np.ndarray, h: float, gradient: GradientFun | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Values and gradients of every lane: ``gradient``'s, else forward differences in one batched call."""
    if gradient is not None:
        return gradient(z, lanes)
    n, k = z.shape
    step = h * np.maximum(1.0, np.abs(z))
    pts = np.repeat(z[:, None, :], k + 1, axis=1)
    pts[:, 1 + np.arange(k), np.arange(k)] += step
    vals = fun(pts.reshape(n * (k + 1), k), np.repeat(lanes, k + 1)).reshape(n, k + 1)
    with np.errstate(invalid="ignore"):
        return vals[:, 0], (vals[:, 1:] - vals[:, :1]) / step


def _project(g: np.ndarray, z: np.ndarray, box: float) -> np.ndarray:
    """Zero the gradient components that push a coordinate through the box."""
    out = (z >= box) & (g < 0) | (z <= -box) & (g > 0)
    return np.where(out, 0.0, g)


def _cap(d: np.ndarray, max_step: float) -> np.ndarray:
    """Shorten each row of ``d`` so that its largest entry is at most ``max_step``."""
    size = np.abs(d).max(axis=1, keepdims=True)
    return d * np.minimum(1.0, max_step / np.maximum(size, 1e-300))


def _duplicates(
    z: np.ndarray, f: np.ndarray, groups: np.ndarray, active: np.ndarray, converged: np.ndarray, tol: float
) -> np.ndarray:
    """Active lanes that sit on another lane of their group with a value no higher."""
    cand = np.union1d(active, np.flatnonzero(converged))
    cell = np.floor(z[cand] / tol).astype(np.int64)
    seen: dict[bytes, int] = {}
    order = cand[np.lexsort((f[cand], groups[cand]))]  # best value first within each group
    key_of = {lane: groups[lane].tobytes() + c.tobytes() for lane, c in zip(cand, cell)}
    is_active = np.zeros(z.shape[0], dtype=bool)
    is_active[active] = True
    dup = []
    for lane in order:
        key = key_of[lane]
        if key in seen:
            if is_active[lane]:
                dup.append(lane)
        else:
            seen[key] = lane
    return np.asarray(dup, dtype=np.int64)


def minimize_batched(
    fun: BatchFun,
    z0: np.ndarray,
    *,
    max_iter: int = 100,
    gtol: float = 1e-3,
    ftol: float = 1e-8,
    h: float = 1e-6,
    max_backtracks: int = 30,
    box: float = 15.0,
    groups: np.ndarray | None = None,
    merge_tol: float = 1e-3,
    max_step: float = 2.0,
    callback: Callable[[np.ndarray], None] | None = None,
    gradient: GradientFun | None = None,
) -> BatchResult:
    """Minimise ``fun`` independently for every row of ``z0``.

    ``fun(points, lanes)`` maps an ``(M, k)`` array of points, each belonging to the lane (row of
    ``z0``) given in ``lanes``, to ``(M,)`` values (``inf`` where undefined). A lane converges
    when its gradient's largest entry is below ``gtol`` or an accepted step lowers the value by
    less than ``ftol * (1 + |f|)``. Points are kept in the box ``[-box, box]`` (a parameter that
    runs to its bound stops there; the gradient is projected on the box). Each iteration makes
    one batched call: the trial point of every active lane with its finite-difference stencil,
    so a backtracking step costs no extra call.

    ``groups`` labels lanes that solve the same problem from different starts (a subject's
    starts). A lane that reaches, within ``merge_tol`` in every coordinate, the point of another
    lane of its group with a value no higher is retired as a duplicate: its start has found the
    same optimum, and following it further cannot change the group's best value.

    A search direction longer than ``max_step`` in any coordinate is shortened to it, so a steep
    start (a tight prior, a saturating transform) cannot throw a lane to the edge of the box
    where the transform's vanishing slope would stall it.

    ``callback(active)``, when given, is called after every iteration with the lanes still
    active (e.g. to advance a progress bar); it must not modify them.

    ``gradient(points, lanes) -> (values, gradients)``, when given, replaces the
    forward-difference stencil (``k + 1`` values of ``fun`` per point) with exact gradients
    (:class:`cogmodels.fits.autodiff.AutogradObjective`); ``fun`` is then not called.
    """
    z = np.clip(np.array(z0, dtype=np.float64, copy=True), -box, box)
    n, k = z.shape
    every = np.arange(n)
    f, g = _value_and_gradient(fun, z, every, h, gradient)
    g = _project(g, z, box)
    eye = np.eye(k)
    hinv = np.repeat(eye[None], n, axis=0)
    fresh = np.ones(n, dtype=bool)
    d = _cap(-g, max_step)
    t = np.ones(n)
    backtracks = np.zeros(n, dtype=np.int64)
    converged = np.isfinite(f) & (np.abs(g).max(axis=1) < gtol)
    n_iter = np.zeros(n, dtype=np.int64)
    message = np.full(n, "max_iter reached", dtype=object)
    message[~np.isfinite(f)] = "non-finite objective at start"
    message[converged] = "gradient below gtol"
    active = np.flatnonzero(np.isfinite(f) & ~converged)
    for _ in range(max_iter * 4):
        if active.size == 0:
            break
        za, fa, ga = z[active], f[active], g[active]
        slope = np.einsum("li,li->l", d[active], ga)
        cand = np.clip(za + t[active, None] * d[active], -box, box)
        fc, gc = _value_and_gradient(fun, cand, active, h, gradient)
        gc = _project(gc, cand, box)
        ok = np.isfinite(fc) & (fc <= fa + 1e-4 * np.minimum(slope * t[active], 0.0))
        # rejected lanes: halve the step and try again next iteration
        rej = active[~ok]
        t[rej] *= 0.5
        backtracks[rej] += 1
        failed = rej[backtracks[rej] > max_backtracks]
        message[failed] = "line search failed"
        # accepted lanes: move, BFGS update of the inverse Hessian, new direction
        acc = active[ok]
        s_ = cand[ok] - za[ok]
        y = gc[ok] - ga[ok]
        sy = np.einsum("li,li->l", s_, y)
        upd = sy > 1e-12
        if upd.any():
            rho = (1.0 / sy[upd])[:, None, None]
            ss, yy = s_[upd], y[upd]
            # first update of a fresh (identity) matrix: scale it by s'y / y'y (Nocedal & Wright 6.20)
            first = fresh[acc[upd]]
            if first.any():
                scale = sy[upd][first] / np.einsum("li,li->l", yy[first], yy[first])
                hinv[acc[upd][first]] = scale[:, None, None] * eye
                fresh[acc[upd][first]] = False
            a_ = eye - rho * ss[:, :, None] * yy[:, None, :]
            hinv[acc[upd]] = a_ @ hinv[acc[upd]] @ a_.transpose(0, 2, 1) + rho * ss[:, :, None] * ss[:, None, :]
        drop = fa[ok] - fc[ok]
        z[acc], f[acc], g[acc] = cand[ok], fc[ok], gc[ok]
        n_iter[acc] += 1
        t[acc] = 1.0
        backtracks[acc] = 0
        dn = -np.einsum("lij,lj->li", hinv[acc], g[acc])
        uphill = np.einsum("li,li->l", dn, g[acc]) >= 0
        if uphill.any():  # lost positive definiteness: restart from steepest descent
            hinv[acc[uphill]] = eye
            fresh[acc[uphill]] = True
            dn[uphill] = -g[acc][uphill]
        d[acc] = _cap(dn, max_step)
        small_g = np.abs(g[acc]).max(axis=1) < gtol
        small_f = ~small_g & (drop <= ftol * (1.0 + np.abs(fc[ok])))
        message[acc[small_g]] = "gradient below gtol"
        message[acc[small_f]] = "objective change below ftol"
        converged[acc[small_g | small_f]] = True
        done = np.zeros(n, dtype=bool)
        done[acc[small_g | small_f]] = True
        done[failed] = True
        done[acc[n_iter[acc] >= max_iter]] = True
        active = active[~done[active]]
        if groups is not None and active.size:
            dup = _duplicates(z, f, groups, active, converged, merge_tol)
            message[dup] = "merged with another start"
            active = np.setdiff1d(active, dup, assume_unique=True)
        if callback is not None:
            callback(active)
    return BatchResult(z, f, g, converged, n_iter, message)


def finite_difference_hessian(fun: BatchFun, z: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference Hessians ``(L, k, k)`` of every lane in one batched call."""
    n, k = z.shape
    step = h * np.maximum(1.0, np.abs(z))
    offsets = []
    for i in range(k):
        for j in range(i, k):
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                off = np.zeros((n, k))
                off[:, i] += si * step[:, i]
                off[:, j] += sj * step[:, j]
                offsets.append(off)
    pts = z[None] + np.stack(offsets)  # (P, n, k)
    vals = fun(pts.reshape(-1, k), np.tile(np.arange(n), len(offsets))).reshape(len(offsets), n)
    hess = np.zeros((n, k, k))
    p = 0
    for i in range(k):
        for j in range(i, k):
            fpp, fpm, fmp, fmm = vals[p : p + 4]
            hij = (fpp - fpm - fmp + fmm) / (4 * step[:, i] * step[:, j])
            hess[:, i, j] = hess[:, j, i] = hij
            p += 4
    return hess
