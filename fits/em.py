"""Hierarchical empirical-Bayes fits by expectation-maximisation with the Laplace approximation.

Huys, Cools, Gölzer, Friedel, Heinz, Dolan & Dayan (2011), PLoS Comput Biol, "Disentangling the
roles of approach, activation and valence in instrumental and Pavlovian responding". Each
subject's unconstrained parameters are drawn from a Gaussian group prior ``z_i ~ N(mu, diag(v))``.

- E-step: each subject's MAP estimate ``z_i`` under the current prior, and the Laplace
  posterior covariance ``S_i = H_i^{-1}`` (``H_i`` the Hessian of the negative log posterior).
- M-step: ``mu = mean_i z_i``, ``v = mean_i (z_i^2 + diag S_i) - mu^2``.

Iterated until the group parameters stop moving. The model evidence of subject ``i`` under the
group prior is approximated by Laplace,
``log p(D_i) ≈ log p(D_i | z_i) + log N(z_i; mu, v) + k/2 log 2π − ½ log |H_i|``, and the
integrated BIC is ``-2 Σ_i log p(D_i) + 2k log(N)`` with ``N`` the total number of trials and
``2k`` group parameters (means and variances).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.fits.mle import ConvergenceWarning, SubjectFit, start_points
from cogmodels.fits.optimize import finite_difference_hessian, minimize_batched
from cogmodels.likelihood import TrialArrays
from cogmodels.model import CognitiveModel
from cogmodels.parameters import unpack

__all__ = ["HierarchicalEM"]

_LOG2PI = np.log(2 * np.pi)


def _regularised_inverse(h: np.ndarray, floor: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Inverse and log-determinant of each Hessian, eigenvalues floored to stay positive."""
    w, v = np.linalg.eigh(0.5 * (h + h.transpose(0, 2, 1)))
    w = np.maximum(w, floor)
    inv = np.einsum("lij,lj,lkj->lik", v, 1.0 / w, v)
    return inv, np.log(w).sum(axis=1)


class HierarchicalEM(SubjectFit):
    """Empirical-Bayes group fit (Huys et al. 2011): group prior plus individual MAP estimates.

    Parameters
    ----------
    model : CognitiveModel
        The model to fit.
    n_starts : int, default 3
        Random starts per subject in the first E-step (later E-steps start from the last
        estimates).
    max_em_iter : int, default 100
        EM iterations at most (a ``ConvergenceWarning`` if the group parameters have not settled).
    tol : float, default 1e-3
        EM stops when the group means and log-variances move by less than ``tol``.
    initial_var : float, default 10.0
        Variance of the initial group prior, in the unconstrained space.
    **kwargs
        ``seed``, ``min_trials``, ``max_iter``, ``gtol`` of :class:`SubjectFit`.

    Attributes
    ----------
    group_mean_, group_var_ : pandas.Series
        Group prior mean and variance per parameter, in the unconstrained space.
    group_params_ : pandas.Series
        The group mean mapped to the natural scale.
    log_evidence_ : pandas.Series
        Per-subject Laplace evidence under the group prior.
    ibic_ : float
        Integrated BIC: ``-2 sum(log_evidence_) + 2 k log(n_trials)``.
    n_em_iter_ : int
        EM iterations run.
    history_ : pandas.DataFrame
        Summed log evidence and group parameters at each iteration.

    Notes
    -----
    The attributes of :class:`SubjectFit` are set as well; ``params_`` are the individual MAP
    estimates under the fitted group prior.
    """

    method = "em"

    def __init__(
        self,
        model: CognitiveModel,
        *,
        n_starts: int = 3,
        max_em_iter: int = 100,
        tol: float = 1e-3,
        initial_var: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, n_starts=n_starts, **kwargs)
        self.max_em_iter = max_em_iter
        self.tol = tol
        self.initial_var = initial_var

    def _log_prior_z(self, z: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        mu, var = self._mu, self._var
        return -0.5 * (((z - mu) ** 2) / var + np.log(var) + _LOG2PI).sum(axis=1)

    def _run(self, data: TrialArrays, progress: bool = False) -> None:
        with self._bar(progress, self.max_em_iter, unit="EM iteration") as bar:
            self._em(data, bar)

    def _em(self, data: TrialArrays, bar) -> None:
        specs = self.model.param_specs
        n_sub, k = data.n_subjects, self.model.n_params
        rng = np.random.default_rng(self.seed)
        self._mu = np.array([s.to_unconstrained(s.default) for s in specs], dtype=float)
        self._var = np.full(k, float(self.initial_var))
        # first E-step: several random starts per subject
        lanes = np.repeat(np.arange(n_sub), self.n_starts)
        z0 = start_points(specs, n_sub * self.n_starts, rng)
        history = []
        z = None
        for it in range(self.max_em_iter):
            if z is None:
                res = minimize_batched(
                    self._objective(data, lanes), z0, max_iter=self.max_iter, gtol=self.gtol, groups=lanes
                )
                f = res.fun.reshape(n_sub, self.n_starts)
                best = np.arange(n_sub) * self.n_starts + np.argmin(f, axis=1)
                z, fz = res.x[best], res.fun[best]
            else:
                every = np.arange(n_sub)
                res = minimize_batched(self._objective(data, every), z, max_iter=self.max_iter, gtol=self.gtol)
                z, fz = res.x, res.fun
            hess = finite_difference_hessian(self._objective(data, np.arange(n_sub)), z)
            cov, logdet = _regularised_inverse(hess)
            mu_new = z.mean(axis=0)
            var_new = np.maximum((z**2 + np.diagonal(cov, axis1=1, axis2=2)).mean(axis=0) - mu_new**2, 1e-6)
            evidence = -fz + 0.5 * k * _LOG2PI - 0.5 * logdet
            history.append({"iteration": it, "log_evidence": float(evidence.sum()),
                            **{f"mean_{s.name}": m for s, m in zip(specs, mu_new)},
                            **{f"var_{s.name}": v for s, v in zip(specs, var_new)}})
            shift = max(np.abs(mu_new - self._mu).max(), np.abs(np.log(var_new / self._var)).max())
            self._mu, self._var = mu_new, var_new
            bar.update()
            bar.set_postfix_str(f"shift {shift:.2g} (tol {self.tol:g})", refresh=False)
            if shift < self.tol:
                bar.total = bar.n  # converged: the bar ends full
                bar.refresh()
                break
        else:
            warnings.warn(
                f"{self.model.name}: EM stopped after max_em_iter={self.max_em_iter} iterations "
                f"before the group parameters settled (last shift {shift:.2g} > tol={self.tol}); "
                f"raise max_em_iter or loosen tol",
                ConvergenceWarning,
                stacklevel=4,
            )
        # final E-step under the settled prior
        every = np.arange(n_sub)
        res = minimize_batched(self._objective(data, every), z, max_iter=self.max_iter, gtol=self.gtol)
        z, fz = res.x, res.fun
        self._finish(data, z, fz, res.converged)
        _, logdet = _regularised_inverse(self.hessians_)
        evidence = -fz + 0.5 * k * _LOG2PI - 0.5 * logdet
        subjects = self.params_.index
        names = list(self.model.param_names)
        self.n_em_iter_ = len(history)
        self.history_ = pd.DataFrame(history)
        self.group_mean_ = pd.Series(self._mu, index=names, name="group_mean")
        self.group_var_ = pd.Series(self._var, index=names, name="group_var")
        self.group_params_ = pd.Series(
            {n: float(v[0]) for n, v in unpack(specs, self._mu[None]).items()}, name="group_params"
        )
        self.log_evidence_ = pd.Series(evidence, index=subjects, name="log_evidence")
        n_total = float(self.n_trials_.sum())
        self.ibic_ = float(-2 * evidence.sum() + 2 * k * np.log(n_total))

    def summary(self) -> pd.DataFrame:
        """Return :meth:`SubjectFit.summary` with each subject's ``log_evidence`` added."""
        out = super().summary()
        out["log_evidence"] = self.log_evidence_.to_numpy()
        return out
