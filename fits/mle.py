"""Per-subject maximum-likelihood and MAP fits, all subjects and starts in one batch.

``MaximumLikelihood(model).fit(trials)`` maximises each subject's log-likelihood over the
model's parameters from several random starts, in the unconstrained space of the parameter
transforms. ``MaximumAPosteriori`` adds the log prior of each :class:`ParamSpec` (or priors given
by name). Every subject and start is a lane of one batched quasi-Newton run
(:func:`cogmodels.fits.optimize.minimize_batched`), so the model's likelihood is evaluated for
all of them in one vectorised pass per iteration.

Standard errors come from the finite-difference Hessian of the negative log-likelihood (or
posterior) at the optimum, mapped to the natural scale by the delta method. A parameter the data
do not identify at the estimate (a non-finite Hessian row, or a flat direction of the Hessian: an
eigenvalue below ``1e-6`` times the largest) gets a NaN standard error and a warning naming the
subject and the parameter; the fit itself is always kept (``standard_errors=False`` skips them).
Estimates on a bound raise a warning; subjects whose best start did not converge raise a
:class:`ConvergenceWarning`; subjects with too few valid trials are reported in ``skipped_``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.fits.autodiff import AutogradObjective, check_derivatives
from cogmodels.fits.identifiability import uninformed_parameters, warn_uninformed
from cogmodels.fits.optimize import BatchResult, finite_difference_hessian, minimize_batched
from cogmodels.likelihood import CheckedTrials, TrialArrays, log_likelihood, trial_arrays
from cogmodels.model import CognitiveModel
from cogmodels.parameters import ParamSpec, unpack
from cogmodels.progress import progress_bar
from cogmodels.validation import SeedLike, check_bool, check_int, check_is_fitted, check_seed

__all__ = [
    "ConvergenceWarning",
    "FitError",
    "MaximumAPosteriori",
    "MaximumLikelihood",
    "SubjectFit",
    "interior_start",
    "laplace_variances",
    "start_points",
]


class ConvergenceWarning(UserWarning):
    """An optimisation stopped before meeting its convergence criterion."""


class FitError(ValueError):
    """A fit could not produce a valid estimate (e.g. a non-finite likelihood)."""


def interior_start(spec: ParamSpec) -> float:
    """Return the parameter's default in the unconstrained space, moved off its bounds (finite).

    A default on a bound (``neg_rl = 0`` on ``[0, 1]``) maps to ``±inf``. Finite ranges: the
    default is clipped into the middle 90 % of the range; half-open ranges: a default on the bound
    is moved 1 inside it (``z = 0``).
    """
    x = float(spec.default)
    if spec.kind == "logit":
        width = spec.high - spec.low
        x = min(max(x, spec.low + 0.05 * width), spec.high - 0.05 * width)
    z = float(spec.to_unconstrained(x))
    return z if np.isfinite(z) else 0.0


def start_points(specs: tuple[ParamSpec, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random starting points in the unconstrained space, all finite.

    Finite ranges: uniform over the middle 90 % of the natural range. Open ranges: the default
    (:func:`interior_start`) plus a standard normal in the unconstrained space.
    """
    cols = []
    for s in specs:
        if s.kind == "logit":
            lo, hi = s.low + 0.05 * (s.high - s.low), s.high - 0.05 * (s.high - s.low)
            cols.append(s.to_unconstrained(rng.uniform(lo, hi, n)))
        else:
            cols.append(interior_start(s) + rng.standard_normal(n))
    return np.stack(cols, axis=1) if cols else np.zeros((n, 0))


def laplace_variances(hess: np.ndarray, rtol: float = 1e-6, max_loading: float = 1e-2) -> np.ndarray:
    """Diagonal of the inverse Hessian of each lane, NaN where the Hessian does not identify it.

    Parameters
    ----------
    hess : ndarray
        ``(lanes, k, k)`` Hessians of a negative log-likelihood or posterior at its optimum.
    rtol : float
        An eigenvalue at most ``rtol`` times the largest (or not positive) spans a flat direction:
        finite-difference Hessians carry noise of about ``1e-6`` in absolute terms, so such a
        direction is not identified, even when its eigenvalue happens to be positive.
    max_loading : float
        A parameter whose squared loadings on the flat directions sum above this is unidentified.

    Returns
    -------
    var : ndarray
        ``(lanes, k)``: the Laplace variances ``diag(H^+)`` in the unconstrained space, the
        pseudo-inverse taken over the identified directions; NaN for a parameter with a
        non-finite Hessian row or loading on a flat direction.
    """
    n, k = hess.shape[:2]
    var = np.full((n, k), np.nan)
    for i, h in enumerate(hess):
        rows = finite_block(h)
        if not rows.any():
            continue
        sub = h[np.ix_(rows, rows)]
        w, v = np.linalg.eigh(0.5 * (sub + sub.T))
        flat = w <= rtol * max(w.max(), 0.0)
        loading = (v[:, flat] ** 2).sum(axis=1)
        ok = loading <= max_loading
        idx = np.flatnonzero(rows)
        var[i, idx[ok]] = (v[ok][:, ~flat] ** 2 / w[~flat]).sum(axis=1)
    return var


def finite_block(h: np.ndarray) -> np.ndarray:
    """Return the mask of parameters kept once those with non-finite Hessian entries are dropped.

    Parameters are dropped worst first (the most non-finite entries among those still kept).
    """
    keep = np.ones(h.shape[0], dtype=bool)
    bad = ~np.isfinite(h)
    while (bad[np.ix_(keep, keep)]).any():
        count = np.where(keep, (bad & keep[None, :]).sum(axis=1), -1)
        keep[np.argmax(count)] = False
    return keep


class SubjectFit:
    """Shared machinery of the per-subject estimators (MLE and MAP).

    Parameters
    ----------
    model : CognitiveModel
        The model to fit.
    n_starts : int, default 10
        Random starts per subject (the best is kept).
    seed : int, SeedSequence, Generator or None
        Seeds the starting points.
    min_trials : int, default 10
        Subjects with fewer valid trials are skipped and listed in ``skipped_``.
    max_iter : int, default 100
        Iteration limit of :func:`~cogmodels.fits.optimize.minimize_batched` per start.
    gtol : float, default 1e-3
        A start converges when its gradient's largest entry is below ``gtol``.
    standard_errors : bool, default True
        Compute the Hessians and standard errors at the estimates (``False``: skip them;
        ``se_`` and ``hessians_`` are then NaN).
    gradient : {"finite_difference", "autograd"}, default "finite_difference"
        How the optimiser gets gradients: forward differences of the numpy likelihood
        (``k + 1`` evaluations per step, batched), or exact ones by autograd through the same
        model code in torch (:mod:`cogmodels.fits.autodiff`; on the GPU when there is one).
        On a CPU the numpy differences are faster for small models (benchmarks/RESULTS.md).
    hessian : {"finite_difference", "autograd"}, default "finite_difference"
        How the Hessians of the standard errors (and of hierarchical EM's posterior
        covariances) are computed: central differences (``2k(k + 1)`` evaluations) or exact
        ones by autograd.

    Attributes
    ----------
    params_ : pandas.DataFrame
        One row per subject, one column per parameter (natural scale).
    se_ : pandas.DataFrame
        Standard errors (NaN where the Hessian does not identify the parameter, see
        :func:`laplace_variances`).
    loglik_, n_trials_, aic_, bic_ : pandas.Series
        Indexed by subject.
    converged_ : pandas.Series
        Whether each subject's optimisation converged.
    on_bound_ : pandas.DataFrame
        Per subject and parameter, whether the estimate sits on a bound of its range.
    hessians_ : numpy.ndarray
        ``(subjects, k, k)`` Hessians of the objective in the unconstrained space.
    z_ : numpy.ndarray
        ``(subjects, k)`` unconstrained estimates.
    skipped_ : pandas.DataFrame
        Subjects left out (``subject``, ``n_valid``, ``reason``).
    uninformed_ : pandas.DataFrame
        Subjects × parameters: the parameters no trial of the subject informs
        (:func:`cogmodels.fits.identifiability.uninformed_parameters`); a fit with any warns
        with an ``IdentifiabilityWarning``.
    """

    method = "mle"

    def __init__(
        self,
        model: CognitiveModel,
        *,
        n_starts: int = 10,
        seed: SeedLike = None,
        min_trials: int = 10,
        max_iter: int = 100,
        gtol: float = 1e-3,
        standard_errors: bool = True,
        gradient: str = "finite_difference",
        hessian: str = "finite_difference",
    ) -> None:
        if not isinstance(model, CognitiveModel):
            raise TypeError(f"model must be a CognitiveModel, got {type(model).__name__}")
        self.model = model
        self.n_starts = check_int("n_starts", n_starts, 1)
        self.seed = check_seed("seed", seed)
        self.min_trials = min_trials
        self.max_iter = max_iter
        self.gtol = gtol
        self.standard_errors = check_bool("standard_errors", standard_errors)
        self.gradient = check_derivatives("gradient", gradient)
        self.hessian = check_derivatives("hessian", hessian)

    # -- objective --------------------------------------------------------------------------
    def _log_prior_z(self, z: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        """Log prior over the unconstrained parameters of each lane (0 for MLE)."""
        return np.zeros(z.shape[0])

    def _objective(self, data: TrialArrays, subject_of_lane: np.ndarray):
        specs = self.model.param_specs

        def fun(z: np.ndarray, lanes: np.ndarray) -> np.ndarray:
            params = unpack(specs, z)
            with np.errstate(all="ignore"):
                ll = log_likelihood(self.model, params, data, subject_of_lane[lanes])
                val = -(ll + self._log_prior_z(z, subject_of_lane[lanes]))
            return np.where(np.isfinite(val), val, np.inf)

        return fun

    def _autograd(self, data: TrialArrays, subject_of_lane: np.ndarray) -> AutogradObjective:
        return AutogradObjective(self.model, data, subject_of_lane, self._log_prior_z)

    def _minimize(self, data: TrialArrays, subject_of_lane: np.ndarray, z0: np.ndarray, **kwargs: Any) -> BatchResult:
        """Minimise every lane's objective from ``z0`` with the estimator's ``gradient`` option."""
        gradient = None
        if self.gradient == "autograd":
            gradient = self._autograd(data, subject_of_lane).value_and_gradient
        return minimize_batched(self._objective(data, subject_of_lane), z0, max_iter=self.max_iter,
                                gtol=self.gtol, gradient=gradient, **kwargs)

    def _hessians(self, data: TrialArrays, z: np.ndarray) -> np.ndarray:
        """Hessians ``(subjects, k, k)`` of each subject's objective at ``z``, by the ``hessian`` option."""
        every = np.arange(data.n_subjects)
        if self.hessian == "autograd":
            return self._autograd(data, every).hessian(z)
        return finite_difference_hessian(self._objective(data, every), z)

    # -- fitting ----------------------------------------------------------------------------
    def _prepare(self, trials: pd.DataFrame | CheckedTrials | TrialArrays, source: str | None) -> TrialArrays:
        data = trials if isinstance(trials, TrialArrays) else trial_arrays(trials, self.model, source=source)
        n_valid = data.n_valid
        few = n_valid < self.min_trials
        self.skipped_ = pd.DataFrame(
            {
                "subject": data.subjects[few],
                "n_valid": n_valid[few],
                "reason": f"fewer than min_trials={self.min_trials} valid trials",
            }
        )
        if few.any():
            warnings.warn(
                f"skipping {int(few.sum())} subject(s) with fewer than {self.min_trials} valid "
                f"trials: {data.subjects[few][:10].tolist()} (see skipped_)",
                UserWarning,
                stacklevel=3,
            )
        if few.all():
            raise ValueError(
                f"no subject has at least min_trials={self.min_trials} valid trials "
                f"(most: {int(n_valid.max()) if n_valid.size else 0})"
            )
        return data.subset(np.flatnonzero(~few))

    def fit(
        self,
        trials: pd.DataFrame | CheckedTrials | TrialArrays,
        *,
        source: str | None = None,
        progress: bool = True,
    ) -> SubjectFit:
        """Fit every subject of a trial table. Returns ``self`` with the fitted attributes.

        The table is validated first (:func:`cogmodels.likelihood.trial_arrays`: the schema of
        :func:`cogmodels.trials.validate_trials` and the model's columns and actions); rows out
        of trial order are sorted with a warning. ``source`` (a file name) starts the error
        messages. ``progress`` draws a bar of the subjects fitted (on a terminal only).
        """
        progress = check_bool("progress", progress)
        data = self._prepare(trials, source)
        self.data_ = data
        self._run(data, progress)
        self.uninformed_ = uninformed_parameters(self.model, data, seed=self.seed)
        warn_uninformed(self.uninformed_, self.model.name, stacklevel=2)
        return self

    def _bar(self, progress: bool, total: int, unit: str = "subject"):
        return progress_bar(progress, total=total, unit=unit, desc=f"{self.model.name} {self.method}")

    def _run(self, data: TrialArrays, progress: bool = False) -> None:
        model, specs = self.model, self.model.param_specs
        n_sub = data.n_subjects
        rng = np.random.default_rng(self.seed)
        subject_of_lane = np.repeat(np.arange(n_sub), self.n_starts)
        z0 = start_points(specs, n_sub * self.n_starts, rng)
        with self._bar(progress, n_sub) as bar:
            res = self._minimize(data, subject_of_lane, z0, groups=subject_of_lane,
                                 callback=_subjects_done(bar, subject_of_lane))
            bar.update(n_sub - bar.n)
        f = res.fun.reshape(n_sub, self.n_starts)
        best = np.argmin(f, axis=1)
        pick_lane = np.arange(n_sub) * self.n_starts + best
        z = res.x[pick_lane]
        fbest = f[np.arange(n_sub), best]
        bad = ~np.isfinite(fbest)
        if bad.any():
            raise FitError(
                f"{model.name}: the likelihood is not finite at any start for subjects "
                f"{data.subjects[bad][:10].tolist()} (e.g. at parameters "
                f"{ {k: float(v[0]) for k, v in unpack(specs, z[bad][:1]).items()} }); "
                "check the data coding or the parameter bounds"
            )
        self._finish(data, z, fbest, res.converged[pick_lane])

    def _finish(
        self,
        data: TrialArrays,
        z: np.ndarray,
        objective: np.ndarray,
        converged: np.ndarray,
        hess: np.ndarray | None = None,
    ) -> None:
        model, specs = self.model, self.model.param_specs
        subjects = pd.Index(data.subjects, name="subject")
        if hess is None:
            if self.standard_errors:
                hess = self._hessians(data, z)
            else:
                hess = np.full((z.shape[0], z.shape[1], z.shape[1]), np.nan)
        x = unpack(specs, z)
        ll = log_likelihood(model, x, data)
        if not np.isfinite(ll).all():
            i = int(np.flatnonzero(~np.isfinite(ll))[0])
            raise FitError(
                f"{model.name}: non-finite log-likelihood for subject {data.subjects[i]!r} at "
                f"{ {k: float(v[i]) for k, v in x.items()} }"
            )
        n = data.n_valid.astype(float)
        k = model.n_params
        self.z_ = z
        self.hessians_ = hess
        self.params_ = pd.DataFrame(x, index=subjects)
        self.loglik_ = pd.Series(ll, index=subjects, name="loglik")
        self.objective_ = pd.Series(objective, index=subjects, name="objective")
        self.n_trials_ = pd.Series(n.astype(int), index=subjects, name="n_trials")
        self.aic_ = pd.Series(2 * k - 2 * ll, index=subjects, name="aic")
        self.bic_ = pd.Series(k * np.log(n) - 2 * ll, index=subjects, name="bic")
        self.se_ = pd.DataFrame(self._standard_errors(z, hess, subjects), index=subjects)
        self.converged_ = pd.Series(converged, index=subjects, name="converged")
        self.on_bound_ = pd.DataFrame({s.name: s.on_bound(x[s.name]) for s in specs}, index=subjects)
        self._warn()

    def _standard_errors(self, z: np.ndarray, hess: np.ndarray, subjects: pd.Index) -> dict[str, np.ndarray]:
        """Delta-method standard errors on the natural scale; NaN (with a warning) where unidentified."""
        specs = self.model.param_specs
        var = np.full(z.shape, np.nan)
        if self.standard_errors:
            var = laplace_variances(hess)
            bad = np.argwhere(np.isnan(var))
            if bad.size:
                ids = subjects.tolist()
                pairs = [(ids[i], specs[j].name) for i, j in bad]
                warnings.warn(
                    f"{self.model.name}: {len(pairs)} standard error(s) are NaN because the Hessian "
                    f"at the estimate does not identify the parameter (a flat or non-finite "
                    f"direction), e.g. {pairs[:10]} (subject, parameter); the estimates are kept. "
                    f"Such a parameter has no effect on the subject's choices at the other "
                    f"estimates (see se_)",
                    UserWarning,
                    stacklevel=5,
                )
        out = {}
        for j, s in enumerate(specs):
            jac = np.exp(s.log_jacobian(z[:, j]))
            out[s.name] = jac * np.sqrt(var[:, j])
        return out

    def _warn(self) -> None:
        if self.on_bound_.to_numpy().any():
            hits = self.on_bound_.stack()
            hits = hits[hits].index.tolist()
            warnings.warn(
                f"{self.model.name}: {len(hits)} estimate(s) on a parameter bound, e.g. "
                f"{hits[:5]} (subject, parameter); their standard errors are unreliable. A "
                f"parameter often on its bound is one the data may not identify: check the "
                f"bounds suit the data, or try the model without it (a structure option) "
                f"(see on_bound_)",
                UserWarning,
                stacklevel=4,
            )
        if not self.converged_.all():
            bad = self.converged_.index[~self.converged_.to_numpy()].tolist()
            warnings.warn(
                f"{self.model.name}: the best start did not converge for {len(bad)} subject(s): "
                f"{bad[:10]}; fit again with more random starts (n_starts; --starts on the "
                f"command line) or more iterations (max_iter) (see converged_)",
                ConvergenceWarning,
                stacklevel=4,
            )

    # -- results ----------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Tidy per-subject table: parameters, standard errors, fit statistics, flags."""
        self._check_fitted()
        se = self.se_.add_prefix("se_")
        bound = self.on_bound_.any(axis=1).rename("on_bound")
        out = pd.concat(
            [self.params_, self.loglik_, self.n_trials_, self.aic_, self.bic_, se, self.converged_, bound],
            axis=1,
        )
        out.insert(len(self.params_.columns), "method", self.method)
        return out.reset_index()

    def score(self, trials: pd.DataFrame | TrialArrays) -> float:
        """Return the summed log-likelihood of (held-out) trials under the fitted parameters."""
        return float(self.score_subjects(trials).sum())

    def score_subjects(self, trials: pd.DataFrame | TrialArrays) -> pd.Series:
        """Per-subject log-likelihood of ``trials`` under the fitted parameters."""
        self._check_fitted()
        data = trials if isinstance(trials, TrialArrays) else trial_arrays(trials, self.model)
        subjects = pd.Index(data.subjects)
        missing = subjects.difference(self.params_.index)
        if len(missing):
            raise ValueError(f"no fitted parameters for subjects {missing[:10].tolist()}")
        params = {k: self.params_.loc[subjects, k].to_numpy() for k in self.params_.columns}
        return pd.Series(log_likelihood(self.model, params, data), index=subjects, name="loglik")

    def _check_fitted(self) -> None:
        check_is_fitted(self, "params_")


def _subjects_done(bar, subject_of_lane: np.ndarray):
    """Return a ``minimize_batched`` callback advancing ``bar`` as subjects' starts all stop."""
    if bar.disable:
        return None
    n_sub = int(subject_of_lane.max()) + 1 if subject_of_lane.size else 0

    def callback(active: np.ndarray) -> None:
        done = n_sub - np.unique(subject_of_lane[active]).size
        if done > bar.n:
            bar.update(done - bar.n)

    return callback


class MaximumLikelihood(SubjectFit):
    """Per-subject maximum-likelihood estimates (see :class:`SubjectFit`).

    Each subject's ``argmax_θ Σ_t log p(c_t | θ, history)``, as in Daw (2011), "Trial-by-trial
    data analysis using computational models", in *Decision Making, Affect, and Learning*
    (Attention and Performance XXIII), Oxford University Press.
    """

    method = "mle"


class MaximumAPosteriori(SubjectFit):
    """Per-subject MAP estimates under the parameters' priors.

    Each subject's ``argmax_θ [log p(D | θ) + log p(θ)]`` with fixed (not fitted) priors, as in
    Daw (2011) and Gershman (2016), "Empirical priors for reinforcement learning models",
    *J. Math. Psychol.* 71, 1-6. Standard errors: see :class:`SubjectFit` (``standard_errors``).

    ``priors`` maps parameter names to frozen ``scipy.stats`` distributions over the natural
    scale and overrides the :class:`ParamSpec` priors; a parameter with neither is flat. The
    posterior is maximised over the natural scale (the Jacobian of the transform is not added).
    """

    method = "map"

    def __init__(self, model: CognitiveModel, *, priors: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        priors = dict(priors or {})
        unknown = set(priors) - set(model.param_names)
        if unknown:
            raise ValueError(f"priors for unknown parameters {sorted(unknown)}; parameters: {list(model.param_names)}")
        self.priors = {s.name: priors.get(s.name, s.prior) for s in model.param_specs}
        if all(p is None for p in self.priors.values()):
            raise ValueError(
                f"MAP needs a prior: none of {list(model.param_names)} has one; pass priors={{name: "
                "scipy.stats distribution}} or use MaximumLikelihood"
            )

    def _log_prior_z(self, z: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        total = np.zeros(z.shape[0])
        for j, s in enumerate(self.model.param_specs):
            prior = self.priors[s.name]
            if prior is not None:
                total += np.asarray(prior.logpdf(s.from_unconstrained(z[:, j])))
        return total
