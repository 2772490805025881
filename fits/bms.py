r"""Random-effects Bayesian model selection for group studies.

Stephan, Penny, Daunizeau, Moran & Friston (2009), NeuroImage 46:1004-1017, "Bayesian model
selection for group studies"; Rigoux, Stephan, Friston & Daunizeau (2014), NeuroImage 84:971-985,
"Bayesian model selection for group studies — revisited". The computation follows SPM's
``spm_BMS.m`` and ``spm_BMS_bor.m`` (after the VBA toolbox's ``VBA_groupBMC``).

Each subject ``i`` has log evidence ``L[i, k] = log p(y_i | m_k)`` for each of ``K`` models. The
generative model draws model frequencies ``r ~ Dir(alpha0)``, then each subject's model
``m_i ~ Cat(r)``. The variational posterior ``q(r) q(m) = Dir(r; alpha) prod_i Cat(m_i; g_i)``
is found by iterating

.. math::

    g_{ik} \propto \exp\big(L_{ik} + \psi(\alpha_k) - \psi(\textstyle\sum_j \alpha_j)\big),
    \qquad \alpha_k = \alpha_{0k} + \textstyle\sum_i g_{ik}.

Posterior model frequencies are ``E[r_k] = alpha_k / sum(alpha)``; exceedance probabilities are
``xp_k = P(r_k > r_j for all j != k)``: exact for two models, ``xp_1 = P(r_1 > 1/2)`` with
``r_1 ~ Beta(alpha_1, alpha_2)``, and estimated by sampling from the Dirichlet otherwise.

The Bayesian omnibus risk (Rigoux et al. 2014, Eq. 5 and Appendix) is the posterior probability
of the null "all model frequencies are equal", ``bor = 1 / (1 + exp(F1 - F0))`` with

.. math::

    F_0 = \sum_i \Big[\log \sum_k e^{L_{ik}} - \log K\Big] \quad\text{(exact, Eq. A.17)},

    F_1 = \underbrace{\log\Gamma(\alpha_{0\cdot}) - \sum_k \log\Gamma(\alpha_{0k})
          + \sum_k (\alpha_{0k}-1) E[\log r_k] + \sum_{ik} g_{ik}(E[\log r_k] + L_{ik})}_{
          E_q[\log p(y, m, r)]}
          + \underbrace{\sum_k \log\Gamma(\alpha_k) - \log\Gamma(\alpha_\cdot)
          - \sum_k (\alpha_k - 1) E[\log r_k]}_{H[q(r)]}
          - \sum_{ik} g_{ik}\log g_{ik}

(the variational free energy of the alternative, Eq. A.20), ``E[log r_k] = psi(alpha_k) -
psi(alpha_.)``. Protected exceedance probabilities are ``pxp = xp (1 - bor) + bor / K`` (Eq. 7).

:func:`bms_between_groups` asks whether groups of subjects (patients and controls, say) share the
same model frequencies: the free energy of one RFX-BMS of all subjects pooled against the sum of
those of one RFX-BMS per group (Rigoux et al. 2014, "between-groups comparisons").
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betainc, digamma, expit, gammaln, logsumexp, softmax, xlogy

from cogmodels.validation import SeedLike, as_generator, check_int

__all__ = ["BMSResult", "BetweenGroupsBMS", "bms", "bms_between_groups", "dirichlet_exceedance"]

_CHUNK = 1 << 17


@dataclass(frozen=True, eq=False)
class BMSResult:
    """Random-effects BMS of ``K`` models over ``N`` subjects.

    Attributes
    ----------
    models : tuple of str
        The model names (length ``K``).
    alpha : numpy.ndarray
        ``(K,)`` Dirichlet parameters of the posterior over model frequencies.
    alpha0 : numpy.ndarray
        ``(K,)`` prior Dirichlet parameters.
    expected_frequency : numpy.ndarray
        ``(K,)`` posterior mean frequencies ``alpha / sum(alpha)``.
    xp : numpy.ndarray
        ``(K,)`` exceedance probabilities.
    pxp : numpy.ndarray
        ``(K,)`` protected exceedance probabilities ``xp (1 - bor) + bor / K``.
    bor : float
        Bayesian omnibus risk, the posterior probability that all models are equally frequent.
    g : pandas.DataFrame
        Subjects × models: each subject's posterior model probabilities.
    free_energy : float
        ``F1``, the variational lower bound on ``log p(L | H1)``.
    free_energy_null : float
        ``F0 = log p(L | H0)``.
    n_iter : int
        Variational iterations used.
    xp_method : {"exact", "sampling"}
        "exact" (two models, Beta CDF) or "sampling" (Dirichlet draws).
    """

    models: tuple[str, ...]
    alpha: np.ndarray
    alpha0: np.ndarray
    expected_frequency: np.ndarray
    xp: np.ndarray
    pxp: np.ndarray
    bor: float
    g: pd.DataFrame
    free_energy: float
    free_energy_null: float
    n_iter: int
    xp_method: str

    @property
    def best(self) -> str:
        """The model with the highest protected exceedance probability."""
        return self.models[int(np.argmax(self.pxp))]

    def to_frame(self) -> pd.DataFrame:
        """One row per model: alpha, expected_frequency, xp, pxp (``bor`` is in ``attrs``)."""
        out = pd.DataFrame(
            {
                "alpha": self.alpha,
                "expected_frequency": self.expected_frequency,
                "xp": self.xp,
                "pxp": self.pxp,
            },
            index=pd.Index(list(self.models), name="model"),
        )
        out.attrs["bor"] = self.bor
        return out


def _check_log_evidence(
    log_evidence: Any, models: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...], pd.Index]:
    if isinstance(log_evidence, pd.DataFrame):
        names = tuple(str(c) for c in log_evidence.columns)
        subjects = log_evidence.index
        values = log_evidence.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = np.asarray(log_evidence, dtype=np.float64)
        names = None
        subjects = pd.RangeIndex(values.shape[0] if values.ndim else 0, name="subject")
    if values.ndim != 2:
        raise ValueError(
            "log_evidence must be a 2-D array or DataFrame (subjects × models), got an array of "
            f"shape {values.shape}"
        )
    n, k = values.shape
    if k < 2 or n < 1:
        raise ValueError(
            f"log_evidence needs at least 1 subject and 2 models (columns), got shape {values.shape}"
        )
    if models is not None:
        names = tuple(str(m) for m in models)
        if len(names) != k:
            raise ValueError(f"models must name the {k} columns of log_evidence, got {len(names)} names")
    if names is None:
        names = tuple(f"model_{j}" for j in range(k))
    if len(set(names)) != k:
        raise ValueError(f"model names must be unique, got {list(names)}")
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"log_evidence must be finite; {int(bad.sum())} entries are not, e.g. subject "
            f"{subjects[i]!r}, model {names[j]!r}: {values[i, j]}"
        )
    return values, names, subjects


def dirichlet_exceedance(
    alpha: np.ndarray, n_samples: int = 1_000_000, seed: SeedLike = None
) -> np.ndarray:
    """``P(r_k > r_j for all j != k)`` for ``r ~ Dir(alpha)``, by sampling (``spm_dirichlet_exceedance``).

    Dirichlet draws are normalised Gamma draws, so the largest component is that of the largest
    ``Gamma(alpha_k, 1)`` draw; the normalisation is skipped. Drawn in chunks to bound memory.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    rng = as_generator(seed)
    counts = np.zeros(alpha.size, dtype=np.int64)
    left = int(n_samples)
    while left > 0:
        m = min(left, _CHUNK)
        draws = rng.standard_gamma(alpha, size=(m, alpha.size))
        counts += np.bincount(draws.argmax(axis=1), minlength=alpha.size)
        left -= m
    return counts / float(n_samples)


def _posterior(L: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``g_ik ∝ exp(L_ik + E[log r_k])``."""
    return softmax(L + digamma(alpha) - digamma(alpha.sum()), axis=1)


def _free_energy(L: np.ndarray, alpha: np.ndarray, g: np.ndarray, alpha0: np.ndarray) -> float:
    """Variational free energy of the alternative (Rigoux et al. 2014, Eq. A.20; ``spm_BMS_bor``)."""
    elogr = digamma(alpha) - digamma(alpha.sum())
    entropy_r = gammaln(alpha).sum() - gammaln(alpha.sum()) - ((alpha - 1) * elogr).sum()
    entropy_m = -xlogy(g, g).sum()
    expected_joint = (
        gammaln(alpha0.sum())
        - gammaln(alpha0).sum()
        + ((alpha0 - 1) * elogr).sum()
        + (g * (elogr[None, :] + L)).sum()
    )
    return float(expected_joint + entropy_r + entropy_m)


def _free_energy_null(L: np.ndarray) -> float:
    """Log evidence of the null of equal frequencies (exact; Rigoux et al. 2014, Eq. A.17)."""
    return float((logsumexp(L, axis=1) - np.log(L.shape[1])).sum())


def _check_prior(prior: Any, k: int) -> np.ndarray:
    """Check the Dirichlet prior counts ``alpha0``: one positive number per model."""
    try:
        alpha0 = np.array(prior, dtype=np.float64)
    except (TypeError, ValueError):
        alpha0 = np.full(0, np.nan)
    if alpha0.ndim == 0:
        alpha0 = np.full(k, float(alpha0))
    if alpha0.shape != (k,) or not np.all(np.isfinite(alpha0)) or np.any(alpha0 <= 0):
        raise ValueError(
            f"prior must be a positive number or {k} positive numbers (one per model), got {prior!r}"
        )
    return alpha0


def _variational_bms(
    L: np.ndarray, alpha0: np.ndarray, tol: float, max_iter: int, caller: str
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Run the variational iteration of the module docstring.

    Returns ``alpha``, ``g``, the iterations used and the free energy ``F1`` at the end.
    """
    alpha = alpha0.copy()
    n_iter, step = 0, np.inf
    while n_iter < max_iter and step >= tol:
        g = _posterior(L, alpha)
        new = alpha0 + g.sum(axis=0)
        step = float(np.linalg.norm(new - alpha))
        alpha = new
        n_iter += 1
    if step >= tol:
        warnings.warn(
            f"{caller}: the variational iteration did not settle in max_iter={max_iter} iterations "
            f"(last change {step:.2g} > tol={tol})",
            RuntimeWarning,
            stacklevel=3,
        )
    g = _posterior(L, alpha)
    return alpha, g, n_iter, _free_energy(L, alpha, g, alpha0)


def bms(
    log_evidence: np.ndarray | pd.DataFrame,
    *,
    prior: float | Sequence[float] | np.ndarray = 1.0,
    n_samples: int = 1_000_000,
    seed: SeedLike = None,
    models: Sequence[str] | None = None,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> BMSResult:
    """Random-effects Bayesian model selection (Stephan et al. 2009; Rigoux et al. 2014).

    Parameters
    ----------
    log_evidence : array_like or pandas.DataFrame
        ``(subjects, models)`` log model evidence, e.g. ``-BIC/2`` or a Laplace approximation;
        a DataFrame's columns name the models and its index the subjects.
    prior : float or array_like
        Dirichlet prior counts ``alpha0``, a positive scalar or one per model (default 1:
        uniform over frequencies).
    n_samples : int, default 1_000_000
        Dirichlet draws for the exceedance probabilities of more than two models.
    seed : int, SeedSequence, Generator or None
        Seeds those draws (two models are exact and draw nothing).
    models : sequence of str, optional
        Model names, overriding a DataFrame's columns.
    tol : float, default 1e-10
        The variational iteration stops when ``||alpha_new - alpha|| < tol``.
    max_iter : int, default 10_000
        Variational iterations at most.

    Returns
    -------
    BMSResult
        With ``alpha``, ``expected_frequency``, ``xp``, ``pxp``, ``bor`` and ``g``.
    """
    L, names, subjects = _check_log_evidence(log_evidence, models)
    n, k = L.shape
    alpha0 = _check_prior(prior, k)
    n_samples = check_int("n_samples", n_samples, 1)
    alpha, g, n_iter, f1 = _variational_bms(L, alpha0, tol, max_iter, "bms")

    if k == 2:
        # P(r_1 > 1/2), r_1 ~ Beta(a1, a2), equals P(r_2 < 1/2) = I_{1/2}(a2, a1)
        xp = np.array([betainc(alpha[1], alpha[0], 0.5), betainc(alpha[0], alpha[1], 0.5)])
        xp_method = "exact"
    else:
        xp = dirichlet_exceedance(alpha, n_samples, seed)
        xp_method = "sampling"

    f0 = _free_energy_null(L)
    bor = float(expit(f0 - f1))
    pxp = xp * (1 - bor) + bor / k
    return BMSResult(
        models=names,
        alpha=alpha,
        alpha0=alpha0,
        expected_frequency=alpha / alpha.sum(),
        xp=xp,
        pxp=pxp,
        bor=bor,
        g=pd.DataFrame(g, index=subjects, columns=pd.Index(list(names), name="model")),
        free_energy=f1,
        free_energy_null=f0,
        n_iter=n_iter,
        xp_method=xp_method,
    )


@dataclass(frozen=True, eq=False)
class BetweenGroupsBMS:
    """Between-group random-effects BMS: whether the groups share the same model frequencies.

    Attributes
    ----------
    p_same : float
        Posterior probability that all groups share one vector of model frequencies (equal prior
        odds), ``1 / (1 + exp(F_different - F_same))``.
    free_energy_same : float
        ``F_same``: the free energy of one RFX-BMS of all subjects pooled.
    free_energy_different : float
        ``F_different``: the sum of the free energies of one RFX-BMS per group.
    frequencies : pandas.DataFrame
        Posterior mean model frequencies ``alpha / sum(alpha)``, one row per group and a last row
        ``"pooled"``, one column per model.
    groups : tuple
        The group names (the mapping's keys, else 0, 1, ...).
    models : tuple
        The model names.
    """

    p_same: float
    free_energy_same: float
    free_energy_different: float
    frequencies: pd.DataFrame
    groups: tuple[Any, ...]
    models: tuple[str, ...]

    @property
    def different(self) -> bool:
        """The test's decision at the VBA toolbox's threshold: ``p_same < 0.05``."""
        return self.p_same < 0.05


def bms_between_groups(
    log_evidence: Sequence[np.ndarray | pd.DataFrame] | Mapping[Any, np.ndarray | pd.DataFrame],
    *,
    prior: float | Sequence[float] | np.ndarray = 1.0,
    models: Sequence[str] | None = None,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> BetweenGroupsBMS:
    r"""Test whether groups of subjects share the same model frequencies (Rigoux et al. 2014).

    Rigoux, Stephan, Friston & Daunizeau (2014), NeuroImage 84:971-985, section "Between-groups
    and between-conditions comparisons": the hypothesis ``H=`` that all groups draw their
    subjects' models from one frequency vector ``r`` against ``H≠`` that each group ``g`` has its
    own ``r_g``. Under ``H=`` the groups are one population, so its evidence is that of one
    random-effects BMS of all subjects pooled; under ``H≠`` the groups are independent, so its
    evidence is the product of the evidences of one RFX-BMS per group. With the variational free
    energies ``F`` of :func:`bms` (Eq. A.20) in place of the log evidences and equal prior odds,

    .. math::

        P(H_= \mid L) = \frac{1}{1 + \exp(F_{\neq} - F_=)}, \qquad
        F_= = F(L_1 \cup \dots \cup L_G), \quad F_{\neq} = \sum_g F(L_g),

    as the VBA toolbox's ``VBA_groupBMC_btwGroups`` computes it (Daunizeau, Adam & Rigoux 2014,
    PLoS Comput Biol), with :func:`bms`'s iteration (SPM's ``spm_BMS``) for each ``F``.

    Parameters
    ----------
    log_evidence : sequence or mapping of (subjects × models) arrays or DataFrames
        One log-evidence table per group (at least two), with the same models: DataFrames are
        matched by their column names, arrays by column position. A mapping names the groups.
    prior : float or sequence of float
        Dirichlet prior counts ``alpha0`` of every RFX-BMS (default 1: uniform frequencies).
    models : sequence of str, optional
        Model names, overriding the DataFrames' columns.
    tol, max_iter : float, int
        The stopping rule of each variational iteration (see :func:`bms`).

    Returns
    -------
    BetweenGroupsBMS
        ``p_same``, the two free energies and the posterior mean frequencies per group and pooled.
    """
    if isinstance(log_evidence, Mapping):
        names, tables = tuple(log_evidence), list(log_evidence.values())
    elif isinstance(log_evidence, Sequence) and not isinstance(log_evidence, str):
        names, tables = tuple(range(len(log_evidence))), list(log_evidence)
    else:
        raise TypeError(
            "log_evidence must be a list (or dict) of per-group (subjects × models) log-evidence "
            f"tables, got {type(log_evidence).__name__}"
        )
    if len(tables) < 2:
        raise ValueError(f"log_evidence needs at least 2 groups, got {len(tables)}")
    checked = [_check_log_evidence(t, models) for t in tables]
    model_names = checked[0][1]
    values = []
    for name, table, (L, cols, _) in zip(names, tables, checked, strict=True):
        if L.shape[1] != len(model_names):
            raise ValueError(
                f"every group needs the same {len(model_names)} models; group {name!r} has "
                f"{L.shape[1]} columns"
            )
        if isinstance(table, pd.DataFrame) and models is None and cols != model_names:
            if set(cols) != set(model_names):
                raise ValueError(
                    f"every group needs the same models {list(model_names)}; group {name!r} has "
                    f"{list(cols)}"
                )
            L = L[:, [cols.index(m) for m in model_names]]
        values.append(L)
    alpha0 = _check_prior(prior, len(model_names))
    caller = "bms_between_groups"
    fits = [_variational_bms(L, alpha0, tol, max_iter, caller) for L in values]
    pooled = _variational_bms(np.concatenate(values), alpha0, tol, max_iter, caller)
    f_same, f_diff = pooled[3], float(sum(f[3] for f in fits))
    alphas = [f[0] for f in fits] + [pooled[0]]
    frequencies = pd.DataFrame(
        [a / a.sum() for a in alphas],
        index=pd.Index([*names, "pooled"], name="group"),
        columns=pd.Index(list(model_names), name="model"),
    )
    return BetweenGroupsBMS(
        p_same=float(expit(f_same - f_diff)),
        free_energy_same=f_same,
        free_energy_different=f_diff,
        frequencies=frequencies,
        groups=names,
        models=model_names,
    )
