r"""Automatic differentiation variational inference (ADVI) on a batched NumPy log density.

Kucukelbir, Tran, Ranganath, Gelman & Blei (2017), "Automatic differentiation variational
inference", JMLR 18(14): a mean-field Gaussian :math:`q(x) = \mathcal N(m, \operatorname{diag}
e^{2\omega})` over the unconstrained vector :math:`x \in \mathbb R^D` maximises

.. math::

    \mathcal L(m, \omega) = \mathbb E_{\varepsilon \sim \mathcal N(0, I)}
    \bigl[\log p(m + e^{\omega} \odot \varepsilon)\bigr] + \sum_d \omega_d
    + \tfrac D2 (1 + \log 2\pi),

with the reparameterised gradient over :math:`S` draws :math:`x_s = m + e^\omega \odot
\varepsilon_s`:

.. math::

    \nabla_m \hat{\mathcal L} = \frac1S \sum_s \nabla \log p(x_s), \qquad
    \nabla_\omega \hat{\mathcal L} = \frac1S \sum_s \nabla \log p(x_s) \odot \varepsilon_s
    \odot e^{\omega} + 1.

The :math:`S` draws of a step are the rows of one call of the log density (the lanes the package
batches over; :meth:`cogmodels.fits.HierarchicalNUTS._log_density` scores every row's subjects
at once), so a step costs one batched call. The parameters follow Adam (Kingma & Ba 2015), and
the returned approximation is the average of the iterates over the last ``average`` fraction of
the steps run (Polyak & Juditsky 1992): with a constant step the iterates scatter around the
optimum by the gradient noise, and their average does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cogmodels.validation import check_int, check_number

__all__ = ["AdviResult", "advi", "elbo_gradient"]

LogDensity = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class AdviResult:
    r"""What :func:`advi` returns.

    Attributes
    ----------
    mean, log_sd : numpy.ndarray
        ``(D,)``: the averaged variational mean :math:`m` and log SD :math:`\omega`.
    elbo : numpy.ndarray
        The ELBO estimate of every step run (the mean over that step's draws).
    n_steps : int
        Steps run.
    n_skipped : int
        Steps without a finite draw (the parameters were left as they were).
    converged : bool
        Whether ``stop`` ended the run before ``max_steps``.
    """

    mean: np.ndarray
    log_sd: np.ndarray
    elbo: np.ndarray
    n_steps: int
    n_skipped: int
    converged: bool


def elbo_gradient(log_density: LogDensity, mean: np.ndarray, log_sd: np.ndarray,
                  eps: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Return the ELBO estimate and its gradients w.r.t. ``mean`` and ``log_sd`` over the draws ``eps``.

    ``eps`` ``(S, D)`` standard normal draws, scored in one call of ``log_density``. Draws whose
    density is not finite (a diverging region) are left out of the average; with none finite the
    ELBO is ``-inf`` and the gradients are 0.
    """
    sd = np.exp(log_sd)
    value, grad = log_density(mean + sd * eps)
    ok = np.isfinite(value) & np.isfinite(grad).all(axis=1)
    if not ok.any():
        return -np.inf, np.zeros_like(mean), np.zeros_like(log_sd)
    g, e = grad[ok], eps[ok]
    entropy = float(np.sum(log_sd)) + 0.5 * mean.size * (1.0 + np.log(2.0 * np.pi))
    return (float(np.mean(value[ok])) + entropy, g.mean(axis=0),
            (g * e).mean(axis=0) * sd + 1.0)


def advi(log_density: LogDensity, init: np.ndarray, *, max_steps: int = 1000, n_particles: int = 4,
         learning_rate: float = 0.1, final_learning_rate: float | None = None, init_log_sd: float = np.log(0.1),
         average: float = 0.5, rng: np.random.Generator,
         stop: Callable[[np.ndarray], bool] | None = None,
         callback: Callable[[int, float], None] | None = None) -> AdviResult:
    r"""Fit a mean-field Gaussian to ``log_density`` by ADVI with Adam and iterate averaging.

    Parameters
    ----------
    log_density : callable
        ``x (S, D) -> (log p (S,), gradient (S, D))``, batched over rows.
    init : numpy.ndarray
        ``(D,)``: the starting mean.
    max_steps : int, default 1000
        Adam steps (one batched call each).
    n_particles : int, default 4
        Draws per step (:math:`S`).
    learning_rate : float, default 0.1
        Adam's step size :math:`\eta_0`.
    final_learning_rate : float, optional
        The step size at step ``max_steps``, reached by a geometric decay
        :math:`\eta_t = \eta_0 (\eta_T / \eta_0)^{t/T}`; default: constant.
    init_log_sd : float, default log 0.1
        The starting :math:`\omega` of every coordinate.
    average : float, default 0.5
        The fraction of the steps run, at the end, whose iterates are averaged.
    rng : numpy.random.Generator
        The draws' generator.
    stop : callable, optional
        ``elbo so far -> bool``: end the run early when it returns True.
    callback : callable, optional
        ``(step, elbo)`` after every step.

    Returns
    -------
    AdviResult
    """
    max_steps = check_int("max_steps", max_steps, minimum=1)
    n_particles = check_int("n_particles", n_particles, minimum=1)
    learning_rate = check_number("learning_rate", learning_rate, 0.0, low_open=True)
    final = learning_rate if final_learning_rate is None else check_number(
        "final_learning_rate", final_learning_rate, 0.0, learning_rate, low_open=True)
    average = check_number("average", average, 0.0, 1.0, low_open=True)
    theta = np.concatenate([np.asarray(init, dtype=np.float64), np.full(len(init), float(init_log_sd))])
    d = len(init)
    first, second = np.zeros_like(theta), np.zeros_like(theta)
    beta1, beta2, tiny = 0.9, 0.999, 1e-8  # Kingma & Ba's defaults
    decay = (final / learning_rate) ** (1.0 / max_steps)
    path = np.empty((max_steps, 2 * d))
    elbo = np.empty(max_steps)
    skipped, converged, step = 0, False, 0
    for step in range(max_steps):
        value, g_mean, g_log_sd = elbo_gradient(log_density, theta[:d], theta[d:],
                                                rng.standard_normal((n_particles, d)))
        elbo[step] = value
        if np.isfinite(value):
            g = -np.concatenate([g_mean, g_log_sd])  # Adam minimises -ELBO
            first = beta1 * first + (1 - beta1) * g
            second = beta2 * second + (1 - beta2) * g * g
            lr = learning_rate * decay**step
            theta -= lr * (first / (1 - beta1 ** (step + 1))) / (np.sqrt(second / (1 - beta2 ** (step + 1))) + tiny)
        else:
            skipped += 1
        path[step] = theta
        if callback is not None:
            callback(step, value)
        if stop is not None and stop(elbo[:step + 1]):
            converged = True
            break
    n = step + 1
    kept = path[n - max(1, int(round(average * n))):n].mean(axis=0)
    return AdviResult(mean=kept[:d], log_sd=kept[d:], elbo=elbo[:n], n_steps=n, n_skipped=skipped,
                      converged=converged)
