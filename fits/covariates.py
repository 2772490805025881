r"""Group-level regressors for hierarchical EM: subject covariates in the group prior's mean.

Huys, Cools, Gölzer, Friedel, Heinz, Dolan & Dayan (2011), PLoS Comput Biol 7(4): e1002028, and
``emfit.m``'s ``reg`` argument (Huys & Schad): each subject's unconstrained parameters are drawn
from a Gaussian whose mean depends linearly on the subject's covariates,

.. math::

    z_s \sim \mathcal N(W_s \theta, \Sigma), \qquad
    (W_s\theta)_j = \mu_j + \sum_{c \in R_j} b_{jc}\, x_{sc},

with :math:`R_j` the covariates named for parameter :math:`j` and :math:`x_{sc}` the coded
covariates: a numeric column is centred on the fitted subjects' mean (so :math:`\mu_j` is the
group mean at the average covariate), a categorical one (text, boolean, categorical dtype, or a
column named in ``reference``) is dummy-coded against its reference level (named in
``reference``, else the first in sorted order), one 0/1 column ``column[level]`` per other level
(so :math:`b` is that level's difference from the reference, and :math:`\mu_j` the reference
level's group mean).

Estimation (M-step, by generalised least squares given the current :math:`\Sigma`: a
conditional-maximisation step of ECM, Meng & Rubin 1993):
:math:`\hat\theta = (\sum_s W_s^\top \Sigma^{-1} W_s)^{-1} \sum_s W_s^\top \Sigma^{-1} z_s`,
with :math:`z_s` the subjects' MAP estimates.

Standard errors: the observed information of the marginal likelihood
:math:`\prod_s \int p(D_s|z)\,\mathcal N(z; W_s\theta, \Sigma)\,dz` at fixed :math:`\Sigma`, by
Louis's (1982) identity (complete-data information minus missing information),

.. math::

    I(\theta) = \sum_s W_s^\top \left(\Sigma^{-1} - \Sigma^{-1} S_s \Sigma^{-1}\right) W_s,

with :math:`S_s = H_s^{-1}` each subject's Laplace posterior covariance at the last E-step. By the
Woodbury identity this is GLS with the per-subject covariance :math:`V_s = \Sigma + L_s^{-1}`,
:math:`L_s = H_s - \Sigma^{-1}` the Hessian of the subject's negative log-likelihood alone: a
subject whose data pin the parameters down counts as one draw from the group (:math:`V_s
\to \Sigma`), one whose data say nothing counts for nothing (:math:`S_s \to \Sigma`). The
uncertainty of :math:`\hat\Sigma` itself is not propagated (the usual GLS plug-in).

References
----------
Louis, T. A. (1982). Finding the observed information matrix when using the EM algorithm. J. R.
Stat. Soc. B 44, 226-233.
Meng, X.-L. & Rubin, D. B. (1993). Maximum likelihood estimation via the ECM algorithm: a general
framework. Biometrika 80, 267-278.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cogmodels.validation import describe

__all__ = [
    "GroupDesign",
    "check_covariate_arguments",
    "check_regressors",
    "coefficient_table",
    "gls_coefficients",
    "group_design",
    "marginal_information",
    "read_covariates",
]

_SHOW = 10


@dataclass(frozen=True)
class GroupDesign:
    """The design of the group prior's mean: ``mean_s = W_s θ``.

    Attributes
    ----------
    weights : numpy.ndarray
        ``(subjects, k, k + m)``: ``W_s``, the identity for the ``k`` intercepts then one column per
        coefficient, holding the coded covariate in the row of its parameter.
    names : tuple of (str, str)
        ``(parameter, term)`` of each entry of ``θ``: ``(name, "intercept")`` for the ``k`` group
        means, then ``(parameter, coded covariate)`` for the ``m`` coefficients.
    """

    weights: np.ndarray
    names: tuple[tuple[str, str], ...]

    @property
    def n_coefficients(self) -> int:
        """``m``: the regression coefficients (the intercepts not counted)."""
        return len(self.names) - self.weights.shape[1]


def read_covariates(covariates: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """Return the subject table: a DataFrame, or a CSV file read into one, with a ``subject`` column.

    Parameters
    ----------
    covariates : pandas.DataFrame or path
        One row per subject.

    Returns
    -------
    table : pandas.DataFrame
        Indexed by the subject id as text (trial tables and CSV files may type ids differently).

    Raises
    ------
    FileNotFoundError
        ``covariates`` is a path that is not a file.
    ValueError
        No ``subject`` column, or a subject with more than one row.
    """
    if isinstance(covariates, str | os.PathLike):
        source = f"covariates {os.fspath(covariates)}"
        if not os.path.isfile(covariates):
            raise FileNotFoundError(f"{source}: no such file; the subject table is a CSV file with a "
                                    "'subject' column and one column per covariate")
        table = pd.read_csv(covariates)
    elif isinstance(covariates, pd.DataFrame):
        table, source = covariates, "covariates"
    else:
        raise TypeError(f"covariates must be a pandas DataFrame or the path of a CSV file, got "
                        f"{type(covariates).__name__}")
    if "subject" not in table.columns:
        raise ValueError(f"{source}: the subject table needs a 'subject' column; columns: "
                         f"{[str(c) for c in table.columns]}")
    ids = table["subject"].astype(str)
    twice = ids[ids.duplicated()].unique().tolist()
    if twice:
        raise ValueError(f"{source}: subjects {twice[:_SHOW]} have more than one row; give one row per subject")
    return table.drop(columns="subject").set_axis(pd.Index(ids, name="subject"), axis=0)


def _did_you_mean(names: Sequence[str], choices: Sequence[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the close matches of ``names`` among ``choices``, or ``""``.

    With several names, each match is followed by the name it replaces: `` (did you mean 'age'
    for 'agee', 'group' for 'grp'?)``.
    """
    pairs = [(n, close[0]) for n in names
             if (close := difflib.get_close_matches(str(n), [str(c) for c in choices], n=1))]
    if not pairs:
        return ""
    if len(names) == 1:
        return f" (did you mean {pairs[0][1]!r}?)"
    return " (did you mean " + ", ".join(f"{c!r} for {n!r}" for n, c in pairs) + "?)"


def _check_regressors(regressors: Any, param_names: Sequence[str], columns: Sequence[str]) -> dict[str, list[str]]:
    if not isinstance(regressors, Mapping) or not regressors:
        raise TypeError(f"regressors must be a non-empty mapping {{parameter: [covariate, ...]}}, "
                        f"e.g. {{'alpha': ['group', 'age']}}; got {describe(regressors)}")
    out = {}
    for name, cols in regressors.items():
        if name not in param_names:
            raise ValueError(f"regressors: the model has no parameter {name!r}{_did_you_mean([name], param_names)}; "
                             f"its parameters are {list(param_names)}")
        cols = [cols] if isinstance(cols, str) else cols
        if not isinstance(cols, Sequence) or not cols or not all(isinstance(c, str) for c in cols):
            raise ValueError(f"regressors {name}: need a non-empty list of covariate columns, got {describe(cols)}")
        unknown = [c for c in cols if c not in columns]
        if unknown:
            raise ValueError(f"regressors {name}: no column {unknown} in the subject table"
                             f"{_did_you_mean(unknown, columns)}; its covariates are {list(columns)}")
        if len(set(cols)) < len(cols):
            raise ValueError(f"regressors {name}: a covariate is named twice in {cols}")
        out[name] = list(cols)
    return out


def _categorical(values: pd.Series, column: str, reference: Mapping[str, Any]) -> bool:
    return column in reference or not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _code(values: pd.Series, column: str, reference: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Return the coded columns of one covariate and their names."""
    if not _categorical(values, column, reference):
        x = values.to_numpy(dtype=np.float64)
        if np.ptp(x) == 0:
            raise ValueError(f"covariates: column {column!r} takes one value ({x[0]:g}) for every fitted "
                             "subject, so its effect cannot be estimated")
        return (x - x.mean())[:, None], [column]
    levels = sorted(values.unique(), key=str)
    if len(levels) < 2:
        raise ValueError(f"covariates: column {column!r} has one level ({levels[0]!r}) among the fitted "
                         "subjects, so its effect cannot be estimated")
    if column in reference:
        ref = reference[column]
        match = [lv for lv in levels if lv == ref or str(lv) == str(ref)]
        if not match:
            raise ValueError(f"reference {column}: {ref!r} is not a level of the column; its levels are "
                             f"{[str(v) for v in levels]}")
        ref = match[0]
    else:
        ref = levels[0]
    others = [lv for lv in levels if not (lv == ref and str(lv) == str(ref))]
    return (np.stack([(values == lv).to_numpy(dtype=np.float64) for lv in others], axis=1),
            [f"{column}[{lv}]" for lv in others])


def check_covariate_arguments(
    covariates: pd.DataFrame | str | os.PathLike | None,
    regressors: Any,
    reference: Mapping[str, Any] | None,
    param_names: Sequence[str],
) -> pd.DataFrame | None:
    """Check an estimator's ``covariates=``, ``regressors=`` and ``reference=`` together.

    The one check of every estimator with group regressors (:class:`~cogmodels.fits.HierarchicalEM`,
    the hierarchical Bayesian fits), run at construction so a misspelt name fails before a long fit.

    Parameters
    ----------
    covariates : pandas.DataFrame or path, optional
        The subject table (a CSV file is read).
    regressors : mapping of str to list of str, optional
        Parameter -> covariate columns; given if and only if ``covariates`` is.
    reference : mapping, optional
        Categorical covariate -> reference level; needs ``regressors``.
    param_names : sequence of str
        The model's free parameters.

    Returns
    -------
    table : pandas.DataFrame or None
        The subject table (:func:`read_covariates`), or None without covariates.
    """
    if (covariates is None) != (regressors is None):
        given, needed = ("covariates", "regressors") if regressors is None else ("regressors", "covariates")
        raise ValueError(f"{given} needs {needed} too: covariates= is the subject table, regressors= "
                         f"maps parameters to its columns, e.g. {{'alpha': ['group']}}")
    if reference is not None and regressors is None:
        raise ValueError("reference names reference levels of covariates: give covariates= and regressors=")
    if covariates is None:
        return None
    table = read_covariates(covariates)
    check_regressors(table, regressors, param_names, reference)
    return table


def check_regressors(
    table: pd.DataFrame,
    regressors: Any,
    param_names: Sequence[str],
    reference: Mapping[str, Any] | None = None,
) -> dict[str, list[str]]:
    """Check the names in ``regressors`` and ``reference`` against the model and the subject table.

    Parameters
    ----------
    table : pandas.DataFrame
        The subject table from :func:`read_covariates`.
    regressors : mapping of str to list of str
        Parameter -> covariate columns.
    param_names : sequence of str
        The model's (free) parameters.
    reference : mapping, optional
        Categorical column -> reference level.

    Returns
    -------
    regressors : dict of str to list of str
        The regressors, a single column name turned into a list.
    """
    regressors = _check_regressors(regressors, list(param_names), [str(c) for c in table.columns])
    if reference is not None and not isinstance(reference, Mapping):
        raise TypeError(f"reference must be a mapping {{column: level}}, got {describe(reference)}")
    unused = sorted(set(reference or {}) - {c for cols in regressors.values() for c in cols})
    if unused:
        raise ValueError(f"reference: {unused} are not covariates of any parameter in regressors "
                         f"{dict(regressors)}")
    return regressors


def group_design(
    table: pd.DataFrame,
    regressors: Mapping[str, Sequence[str]],
    param_names: Sequence[str],
    subjects: Sequence[Any],
    reference: Mapping[str, Any] | None = None,
) -> GroupDesign:
    """Build ``W_s`` for every fitted subject (module docstring for the coding).

    Parameters
    ----------
    table : pandas.DataFrame
        The subject table, as :func:`read_covariates` returns it.
    regressors : mapping of str to list of str
        Parameter -> covariate columns entering its group mean, e.g. ``{"alpha": ["group", "age"]}``.
    param_names : sequence of str
        The model's (free) parameters, in order.
    subjects : sequence
        The fitted subjects, in the order of the fit.
    reference : mapping of str to level, optional
        Categorical column -> its reference level; a numeric column named here is categorical.

    Returns
    -------
    design : GroupDesign
        The design matrices and the names of ``θ``'s entries.

    Raises
    ------
    ValueError
        An unknown parameter or column, a subject missing from the table, a missing (NaN)
        covariate of a fitted subject, a covariate with one value, an unknown reference level, or
        collinear covariates.

    Warns
    -----
    UserWarning
        Naming the subjects of the table that are not among ``subjects`` (they are left out).
    """
    regressors = check_regressors(table, regressors, param_names, reference)
    reference = dict(reference or {})
    param_names = list(param_names)
    ids = pd.Index([str(s) for s in subjects])
    missing = ids.difference(table.index)
    if len(missing):
        raise ValueError(f"covariates: {len(missing)} fitted subject(s) have no row in the subject table, "
                         f"e.g. {missing[:_SHOW].tolist()}; give a row for every subject of the trial table")
    unused = table.index.difference(ids)
    if len(unused):
        more = f" and {len(unused) - _SHOW} more" if len(unused) > _SHOW else ""
        warnings.warn(f"covariates: {len(unused)} subject(s) of the subject table are not among the fitted "
                      f"subjects and take no part in the fit: {unused[:_SHOW].tolist()}{more} (absent from the "
                      "trial table, or skipped by the estimator; ids are compared as text)",
                      UserWarning, stacklevel=2)
    rows = table.loc[ids]
    coded: dict[str, tuple[np.ndarray, list[str]]] = {}
    for column in dict.fromkeys(c for cols in regressors.values() for c in cols):
        values = rows[column]
        if values.isna().any():
            raise ValueError(f"covariates: column {column!r} is missing (NaN) for subjects "
                             f"{ids[values.isna().to_numpy()][:_SHOW].tolist()}; fill it in or leave those "
                             "subjects out of the trial table")
        coded[column] = _code(values, column, reference)
    n, k = len(ids), len(param_names)
    names = [(p, "intercept") for p in param_names]
    blocks = []
    for p, cols in regressors.items():
        for column in cols:
            x, terms = coded[column]
            for i, term in enumerate(terms):
                names.append((p, term))
                blocks.append((param_names.index(p), x[:, i]))
    weights = np.zeros((n, k, len(names)))
    weights[:, np.arange(k), np.arange(k)] = 1.0
    for c, (j, x) in enumerate(blocks):
        weights[:, j, k + c] = x
    design = GroupDesign(weights, tuple(names))
    gram = np.einsum("sji,sjl->il", weights, weights)
    rank = np.linalg.matrix_rank(gram)
    if rank < len(names):
        raise ValueError(f"regressors: the covariates of some parameter are collinear (design rank {rank} "
                         f"< {len(names)} group-mean coefficients {[f'{p}:{t}' for p, t in names]}); "
                         "drop one of the collinear covariates")
    return design


def gls_coefficients(z: np.ndarray, design: GroupDesign, prec: np.ndarray) -> np.ndarray:
    """Return ``θ = (Σ_s W_sᵀ P W_s)⁻¹ Σ_s W_sᵀ P z_s``, ``P = Σ⁻¹`` (the M-step's mean part).

    Parameters
    ----------
    z : numpy.ndarray
        ``(subjects, k)`` MAP estimates in the unconstrained space.
    design : GroupDesign
        The design of the group mean.
    prec : numpy.ndarray
        ``(k, k)`` group precision ``Σ⁻¹``.

    Returns
    -------
    theta : numpy.ndarray
        ``(k + m,)`` intercepts then coefficients.
    """
    w = design.weights
    pw = np.einsum("ij,sjq->siq", prec, w)
    gram = np.einsum("sjp,sjq->pq", w, pw)
    rhs = np.einsum("sjq,sj->q", pw, z)
    return np.linalg.solve(gram, rhs)


def marginal_information(design: GroupDesign, prec: np.ndarray, post_cov: np.ndarray) -> np.ndarray:
    """Observed information of ``θ`` (Louis 1982): ``Σ_s W_sᵀ (P − P S_s P)₊ W_s``.

    Parameters
    ----------
    design : GroupDesign
        The design of the group mean.
    prec : numpy.ndarray
        ``(k, k)`` group precision ``P = Σ⁻¹``.
    post_cov : numpy.ndarray
        ``(subjects, k, k)`` Laplace posterior covariances ``S_s``.

    Returns
    -------
    information : numpy.ndarray
        ``(k + m, k + m)``. Each subject's ``P − P S_s P`` is projected onto the positive
        semidefinite matrices (a posterior wider than the prior in some direction, possible when
        ``S_s`` was floored, adds no information rather than negative information).
    """
    per = prec[None] - np.einsum("ij,sjl,lm->sim", prec, post_cov, prec)
    w, v = np.linalg.eigh(0.5 * (per + per.transpose(0, 2, 1)))
    per = np.einsum("sij,sj,skj->sik", v, np.maximum(w, 0.0), v)
    return np.einsum("sjp,sjl,slq->pq", design.weights, per, design.weights)


def coefficient_table(design: GroupDesign, theta: np.ndarray, information: np.ndarray,
                      level: float = 0.95) -> pd.DataFrame:
    """Return the tidy table of ``θ``: estimate, standard error, Wald z, two-sided p and CI.

    Parameters
    ----------
    design : GroupDesign
        Names of the entries.
    theta : numpy.ndarray
        The estimates.
    information : numpy.ndarray
        Their observed information (:func:`marginal_information`); ``se = sqrt(diag(I⁻¹))``.
    level : float, default 0.95
        Coverage of the Wald interval ``estimate ± z_{(1+level)/2} se``.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``parameter, covariate, estimate, se, z, p_value, ci_low, ci_high``; the
        intercepts have ``covariate == "intercept"`` (all in the unconstrained space).
    """
    cov = np.linalg.pinv(information)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = theta / se
    half = stats.norm.ppf(0.5 + level / 2) * se
    return pd.DataFrame({
        "parameter": [p for p, _ in design.names],
        "covariate": [t for _, t in design.names],
        "estimate": theta,
        "se": se,
        "z": zval,
        "p_value": 2 * stats.norm.sf(np.abs(zval)),
        "ci_low": theta - half,
        "ci_high": theta + half,
    })
