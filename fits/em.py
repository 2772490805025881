"""Hierarchical empirical-Bayes fits by expectation-maximisation with the Laplace approximation.

Huys, Cools, Gölzer, Friedel, Heinz, Dolan & Dayan (2011), PLoS Comput Biol 7(4): e1002028,
"Disentangling the roles of approach, activation and valence in instrumental and Pavlovian
responding", and its reference implementation ``emfit.m`` (Huys & Schad). Each subject's
unconstrained parameters are drawn from a Gaussian group prior ``z_i ~ N(mu, Σ)``, with ``Σ``
diagonal (``covariance="diagonal"``) or full (``covariance="full"``, emfit's default).

- E-step: each subject's MAP estimate ``z_i`` under the current prior, and the Laplace
  posterior covariance ``S_i = H_i^{-1}`` (``H_i`` the Hessian of the negative log posterior;
  its eigenvalues are floored at the smallest prior precision, so a posterior is never wider than
  the prior, and a non-finite row is replaced by the prior's, with a warning).
- M-step: ``mu = mean_i z_i`` and the posterior mode of ``Σ`` under a weak inverse-Wishart
  hyperprior ``IW(Ψ = ν0 s0² I, ν0 + k - 1)`` (for a diagonal ``Σ``: a scaled inverse-χ²
  ``Inv-χ²(ν0, s0²)`` on each variance),
  ``Σ = (ν0 s0² I + Σ_i [(z_i - mu)(z_i - mu)ᵀ + S_i]) / (N + ν0 + 2k)`` (diagonal:
  ``N + ν0 + 2`` and the diagonals only). With ``ν0 = 1`` pseudo-subject at ``s0² = 1`` the
  hyperprior is negligible for identified parameters; it stops a weakly identified parameter's
  variance from running off to the edge of the optimiser's box (10²-10⁴ without it) and an
  unidentified one from collapsing to 0. ``hyper_dof=0`` gives the plain EM update (over ``N +
  2``).

The Laplace evidence of subject ``i`` under the group prior is
``log p(D_i) ≈ -f_i + k/2 log 2π − ½ log |H_i|`` (``f_i`` the negative log posterior at the
MAP). EM stops, as emfit does, when the summed log posterior at the subjects' MAPs,
``Σ_i -f_i = Σ_i [log p(D_i | z_i) + log N(z_i; mu, Σ)]`` (emfit's ``PL``), changes by less than
``tol`` between iterations. It is a minimum over each subject's parameters, so it moves
continuously with the group prior, and the inner optimiser reaches it to ``ftol · |f_i|``
(~1e-6 per subject). The summed Laplace evidence is recorded beside it (``history_``) but is
not the stopping quantity: its ``log |H_i|`` is not continuous where a subject's MAP sits on a
kink of the likelihood. Models with a ``max`` inside (the model-based value
``Σ_s' P(s'|a) max_a' Q(s', a')`` of the two-step models) have such kinks, and the MAP is drawn
to them (a V-shaped minimum); there the finite-difference Hessian is ``Δg / h`` or the smooth
curvature depending on which side of the kink the last E-step stopped. Measured on Kool et al.
(2017) exp. 1 (100 subjects, ``two_step_stakes``): one subject's ``log |H_i|`` changed by 3.9
when its unconstrained α moved by 2e-3, the summed evidence went up and down by 2-5
units from iteration 9 on (no stop in 100 iterations, and on 30 subjects a premature stop at
iteration 9 while three group variances still moved by 0.1 an iteration), while the summed log
posterior rose monotonically.

Group-level regressors (emfit.m's ``reg``; ``covariates=`` and ``regressors=``): the prior mean
of subject ``i`` becomes ``W_i θ``, each parameter's group mean plus a linear function of the
subject's covariates (group, age, a questionnaire score), estimated in the M-step by generalised
least squares, with standard errors from the observed information of the marginal likelihood
(Louis 1982): see :mod:`cogmodels.fits.covariates`. Without regressors the M-step is the plain
mean above (no extra work per iteration).

The integrated BIC (Huys et al. 2011, Methods) integrates each subject's likelihood over the
fitted group prior by sampling, ``log p(D_i | mu, Σ) ≈ log (1/K) Σ_j p(D_i | z_j)``,
``z_j ~ N(mu_i, Σ)`` (``mu_i = W_i θ`` with regressors), and penalises the group parameters:
``iBIC = -2 Σ_i log p(D_i | mu, Σ) + m log N`` with ``N`` the total number of trials and ``m``
the number of group parameters actually estimated: ``k`` means, plus the ``k`` variances of a
diagonal ``Σ`` or the ``k(k+1)/2`` free entries of a full one, plus the regression coefficients
(the entries of ``B``). emfit.m penalises ``2k`` whatever the covariance; counting the
covariances of a full ``Σ`` makes iBIC compare a full-covariance fit with a diagonal one (and a
fit with regressors with one without) on the parameters each estimates.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from cogmodels.fits.covariates import (
    GroupDesign,
    check_covariate_arguments,
    coefficient_table,
    gls_coefficients,
    group_design,
    marginal_information,
)
from cogmodels.fits.mle import (
    ConvergenceWarning,
    SubjectFit,
    finite_block,
    interior_start,
    start_points,
)
from cogmodels.likelihood import TrialArrays
from cogmodels.model import CognitiveModel
from cogmodels.parameters import unpack
from cogmodels.validation import check_choice, check_int, check_number

__all__ = ["HierarchicalEM"]

_LOG2PI = np.log(2 * np.pi)
_COVARIANCES = ("diagonal", "full")
#: lanes per batched likelihood call when sampling the iBIC: bounds the memory of one call (the
#: trial arrays are gathered per lane: ~45 bytes per lane and trial, 175 MB at 5,000 lanes of 777
#: RLWM trials) and keeps the model's state tables in cache. Measured on 5 subjects of WMH Expe1
#: (rlwm, 10,000 draws): 8.5 / 7.4 / 8.2 / 10.1 CPU-s at 20,000 / 5,000 / 2,000 / 500 lanes, the
#: same sum to the last bit (each lane's likelihood does not depend on the others)
_SAMPLE_CHUNK = 5_000


def _posterior_covariances(hess: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse and log-determinant of each Hessian, eigenvalues floored at ``floor``."""
    w, v = np.linalg.eigh(0.5 * (hess + hess.transpose(0, 2, 1)))
    w = np.maximum(w, floor)
    inv = np.einsum("lij,lj,lkj->lik", v, 1.0 / w, v)
    return inv, np.log(w).sum(axis=1)


class HierarchicalEM(SubjectFit):
    """Empirical-Bayes group fit (Huys et al. 2011; emfit.m): group prior plus individual MAPs.

    Parameters
    ----------
    model : CognitiveModel
        The model to fit.
    n_starts : int, default 3
        Random starts per subject in the first E-step (later E-steps start at the last MAP).
    max_em_iter : int, default 100
        Most EM iterations (E-steps); a :class:`ConvergenceWarning` when reached.
    tol : float, default 1e-2
        EM stops when the summed log posterior at the subjects' MAPs changes by less than
        ``tol`` between iterations (emfit.m's rule; see the module docstring for why not the
        Laplace evidence).
    covariance : {"diagonal", "full"}, default "diagonal"
        The group covariance ``Σ``: independent variances, or a full covariance (emfit's default).
    initial_var : float, default 10.0
        The variance of the group prior in the first E-step (around the interior defaults).
    hyper_dof, hyper_var : float
        The hyperprior on ``Σ``: ``hyper_dof`` (``ν0``) pseudo-subjects at variance ``hyper_var``
        (``s0²``); ``hyper_dof=0`` switches it off.
    n_samples : int, default 2000
        Samples from the group prior per subject for the iBIC (seeded by ``seed``).
    covariates : pandas.DataFrame or path, optional
        The subject table for group-level regressors: one row per subject, a ``subject`` column
        and the covariates (a CSV file is read). Needs ``regressors``.
    regressors : mapping of str to list of str, optional
        Parameter -> covariates entering its group mean, e.g. ``{"alpha": ["group", "age"]}``:
        ``mean_i(alpha) = mu_alpha + b_group x_i,group + b_age (age_i - mean age)`` in the
        unconstrained space. Numeric covariates are centred; categorical ones (text, boolean, or
        named in ``reference``) dummy-coded against a reference level.
    reference : mapping, optional
        Categorical covariate -> its reference level (default: the first level in sorted order).
    **kwargs
        ``seed``, ``min_trials``, ``max_iter``, ``gtol``, ``standard_errors``: see
        :class:`SubjectFit`.

    Attributes
    ----------
    group_mean_, group_var_ : pandas.Series
        Group prior mean and variance (the diagonal of ``group_cov_``) per parameter, in the
        unconstrained space.
    group_cov_ : pandas.DataFrame
        Group covariance in the unconstrained space.
    group_params_ : pandas.Series
        The group mean mapped to the natural scale.
    coefficients_ : pandas.DataFrame
        With regressors: one row per intercept and coefficient (``parameter, covariate,
        estimate, se, z, p_value, ci_low, ci_high``, unconstrained space; Wald test and 95 %
        interval, see :mod:`cogmodels.fits.covariates`). The intercepts are ``group_mean_``:
        the group mean at the reference levels and the mean of the numeric covariates.
    coefficient_cov_ : pandas.DataFrame
        With regressors: the covariance of the estimates, the inverse observed information.
    subject_means_ : pandas.DataFrame
        With regressors: each subject's prior mean ``W_i θ`` (unconstrained).
    laplace_log_evidence_ : pandas.Series
        Per-subject Laplace evidence under the group prior.
    integrated_loglik_ : pandas.Series
        Per-subject sampled ``log p(D_i | mu, Σ)``.
    ibic_ : float
        Integrated BIC (Huys et al. 2011) from ``integrated_loglik_``, penalised by
        ``m log N`` with ``m = 2k`` (diagonal ``Σ``) or ``k + k(k+1)/2`` (full ``Σ``; emfit.m
        counts ``2k`` for both) plus the number of regression coefficients.
    n_em_iter_ : int
        EM iterations run.
    em_converged_ : bool
        Whether the stopping rule was met before ``max_em_iter``.
    history_ : pandas.DataFrame
        One row per iteration: the summed log posterior at the MAPs (``log_posterior``) and its
        change (``change``, the stopping quantity), the summed Laplace evidence
        (``log_evidence``), the group means and variances of the prior that E-step used.

    Notes
    -----
    The attributes of :class:`SubjectFit` are set as well; ``params_`` are the individual MAP
    estimates under the fitted group prior, ``se_`` their Laplace standard errors under it.
    """

    method = "em"

    def __init__(
        self,
        model: CognitiveModel,
        *,
        n_starts: int = 3,
        max_em_iter: int = 100,
        tol: float = 1e-2,
        covariance: str = "diagonal",
        initial_var: float = 10.0,
        hyper_dof: float = 1.0,
        hyper_var: float = 1.0,
        n_samples: int = 2000,
        covariates: pd.DataFrame | str | os.PathLike | None = None,
        regressors: Mapping[str, Sequence[str]] | None = None,
        reference: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, n_starts=n_starts, **kwargs)
        self.max_em_iter = check_int("max_em_iter", max_em_iter, minimum=1)
        self.tol = check_number("tol", tol, 0.0, low_open=True)
        self.covariance = check_choice("covariance", covariance, _COVARIANCES)
        self.initial_var = check_number("initial_var", initial_var, 0.0, low_open=True)
        self.hyper_dof = check_number("hyper_dof", hyper_dof, 0.0)
        self.hyper_var = check_number("hyper_var", hyper_var, 0.0, low_open=True)
        self.n_samples = check_int("n_samples", n_samples, minimum=1)
        self._covariates_table = check_covariate_arguments(covariates, regressors, reference, model.param_names)
        self.covariates, self.regressors, self.reference = covariates, regressors, reference

    # -- the group prior ------------------------------------------------------------------------
    def _set_prior(self, mu: np.ndarray, cov: np.ndarray, theta: np.ndarray | None = None) -> None:
        """Set the group prior; with regressors, ``theta`` gives each subject's mean ``W_i θ``."""
        self._mu, self._cov, self._theta = mu, cov, theta
        self._means = None if theta is None else self._design.weights @ theta
        w, v = np.linalg.eigh(cov)
        self._prec = np.einsum("ij,j,kj->ik", v, 1.0 / w, v)
        self._logdet = float(np.log(w).sum())
        self._min_prec = float(1.0 / w.max())

    def _log_prior_z(self, z: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        d = z - (self._mu if self._means is None else self._means[lanes])
        quad = np.einsum("li,ij,lj->l", d, self._prec, d)
        return -0.5 * (quad + self._logdet + z.shape[1] * _LOG2PI)

    def _m_step(self, z: np.ndarray, post_cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Group mean (or GLS coefficients), then the posterior mode of the covariance (module docstring)."""
        n, k = z.shape
        theta = None
        if self._design is None:
            mu = z.mean(axis=0)
            d = z - mu
        else:
            theta = gls_coefficients(z, self._design, self._prec)
            mu = theta[:k]
            d = z - self._design.weights @ theta
        scatter = d.T @ d + post_cov.sum(axis=0) + self.hyper_dof * self.hyper_var * np.eye(k)
        if self.covariance == "full":
            cov = scatter / (n + self.hyper_dof + 2 * k)
        else:
            cov = np.diag(np.diag(scatter) / (n + self.hyper_dof + 2))
        # a degenerate variance (no hyperprior, identical estimates) stays positive definite
        cov = cov + 1e-8 * np.eye(k)
        return mu, cov, theta

    def _posterior_hessians(self, data: TrialArrays, z: np.ndarray) -> np.ndarray:
        """Hessians of the negative log posterior; non-finite rows replaced by the prior's."""
        hess = self._hessians(data, z)
        bad = np.array([~finite_block(h) for h in hess]).reshape(hess.shape[:2])
        if bad.any():
            names = self.model.param_names
            ids = data.subjects.tolist()
            pairs = [(ids[i], names[j]) for i, j in np.argwhere(bad)]
            warnings.warn(
                f"{self.model.name}: the Hessian of the log posterior is not finite for "
                f"{len(pairs)} (subject, parameter) pair(s), e.g. {pairs[:10]}; their posterior "
                f"variance is taken from the group prior (the data do not inform it there)",
                UserWarning,
                stacklevel=5,
            )
            for i in np.flatnonzero(bad.any(axis=1)):
                rows = bad[i]
                hess[i][rows, :] = self._prec[rows, :]
                hess[i][:, rows] = self._prec[:, rows]
        return hess

    # -- fitting --------------------------------------------------------------------------------
    def _run(self, data: TrialArrays, progress: bool = False) -> None:
        with self._bar(progress, self.max_em_iter, unit="EM iteration") as bar:
            self._em(data, bar)

    def _em(self, data: TrialArrays, bar) -> None:
        specs = self.model.param_specs
        n_sub, k = data.n_subjects, self.model.n_params
        names = list(self.model.param_names)
        every = np.arange(n_sub)
        rng = np.random.default_rng(self.seed)
        self._design: GroupDesign | None = None
        start = np.array([interior_start(s) for s in specs])
        theta0 = None
        if self.regressors is not None:
            self._design = group_design(self._covariates_table, self.regressors, names, data.subjects,
                                        self.reference)
            theta0 = np.concatenate([start, np.zeros(self._design.n_coefficients)])
        self._set_prior(start, np.eye(k) * self.initial_var, theta0)
        # first E-step: several random starts per subject
        lanes = np.repeat(every, self.n_starts)
        z0 = start_points(specs, n_sub * self.n_starts, rng)
        res = self._minimize(data, lanes, z0, groups=lanes)
        best = every * self.n_starts + np.argmin(res.fun.reshape(n_sub, self.n_starts), axis=1)
        z, fz, converged = res.x[best], res.fun[best], res.converged[best]
        history: list[dict[str, Any]] = []
        previous = np.nan
        self.em_converged_ = False
        for it in range(self.max_em_iter):
            hess = self._posterior_hessians(data, z)
            post_cov, logdet = _posterior_covariances(hess, self._min_prec)
            evidence = -fz + 0.5 * k * _LOG2PI - 0.5 * logdet
            total = float(-fz.sum())  # the summed log posterior: the stopping quantity
            change = abs(total - previous)
            history.append({"iteration": it, "log_posterior": total, "change": change,
                            "log_evidence": float(evidence.sum()),
                            **{f"mean_{n}": m for n, m in zip(names, self._mu)},
                            **{f"var_{n}": v for n, v in zip(names, np.diag(self._cov))}})
            bar.update()
            bar.set_postfix_str(f"Δ log posterior {change:.2g} (tol {self.tol:g})", refresh=False)
            if change < self.tol:
                self.em_converged_ = True
                bar.total = bar.n  # converged: the bar ends full
                bar.refresh()
                break
            if it == self.max_em_iter - 1:
                break
            previous = total
            self._set_prior(*self._m_step(z, post_cov))
            res = self._minimize(data, every, z)
            z, fz, converged = res.x, res.fun, res.converged
        if not self.em_converged_:
            warnings.warn(
                f"{self.model.name}: EM stopped after max_em_iter={self.max_em_iter} iterations "
                f"before the summed log posterior settled (last change {change:.2g} > tol={self.tol:g}); "
                f"raise max_em_iter (--max-iter) or loosen tol (--tol) (see history_)",
                ConvergenceWarning,
                stacklevel=4,
            )
        self._finish(data, z, fz, converged, hess=hess)
        subjects = self.params_.index
        self.n_em_iter_ = len(history)
        self.history_ = pd.DataFrame(history)
        self.group_mean_ = pd.Series(self._mu, index=names, name="group_mean")
        self.group_cov_ = pd.DataFrame(self._cov, index=names, columns=names)
        self.group_var_ = pd.Series(np.diag(self._cov), index=names, name="group_var")
        self.group_params_ = pd.Series(
            {n: float(v[0]) for n, v in unpack(specs, self._mu[None]).items()}, name="group_params"
        )
        self.laplace_log_evidence_ = pd.Series(evidence, index=subjects, name="laplace_log_evidence")
        self.integrated_loglik_ = pd.Series(self._integrated_loglik(data, rng), index=subjects,
                                            name="integrated_loglik")
        n_group = k + (k * (k + 1) // 2 if self.covariance == "full" else k)
        if self._design is not None:
            n_group += self._design.n_coefficients
            info = marginal_information(self._design, self._prec, post_cov)
            self.coefficients_ = coefficient_table(self._design, self._theta, info)
            labels = [f"{p}:{t}" for p, t in self._design.names]
            self.coefficient_cov_ = pd.DataFrame(np.linalg.pinv(info), index=labels, columns=labels)
            self.subject_means_ = pd.DataFrame(self._means, index=subjects, columns=names)
        n_total = float(self.n_trials_.sum())
        self.ibic_ = float(-2 * self.integrated_loglik_.sum() + n_group * np.log(n_total))

    def _integrated_loglik(self, data: TrialArrays, rng: np.random.Generator) -> np.ndarray:
        """``log (1/K) Σ_j p(D_i | z_ij)`` with ``z_ij ~ N(mu, Σ)``, K = ``n_samples`` per subject."""
        n_sub, k, n_samp = data.n_subjects, self.model.n_params, self.n_samples
        chol = np.linalg.cholesky(self._cov)
        subject_of_lane = np.repeat(np.arange(n_sub), n_samp)
        mean = self._mu if self._means is None else self._means[subject_of_lane]
        z = mean + rng.standard_normal((n_sub * n_samp, k)) @ chol.T
        # the objective less the prior: the log-likelihood as the estimator scores it (a
        # cross-validation fold scores its training trials only)
        fun = self._objective(data, subject_of_lane)
        ll = np.empty(n_sub * n_samp)
        for lo in range(0, ll.size, _SAMPLE_CHUNK):
            lanes = np.arange(lo, min(lo + _SAMPLE_CHUNK, ll.size))
            with np.errstate(all="ignore"):
                ll[lanes] = -fun(z[lanes], lanes) - self._log_prior_z(z[lanes], subject_of_lane[lanes])
        ll = np.where(np.isnan(ll), -np.inf, ll).reshape(n_sub, n_samp)
        return logsumexp(ll, axis=1) - np.log(n_samp)

    def summary(self) -> pd.DataFrame:
        """Return :meth:`SubjectFit.summary` with each subject's ``log_evidence`` added."""
        out = super().summary()
        out["laplace_log_evidence"] = self.laplace_log_evidence_.to_numpy()
        out["integrated_loglik"] = self.integrated_loglik_.to_numpy()
        return out
