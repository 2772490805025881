r"""The Wiener first-passage-time distribution of the drift-diffusion model.

A diffusion starts at ``z a`` between an absorbing lower boundary at 0 and an upper boundary at
``a`` and drifts at rate ``v`` (unit diffusion coefficient); the response is the boundary hit
(choice 1 = upper, 0 = lower, as in HDDM), the reaction time the hitting time plus the
non-decision time ``t0``. Everything here is written against the array API
(:func:`array_api_compat.array_namespace`): the same code runs on numpy arrays and on torch
tensors, where it is differentiable by autograd.

Density (Navarro & Fuss 2009, eqs. 1-7). The lower-boundary density at decision time ``t`` is

.. math::

    f_-(t \mid v, a, w) = \frac{1}{a^2} \exp\!\left(-v a w - \frac{v^2 t}{2}\right)
    f\!\left(\frac{t}{a^2} \,\middle|\, 0, 1, w\right)

with the standardised density ``f(u | 0, 1, w)`` given by two series,

.. math::

    f_{small}(u) = \frac{1}{\sqrt{2 \pi u^3}} \sum_{k=-\infty}^{\infty} (w + 2k)
                   \exp\!\left(-\frac{(w + 2k)^2}{2u}\right), \qquad
    f_{large}(u) = \pi \sum_{k=1}^{\infty} k \exp\!\left(-\frac{k^2 \pi^2 u}{2}\right) \sin(k \pi w).

The upper-boundary density is ``f_+(t | v, a, w) = f_-(t | -v, a, 1 - w)``. For each ``u`` the
series that needs fewer terms for an absolute error ``eps`` on ``f(u | 0, 1, w)`` is used, with
Navarro & Fuss's bounds on the number of terms (their eqs. 13 and 16, :func:`n_terms_small`,
:func:`n_terms_large`). The leading term is factored out of each series, so the log density is
finite far into both tails.

Choice probabilities (Feller 1968; Navarro & Fuss 2009, eq. 2): ``P(lower) = (e^{-2vaw} -
e^{-2va}) / (1 - e^{-2va})``, computed with ``expm1``.

Survival and CDF (Blurton, Kesselmeier & Gondan 2012, eq. 3, the large-time series integrated
term by term): ``P(lower, T > t) = (π / a²) e^{-vaw} Σ_k k sin(kπw) e^{-λ_k t} / λ_k`` with
``λ_k = v²/2 + k²π²/(2a²)``; terms are added until ``e^{-k²π² t/(2a²)} < eps``. The survival
``P(no boundary by t)`` censors an omission at a response deadline.

Sampler: the choice is drawn from the choice probabilities, then the decision time from its
conditional distribution by inverting the CDF above (bisection in ``log t`` to a relative
precision of about 1e-8; exact up to that tolerance and ``eps``). Checked against the density in
``tests/test_wiener.py``.

References
----------
Navarro, D. J. & Fuss, I. G. (2009). Fast and accurate calculations for first-passage times in
Wiener diffusion models. *Journal of Mathematical Psychology*, 53(4), 222-230.
Blurton, S. P., Kesselmeier, M. & Gondan, M. (2012). Fast and accurate calculations for
cumulative first-passage time distributions in Wiener diffusion models. *Journal of
Mathematical Psychology*, 56(6), 470-475.
Ratcliff, R. (1978). A theory of memory retrieval. *Psychological Review*, 85(2), 59-108.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_numpy_namespace

__all__ = [
    "DEFAULT_EPS",
    "choice_probabilities",
    "cdf",
    "log_density",
    "log_survival",
    "namespace_of",
    "n_terms_large",
    "n_terms_small",
    "sample_rt",
]

#: Default absolute error bound on the standardised density ``f(u | 0, 1, w)`` and on the series
#: of the CDF.
DEFAULT_EPS = 1e-12
_MAX_TERMS = 2000  # a safety cap; the bounds ask for at most a few hundred terms for u >= 1e-5
_V_CLIP = 300.0  # |v a| beyond this: choice probabilities are 0/1 to double precision anyway
_TINY = 1e-300


def namespace_of(*arrays: Any) -> Any:
    """Return the array-API namespace of ``arrays``: numpy itself for numpy arrays.

    numpy >= 2 is array-API compliant, and its own functions are several times faster than
    ``array_api_compat``'s wrappers of them on the small arrays of one trial.
    """
    xp = array_namespace(*arrays)
    return np if is_numpy_namespace(xp) else xp


def _numpy(x: Any) -> np.ndarray:
    """Return a detached float64 numpy copy of an array (numpy or torch), to count series terms."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


def n_terms_small(u: np.ndarray, eps: float = DEFAULT_EPS) -> np.ndarray:
    r"""Terms of the small-time series for absolute error ``eps`` (Navarro & Fuss 2009, eq. 13).

    Parameters
    ----------
    u : numpy.ndarray
        Standardised decision times ``t / a²`` (> 0).
    eps : float
        Absolute error bound on ``f(u | 0, 1, w)``.

    Returns
    -------
    numpy.ndarray
        ``k_s = max(2 + sqrt(-2u log(2 sqrt(2πu) eps)), sqrt(u) + 1)`` (``k_s = 2`` where the
        logarithm's argument reaches 1): the number of terms ``k`` of the sum over
        ``-⌊(k_s-1)/2⌋ .. ⌈(k_s-1)/2⌉``.
    """
    u = np.asarray(u, dtype=np.float64)
    arg = 2.0 * np.sqrt(2.0 * np.pi * u) * eps
    with np.errstate(invalid="ignore", divide="ignore"):
        ks = np.where(arg < 1, 2.0 + np.sqrt(np.maximum(-2.0 * u * np.log(arg), 0.0)), 2.0)
    return np.maximum(ks, np.sqrt(u) + 1.0)


def n_terms_large(u: np.ndarray, eps: float = DEFAULT_EPS) -> np.ndarray:
    r"""Terms of the large-time series for absolute error ``eps`` (Navarro & Fuss 2009, eq. 16).

    Parameters
    ----------
    u : numpy.ndarray
        Standardised decision times ``t / a²`` (> 0).
    eps : float
        Absolute error bound on ``f(u | 0, 1, w)``.

    Returns
    -------
    numpy.ndarray
        ``k_l = max(sqrt(-2 log(π u eps) / (π² u)), 1 / (π sqrt(u)))`` (the second term alone
        where ``π u eps >= 1``).
    """
    u = np.asarray(u, dtype=np.float64)
    arg = np.pi * u * eps
    floor = 1.0 / (np.pi * np.sqrt(u))
    with np.errstate(invalid="ignore", divide="ignore"):
        kl = np.where(arg < 1, np.sqrt(np.maximum(-2.0 * np.log(arg) / (np.pi**2 * u), 0.0)), floor)
    return np.maximum(kl, floor)


def _terms(xp: Any, k: np.ndarray, like: Any, ndim: int) -> Any:
    """``k`` as an array of ``like``'s namespace, dtype and device, shaped to broadcast on axis 0."""
    out = xp.asarray(k, dtype=like.dtype, device=getattr(like, "device", None))
    return xp.reshape(out, (k.shape[0],) + (1,) * ndim)


def _log_standard_small(xp: Any, u: Any, w: Any, m: int) -> Any:
    """``log f_small(u | 0, 1, w)`` with ``k = -m .. m`` and the ``k = 0`` term factored out."""
    k = np.concatenate([np.arange(1, m + 1), -np.arange(1, m + 1)]).astype(np.float64)
    log_lead = -0.5 * math.log(2.0 * math.pi) - 1.5 * xp.log(u) + xp.log(w) - w * w / (2.0 * u)
    if m == 0:
        return log_lead
    kk = _terms(xp, k, u, u.ndim)
    rest = xp.sum((w + 2.0 * kk) / w * xp.exp(-2.0 * kk * (w + kk) / u), axis=0)
    return log_lead + xp.log(xp.clip(1.0 + rest, min=_TINY))


def _log_standard_large(xp: Any, u: Any, w: Any, n: int) -> Any:
    """``log f_large(u | 0, 1, w)`` with ``k = 1 .. n`` and the ``k = 1`` term factored out."""
    log_lead = math.log(math.pi) - math.pi**2 * u / 2.0
    if n <= 1:
        return log_lead + xp.log(xp.clip(xp.sin(math.pi * w), min=_TINY))
    kk = _terms(xp, np.arange(2, n + 1, dtype=np.float64), u, u.ndim)
    series = xp.sin(math.pi * w) + xp.sum(
        kk * xp.exp(-(kk * kk - 1.0) * math.pi**2 * u / 2.0) * xp.sin(kk * math.pi * w), axis=0)
    return log_lead + xp.log(xp.clip(series, min=_TINY))


def _log_standard(xp: Any, u: Any, w: Any, eps: float) -> Any:
    """``log f(u | 0, 1, w)``: per element the series that needs fewer terms for error ``eps``."""
    un = _numpy(u)
    ks, kl = n_terms_small(un, eps), n_terms_large(un, eps)
    small = ks < kl
    m = int(min(np.ceil((ks[small].max() - 1) / 2), _MAX_TERMS)) if small.any() else 0
    n = int(min(np.ceil(kl[~small].max()), _MAX_TERMS)) if (~small).any() else 1
    if small.all():
        return _log_standard_small(xp, u, w, m)
    if not small.any():
        return _log_standard_large(xp, u, w, n)
    # each series on the elements where it is used alone: gathered, computed, put back in place
    w = xp.broadcast_to(w, u.shape)
    order = np.concatenate([np.flatnonzero(small), np.flatnonzero(~small)])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    device = getattr(u, "device", None)
    u_flat, w_flat = xp.reshape(u, (-1,)), xp.reshape(w, (-1,))

    def gather(x: Any, index: np.ndarray) -> Any:
        return xp.take(x, xp.asarray(index, device=device), axis=0)

    n_small = int(small.sum())
    parts = [_log_standard_small(xp, gather(u_flat, order[:n_small]), gather(w_flat, order[:n_small]), m),
             _log_standard_large(xp, gather(u_flat, order[n_small:]), gather(w_flat, order[n_small:]), n)]
    return xp.reshape(gather(xp.concat(parts), inverse), u.shape)


def _broadcast(*arrays: Any) -> tuple[Any, list[Any]]:
    """Return the namespace of the array arguments and every argument as a broadcast float array."""
    arrays_in = [a for a in arrays if not isinstance(a, (int, float))]
    xp = namespace_of(*arrays_in) if arrays_in else np
    ref = next((a for a in arrays_in if xp.isdtype(a.dtype, "real floating")), None)
    dtype = ref.dtype if ref is not None else xp.float64
    device = getattr(ref, "device", None) if ref is not None else None
    out = [xp.asarray(a, dtype=dtype, device=device) if isinstance(a, (int, float)) or a.dtype != dtype
           else a for a in arrays]
    return xp, list(xp.broadcast_arrays(*out))


def _boundary(xp: Any, choice: Any, v: Any, z: Any) -> tuple[Any, Any]:
    """Drift and start of the lower-boundary problem that gives ``choice``'s boundary."""
    upper = choice > 0.5
    return xp.where(upper, -v, v), xp.where(upper, 1.0 - z, z)


def log_density(rt: Any, choice: Any, v: Any, a: Any, z: Any, t0: Any, *, eps: float = DEFAULT_EPS) -> Any:
    r"""Log joint density of a response ``choice`` at reaction time ``rt`` under the DDM.

    Parameters
    ----------
    rt : array
        Reaction times, seconds.
    choice : array
        1 for the upper boundary, 0 for the lower one.
    v : array
        Drift rate (positive toward the upper boundary).
    a : array
        Boundary separation (> 0).
    z : array
        Relative starting point in ``(0, 1)``.
    t0 : array
        Non-decision time, seconds.
    eps : float
        Absolute error bound on the standardised density (Navarro & Fuss 2009).

    Returns
    -------
    array
        ``log f_c(rt - t0 | v, a, z)`` (module docstring), broadcast over the arguments; ``-inf``
        where ``rt <= t0``. A numpy array or a torch tensor, like the arguments.
    """
    xp, (rt, choice, v, a, z, t0) = _broadcast(rt, choice, v, a, z, t0)
    vv, w = _boundary(xp, choice, v, z)
    t = rt - t0
    positive = t > 0
    t_safe = xp.where(positive, t, xp.ones_like(t))
    u = t_safe / (a * a)
    logf = -2.0 * xp.log(a) - vv * a * w - vv * vv * t_safe / 2.0 + _log_standard(xp, u, w, eps)
    return xp.where(positive, logf, xp.full_like(logf, -math.inf))


def _lower_probability(xp: Any, va: Any, w: Any) -> Any:
    """``P(lower) = e^{-2 va w} expm1(-2 va (1 - w)) / expm1(-2 va)``.

    For ``|va| < 1e-6`` its first-order expansion ``(1 - w)(1 - va w)`` (error O(va²) < 1e-12).
    """
    va = xp.clip(va, min=-_V_CLIP, max=_V_CLIP)
    small = xp.abs(va) < 1e-6
    safe = xp.where(small, xp.full_like(va, 1.0), va)
    exact = xp.exp(-2.0 * safe * w) * xp.expm1(-2.0 * safe * (1.0 - w)) / xp.expm1(-2.0 * safe)
    return xp.where(small, (1.0 - w) * (1.0 - va * w), exact)


def choice_probabilities(v: Any, a: Any, z: Any) -> tuple[Any, Any]:
    r"""Probabilities of absorption at the lower and the upper boundary.

    Parameters
    ----------
    v, a, z : array
        Drift rate, boundary separation, relative starting point.

    Returns
    -------
    tuple of array
        ``(P(lower), P(upper))`` with ``P(lower) = (e^{-2vaz} - e^{-2va}) / (1 - e^{-2va})``
        (Navarro & Fuss 2009, eq. 2), each computed directly (no ``1 - p``) so both keep full
        relative precision.
    """
    xp, (v, a, z) = _broadcast(v, a, z)
    return _lower_probability(xp, v * a, z), _lower_probability(xp, -v * a, 1.0 - z)


def _series_terms_cdf(u: np.ndarray, eps: float) -> int:
    """Terms of the CDF series so that ``exp(-k² π² u / 2) < eps`` for every ``u``."""
    need = np.sqrt(-2.0 * math.log(eps) / (math.pi**2 * np.min(u))) + 1.0
    return int(min(np.ceil(need), _MAX_TERMS))


def _log_tail_lower(xp: Any, t: Any, v: Any, a: Any, w: Any, eps: float) -> Any:
    """``log P(lower boundary, decision time > t)`` (Blurton et al. 2012, the large-time series)."""
    u = t / (a * a)
    n = _series_terms_cdf(_numpy(u), eps)
    kk = _terms(xp, np.arange(1, n + 1, dtype=np.float64), u, u.ndim)
    va = v * a
    # λ_k a² = (v²a² + k²π²)/2; factor out the k = 1 exponential e^{-λ_1 t}
    lam = (va * va + kk * kk * math.pi**2) / 2.0
    lam1 = (va * va + math.pi**2) / 2.0
    series = xp.sum(kk * xp.sin(kk * math.pi * w) * xp.exp(-(lam - lam1) * u) / lam, axis=0)
    return math.log(math.pi) - va * w - lam1 * u + xp.log(xp.clip(series, min=_TINY))


def log_survival(rt: Any, v: Any, a: Any, z: Any, t0: Any, *, eps: float = DEFAULT_EPS) -> Any:
    r"""Log probability that no boundary is reached by reaction time ``rt`` (an omission).

    Parameters
    ----------
    rt : array
        The response deadline, seconds.
    v, a, z, t0 : array
        Drift rate, boundary separation, relative starting point, non-decision time.
    eps : float
        The series stops once ``exp(-k² π² (rt - t0) / (2 a²)) < eps``.

    Returns
    -------
    array
        ``log [P(lower, T > rt) + P(upper, T > rt)]``; 0 where ``rt <= t0``.
    """
    xp, (rt, v, a, z, t0) = _broadcast(rt, v, a, z, t0)
    t = rt - t0
    positive = t > 0
    t_safe = xp.where(positive, t, xp.ones_like(t))
    lower = _log_tail_lower(xp, t_safe, v, a, z, eps)
    upper = _log_tail_lower(xp, t_safe, -v, a, 1.0 - z, eps)
    hi = xp.maximum(lower, upper)
    out = hi + xp.log(xp.exp(lower - hi) + xp.exp(upper - hi))
    return xp.where(positive, out, xp.zeros_like(out))


def cdf(rt: Any, choice: Any, v: Any, a: Any, z: Any, t0: Any, *, eps: float = DEFAULT_EPS) -> Any:
    r"""Probability of response ``choice`` by reaction time ``rt``, ``P(c, RT <= rt)``.

    Parameters
    ----------
    rt : array
        Reaction times, seconds.
    choice : array
        1 for the upper boundary, 0 for the lower one.
    v, a, z, t0 : array
        Drift rate, boundary separation, relative starting point, non-decision time.
    eps : float
        Series truncation, as :func:`log_survival`.

    Returns
    -------
    array
        ``P(c) - P(c, T > rt - t0)`` (Blurton et al. 2012); 0 where ``rt <= t0``.
    """
    xp, (rt, choice, v, a, z, t0) = _broadcast(rt, choice, v, a, z, t0)
    vv, w = _boundary(xp, choice, v, z)
    t = rt - t0
    positive = t > 0
    t_safe = xp.where(positive, t, xp.ones_like(t))
    p = _lower_probability(xp, vv * a, w)
    out = p - xp.exp(_log_tail_lower(xp, t_safe, vv, a, w, eps))
    return xp.where(positive, xp.clip(out, min=0.0), xp.zeros_like(out))


def sample_rt(
    choice: np.ndarray, v: np.ndarray, a: np.ndarray, z: np.ndarray, t0: np.ndarray,
    rng: np.random.Generator, *, eps: float = DEFAULT_EPS,
) -> np.ndarray:
    r"""Draw one reaction time per element given the response ``choice`` (numpy).

    Parameters
    ----------
    choice : numpy.ndarray
        The response drawn (1 upper, 0 lower), e.g. from :func:`choice_probabilities`.
    v, a, z, t0 : numpy.ndarray
        Drift rate, boundary separation, relative starting point, non-decision time.
    rng : numpy.random.Generator
        Draws one uniform number per element.
    eps : float
        Series truncation of the CDF.

    Returns
    -------
    numpy.ndarray
        ``t0 + T`` with ``T`` solving ``P(c, T > t) = (1 - U) P(c)`` for ``U ~ U(0, 1)``: the
        inverse of the conditional CDF, found by bisection in ``log t`` (32 halvings of a bracket
        ``[t_lo, t_hi]`` with ``P(c, T < t_lo) < 1e-18`` and ``P(c, T > t_hi) < 1e-16``: a
        relative precision of about 1e-8 on ``T``).
    """
    choice, v, a, z, t0 = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (choice, v, a, z, t0)))
    vv, w = _boundary(np, choice, v, z)
    target = np.log1p(-rng.random(choice.shape)) + np.log(_lower_probability(np, vv * a, w))
    va = vv * a
    lam1 = (va * va + math.pi**2) / 2.0
    # below u = (w / (9 + |va| w))² the boundary is 9 standard deviations away: P(T < t) < 1e-18
    lo = np.log(a * a * (w / (9.0 + np.abs(va) * w)) ** 2)
    hi = np.log(a * a * (40.0 + np.abs(va)) / lam1)
    for _ in range(32):
        mid = (lo + hi) / 2.0
        above = _log_tail_lower(np, np.exp(mid), vv, a, w, eps) > target  # not yet far enough
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return t0 + np.exp((lo + hi) / 2.0)
