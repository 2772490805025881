r"""Hierarchical Bayesian posteriors: NUTS (Pyro, or ChEES-HMC in NumPy) and ADVI (NumPy), in ArviZ.

Every subject ``i`` has unconstrained parameters (the transforms of
:class:`~cogmodels.parameters.ParamSpec`) drawn from a Gaussian group distribution, written
non-centred as hBayesDM's Stan models are (Ahn, Haines & Zhang 2017; Betancourt & Girolami 2015):

.. math::

    \mu_j \sim \mathcal N(m_j, s_\mu^2), \qquad \sigma_j \sim \mathcal N^+(0, s_\sigma^2), \qquad
    \tilde z_{ij} \sim \mathcal N(0, 1), \qquad z_{ij} = \mu_j + \sigma_j \tilde z_{ij},
    \qquad \theta_{ij} = g_j^{-1}(z_{ij}),

with :math:`g_j` the parameter's transform (logit over a bounded range, log over a half-open one),
:math:`m_j` the parameter's default moved inside its range
(:func:`~cogmodels.fits.mle.interior_start`), and the default priors :math:`s_\mu = 1.5`,
:math:`s_\sigma = 1` (``mean_prior_sd``, ``scale_prior_sd``). On a logit scale a
:math:`\mathcal N(0, 1.5^2)` group mean is close to uniform over the range (hBayesDM's
:math:`\mathcal N(0, 1)` on a probit scale is the same to within 10 %). The likelihood is the
model's own (:func:`cogmodels.likelihood.log_likelihood`), on torch for its gradient. With
group covariates (``covariates=``, ``regressors=``) the group mean of subject ``i`` is
:math:`\mu_j + B_j x_i`, coded as in :mod:`cogmodels.fits.covariates`, with
:math:`\mathcal N(0, 1)` priors on the coefficients (``coef_prior_sd``).
``centred=`` samples chosen parameters centred instead,
:math:`z_{ij} \sim \mathcal N(\mu_j + B_j x_i, \sigma_j^2)` directly: the same model in the
coordinates that mix when many trials per subject pin each :math:`z_{ij}` (Papaspiliopoulos,
Roberts & Sköld 2007; see :class:`HierarchicalBayes`).

- :class:`HierarchicalNUTS` (``method="nuts"``): the No-U-Turn sampler (Hoffman & Gelman 2014)
  of Pyro (Bingham et al. 2019; Phan et al. 2019), several chains from one seed. With
  ``chain_method="sequential"`` (the default) each chain is its own Pyro run; with
  ``"vectorized"`` the chains are copies of the model in one run, so one likelihood call scores
  chains × subjects lanes (the chains then share their step size and trajectory length).
- :class:`HierarchicalVI` (``method="vi"``): automatic differentiation variational inference
  (Kucukelbir et al. 2017; :mod:`cogmodels.fits.advi`) with a mean-field Gaussian over the same
  unconstrained variables, on the NumPy log density the ChEES sampler uses, then draws from it.
  It needs ArviZ but not Pyro.

Both return an ArviZ ``InferenceData`` (``inference_data_``, :meth:`HierarchicalBayes.save` to
NetCDF) holding the posterior (group means and SDs, group means on the natural scale, every
subject's parameters), the log-likelihood of each subject (hBayesDM's ``log_lik``) or of each
trial (``pointwise="trial"``), and NUTS's sample statistics. R̂ (rank-normalised split R̂) and
the effective sample sizes follow Vehtari et al. (2021); a fit with R̂ > 1.01, a bulk or tail ESS
below 100 per chain, or a divergent transition warns in one line (:class:`ConvergenceWarning`);
VI's draws are independent, so it warns instead when the ELBO still climbs at the end.
:meth:`HierarchicalBayes.loo` and :meth:`HierarchicalBayes.waic` are ArviZ's PSIS-LOO (Vehtari,
Gelman & Gabry 2017) and WAIC (Watanabe 2010); :func:`cogmodels.fits.compare_models` tabulates
their information criteria ``looic = -2 elpd_loo`` (hBayesDM's LOOIC) and ``waic``.

References
----------
Ahn, W.-Y., Haines, N. & Zhang, L. (2017). Revealing neurocomputational mechanisms of
reinforcement learning and decision-making with the hBayesDM package. Computational Psychiatry 1,
24–57.

Betancourt, M. & Girolami, M. (2015). Hamiltonian Monte Carlo for hierarchical models. In Current
Trends in Bayesian Methodology with Applications, CRC Press.

Bingham, E. et al. (2019). Pyro: deep universal probabilistic programming. JMLR 20(28), 1–6.

Hoffman, M. D. & Gelman, A. (2014). The No-U-Turn sampler. JMLR 15, 1593–1623.

Kucukelbir, A., Tran, D., Ranganath, R., Gelman, A. & Blei, D. M. (2017). Automatic
differentiation variational inference. JMLR 18(14), 1–45.

Papaspiliopoulos, O., Roberts, G. O. & Sköld, M. (2007). A general framework for the
parametrization of hierarchical models. Statistical Science 22, 59–73.

Stan Development Team. Stan User's Guide, "Reparameterization" (Efficiency Tuning chapter).

Vehtari, A., Gelman, A. & Gabry, J. (2017). Practical Bayesian model evaluation using leave-one-out
cross-validation and WAIC. Statistics and Computing 27, 1413–1432.

Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021). Rank-normalization,
folding, and localization: an improved R̂ for assessing convergence of MCMC. Bayesian Analysis
16, 667–718.
"""

from __future__ import annotations

import importlib
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from cogmodels.deprecation import renamed_arguments
from cogmodels.fits.autodiff import GRADIENT_BACKENDS, LaneLogLikelihood
from cogmodels.fits.checkpoint import CheckpointFile
from cogmodels.fits.covariates import (
    GroupDesign,
    _did_you_mean,
    check_covariate_arguments,
    group_design,
)
from cogmodels.fits.mle import ConvergenceWarning, SubjectFit, interior_start, laplace_variances
from cogmodels.likelihood import TrialArrays, log_likelihood
from cogmodels.model import CognitiveModel
from cogmodels.parameters import unpack
from cogmodels.validation import (
    as_generator,
    check_choice,
    check_int,
    check_number,
    describe,
    int_seed,
    seed_sequence,
)

__all__ = ["ElboConvergence", "HierarchicalBayes", "HierarchicalNUTS", "HierarchicalVI", "require_arviz", "require_bayes"]

#: R̂ above this warns (Vehtari et al. 2021)
RHAT_MAX = 1.01
#: bulk and tail ESS below this many draws per chain warn (Vehtari et al. 2021: 100 per chain)
ESS_PER_CHAIN_MIN = 100
#: lanes per NumPy likelihood call when scoring the draws (bounds the memory of one call)
_CHUNK = 50_000
_POINTWISE = ("subject", "trial")
_CHAIN_METHODS = ("sequential", "vectorized")
_SAMPLERS = ("nuts", "chees")
#: ChEES's default warm-up iterations (NUTS keeps Stan's 1,000): RESULTS, "Round 6 (branch bayes17d)"
CHEES_WARMUP = 500


def _import_extra(names: Sequence[tuple[str, str]]) -> tuple[Any, ...]:
    """Import ``(module, display name)`` pairs, or raise the ``bayes`` extra's install hint naming them."""
    try:
        return tuple(importlib.import_module(module) for module, _ in names)
    except ImportError as err:  # pragma: no cover - the extra is installed in development
        shown = [name for _, name in names]
        need = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
        raise ImportError(f"the Bayesian fits need {need} ({err.name} is missing): "
                          "pip install 'cogmodels[bayes]'") from err


def require_bayes() -> tuple[Any, Any, Any]:
    """Import torch, Pyro and ArviZ, or say how to install them.

    Returns
    -------
    modules : tuple
        ``(torch, pyro, arviz)``.

    Raises
    ------
    ImportError
        With the install hint ``pip install 'cogmodels[bayes]'``.
    """
    return _import_extra([("torch", "torch"), ("pyro", "Pyro"), ("arviz", "ArviZ")])


def require_arviz() -> Any:
    """Import ArviZ (posterior tables, LOO, WAIC), or say how to install it.

    ADVI (:class:`HierarchicalVI`) and ChEES need only it; Pyro's NUTS needs :func:`require_bayes`.

    Returns
    -------
    arviz : module

    Raises
    ------
    ImportError
        With the install hint ``pip install 'cogmodels[bayes]'``.
    """
    return _import_extra([("arviz", "ArviZ")])[0]


def _check_centred(centred: Any, param_names: Sequence[str]) -> tuple[str, ...] | str:
    """Return the parameters ``centred`` names (``None``, ``"all"`` or a sequence of names), in the model's order, or ``"auto"``.

    Raises
    ------
    ValueError
        Naming ``centred``, the allowed values and the value received; or the unknown parameter
        and the model's parameters.
    """
    names = list(param_names)
    if centred is None:
        return ()
    if isinstance(centred, str) and centred in ("all", "auto"):
        return tuple(names) if centred == "all" else "auto"
    if (isinstance(centred, str) or not isinstance(centred, Sequence | np.ndarray)
            or not all(isinstance(n, str) for n in centred)):
        raise ValueError(f"centred must be None, 'all', 'auto' or a list of parameter names (of {names}), "
                         f"got {describe(centred)}")
    chosen = list(centred)
    for name in chosen:
        if name not in names:
            raise ValueError(f"centred: the model has no parameter {name!r}{_did_you_mean([name], names)}; "
                             f"its parameters are {names}")
    if len(set(chosen)) < len(chosen):
        raise ValueError(f"centred: a parameter is named twice in {chosen}")
    return tuple(n for n in names if n in chosen)


def torch_log_likelihood(model: CognitiveModel, params: dict[str, Any], data: TrialArrays,
                         lanes: np.ndarray) -> Any:
    """Return the ``(lanes,)`` torch log-likelihood of each lane's subject, differentiable.

    Parameters
    ----------
    model : CognitiveModel
        The model (its one definition, run on torch).
    params : dict of str to torch.Tensor
        ``(lanes,)`` float64 natural-scale parameters.
    data : TrialArrays
        The padded trials.
    lanes : numpy.ndarray
        ``(lanes,)`` subject index of each lane.

    Returns
    -------
    loglik : torch.Tensor
        ``(lanes,)`` summed log-probabilities of each lane's choices.
    """
    return log_likelihood(model, params, data, lanes)


def centred_from_text(text: str | None) -> str | list[str] | None:
    """Return the ``centred=`` value a command line's ``--centred`` text stands for.

    ``None``, ``""`` or ``"none"``: None (every parameter non-centred); ``"all"`` and ``"auto"``
    as they are; otherwise the comma-separated parameter names (checked by the estimator).
    """
    if not text or text == "none":
        return None
    if text in ("all", "auto"):
        return text
    return [name.strip() for name in text.split(",") if name.strip()]


_CENTRE_RATIO = float(np.sqrt(2.0))
"""``centred="auto"`` centres subject i's parameter j when ``_CENTRE_RATIO * s_ij < group_sd_low_j``.

Above 1 (where Papaspiliopoulos et al.'s two Gibbs rates are equal) because the two mistakes do not
cost the same: a subject centred when it should not be puts the sampler in a funnel (divergences,
biased draws), one left non-centred only mixes more slowly. The group SD's own uncertainty is in
``group_sd_low``, the lower end of its interval."""


def _reml_group_sd(z: np.ndarray, var: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
    r"""Return the REML estimate of :math:`\sigma` in :math:`z_i \sim \mathcal N(x_i^\top b, \sigma^2 + v_i)`, its lower bound and the residuals' robust SD.

    Maximises the restricted log-likelihood :math:`\ell_R(\sigma) = -\tfrac12 [\sum_i \log(\sigma^2 +
    v_i) + \log |X^\top W X| + \sum_i w_i (z_i - x_i^\top \hat b)^2]`, :math:`w_i = 1 / (\sigma^2 +
    v_i)` and :math:`\hat b` its weighted least squares (Harville 1977), over :math:`\sigma \in [0,
    3 s]`, :math:`s` the residuals' robust SD (1.4826 × their median absolute deviation). The lower
    bound is the profile-likelihood one of a 95 % interval, :math:`\ell_R(\sigma_{lo}) =
    \ell_R(\hat\sigma) - 1.92` (0 when :math:`\ell_R(0)` is within 1.92): with few subjects it
    stays far below :math:`\hat\sigma`. Rows with an infinite :math:`v_i` carry no information and
    are left out, and so are all-zero columns of ``x`` (another parameter's regressors). Returns
    ``(0, 0, nan)`` when fewer identified rows than coefficients + 2 remain.
    """
    keep = np.isfinite(var) & np.isfinite(z)
    z, var, x = z[keep], var[keep], x[keep]
    x = x[:, np.any(x != 0, axis=0)]
    if z.size < x.shape[1] + 2:
        return 0.0, 0.0, float("nan")
    residual = z - x @ np.linalg.lstsq(x, z, rcond=None)[0]
    spread = float(1.4826 * np.median(np.abs(residual - np.median(residual))))

    def restricted(sd: float) -> float:  # minus the restricted log-likelihood
        w = 1.0 / (sd**2 + var)
        xtwx = x.T @ (w[:, None] * x)
        b = np.linalg.solve(xtwx, x.T @ (w * z))
        r = z - x @ b
        return 0.5 * (np.sum(np.log(sd**2 + var)) + np.linalg.slogdet(xtwx)[1] + np.sum(w * r**2))

    upper = max(3.0 * spread, 1e-6)
    best = optimize.minimize_scalar(restricted, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-4 * upper})
    sd = float(best.x) if restricted(best.x) < restricted(0.0) else 0.0
    drop = restricted(sd) + 0.5 * 3.841
    low = 0.0 if restricted(0.0) <= drop else float(optimize.brentq(lambda t: restricted(t) - drop, 0.0, sd))
    return sd, low, spread


class _PriorModes(SubjectFit):
    r"""Each subject's mode under independent :math:`\mathcal N(loc_j, scale^2)` priors on the unconstrained parameters."""

    def __init__(self, model: CognitiveModel, *, loc: np.ndarray, scale: float, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self._loc, self._scale = loc, scale

    def _log_prior_z(self, z: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        return -0.5 * np.sum(((z - self._loc) / self._scale) ** 2, axis=1)

    def modes(self, data: TrialArrays) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``(subjects, k)`` modes, found from ``loc``, and their Laplace variances (NaN: not identified)."""
        lanes = np.arange(data.n_subjects)
        with np.errstate(all="ignore"):
            res = self._minimize(data, lanes, np.tile(self._loc, (data.n_subjects, 1)))
            return res.x, laplace_variances(self._hessians(data, res.x))


class HierarchicalBayes(SubjectFit):
    r"""Shared machinery of the hierarchical Bayesian estimators (see the module docstring).

    Parameters
    ----------
    model : CognitiveModel
        The model to fit.
    n_draws : int, default 1000
        Posterior draws kept per chain.
    mean_prior_sd : float, default 1.5
        ``s_mu``: the SD of each group mean's normal prior in the unconstrained space, centred on
        the parameter's default.
    scale_prior_sd : float, default 1.0
        ``s_sigma``: the scale of each group SD's half-normal prior.
    pointwise : {"subject", "trial"}, default "subject"
        The log-likelihood kept for LOO and WAIC: one term per subject (hBayesDM's ``log_lik``:
        leave one subject's choices out, given its parameters' posterior) or one per answered
        trial (leave one trial out; memory grows as chains × draws × trials).
    covariates : pandas.DataFrame or path, optional
        The subject table for group-level regressors (as :class:`~cogmodels.fits.HierarchicalEM`
        takes it): one row per subject, a ``subject`` column and the covariates. Needs
        ``regressors``.
    regressors : mapping of str to list of str, optional
        Parameter -> covariates entering its group mean, e.g. ``{"alpha": ["group"]}``: subject
        ``i``'s prior mean is ``mu + B x_i`` in the unconstrained space, with the covariates coded
        as in :mod:`cogmodels.fits.covariates` (numeric centred, categorical dummy-coded).
    reference : mapping, optional
        Categorical covariate -> its reference level.
    coef_prior_sd : float, default 1.0
        The SD of each regression coefficient's normal prior (centred on 0).
    centred : sequence of str, "all", "auto" or None, default "auto"
        Parameters whose subject values are sampled **centred**, :math:`z_{ij} \sim
        \mathcal N(\mu_j + B_j x_i, \sigma_j^2)` directly, instead of non-centred through
        :math:`\tilde z_{ij}` (``None``: every parameter non-centred). The two are
        the same model and posterior but not the same geometry (Papaspiliopoulos, Roberts & Sköld
        2007; Betancourt & Girolami 2015; Stan User's Guide, "Reparameterization"): with few
        trials per subject the data leave each :math:`z_{ij}` loose, :math:`\sigma_j` sets its
        scale and the centred form has a funnel the sampler cannot enter, so keep those
        non-centred; with many trials per subject (hundreds, e.g. reaction-time data) the data pin
        each :math:`z_{ij}`, and in non-centred coordinates :math:`\mu_j` can then move only
        with every :math:`\tilde z_{ij}` at once, so the chains crawl (R̂ far above 1.01, a
        handful of effective draws of the group means): centre those. ``"all"`` centres every
        parameter; ``"auto"`` (the default) chooses per subject and parameter: centred where the
        subject's own uncertainty is below the group's spread, judged from each subject's mode
        before sampling (:meth:`_auto_centring`, a fraction of a second; the choice in
        ``centred_subjects_``, its numbers in ``centring_``). NUTS, ChEES and VI all sample the
        chosen parameterisation.
    gradient : {"forward_difference", "finite_difference", "autograd", "compiled"}, default "forward_difference"
        How the likelihood's gradient is computed (:class:`~cogmodels.fits.autodiff.LaneLogLikelihood`):
        NumPy forward differences (``k + 1`` points) or central differences (``2k + 1``
        points) in one batched call (forward: 1.5× cheaper than central, which is 4× cheaper
        than autograd at 100 subjects × 200 trials; HMC stays exact with either, and VI's
        stochastic gradient is far noisier than their error), the model's torch path with
        autograd (exact, in Pyro's graph), or that path traced once and compiled by
        ``torch.compile``. All run the model's one definition.
    **kwargs
        ``seed``, ``min_trials``, ``n_starts`` (unused: the chains start at random points, one
        per chain): see :class:`SubjectFit`.

    Attributes
    ----------
    centred : tuple of str or "auto"
        The centred parameters, in the model's order (empty: all non-centred), or ``"auto"``.
    centred_ : tuple of str
        The parameters sampled centred for at least one subject (``centred``, or the ones
        ``"auto"`` chose).
    centring_ : pandas.DataFrame
        With ``centred="auto"``: per parameter, the subjects' estimates' robust ``spread``, their
        median likelihood SD ``laplace_sd``, the group SD they imply ``group_sd`` and its 95 %
        lower bound ``group_sd_low`` (unconstrained), and ``n_centred``, the subjects sampled
        centred.
    centred_subjects_ : pandas.DataFrame
        Subjects × parameters, True where sampled centred (with a list of names or ``None``, the
        same for every subject).
    inference_data_ : arviz.InferenceData
        ``posterior`` (``mu``, ``sigma``: group means and SDs, unconstrained; ``group``: the group
        means on the natural scale, hBayesDM's ``mu_<name>``; ``params``: every subject's
        parameters, natural scale), ``log_likelihood`` (``choice``) and, for NUTS,
        ``sample_stats`` (``diverging``).
    params_, se_ : pandas.DataFrame
        Posterior mean and SD of each subject's parameters (natural scale).
    loglik_, aic_, bic_ : pandas.Series
        At the posterior means, for tables shared with the other estimators.
    converged_ : pandas.Series
        Whether every R̂ of the subject's parameters is at most 1.01.
    group_mean_, group_var_ : pandas.Series
        Posterior means of ``mu`` and of ``sigma²`` (unconstrained).
    group_cov_ : pandas.DataFrame
        ``diag(group_var_)``.
    group_params_ : pandas.Series
        Posterior mean of the group means on the natural scale.
    coefficients_ : pandas.DataFrame
        With regressors: one row per coefficient (``parameter, covariate, estimate, se, ci_low,
        ci_high, prob_positive``: posterior mean, SD, 95 % equal-tailed interval and the posterior
        probability that it is positive; unconstrained space).
    summary_ : pandas.DataFrame
        ArviZ's summary (mean, SD, 94 % HDI, MCSE, ``ess_bulk``, ``ess_tail``, ``r_hat``) of every
        group and subject variable.
    n_divergent_ : int
        Divergent transitions after warm-up (0 for VI).
    r_hat_max_, ess_bulk_min_, ess_tail_min_ : float
        The worst diagnostics over every variable.
    sampling_time_s_ : float
        Wall time of the sampler or optimiser.
    n_gradients_ : int
        Gradient evaluations of the log density.
    """

    method = "bayes"
    #: whether the draws come from Markov chains (R̂ and ESS then diagnose them; a variational
    #: guide's draws are independent)
    markov_chains = True

    def __init__(
        self,
        model: CognitiveModel,
        *,
        n_draws: int = 1000,
        mean_prior_sd: float = 1.5,
        scale_prior_sd: float = 1.0,
        pointwise: str = "subject",
        covariates: pd.DataFrame | str | os.PathLike | None = None,
        regressors: Mapping[str, Sequence[str]] | None = None,
        reference: Mapping[str, Any] | None = None,
        coef_prior_sd: float = 1.0,
        centred: str | Sequence[str] | None = "auto",
        gradient: str = "forward_difference",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("n_starts", 1)
        super().__init__(model, **kwargs)
        self._covariates_table = check_covariate_arguments(covariates, regressors, reference, model.param_names)
        self.covariates, self.regressors, self.reference = covariates, regressors, reference
        self.coef_prior_sd = check_number("coef_prior_sd", coef_prior_sd, 0.0, low_open=True)
        self.n_draws = check_int("n_draws", n_draws, minimum=1)
        self.mean_prior_sd = check_number("mean_prior_sd", mean_prior_sd, 0.0, low_open=True)
        self.scale_prior_sd = check_number("scale_prior_sd", scale_prior_sd, 0.0, low_open=True)
        self.pointwise = check_choice("pointwise", pointwise, _POINTWISE)
        self.gradient = check_choice("gradient", gradient, GRADIENT_BACKENDS)
        self.centred = _check_centred(centred, model.param_names)
        self._centre(() if self.centred == "auto" else self.centred)

    def _centre(self, names: Sequence[str] | np.ndarray) -> None:
        """Sample ``names`` centred from now on, or the ``(subjects, k)`` entries of a boolean mask (``centred_``)."""
        if isinstance(names, np.ndarray) and names.dtype == bool:
            mask = names
        else:
            mask = np.array([name in names for name in self.model.param_names], dtype=bool)
        #: (k,) or (subjects, k): which entries of the subject block hold z itself (centred) rather than z~
        self._centred_mask = mask
        columns = mask.reshape(-1, self.model.n_params).any(axis=0)
        self.centred_ = tuple(n for n, c in zip(self.model.param_names, columns, strict=True) if c)

    def _auto_centring(self, data: TrialArrays) -> tuple[pd.DataFrame, np.ndarray]:
        r"""Return, per subject and parameter, whether the data pin it enough to sample it centred (``centred="auto"``).

        Each subject's mode and Laplace variance under a :math:`\mathcal N(m_j, s_\mu^2)` prior on
        the unconstrained scale (one start from the parameter's interior, finite-difference
        Hessian), turned into the Gaussian approximation of the subject's likelihood alone,
        :math:`s_{ij}^{-2} = v_{ij}^{-1} - s_\mu^{-2}` and :math:`\hat z_{ij} = s_{ij}^2 (\hat m_{ij}
        / v_{ij} - m_j / s_\mu^2)` (a subject whose data add no precision counts :math:`s_{ij} =
        \infty`). Then :math:`\hat z_{ij} \sim \mathcal N(\mu_j + B_j x_i, \sigma_j^2 + s_{ij}^2)`,
        the normal–normal (random-effects meta-analysis) model, and :math:`\hat\sigma_j` is its
        restricted maximum-likelihood estimate (REML; Harville 1977; Viechtbauer 2005), which
        weights each subject by :math:`1 / (\sigma_j^2 + s_{ij}^2)`: with uneven data the spread
        of the well-measured subjects sets it and the barely measured ones do not hide it.
        Centred sampling of :math:`z_{ij}` mixes faster than non-centred when :math:`\sigma_j^2`
        exceeds :math:`s_{ij}^2` (the subject's data pin it more than the group does;
        Papaspiliopoulos, Roberts & Sköld 2007, whose Gibbs rates are :math:`s^2 / (s^2 +
        \sigma^2)` centred and :math:`\sigma^2 / (s^2 + \sigma^2)` non-centred), and the choice is
        made **per subject and parameter** (their partially non-centred parameterisations;
        Gorinova, Moore & Hoffman 2020): subject :math:`i`'s parameter :math:`j` is centred when
        :math:`\sqrt 2\, s_{ij} < \sigma_{j,lo}` (the margin: ``_CENTRE_RATIO``), the lower end
        of :math:`\sigma_j`'s 95 % profile-likelihood interval (with few subjects the group SD is
        poorly known, and centring a subject under a group SD that may be small is a funnel), so
        the well-informed subjects are centred and the barely informed ones, which a centred form
        would put in a funnel, are not.

        Returns
        -------
        table : pandas.DataFrame
            Indexed by parameter: ``spread`` (1.4826 × the median absolute deviation of the
            identified subjects' :math:`\hat z_{ij}` around their least-squares fit: the
            intercept, and the group regressors where there are regressors),
            ``laplace_sd`` (the median :math:`s_{ij}`), ``group_sd`` (:math:`\hat\sigma_j`) and
            ``group_sd_low`` (:math:`\sigma_{j,lo}`), unconstrained, and ``n_centred``, the
            subjects whose parameter is sampled centred.
        mask : numpy.ndarray
            ``(subjects, k)``: which subject parameters are centred.
        """
        specs, k = self.model.param_specs, self.model.n_params
        loc = np.array([interior_start(s) for s in specs])
        pre = _PriorModes(self.model, loc=loc, scale=self.mean_prior_sd, max_iter=self.max_iter, gtol=self.gtol)
        mode, post_var = pre.modes(data)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = 1.0 / post_var - 1.0 / self.mean_prior_sd**2
            var = np.where(np.isfinite(precision) & (precision > 1e-12), 1.0 / precision, np.inf)
            z = np.where(np.isfinite(var), var * (mode / post_var - loc / self.mean_prior_sd**2), np.nan)
        design = self._design_for(data)
        spread, group_sd, group_sd_low = np.full(k, np.nan), np.zeros(k), np.zeros(k)
        for j in range(k):
            x = np.ones((z.shape[0], 1)) if design is None else np.column_stack(
                [np.ones(z.shape[0]), design.weights[:, j, k:]])
            group_sd[j], group_sd_low[j], spread[j] = _reml_group_sd(z[:, j], var[:, j], x)
        mask = var * _CENTRE_RATIO**2 < group_sd_low**2
        table = pd.DataFrame({"spread": spread, "laplace_sd": np.sqrt(np.median(var, axis=0)), "group_sd": group_sd,
                              "group_sd_low": group_sd_low, "n_centred": mask.sum(axis=0)},
                             index=pd.Index(self.model.param_names, name="parameter"))
        return table, mask

    def sample_prior(self, n_subjects: int, seed: Any = None) -> dict[str, Any]:
        r"""Draw a group and its subjects from the prior: the generative model the fits invert.

        :math:`\mu_j \sim \mathcal N(m_j, s_\mu^2)`, :math:`\sigma_j \sim \mathcal N^+(0, s_\sigma^2)`,
        :math:`z_{ij} = \mu_j + \sigma_j \tilde z_{ij}` with :math:`\tilde z_{ij} \sim \mathcal N(0, 1)`
        (see the module docstring); used by simulation-based calibration
        (:func:`cogmodels.fits.sbc.simulation_based_calibration`). The same draw for any
        ``centred``: centring changes the sampler's coordinates, not the model.

        Parameters
        ----------
        n_subjects : int
            Subjects to draw.
        seed : int or numpy.random.Generator, optional
            The draws' seed.

        Returns
        -------
        draw : dict
            ``mu``, ``sigma`` ``(k,)`` (unconstrained), ``z`` ``(n_subjects, k)`` and ``params``
            (parameter name -> ``(n_subjects,)`` natural-scale values).
        """
        if self.regressors is not None:
            raise ValueError("sample_prior draws a group without covariates: fit without regressors= to use it")
        n_subjects = check_int("n_subjects", n_subjects, minimum=1)
        rng = as_generator(seed)
        specs = self.model.param_specs
        mu = rng.normal([interior_start(s) for s in specs], self.mean_prior_sd)
        sigma = np.abs(rng.normal(0.0, self.scale_prior_sd, len(specs)))
        z = mu + sigma * rng.standard_normal((n_subjects, len(specs)))
        return {"mu": mu, "sigma": sigma, "z": z, "params": unpack(specs, z)}

    # -- the joint density ----------------------------------------------------------------------
    def _group_prior(self, data: TrialArrays, n_chains: int) -> dict[str, Any]:
        """Return the prior distributions of ``n_chains`` copies: ``mu``, ``sigma``, ``z_raw`` (and ``coef``).

        ``z_raw`` is the standard normal of the non-centred subject block; with centred
        parameters :meth:`_pyro_model` draws the block from :meth:`_subject_block_prior` instead.
        """
        torch, _, _ = require_bayes()
        import pyro.distributions as dist

        specs, k, n_sub = self.model.param_specs, self.model.n_params, data.n_subjects
        loc = torch.tensor([interior_start(s) for s in specs], dtype=torch.float64).expand(n_chains, k)
        prior = {
            "mu": dist.Normal(loc, torch.full((n_chains, k), self.mean_prior_sd, dtype=torch.float64)).to_event(2),
            "sigma": dist.HalfNormal(torch.full((n_chains, k), self.scale_prior_sd, dtype=torch.float64)).to_event(2),
            "z_raw": dist.Normal(torch.zeros((n_chains, n_sub, k), dtype=torch.float64), 1.0).to_event(3),
        }
        design = self._design_for(data)
        if design is not None:
            coef_sd = torch.full((n_chains, design.n_coefficients), self.coef_prior_sd, dtype=torch.float64)
            prior["coef"] = dist.Normal(torch.zeros_like(coef_sd), coef_sd).to_event(2)
        return prior

    def _torch_group_mean(self, data: TrialArrays) -> Callable[..., Any]:
        """Return ``f(mu, coef) -> (chains, subjects or 1, k)``: each subject's group mean ``mu + B x`` (torch)."""
        torch, _, _ = require_bayes()
        design = self._design_for(data)
        k = self.model.n_params
        weights = None if design is None else torch.tensor(design.weights[:, :, k:], dtype=torch.float64)

        def group_mean(mu: Any, coef: Any = None) -> Any:
            mean = mu[:, None, :]
            if weights is not None:
                mean = mean + torch.einsum("skm,cm->csk", weights, coef)
            return mean

        return group_mean

    def _subject_block_prior(self, data: TrialArrays, n_chains: int) -> Callable[..., Any]:
        r"""Return ``f(mu, sigma, coef)``: the prior of the subject block with centred parameters.

        A centred column holds :math:`z_{ij} \sim \mathcal N(\mu_j + (B x_i)_j, \sigma_j^2)`, a
        non-centred one :math:`\tilde z_{ij} \sim \mathcal N(0, 1)`: one normal of
        ``(chains, subjects, k)`` with those locations and scales.
        """
        torch, _, _ = require_bayes()
        import pyro.distributions as dist

        shape = (n_chains, data.n_subjects, self.model.n_params)
        centred = torch.tensor(self._centred_mask)
        group_mean = self._torch_group_mean(data)

        def block_prior(mu: Any, sigma: Any, coef: Any = None) -> Any:
            loc = torch.where(centred, group_mean(mu, coef), 0.0).expand(shape)
            scale = torch.where(centred, sigma[:, None, :], 1.0).expand(shape)
            return dist.Normal(loc, scale).to_event(3)

        return block_prior

    def _subject_loglik(self, data: TrialArrays, n_chains: int, counter: list[int]) -> Callable[..., Any]:
        """Return ``f(mu, sigma, raw, coef) -> (chains,)``: the log-likelihood of every chain's subjects.

        ``z = mu + B x + sigma * raw`` (non-centred) or ``z = raw`` (the centred columns), scored
        by the model's likelihood over chains × subjects lanes in one call
        (:class:`~cogmodels.fits.autodiff.LaneLogLikelihood`, gradient by ``self.gradient``).
        """
        torch, _, _ = require_bayes()
        specs, k, n_sub = self.model.param_specs, self.model.n_params, data.n_subjects
        lane_loglik = LaneLogLikelihood(self.model, data, np.tile(np.arange(n_sub), n_chains), self.gradient)
        group_mean = self._torch_group_mean(data)
        centred = torch.tensor(self._centred_mask) if self._centred_mask.any() else None

        def loglik(mu: Any, sigma: Any, raw: Any, coef: Any = None) -> Any:
            z = group_mean(mu, coef) + sigma[:, None, :] * raw
            if centred is not None:
                z = torch.where(centred, raw, z)
            z = z.reshape(n_chains * n_sub, k)
            counter[0] += int(torch.is_grad_enabled())
            if self.gradient == "autograd":  # the model's code in the graph itself
                params = {s.name: s.from_unconstrained(z[:, j]) for j, s in enumerate(specs)}
                ll = torch_log_likelihood(self.model, params, data, lane_loglik.lanes)
            else:
                ll = lane_loglik.torch_function(z)
            return ll.reshape(n_chains, n_sub).sum(dim=1)

        return loglik

    def _log_density(self, data: TrialArrays, counter: list[int],
                     n_chains: int | None = None) -> tuple[Callable[..., Any], list[tuple[str, tuple]]]:
        r"""Return the log joint density of ``n_chains`` (default: every chain of NUTS) copies over flat unconstrained vectors, and their layout.

        The flat vector of a chain holds ``mu``, ``log sigma`` (the log-Jacobian
        :math:`\log\sigma` added), the subject block ``z_raw`` and ``coef``; the density is the
        one the Pyro model samples (the same prior distributions and likelihood), written in NumPy
        with its gradient by the chain rule. A non-centred column of the subject block holds
        :math:`\tilde z_{ij}`, with :math:`z_{ij} = m_{ij} + \sigma_j \tilde z_{ij}` and
        :math:`m_{ij} = \mu_j + (B x_i)_j`:

        .. math::

            \partial_{\mu_j} = \sum_i g_{ij} - (\mu_j - m_j) / s_\mu^2, \qquad
            \partial_{\log\sigma_j} = \sigma_j \sum_i g_{ij} \tilde z_{ij} - \sigma_j^2 / s_\sigma^2 + 1,

        :math:`\partial_{\tilde z_{ij}} = \sigma_j g_{ij} - \tilde z_{ij}` and
        :math:`\partial_{B} = \sum_i g_i x_i^\top - B / s_B^2`, with :math:`g_{ij}` the likelihood's
        gradient w.r.t. :math:`z_{ij}` (:class:`~cogmodels.fits.autodiff.LaneLogLikelihood`, by
        ``gradient``). A centred column (``centred``) holds :math:`z_{ij}` itself, with the prior
        term :math:`-\tfrac12 r_{ij}^2 - \log\sigma_j - \tfrac12\log 2\pi`,
        :math:`r_{ij} = (z_{ij} - m_{ij}) / \sigma_j`: there :math:`g_{ij}` is replaced by
        :math:`r_{ij} / \sigma_j` in :math:`\partial_{\mu_j}` and :math:`\partial_B`,
        :math:`\partial_{\log\sigma_j} = \sum_i (r_{ij}^2 - 1) - \sigma_j^2 / s_\sigma^2 + 1` and
        :math:`\partial_{z_{ij}} = g_{ij} - r_{ij} / \sigma_j`. No autograd graph is built: the
        prior costs a few array operations.
        """
        n = getattr(self, "n_chains", 1) if n_chains is None else n_chains
        specs, k, n_sub = self.model.param_specs, self.model.n_params, data.n_subjects
        layout = self._log_density_layout(data)
        lane_loglik = LaneLogLikelihood(self.model, data, np.tile(np.arange(n_sub), n), self.gradient)
        design = self._design_for(data)
        weights = None if design is None else design.weights[:, :, k:]  # (subjects, k, coefficients)
        loc = np.array([interior_start(s) for s in specs])
        s_mu, s_sigma, s_coef = self.mean_prior_sd, self.scale_prior_sd, self.coef_prior_sd
        centred = self._centred_mask if self._centred_mask.any() else None
        n_centred = None if centred is None else np.broadcast_to(centred, (n_sub, k)).sum(axis=0)  # per parameter
        half_log_2pi = 0.5 * np.log(2 * np.pi)
        # the normalising constants of the priors (Pyro's log_prob keeps them)
        constant = (-k * (np.log(s_mu) + half_log_2pi) + k * (np.log(2.0) - np.log(s_sigma) - half_log_2pi)
                    - n_sub * k * half_log_2pi)
        if weights is not None:
            constant -= weights.shape[2] * (np.log(s_coef) + half_log_2pi)
        ends = np.cumsum([int(np.prod(shape)) for _, shape in layout])[:-1]

        def log_density(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            parts = np.split(np.asarray(x, dtype=np.float64), ends, axis=1)
            mu, log_sigma, raw = parts[0], parts[1], parts[2].reshape(n, n_sub, k)
            coef = parts[3] if weights is not None else None
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                sigma = np.exp(log_sigma)
                mean = mu[:, None, :]
                if coef is not None:
                    mean = mean + np.einsum("skm,cm->csk", weights, coef)
                z = mean + sigma[:, None, :] * raw
                if centred is not None:
                    z = np.where(centred, raw, z)
                # a diverging trajectory reaches non-finite positions, or unconstrained parameters
                # beyond ±700 whose exp overflows: such a chain's density is -inf (the proposal is
                # rejected), its gradient 0, and the likelihood, which refuses parameters outside
                # their bounds, sees a finite stand-in (the cut-off is ~700 prior SDs out)
                lost = ~((np.abs(z) <= 700.0).all(axis=(1, 2)) & np.isfinite(x).all(axis=1))
                if lost.any():
                    z = np.where(lost[:, None, None], loc, z)
                counter[0] += 1
                ll, g = lane_loglik(z.reshape(n * n_sub, k))
                g = g.reshape(n, n_sub, k)
                standard = raw if centred is None else np.where(centred, 0.0, raw)  # the N(0, 1) entries
                value = (ll.reshape(n, n_sub).sum(axis=1) + constant + log_sigma.sum(axis=1)
                         - 0.5 * np.sum(((mu - loc) / s_mu) ** 2, axis=1) - 0.5 * np.sum((sigma / s_sigma) ** 2, axis=1)
                         - 0.5 * np.sum(standard.reshape(n, -1) ** 2, axis=1))
                if centred is None:
                    to_mean = g  # d log p / d m_ij: through the likelihood
                    grads = [g.sum(axis=1) - (mu - loc) / s_mu**2,
                             sigma * np.sum(g * raw, axis=1) - (sigma / s_sigma) ** 2 + 1.0,
                             (sigma[:, None, :] * g - raw).reshape(n, -1)]
                else:
                    r = np.where(centred, (raw - mean) / sigma[:, None, :], 0.0)  # (z - m) / sigma
                    value = (value - 0.5 * np.sum(r.reshape(n, -1) ** 2, axis=1)
                             - np.sum(n_centred * log_sigma, axis=1))
                    pull = r / sigma[:, None, :]  # (z - m) / sigma^2: the prior's pull on m of a centred z
                    to_mean = np.where(centred, pull, g)
                    grads = [to_mean.sum(axis=1) - (mu - loc) / s_mu**2,
                             np.sum(np.where(centred, r**2 - 1.0, sigma[:, None, :] * g * raw), axis=1)
                             - (sigma / s_sigma) ** 2 + 1.0,
                             np.where(centred, g - pull, sigma[:, None, :] * g - raw).reshape(n, -1)]
                    lost = lost | ~np.isfinite(value)  # a centred column's sigma underflowed or overflowed
                if coef is not None:
                    value = value - 0.5 * np.sum((coef / s_coef) ** 2, axis=1)
                    grads.append(np.einsum("skm,csk->cm", weights, to_mean) - coef / s_coef**2)
            grad = np.concatenate(grads, axis=1)
            if lost.any():
                value, grad = np.where(lost, -np.inf, value), np.where(lost[:, None], 0.0, grad)
            return np.where(np.isfinite(value), value, -np.inf), grad

        return log_density, layout

    def _log_density_layout(self, data: TrialArrays) -> list[tuple[str, tuple]]:
        """Return the ``(name, shape)`` blocks of one chain's flat vector (``mu``, ``sigma``, ``z_raw``, ``coef``)."""
        k, n_sub = self.model.n_params, data.n_subjects
        layout: list[tuple[str, tuple]] = [("mu", (k,)), ("sigma", (k,)), ("z_raw", (n_sub, k))]
        design = self._design_for(data)
        if design is not None:
            layout.append(("coef", (design.n_coefficients,)))
        return layout  # the shapes of _group_prior's blocks, without importing Pyro

    def _pyro_model(self, data: TrialArrays, n_chains: int, counter: list[int]) -> Callable[[], None]:
        """Return the Pyro model of ``n_chains`` independent copies of the hierarchical model."""
        _, pyro, _ = require_bayes()
        prior = self._group_prior(data, n_chains)
        loglik = self._subject_loglik(data, n_chains, counter)
        block_prior = self._subject_block_prior(data, n_chains) if self._centred_mask.any() else None

        def joint() -> None:
            if block_prior is None:  # all non-centred: the sites in their original order
                draws = {name: pyro.sample(name, d) for name, d in prior.items()}
            else:  # the subject block's prior needs the group's values: sampled last
                draws = {name: pyro.sample(name, d) for name, d in prior.items() if name != "z_raw"}
                draws["z_raw"] = pyro.sample("z_raw", block_prior(draws["mu"], draws["sigma"], draws.get("coef")))
            pyro.factor("loglik", loglik(draws["mu"], draws["sigma"], draws["z_raw"], draws.get("coef")).sum())

        return joint

    def _design_for(self, data: TrialArrays) -> GroupDesign | None:
        """Return the group design ``W_s`` of the fitted subjects, or None without regressors."""
        if self.regressors is None:
            return None
        return group_design(self._covariates_table, self.regressors, list(self.model.param_names),
                            data.subjects, self.reference)

    def _draws(self, data: TrialArrays, samples: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Unconstrained draws ``(chains, draws, ...)``: ``mu``, ``sigma``, ``coef`` and each subject's ``z``.

        ``samples`` holds the sampled blocks (``z_raw``: standardised effects, or ``z`` itself in
        the centred columns).
        """
        mu, sigma, raw = samples["mu"], samples["sigma"], samples["z_raw"]
        mean = mu[:, :, None, :]
        out = {"mu": mu, "sigma": sigma}
        design = self._design_for(data)
        if design is not None:
            k = self.model.n_params
            out["coef"] = samples["coef"]
            mean = mean + np.einsum("skm,cdm->cdsk", design.weights[:, :, k:], samples["coef"])
        z = mean + sigma[:, :, None, :] * raw
        out["z"] = np.where(self._centred_mask, raw, z) if self._centred_mask.any() else z
        return out

    def _start_offsets(self, data: TrialArrays) -> np.ndarray:
        """Return the flat ``(size,)`` centre of the chains' starts: each ``mu`` and each centred ``z`` at its prior mean.

        The prior mean is the parameter's interior start (:func:`~cogmodels.fits.mle.interior_start`);
        ``log sigma``, the standardised effects and the coefficients are centred on 0.
        """
        layout = self._log_density_layout(data)
        k, n_sub = self.model.n_params, data.n_subjects
        loc = np.array([interior_start(s) for s in self.model.param_specs])
        offsets = np.zeros(sum(int(np.prod(shape)) for _, shape in layout))
        offsets[:k] = loc
        offsets[2 * k:2 * k + n_sub * k] = np.broadcast_to(np.where(self._centred_mask, loc, 0.0), (n_sub, k)).ravel()
        return offsets

    def _chain_seeds(self, n: int) -> list[int]:
        return [int_seed(s) for s in seed_sequence(self.seed).spawn(n)]

    def _sample(self, data: TrialArrays, progress: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Return the unconstrained draws and the sample statistics (each subclass samples its way).

        The draws (:meth:`_draws`) are ``mu``, ``sigma`` ``(chains, draws, k)``, ``coef`` with
        regressors and ``z`` ``(chains, draws, subjects, k)``; the statistics ``diverging``
        ``(chains, draws)`` where the sampler has it.
        """
        raise NotImplementedError

    # -- fitting --------------------------------------------------------------------------------
    def _run(self, data: TrialArrays, progress: bool = False) -> None:
        import torch  # a core dependency; Pyro is imported only by the samplers that use it

        az = require_arviz()
        threads = torch.get_num_threads()
        if os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))
        if self.centred == "auto":
            self.centring_, mask = self._auto_centring(data)
            self._centre(mask)
        else:  # every subject alike
            mask = np.broadcast_to(self._centred_mask, (len(data.subjects), self.model.n_params)).copy()
        self.centred_subjects_ = pd.DataFrame(mask, index=pd.Index(data.subjects, name="subject"),
                                              columns=list(self.model.param_names))
        t0 = time.perf_counter()
        try:
            draws, stats = self._sample(data, progress)
        finally:
            torch.set_num_threads(threads)
        self.sampling_time_s_ = time.perf_counter() - t0
        self._summarise(data, draws, stats, az)

    def _summarise(self, data: TrialArrays, draws: dict[str, np.ndarray], stats: dict[str, np.ndarray],
                   az: Any) -> None:
        specs, names = self.model.param_specs, list(self.model.param_names)
        mu, sigma, z = draws["mu"], draws["sigma"], draws["z"]
        n_chains, n_draws, n_sub, k = z.shape
        subjects = pd.Index(data.subjects, name="subject")
        natural = unpack(specs, z.reshape(-1, k))
        params = np.stack([natural[n] for n in names], axis=-1).reshape(z.shape)
        group = np.stack(list(unpack(specs, mu.reshape(-1, k)).values()), axis=-1).reshape(mu.shape)
        loglik = self._pointwise_loglik(data, params.reshape(-1, k))
        coords = {"parameter": names, "subject": subjects.to_numpy()}
        dims = {"mu": ["parameter"], "sigma": ["parameter"], "group": ["parameter"],
                "params": ["subject", "parameter"], "choice": ["subject"]}
        if self.pointwise == "trial":
            keep = data.valid.all(axis=0).T  # (S, T): the answered trials
            loglik = loglik.reshape(n_chains * n_draws, n_sub, -1)[:, keep]
            coords["trial"] = data.row_index.T[keep]
            dims["choice"] = ["trial"]
        loglik = loglik.reshape(n_chains, n_draws, -1)
        posterior = {"mu": mu, "sigma": sigma, "group": group, "params": params}
        design = self._design_for(data)
        if design is not None:
            k_ = self.model.n_params
            posterior["coef"] = draws["coef"]
            coords["coefficient"] = [f"{p}:{t}" for p, t in design.names[k_:]]
            dims["coef"] = ["coefficient"]
        self.inference_data_ = az.from_dict(
            posterior=posterior,
            log_likelihood={"choice": loglik},
            sample_stats=stats or None,
            coords=coords,
            dims=dims,
            posterior_attrs={"model": self.model.name, "method": self.method, "mean_prior_sd": self.mean_prior_sd,
                   "scale_prior_sd": self.scale_prior_sd, "pointwise": self.pointwise,
                   "centred": ",".join(self.centred_), "seed": str(self.seed)},
        )
        variables = ["mu", "sigma", "group", "params", *(["coef"] if design is not None else [])]
        if self.markov_chains:
            self.summary_ = az.summary(self.inference_data_, var_names=variables, round_to="none")
        else:  # independent draws of a guide: no chains to diagnose
            self.summary_ = az.summary(self.inference_data_, var_names=variables, kind="stats", round_to="none")
            self.summary_[["ess_bulk", "ess_tail", "r_hat"]] = np.nan
        self._set_tables(data, params, mu, sigma, group, subjects)
        if design is not None:
            coef = draws["coef"].reshape(-1, draws["coef"].shape[-1])
            k_ = self.model.n_params
            self.coefficients_ = pd.DataFrame({
                "parameter": [p for p, _ in design.names[k_:]],
                "covariate": [t for _, t in design.names[k_:]],
                "estimate": coef.mean(axis=0), "se": coef.std(axis=0, ddof=1),
                "ci_low": np.quantile(coef, 0.025, axis=0), "ci_high": np.quantile(coef, 0.975, axis=0),
                "prob_positive": (coef > 0).mean(axis=0),
            })
        self._warn_diagnostics(n_chains)

    def _pointwise_loglik(self, data: TrialArrays, params: np.ndarray) -> np.ndarray:
        """``(draws × subjects,)`` summed, or ``(draws × subjects, trials)``, log-likelihoods."""
        n_sub = data.n_subjects
        names = self.model.param_names
        trialwise = self.pointwise == "trial"
        n_lanes = params.shape[0]
        out = np.empty((n_lanes, data.n_trials) if trialwise else n_lanes)
        for lo in range(0, n_lanes, _CHUNK):
            sl = slice(lo, min(lo + _CHUNK, n_lanes))
            record = {n: params[sl, j] for j, n in enumerate(names)}
            lanes = np.arange(sl.start, sl.stop) % n_sub
            with np.errstate(all="ignore"):
                out[sl] = log_likelihood(self.model, record, data, lanes, trialwise=trialwise)
        return out

    def _set_tables(self, data: TrialArrays, params: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                    group: np.ndarray, subjects: pd.Index) -> None:
        specs, names, k = self.model.param_specs, list(self.model.param_names), self.model.n_params
        flat = params.reshape(-1, *params.shape[2:])
        self.params_ = pd.DataFrame(flat.mean(axis=0), index=subjects, columns=names)
        self.se_ = pd.DataFrame(flat.std(axis=0, ddof=1) if flat.shape[0] > 1 else np.full((len(subjects), k), np.nan),
                                index=subjects, columns=names)
        self.z_ = np.stack([s.to_unconstrained(self.params_[s.name].to_numpy()) for s in specs], axis=1)
        self.hessians_ = np.full((len(subjects), k, k), np.nan)
        ll = log_likelihood(self.model, {n: self.params_[n].to_numpy() for n in names}, data)
        n = data.n_valid.astype(float)
        self.loglik_ = pd.Series(ll, index=subjects, name="loglik")
        self.objective_ = -self.loglik_.rename("objective")
        self.n_trials_ = pd.Series(n.astype(int), index=subjects, name="n_trials")
        self.aic_ = pd.Series(2 * k - 2 * ll, index=subjects, name="aic")
        self.bic_ = pd.Series(k * np.log(n) - 2 * ll, index=subjects, name="bic")
        rhat = self.summary_["r_hat"]
        per_subject = rhat[rhat.index.str.startswith("params[")].to_numpy().reshape(len(subjects), k)
        self.converged_ = pd.Series(~(per_subject > RHAT_MAX).any(axis=1), index=subjects, name="converged")
        self.on_bound_ = pd.DataFrame({s.name: s.on_bound(self.params_[s.name].to_numpy()) for s in specs},
                                      index=subjects)
        mu_flat, sigma_flat = mu.reshape(-1, k), sigma.reshape(-1, k)
        self.group_mean_ = pd.Series(mu_flat.mean(axis=0), index=names, name="group_mean")
        self.group_var_ = pd.Series((sigma_flat**2).mean(axis=0), index=names, name="group_var")
        self.group_cov_ = pd.DataFrame(np.diag(self.group_var_.to_numpy()), index=names, columns=names)
        self.group_params_ = pd.Series(group.reshape(-1, k).mean(axis=0), index=names, name="group_params")

    def _warn_diagnostics(self, n_chains: int) -> None:
        table = self.summary_
        stats = self.inference_data_.get("sample_stats")
        diverging = stats["diverging"].to_numpy() if stats is not None and "diverging" in stats else np.zeros(1)
        self.n_divergent_ = int(diverging.sum())
        self.r_hat_max_ = float(table["r_hat"].max())
        self.ess_bulk_min_ = float(table["ess_bulk"].min())
        self.ess_tail_min_ = float(table["ess_tail"].min())
        self.diagnostics_ok_ = True
        problems = []
        if not self.markov_chains:
            return
        if n_chains > 1 and self.r_hat_max_ > RHAT_MAX:
            worst = table["r_hat"].idxmax()
            problems.append(f"R-hat up to {self.r_hat_max_:.3f} > {RHAT_MAX} ({worst})")
        ess_min = ESS_PER_CHAIN_MIN * n_chains
        ess = min(self.ess_bulk_min_, self.ess_tail_min_)
        if ess < ess_min:
            worst = table[["ess_bulk", "ess_tail"]].min(axis=1).idxmin()
            problems.append(f"ESS as low as {ess:.0f} < {ess_min} ({worst})")
        if self.n_divergent_:
            problems.append(f"{self.n_divergent_} divergent transition(s)")
        if problems:
            self.diagnostics_ok_ = False
            warnings.warn(
                f"{self.model.name} {getattr(self, 'sampler', self.method)}: {'; '.join(problems)}: draw more "
                f"(n_draws, n_warmup)"
                f"{' or raise target_accept' if self.n_divergent_ else ''} before trusting the posterior "
                f"(see summary_)",
                ConvergenceWarning,
                stacklevel=5,
            )

    def _warn(self) -> None:  # the diagnostics warn instead of the optimiser's checks
        return None

    # -- results ----------------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Return :meth:`SubjectFit.summary` with each subject's worst ``r_hat`` and ``ess_bulk``."""
        out = super().summary()
        k = self.model.n_params
        table = self.summary_[self.summary_.index.str.startswith("params[")]
        out["r_hat"] = table["r_hat"].to_numpy().reshape(-1, k).max(axis=1)
        out["ess_bulk"] = table["ess_bulk"].to_numpy().reshape(-1, k).min(axis=1)
        return out

    def group_summary(self) -> pd.DataFrame:
        """Return the rows of :attr:`summary_` for the group variables (``mu``, ``sigma``, ``group``)."""
        self._check_fitted()
        return self.summary_[~self.summary_.index.str.startswith("params[")]

    def loo(self) -> Any:
        """Return ArviZ's PSIS-LOO (Vehtari et al. 2017) over the kept pointwise log-likelihood.

        Returns
        -------
        elpd : arviz.ELPDData
            ``elpd_loo``, its standard error, ``p_loo`` and the Pareto ``k`` of each subject (or
            trial); ``-2 elpd_loo`` is hBayesDM's LOOIC.
        """
        self._check_fitted()
        az = require_arviz()
        return az.loo(self.inference_data_, pointwise=True)

    def waic(self) -> Any:
        """Return ArviZ's WAIC (Watanabe 2010) over the kept pointwise log-likelihood.

        Returns
        -------
        elpd : arviz.ELPDData
            ``elpd_waic``, its standard error and ``p_waic``; ``-2 elpd_waic`` is the WAIC on the
            deviance scale.
        """
        self._check_fitted()
        az = require_arviz()
        return az.waic(self.inference_data_, pointwise=True)

    def save(self, path: str | os.PathLike) -> None:
        """Write :attr:`inference_data_` to a NetCDF file (``arviz.from_netcdf`` reads it back).

        Parameters
        ----------
        path : str or path-like
            The file, e.g. ``posterior.nc``.
        """
        self._check_fitted()
        self.inference_data_.to_netcdf(str(path))


class HierarchicalNUTS(HierarchicalBayes):
    """Hierarchical posterior by the No-U-Turn sampler of Pyro (Hoffman & Gelman 2014).

    Parameters
    ----------
    model : CognitiveModel
        The model to fit.
    n_chains : int, default 4
        Independent chains, each seeded from ``seed`` (``SeedSequence.spawn``).
    n_warmup : int, optional
        Warm-up iterations per chain (step size and diagonal mass matrix adaptation; with ChEES
        also the trajectory length), discarded. Default 1000 for NUTS (Stan's) and 500 for ChEES:
        ChEES's trajectory length does not settle over a longer warm-up but wanders (4 chains
        give a noisy criterion), so iterations 500–1,000 cost a quarter of a fit for no better
        R̂ or ESS (``benchmarks/RESULTS.md``, "Round 6"); ``CheesResult.warmup_trajectory_length``
        shows the path.
    target_accept : float, default 0.8
        The acceptance probability the step size adapts to (Stan's ``adapt_delta``).
    max_tree_depth : int, default 10
        The most doublings of a trajectory (Stan's default).
    chain_method : {"sequential", "vectorized"}, default "sequential"
        One Pyro run per chain, or all chains as copies of the model in one run (one likelihood
        call scores chains × subjects; the chains share the adapted step size and trajectory
        length).
    sampler : {"nuts", "chees"}, default "nuts"
        Pyro's NUTS, or ChEES-HMC (:func:`cogmodels.fits.chees.chees_hmc`, Hoffman, Radul &
        Sountsov 2021): every chain moves with the same step size and number of leapfrog steps,
        so each step is one likelihood call over chains × subjects lanes, with no tree building.
        ChEES needs at least 2 chains and ignores ``chain_method`` and ``max_tree_depth``.
    n_jobs : int, default 1
        ChEES only: processes the chains are split over (``n_chains // n_jobs`` or one more each,
        at least 2 per process, as the ChEES criterion compares chains), each with one thread.
        The processes share the adaptation: every warm-up iteration they exchange their chains'
        statistics through pipes, so each adapts the same step size, mass matrix and trajectory
        length from all the chains and takes the same number of leapfrog steps (equal work).
        Each chain samples from its own ``numpy.random.Generator.spawn`` child of the fit's seed,
        so for a given ``seed`` the draws are identical on every run, and with any ``n_jobs``
        equal up to the rounding of the batched likelihood (which chaotic trajectories amplify
        over long runs). The processes are forked from a ``forkserver`` that imported torch and Pyro
        once per session (never from the caller, whose torch threads may be running; ``spawn``
        where there is no forkserver).
    checkpoint : str or os.PathLike, optional
        ChEES only: a folder where each process writes its whole state every 50 iterations
        (``chees_<i>of<n_jobs>.npz``; :func:`cogmodels.fits.chees.chees_hmc`). A stopped fit,
        started again with the same data, settings and seed, resumes there and gives the draws a
        fit never stopped would have; a folder holding another run's state is refused. The files
        are deleted once the fit has its draws.
    **kwargs
        ``n_draws``, ``mean_prior_sd``, ``scale_prior_sd``, ``pointwise``, ``gradient``,
        ``centred``, ``seed``, covariates: see :class:`HierarchicalBayes`.

    Attributes
    ----------
    step_size_, trajectory_length_ : numpy.ndarray
        ChEES only: the adapted step size and trajectory length of each process (``(n_jobs,)``).
    gradients_per_iteration_ : float
        ChEES only: log-density calls per iteration (warm-up and draws), mean over processes.
    process_cpu_s_ : numpy.ndarray
        ChEES only: CPU seconds of each process's sampling (``(n_jobs,)``; worker processes are
        not children of the caller, so ``time.process_time`` there does not count them).
    """

    method = "nuts"

    def __init__(
        self,
        model: CognitiveModel,
        *,
        n_chains: int = 4,
        n_warmup: int | None = None,
        target_accept: float = 0.8,
        max_tree_depth: int = 10,
        chain_method: str = "sequential",
        sampler: str = "nuts",
        n_jobs: int = 1,
        checkpoint: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        self.sampler = check_choice("sampler", sampler, _SAMPLERS)
        self.n_jobs = check_int("n_jobs", n_jobs, minimum=1)
        if self.n_jobs > 1 and self.sampler != "chees":
            raise ValueError(f"n_jobs > 1 runs ChEES chains in processes: use sampler='chees', got sampler={sampler!r}")
        if checkpoint is not None and self.sampler != "chees":
            raise ValueError(f"checkpoint keeps a ChEES run's state: use sampler='chees', got sampler={sampler!r}")
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.n_chains = check_int("n_chains", n_chains, minimum=2 * self.n_jobs if self.sampler == "chees" else 1)
        if n_warmup is None:
            n_warmup = CHEES_WARMUP if self.sampler == "chees" else 1000
        self.n_warmup = check_int("n_warmup", n_warmup, minimum=1)
        self.target_accept = check_number("target_accept", target_accept, 0.0, 1.0, low_open=True,
                                          high_open=True)
        self.max_tree_depth = check_int("max_tree_depth", max_tree_depth, minimum=1)
        self.chain_method = check_choice("chain_method", chain_method, _CHAIN_METHODS)

    def _sample(self, data: TrialArrays, progress: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        if self.sampler == "chees":
            return self._sample_chees(data, progress)
        torch, _, _ = require_bayes()
        from pyro.infer import MCMC, NUTS

        vectorized = self.chain_method == "vectorized"
        runs = 1 if vectorized else self.n_chains
        per_run = self.n_chains if vectorized else 1
        counter = [0]
        parts: list[dict[str, np.ndarray]] = []
        diverging = []
        total = runs * (self.n_warmup + self.n_draws)
        with self._bar(progress, total, unit="iteration") as bar:
            for seed in self._chain_seeds(runs):
                with torch.random.fork_rng():
                    torch.manual_seed(seed)
                    kernel = NUTS(self._pyro_model(data, per_run, counter), target_accept_prob=self.target_accept,
                                  max_tree_depth=self.max_tree_depth, full_mass=False)
                    mcmc = MCMC(kernel, num_samples=self.n_draws, warmup_steps=self.n_warmup,
                                disable_progbar=True, hook_fn=lambda *_: bar.update())
                    mcmc.run()
                samples = {k: v.detach().numpy() for k, v in mcmc.get_samples().items()}
                parts.append(samples)
                flags = np.zeros(self.n_draws, dtype=bool)
                flags[np.asarray(mcmc.diagnostics()["divergences"]["chain 0"], dtype=int)] = True
                diverging.append(np.repeat(flags[None], per_run, axis=0))
        self.n_gradients_ = counter[0]
        # (draws, per_run, ...) of each run -> (chains, draws, ...)
        samples = {name: np.concatenate([np.swapaxes(p[name], 0, 1) for p in parts]) for name in parts[0]}
        return self._draws(data, samples), {"diverging": np.concatenate(diverging)}


    def _sample_chees(self, data: TrialArrays, progress: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """ChEES-HMC over every chain, in ``n_jobs`` processes; returns the draws as Pyro's run would."""
        sizes = [int(np.prod(shape)) for _, shape in self._log_density_layout(data)]
        rng = np.random.default_rng(self._chain_seeds(1)[0])
        init = self._stan_starts(self.n_chains, data, rng)
        groups = np.array_split(np.arange(self.n_chains), self.n_jobs)
        chain_rngs = rng.spawn(self.n_chains)  # one stream per chain, whatever the split
        init = self._finite_starts(data, init, rng.spawn(1)[0])
        jobs = [(init[g], [chain_rngs[i] for i in g], self._checkpoint_file(i)) for i, g in enumerate(groups)]
        with self._bar(progress, self.n_jobs * (self.n_warmup + self.n_draws), unit="iteration") as bar:
            if self.n_jobs == 1:
                cpu = time.process_time()
                results = [_chees_chains(self, data, *jobs[0], callback=lambda _: bar.update())]
                self.process_cpu_s_ = np.array([time.process_time() - cpu])
            else:
                results = _run_processes(self, data, jobs, bar)
        for job in jobs:  # the fit has every draw: a later fit with this checkpoint folder starts afresh
            if job[2] is not None:
                CheckpointFile(job[2], "").remove()
        self.n_gradients_ = int(sum(r.n_gradients for r in results))
        self.step_size_ = np.array([r.step_size for r in results])
        self.trajectory_length_ = np.array([r.trajectory_length for r in results])
        self.gradients_per_iteration_ = float(np.mean([r.n_gradients for r in results])
                                              / (self.n_warmup + self.n_draws))
        draws = np.concatenate([r.draws for r in results])
        blocks = np.split(draws, np.cumsum(sizes)[:-1], axis=2)
        layout = self._log_density_layout(data)
        samples = {name: b.reshape(self.n_chains, self.n_draws, *shape) for b, (name, shape) in
                   zip(blocks, layout, strict=True)}
        samples["sigma"] = np.exp(samples["sigma"])
        steps = np.concatenate([np.broadcast_to(r.n_leapfrog, r.accept_prob.shape) for r in results])
        stats = {"diverging": np.concatenate([r.diverging for r in results]),
                 "acceptance_rate": np.concatenate([r.accept_prob for r in results]), "n_steps": steps.copy()}
        return self._draws(data, samples), stats

    def _checkpoint_file(self, job: int) -> Path | None:
        """Return the checkpoint file of process ``job`` (None without ``checkpoint``)."""
        return None if self.checkpoint is None else self.checkpoint / f"chees_{job}of{self.n_jobs}.npz"

    def _finite_starts(self, data: TrialArrays, init: np.ndarray, rng: np.random.Generator,
                       tries: int = 100) -> np.ndarray:
        """Return ``init`` with every chain whose log density or gradient is not finite redrawn, as Stan does.

        A start is redrawn (the same uniform(-2, 2) law, from ``rng``) up to ``tries`` times
        (Stan's limit); chains that start finite keep their start, so a seed's draws do not move.
        A reaction-time model can put the start of a chain where a subject's fastest response
        precedes the non-decision time: its likelihood is 0 there.
        """
        log_density, _ = self._log_density(data, [0], n_chains=init.shape[0])
        init = init.copy()
        for attempt in range(tries + 1):
            value, grad = log_density(init)
            bad = ~(np.isfinite(value) & np.isfinite(grad).all(axis=1))
            if not bad.any():
                return init
            if attempt == tries:
                raise RuntimeError(
                    f"{self.model.name} nuts: {int(bad.sum())} of {init.shape[0]} chains found no start with a "
                    f"finite log density in {tries} draws from uniform(-2, 2) (unconstrained): check the data "
                    f"against the model (e.g. response times shorter than every allowed non-decision time) or "
                    f"its parameter bounds")
            init[bad] = self._stan_starts(int(bad.sum()), data, rng)
        return init  # not reached: the last attempt returns or raises

    def _stan_starts(self, n: int, data: TrialArrays, rng: np.random.Generator) -> np.ndarray:
        """Return ``n`` flat starts drawn as Stan's: uniform on (-2, 2) unconstrained, ``mu`` (and each centred ``z``) around its prior mean."""
        offsets = self._start_offsets(data)
        return rng.uniform(-2.0, 2.0, (n, offsets.size)) + offsets


def _chees_chains(estimator: HierarchicalNUTS, data: TrialArrays, init: np.ndarray,
                  rngs: list[np.random.Generator], checkpoint: Path | None = None,
                  callback: Callable[[int], None] | None = None,
                  gather: Callable[[np.ndarray], np.ndarray] | None = None) -> Any:
    """Run :func:`~cogmodels.fits.chees.chees_hmc` on the chains starting at ``init``: one process's share.

    ``rngs`` holds one generator per chain; ``gather`` shares the adaptation with the other processes;
    ``checkpoint`` is this process's checkpoint file.
    """
    from cogmodels.fits.chees import chees_hmc

    log_density, _ = estimator._log_density(data, [0], n_chains=init.shape[0])
    return chees_hmc(log_density, init, n_warmup=estimator.n_warmup, n_draws=estimator.n_draws,
                     target_accept=estimator.target_accept, seed=rngs, gather=gather, callback=callback,
                     checkpoint=checkpoint)


def _exit_with_parent(parent_alive: Any) -> None:
    """Exit this process (code 1) as soon as ``parent_alive`` reaches end of file: the parent died.

    ``parent_alive`` is the read end of a pipe whose only write end the parent holds; the parent
    never writes, so ``recv`` returns only when the parent has closed it or died (killed too, as
    the kernel then closes its descriptors). A daemon thread waits on it: the chains run on.
    """
    import threading

    def watch() -> None:
        try:
            parent_alive.recv()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _chees_worker(estimator: HierarchicalNUTS, data: TrialArrays, init: np.ndarray, rngs: list[np.random.Generator],
                  checkpoint: Path | None, index: int, queue: Any, connections: dict[int, Any],
                  parent_alive: Any) -> None:
    """Run one process's chains on one thread; put ticks and the result (or the error) on ``queue``.

    ``connections`` (peer index -> pipe end) carry the adaptation statistics between the processes;
    the process exits when ``parent_alive`` reaches end of file (:func:`_exit_with_parent`).
    """
    import torch

    from cogmodels.fits.chees import pipe_gather

    _exit_with_parent(parent_alive)
    torch.set_num_threads(1)
    cpu = time.process_time()
    try:
        result = _chees_chains(estimator, data, init, rngs, checkpoint,
                               callback=lambda _: queue.put((index, "tick", None)),
                               gather=pipe_gather(index, connections))
        queue.put((index, "done", (result, time.process_time() - cpu)))
    except BaseException as err:  # noqa: BLE001 - handed to the parent, which raises it
        queue.put((index, "error", repr(err)))


def _run_processes(estimator: HierarchicalNUTS, data: TrialArrays, jobs: list[tuple[np.ndarray, Any]],
                   bar: Any) -> list[Any]:
    """Run each job's chains in its own spawned process; return the results in job order."""
    import multiprocessing
    import queue as queue_module

    if "forkserver" in multiprocessing.get_all_start_methods():
        # a server process imports torch and Pyro once, then forks each worker from that clean state
        # (it never runs torch's thread pool: forking it is safe), so a worker starts in milliseconds
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["cogmodels.fits.bayes", "torch", "pyro.distributions"])
    else:  # pragma: no cover - Windows
        ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    # one duplex pipe per pair of processes, for the adaptation statistics of every warm-up iteration
    connections: list[dict[int, Any]] = [{} for _ in jobs]
    for i in range(len(jobs)):
        for j in range(i + 1, len(jobs)):
            connections[i][j], connections[j][i] = ctx.Pipe(duplex=True)
    # the workers exit when this process dies, even by SIGKILL (they are the fork server's children,
    # so daemon=True alone does not reach them): the write end of this pipe stays here, unused
    parent_alive, alive = ctx.Pipe(duplex=False)
    procs = [ctx.Process(target=_chees_worker,
                         args=(estimator, data, init, rngs, checkpoint, i, messages, connections[i], parent_alive),
                         daemon=True)
             for i, (init, rngs, checkpoint) in enumerate(jobs)]
    for proc in procs:
        proc.start()
    parent_alive.close()
    results: dict[int, Any] = {}
    cpu: dict[int, float] = {}
    try:
        while len(results) < len(procs):
            try:
                index, kind, payload = messages.get(timeout=5.0)
            except queue_module.Empty:
                dead = [i for i, proc in enumerate(procs) if i not in results and proc.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"ChEES process {dead[0]} exited with code {procs[dead[0]].exitcode}") from None
                continue
            if kind == "tick":
                bar.update()
            elif kind == "error":
                raise RuntimeError(f"ChEES process {index} failed: {payload}")
            else:
                results[index], cpu[index] = payload
    finally:
        for proc in procs:
            if proc.is_alive() and len(results) < len(procs):
                proc.terminate()
            proc.join()
        alive.close()
    estimator.process_cpu_s_ = np.array([cpu[i] for i in range(len(procs))])
    return [results[i] for i in range(len(procs))]


class HierarchicalVI(HierarchicalBayes):
    r"""Hierarchical posterior by automatic differentiation variational inference (mean-field, NumPy).

    ADVI (Kucukelbir et al. 2017; :func:`cogmodels.fits.advi.advi`) fits a mean-field Gaussian
    over the flat unconstrained vector the sampler uses (group means, log group SDs, standardised
    subject effects or, for ``centred`` parameters, the subjects' values, coefficients;
    :meth:`HierarchicalBayes._log_density`: the same prior and the model's own likelihood, with
    its gradient by ``gradient``). Each Adam step draws
    ``n_particles`` points from the approximation and scores them as the lanes of **one** batched
    likelihood call, so a step costs one call at ``n_particles`` × subjects lanes; the returned
    approximation averages the iterates of the last half of the steps. Then ``n_draws`` draws of
    it give the posterior tables and ``inference_data_``. No autograd graph and no Pyro: at 100
    subjects × 200 trials of Q-learning, 1,000 steps cost about 17 CPU s (``benchmarks/RESULTS.md``).
    A mean-field Gaussian underestimates posterior SDs (Blei, Kucukelbir & McAuliffe 2017): use
    it for speed, NUTS for intervals.

    The default runs all ``max_steps`` steps. Stan's ADVI stopping rule is available
    (``tol_rel_obj`` > 0; Kucukelbir et al. 2017, §3.5): every ``eval_elbo`` steps the mean of
    the last ``eval_elbo`` ELBO estimates :math:`\bar L_m` is compared with the previous one,

    .. math:: \Delta_m = \lvert (\bar L_m - \bar L_{m-1}) / \bar L_{m-1} \rvert,

    and the fit stops when the mean or the median of the last
    :math:`\max(0.1\,\text{max\_steps} / \text{eval\_elbo}, 2)` changes falls below
    ``tol_rel_obj`` (:class:`ElboConvergence`).

    Parameters
    ----------
    model : CognitiveModel
        The model to fit.
    max_steps : int, default 1000
        The most Adam steps (``n_steps``, its old name, still works and warns).
    n_particles : int, default 4
        Draws from the approximation per step (the ELBO gradient's Monte Carlo size).
    tol_rel_obj : float, default 0
        Stan's convergence tolerance on the relative change of the windowed ELBO; 0 (the
        default) runs all ``max_steps`` steps (Stan's own default is 0.01, which at this
        package's goal size stops while the ELBO still climbs).
    eval_elbo : int, default 100
        Steps between convergence checks, and the window of the ELBO means (Stan's default).
    learning_rate : float, default 0.1
        Adam's step size (Stan's adaptation picks from 100, 10, 1, 0.1, 0.01).
    final_learning_rate : float, optional
        The step size at step ``max_steps``, reached by a geometric decay from
        ``learning_rate``; default: constant (the iterate average does the smoothing).
    **kwargs
        ``n_draws``, ``mean_prior_sd``, ``scale_prior_sd``, ``pointwise``, ``gradient``,
        ``centred``, ``seed``, covariates: see :class:`HierarchicalBayes`.

    Attributes
    ----------
    elbo_ : pandas.Series
        The ELBO estimate at every step run.
    n_steps_run_ : int
        Adam steps run (``max_steps`` unless the ELBO converged earlier).
    elbo_converged_ : bool
        Whether the convergence rule stopped the fit before ``max_steps``.
    elbo_changes_ : pandas.Series
        :math:`\Delta_m` at each check, indexed by step.
    """

    method = "vi"
    markov_chains = False

    @renamed_arguments(n_steps="max_steps")
    def __init__(self, model: CognitiveModel, *, max_steps: int = 1000, n_particles: int = 4,
                 tol_rel_obj: float = 0.0, eval_elbo: int = 100, learning_rate: float = 0.1,
                 final_learning_rate: float | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.max_steps = check_int("max_steps", max_steps, minimum=1)
        self.n_particles = check_int("n_particles", n_particles, minimum=1)
        self.tol_rel_obj = check_number("tol_rel_obj", tol_rel_obj, 0.0)
        self.eval_elbo = check_int("eval_elbo", eval_elbo, minimum=1)
        self.learning_rate = check_number("learning_rate", learning_rate, 0.0, low_open=True)
        self.final_learning_rate = None if final_learning_rate is None else check_number(
            "final_learning_rate", final_learning_rate, 0.0, learning_rate, low_open=True)

    def _sample(self, data: TrialArrays, progress: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        from cogmodels.fits.advi import advi

        counter = [0]
        log_density, layout = self._log_density(data, counter, n_chains=self.n_particles)
        sizes = [int(np.prod(shape)) for _, shape in layout]
        rng = np.random.default_rng(self._chain_seeds(1)[0])
        init = self._start_offsets(data)  # the group means (and centred subjects) at their prior means
        stop = ElboConvergence(self.tol_rel_obj, self.eval_elbo, self.max_steps)
        with self._bar(progress, self.max_steps, unit="step") as bar:
            def show(step: int, elbo: float) -> None:
                bar.update()
                if step % 50 == 0:
                    bar.set_postfix_str(f"ELBO {elbo:.1f}", refresh=False)

            fit = advi(log_density, init, max_steps=self.max_steps, n_particles=self.n_particles,
                       learning_rate=self.learning_rate, final_learning_rate=self.final_learning_rate,
                       rng=rng, stop=stop.update, callback=show)
        self.n_gradients_ = counter[0]
        self.n_steps_run_ = fit.n_steps
        self.elbo_converged_ = fit.converged
        self.elbo_changes_ = pd.Series(stop.changes, index=pd.Index(stop.steps, name="step"), name="relative_change")
        self.elbo_ = pd.Series(fit.elbo, name="elbo").rename_axis("step")
        draws = fit.mean + np.exp(fit.log_sd) * rng.standard_normal((self.n_draws, len(fit.mean)))
        blocks = np.split(draws, np.cumsum(sizes)[:-1], axis=1)
        samples = {name: b.reshape(1, self.n_draws, *shape) for b, (name, shape) in zip(blocks, layout, strict=True)}
        samples["sigma"] = np.exp(samples["sigma"])
        return self._draws(data, samples), {}

    def _warn_diagnostics(self, n_chains: int) -> None:
        """Warn in one line when the ELBO still climbs over the last tenth of the steps."""
        super()._warn_diagnostics(n_chains)
        elbo = self.elbo_.to_numpy()
        w = len(elbo) // 10
        if w < 2:
            return
        last, before = elbo[-w:], elbo[-2 * w:-w]
        gain = last.mean() - before.mean()
        noise = np.sqrt((last.var(ddof=1) + before.var(ddof=1)) / w)
        if gain > 2 * noise:
            self.diagnostics_ok_ = False
            warnings.warn(
                f"{self.model.name} vi: the ELBO still climbs over the last {w} of {len(elbo)} steps "
                f"(+{gain:.3g}, noise {noise:.2g}): raise n_steps (--vi-steps) or learning_rate before "
                f"trusting the approximation (see elbo_)",
                ConvergenceWarning,
                stacklevel=5,
            )


class ElboConvergence:
    r"""Stan's ADVI stopping rule on a stream of ELBO estimates (see :class:`HierarchicalVI`).

    Parameters
    ----------
    tol_rel_obj : float
        Stop when the mean or the median of the buffered relative changes falls below it (0: never).
    eval_elbo : int
        Steps between checks and the window of each ELBO mean.
    max_steps : int
        The cap, which sets the buffer's length :math:`\max(0.1\,\text{max\_steps}/\text{eval\_elbo}, 2)`.

    Attributes
    ----------
    converged : bool
        Whether the rule has fired.
    steps, changes : list
        The step of each check (after the second window) and its relative change :math:`\Delta_m`.
    """

    def __init__(self, tol_rel_obj: float, eval_elbo: int, max_steps: int) -> None:
        self.tol_rel_obj, self.eval_elbo = tol_rel_obj, eval_elbo
        self.size = int(max(0.1 * max_steps / eval_elbo, 2.0))
        self.converged = False
        self.steps: list[int] = []
        self.changes: list[float] = []
        self._previous: float | None = None

    def update(self, elbo: np.ndarray) -> bool:
        """Take the ELBO estimates so far (one per step); return True when the fit should stop.

        Parameters
        ----------
        elbo : numpy.ndarray
            Every step's ELBO estimate up to now.

        Returns
        -------
        stop : bool
            The rule fired at this step.
        """
        n = len(elbo)
        if n % self.eval_elbo:
            return False
        mean = float(np.mean(elbo[-self.eval_elbo:]))
        previous, self._previous = self._previous, mean
        if previous is None:
            return False
        self.steps.append(n)
        self.changes.append(abs((mean - previous) / previous))
        buffer = self.changes[-self.size:]
        self.converged = self.tol_rel_obj > 0 and min(np.mean(buffer), np.median(buffer)) < self.tol_rel_obj
        return self.converged
