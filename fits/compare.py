"""Model comparison: cross-validated held-out likelihood, information criteria and group BMS.

:func:`cross_validate` scores a model on held-out trials (k-fold over blocks, sessions or
contiguous chunks of every subject's trials). A model's state depends on the whole history, so
held-out trials are never cut out of the sequence: the training fit runs the model over each
subject's full trial sequence and sums only the training trials' log-probabilities, and each
held-out trial is scored by running the model with the training-fold parameters over the full
sequence and keeping the held-out trials' log-probabilities. Every valid trial is held out
exactly once.

:func:`compare_models` fits several models to one trial table and tabulates, per model, the
summed log-likelihood, AIC (Akaike 1974), BIC (Schwarz 1978), the hierarchical Laplace evidence
and integrated BIC when fitted by EM (Huys et al. 2011), the cross-validated held-out
log-likelihood when asked, PSIS-LOO and WAIC when fitted by NUTS or variational inference
(:mod:`cogmodels.fits.bayes`; Vehtari, Gelman & Gabry 2017), and random-effects Bayesian model selection
(:func:`cogmodels.fits.bms.bms`; Stephan et al. 2009, Rigoux et al. 2014) on per-subject log
evidence ``-BIC/2``, ``-AIC/2`` or the Laplace evidence. See Wilson & Collins (2019), eLife,
"Ten simple rules for the computational modeling of behavioral data".
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cogmodels.fits.bayes import HierarchicalBayes
from cogmodels.fits.bms import BMSResult, bms
from cogmodels.fits.estimators import estimator_class
from cogmodels.fits.mle import SubjectFit
from cogmodels.likelihood import (
    CheckedTrials,
    TrialArrays,
    log_likelihood,
    prepare_trials,
    trial_arrays,
)
from cogmodels.model import CognitiveModel
from cogmodels.models import make_model
from cogmodels.parameters import unpack
from cogmodels.progress import progress_bar
from cogmodels.validation import SeedLike, check_bool, int_seed, seed_sequence

__all__ = ["CVResult", "Comparison", "compare_models", "cross_validate", "fold_labels"]

_BMS_ON = ("bic", "aic", "laplace")


# -- training on part of the trials -----------------------------------------------------------
class _TrainingMask:
    """Mixin for an estimator: fit on the training trials only, running the full sequence.

    ``_train`` is a ``(trials, subjects)`` mask over the :class:`TrialArrays` given to ``fit``.
    Held-out trials still advance the model's state (the subject lived through them) but their
    choices add nothing to the objective. ``loglik_``, ``n_trials_``, ``aic_`` and ``bic_``
    describe the training trials.
    """

    _train: np.ndarray

    def _prepare(self, trials: TrialArrays, source: str | None) -> TrialArrays:
        # count only training trials towards min_trials, then restore the full validity
        counted = dataclasses.replace(trials, valid=trials.valid & self._train[None])
        kept = super()._prepare(counted, source)
        cols = pd.Index(trials.subjects).get_indexer(kept.subjects)
        self._train_kept = self._train[:, cols]
        return dataclasses.replace(kept, valid=trials.valid[:, :, cols])

    def _objective(self, data: TrialArrays, subject_of_lane: np.ndarray):
        model, specs, train = self.model, self.model.param_specs, self._train_kept

        def fun(z: np.ndarray, lanes: np.ndarray) -> np.ndarray:
            sub = subject_of_lane[lanes]
            params = unpack(specs, z)
            with np.errstate(all="ignore"):
                lp = log_likelihood(model, params, data, sub, trialwise=True)
                ll = np.where(train[:, sub].T, lp, 0.0).sum(axis=1)
                val = -(ll + self._log_prior_z(z, sub))
            return np.where(np.isfinite(val), val, np.inf)

        return fun

    def _finish(
        self, data: TrialArrays, z: np.ndarray, objective: np.ndarray, converged: np.ndarray,
        hess: np.ndarray | None = None,
    ) -> None:
        super()._finish(data, z, objective, converged, hess)
        params = {k: self.params_[k].to_numpy() for k in self.params_.columns}
        lp = log_likelihood(self.model, params, data, trialwise=True)
        ll = np.where(self._train_kept.T, lp, 0.0).sum(axis=1)
        n = (data.valid[0] & self._train_kept).sum(axis=0)
        k = self.model.n_params
        idx = self.params_.index
        self.loglik_ = pd.Series(ll, index=idx, name="loglik")
        self.n_trials_ = pd.Series(n, index=idx, name="n_trials")
        self.aic_ = pd.Series(2 * k - 2 * ll, index=idx, name="aic")
        self.bic_ = pd.Series(k * np.log(n) - 2 * ll, index=idx, name="bic")


_TRAINING_CLASSES: dict[type[SubjectFit], type[SubjectFit]] = {}


def _training_estimator(method: str, model: CognitiveModel, train: np.ndarray, **kwargs: Any) -> SubjectFit:
    base = estimator_class(method)
    if base not in _TRAINING_CLASSES:
        _TRAINING_CLASSES[base] = type(f"Training{base.__name__}", (_TrainingMask, base), {})
    est = _TRAINING_CLASSES[base](model, **kwargs)
    est._train = train
    return est


# -- folds --------------------------------------------------------------------------------------
def fold_labels(trials: pd.DataFrame, folds: int | str = "block", n_folds: int | None = None) -> tuple[np.ndarray, int]:
    """Return the cross-validation fold of every row of ``trials`` and the number of folds.

    - ``folds=k`` (an integer >= 2): each subject's rows, in table order, are cut into ``k``
      contiguous chunks of nearly equal length; chunk ``j`` of every subject is fold ``j``.
    - ``folds="block"`` or ``"session"``: the rows are grouped by that column within each
      subject (``"block"`` by the pair (session, block) where there is a ``session`` column, as
      block numbers may restart each session). By default each group is its own fold: the
      ``j``-th group of every subject (in order of first appearance) is held out in fold ``j``,
      so there are as many folds as the largest number of groups of a subject. With ``n_folds``,
      groups are dealt round-robin: group ``j`` goes to fold ``j % n_folds``.

    Raises ``ValueError`` when the column is missing or holds missing values, when a subject
    has fewer than 2 groups (or fewer rows than ``k``).
    """
    if not isinstance(trials, pd.DataFrame):
        raise TypeError(f"trials must be a pandas DataFrame (a trial table), got {type(trials).__name__}")
    if "subject" not in trials.columns:
        raise ValueError(f"trials needs a 'subject' column (columns present: {list(trials.columns)})")
    codes, subjects = pd.factorize(trials["subject"], sort=False)
    codes_s = pd.Series(codes)
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer, str)):
        raise ValueError(f"folds must be an integer >= 2, 'block' or 'session', got {folds!r}")
    if n_folds is not None and (isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2):
        raise ValueError(f"n_folds must be None or an integer >= 2, got {n_folds!r}")
    if isinstance(folds, (int, np.integer)):
        k = int(folds)
        if k < 2:
            raise ValueError(f"folds must be an integer >= 2, 'block' or 'session', got {folds!r}")
        if n_folds is not None:
            raise ValueError(
                f"n_folds applies to folds='block' or 'session'; with folds={k} leave n_folds=None"
            )
        pos = codes_s.groupby(codes).cumcount().to_numpy()
        size = np.bincount(codes, minlength=len(subjects))
        short = size < k
        if short.any():
            raise ValueError(
                f"folds={k}: subjects {subjects[short][:10].tolist()} have fewer than {k} trials; "
                "use fewer folds"
            )
        return (pos * k) // size[codes], k
    if folds not in ("block", "session"):
        raise ValueError(f"folds must be an integer >= 2, 'block' or 'session', got {folds!r}")
    cols = ["session", "block"] if folds == "block" and "session" in trials.columns else [folds]
    if folds not in trials.columns:
        raise ValueError(
            f"folds={folds!r} needs a {folds!r} column in trials (columns present: "
            f"{list(trials.columns)}); pass folds=k (an integer) to cut each subject's trials "
            "into k contiguous chunks instead"
        )
    missing = trials[cols].isna().any(axis=1).to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(f"folds={folds!r}: column(s) {cols} are missing at rows {rows[:10].tolist()}")
    group = pd.factorize(pd.MultiIndex.from_arrays([codes, *(trials[c].to_numpy() for c in cols)]))[0]
    # group ids number groups in order of first appearance, so their dense rank within a subject
    # is the subject's group order
    rank = pd.Series(group).groupby(codes).rank(method="dense").to_numpy().astype(np.int64) - 1
    n_groups = pd.Series(rank).groupby(codes).max().to_numpy() + 1
    few = n_groups < 2
    if few.any():
        raise ValueError(
            f"folds={folds!r}: subjects {subjects[few][:10].tolist()} have fewer than 2 distinct "
            f"{'/'.join(cols)} groups, so nothing is left to train on when one is held out; use "
            "folds=k (an integer) to cut each subject's trials into k contiguous chunks"
        )
    if n_folds is None:
        return rank, int(n_groups.max())
    return rank % n_folds, int(n_folds)


# -- cross-validation ---------------------------------------------------------------------------
@dataclass(eq=False)
class CVResult:
    """Cross-validated held-out log-likelihood of one model.

    Attributes
    ----------
    model, method : str
        The model's name and the estimator used on each training set.
    n_folds : int
        Number of folds.
    folds : pandas.DataFrame
        Long table, one row per (subject, fold): ``n_train``, ``n_test`` (valid trials),
        ``train_loglik`` (at the training fit), ``loglik`` (held-out), ``mean_loglik`` (held-out,
        per trial). Subjects skipped in a fold (too few training trials) have NaN.
    per_subject : pandas.DataFrame
        Indexed by subject: held-out ``loglik`` summed over folds, ``n_trials``,
        ``mean_loglik``, ``mean_likelihood`` (the geometric mean held-out probability of the
        observed choices, ``exp(mean_loglik)``) and ``mean_probability`` (their arithmetic mean).
    trialwise : pandas.DataFrame
        Aligned with the trial table's index: ``subject``, ``fold`` (the fold holding the row
        out) and ``loglik`` (its held-out log-probability; NaN where the choice is missing or the
        subject was skipped).
    estimators : list of SubjectFit
        The fitted training estimator of each fold.
    """

    model: str
    method: str
    n_folds: int
    folds: pd.DataFrame
    per_subject: pd.DataFrame
    trialwise: pd.DataFrame
    estimators: list[SubjectFit] = field(repr=False)

    @property
    def loglik(self) -> float:
        """Held-out log-likelihood summed over subjects and folds."""
        return float(self.per_subject["loglik"].sum(min_count=1))

    @property
    def n_trials(self) -> int:
        """Held-out trials of the subjects with a held-out log-likelihood."""
        return int(self.per_subject.loc[self.per_subject["loglik"].notna(), "n_trials"].sum())

    @property
    def mean_likelihood(self) -> float:
        """Geometric-mean held-out probability of a choice, ``exp(loglik / n_trials)``."""
        return float(np.exp(self.loglik / self.n_trials))


def cross_validate(
    model: CognitiveModel,
    trials: pd.DataFrame,
    *,
    method: str = "mle",
    folds: int | str = "block",
    n_folds: int | None = None,
    n_starts: int = 10,
    seed: SeedLike = None,
    progress: bool = True,
    **estimator_kwargs: Any,
) -> CVResult:
    """k-fold held-out log-likelihood of ``model`` on ``trials``.

    Each fold holds out part of every subject's trials (see :func:`fold_labels` for ``folds``
    and ``n_folds``), fits the model by ``method`` ("mle", "map" or "em") to the rest and scores
    the held-out trials. Both the fit and the score run the model over the subject's full trial
    sequence: training counts only the training trials' choices, scoring only the held-out
    ones, so the model's state on a held-out trial reflects everything the subject saw before.
    ``estimator_kwargs`` go to the estimator (e.g. ``priors`` for MAP, ``min_trials``).
    Fold ``f`` is fitted with a seed spawned from ``SeedSequence(seed)``. The table is validated
    first as by the estimators (rows out of trial order are sorted, with a warning; folds are
    then cut in trial order). ``progress`` draws a bar of the folds (on a terminal only).
    """
    if not isinstance(model, CognitiveModel):
        raise TypeError(f"model must be a CognitiveModel, got {type(model).__name__}")
    _check_cross_validated(estimator_class(method))
    progress = check_bool("progress", progress)
    checked = trials if isinstance(trials, CheckedTrials) else prepare_trials(trials, model)
    data = trial_arrays(checked, model)
    fold_row, k = fold_labels(checked.table, folds, n_folds)  # in trial order
    with progress_bar(progress, total=k, unit="fold", desc=f"{model.name} cross-validation") as bar:
        return _cross_validate(model, checked, data, fold_row, k, method=method, n_starts=n_starts,
                               seed=seed, bar=bar, **estimator_kwargs)


def _cross_validate(
    model: CognitiveModel,
    checked: CheckedTrials,
    data: TrialArrays,
    fold_labels_: np.ndarray,
    k: int,
    *,
    method: str,
    n_starts: int,
    seed: int | None,
    bar: Any,
    **estimator_kwargs: Any,
) -> CVResult:
    """Run :func:`cross_validate` on a validated table and its arrays, advancing ``bar`` per fold.

    ``fold`` gives the fold of each row of the table.
    """
    fold_row = checked.to_caller(fold_labels_)  # ``data.row_index`` is in the caller's rows
    n_rows = len(fold_row)
    present = data.row_index >= 0
    fold_ts = np.where(present, fold_row[np.where(present, data.row_index, 0)], -1)
    valid = data.valid[0]
    seeds = seed_sequence(seed).spawn(k)
    trial_ll = np.full(n_rows, np.nan)
    rows: list[pd.DataFrame] = []
    prob_sum = np.zeros(data.n_subjects)
    estimators: list[SubjectFit] = []
    all_subjects = pd.Index(data.subjects)
    for f in range(k):
        test = fold_ts == f
        train = present & ~test
        est = _training_estimator(
            method, model, train, n_starts=n_starts, seed=int_seed(seeds[f]), **estimator_kwargs
        )
        bar.set_postfix_str(f"{model.name} fold {f + 1}/{k}", refresh=False)
        with warnings.catch_warnings():
            # subjects without enough training trials are reported per fold below
            warnings.filterwarnings("ignore", message="skipping .* subject", category=UserWarning)
            est.fit(data, progress=False)
        bar.update()
        estimators.append(est)
        cols = all_subjects.get_indexer(est.params_.index)
        params = {p: est.params_[p].to_numpy() for p in est.params_.columns}
        with np.errstate(divide="ignore"):
            lp = log_likelihood(model, params, data.subset(cols), trialwise=True)  # (S, T)
        held = test[:, cols].T & valid[:, cols].T
        trial_ll[data.row_index[:, cols].T[held]] = lp[held]
        prob_sum[cols] += np.where(held, np.exp(lp), 0.0).sum(axis=1)
        ll = np.full(data.n_subjects, np.nan)
        ll[cols] = np.where(held, lp, 0.0).sum(axis=1)
        train_ll = np.full(data.n_subjects, np.nan)
        train_ll[cols] = est.loglik_.to_numpy()
        n_test = (test & valid).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = ll / n_test
        rows.append(
            pd.DataFrame(
                {
                    "subject": data.subjects,
                    "fold": f,
                    "n_train": (train & valid).sum(axis=0),
                    "n_test": n_test,
                    "train_loglik": train_ll,
                    "loglik": ll,
                    "mean_loglik": mean,
                }
            )
        )
    fold_table = pd.concat(rows, ignore_index=True)
    skipped = fold_table.loc[fold_table["loglik"].isna() & (fold_table["n_test"] > 0), ["subject", "fold"]]
    if len(skipped):
        warnings.warn(
            f"{model.name}: {len(skipped)} (subject, fold) pair(s) had too few training trials and "
            f"were not scored, e.g. {list(skipped.itertuples(index=False, name=None))[:5]}; their "
            "held-out log-likelihood is NaN",
            UserWarning,
            stacklevel=2,
        )
    grouped = fold_table.groupby("subject", sort=False)
    total = grouped["loglik"].sum(min_count=k).reindex(all_subjects)  # NaN if any fold missing
    n = grouped["n_test"].sum().reindex(all_subjects)
    per_subject = pd.DataFrame({"loglik": total, "n_trials": n})
    per_subject["mean_loglik"] = per_subject["loglik"] / per_subject["n_trials"]
    per_subject["mean_likelihood"] = np.exp(per_subject["mean_loglik"])
    with np.errstate(invalid="ignore", divide="ignore"):
        per_subject["mean_probability"] = np.where(total.notna(), prob_sum / n.to_numpy(), np.nan)
    per_subject.index.name = "subject"
    trialwise = pd.DataFrame(
        {"subject": checked.to_caller(checked.table["subject"].to_numpy()), "fold": fold_row,
         "loglik": trial_ll},
        index=checked.caller_index(),
    )
    return CVResult(model.name, method, k, fold_table, per_subject, trialwise, estimators)


# -- comparing models ---------------------------------------------------------------------------
@dataclass(eq=False)
class Comparison:
    """Several models fitted to one trial table.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model (index ``model``): ``n_params``, ``n_subjects``, ``n_trials``,
        summed ``loglik``, ``aic``, ``bic``, ``delta_aic``, ``delta_bic`` (relative to the
        best), with EM also ``log_evidence`` (summed Laplace evidence), ``ibic``,
        ``n_em_iter`` and ``em_converged`` (whether EM met its stopping rule); with
        NUTS or VI ``looic`` (``-2 elpd_loo``, hBayesDM's LOOIC), ``looic_se``, ``p_loo``,
        ``delta_looic``, ``waic`` (``-2 elpd_waic``), ``waic_se`` and ``p_waic``; with
        cross-validation ``cv_loglik`` and ``cv_mean_likelihood``; then the BMS ``alpha``,
        ``expected_frequency``, ``xp``, ``pxp`` and ``bor``.
    per_subject : pandas.DataFrame
        Long table, one row per (subject, model): ``n_params``, ``n_trials``, ``loglik``,
        ``aic``, ``bic``, ``log_evidence`` (what BMS used: ``-bic/2``, ``-aic/2`` or the Laplace
        evidence), with EM ``laplace``, with NUTS or VI ``elpd_loo`` (each subject's PSIS-LOO
        term when the fit kept one log-likelihood per subject), with cross-validation
        ``cv_loglik``.
    fits : dict[str, SubjectFit]
        Model name -> fitted estimator.
    bms : BMSResult
        The random-effects BMS over the subjects fitted by every model.
    cv : dict[str, CVResult]
        Model name -> cross-validation result (empty without cross-validation).
    bms_on : {"bic", "aic", "laplace"}
        The per-subject log evidence BMS used.
    """

    table: pd.DataFrame
    per_subject: pd.DataFrame
    fits: dict[str, SubjectFit] = field(repr=False)
    bms: BMSResult = field(repr=False)
    cv: dict[str, CVResult] = field(repr=False)
    bms_on: str = "bic"

    @property
    def bor(self) -> float:
        """Bayesian omnibus risk of the BMS."""
        return self.bms.bor

    def best(self, by: str = "pxp") -> str:
        """Return the name of the best model by the column ``by`` of :attr:`table`.

        Higher is better for "pxp", "xp", "expected_frequency", "cv_loglik", "log_evidence" and
        "loglik"; lower is better for "bic", "aic", "ibic", "looic" and "waic".
        """
        higher = ("pxp", "xp", "expected_frequency", "cv_loglik", "log_evidence", "loglik")
        lower = ("bic", "aic", "ibic", "looic", "waic")
        if by not in higher + lower or by not in self.table.columns:
            have = [c for c in higher + lower if c in self.table.columns]
            raise ValueError(f"by must be one of {have}, got {by!r}")
        col = self.table[by]
        return str(col.idxmax() if by in higher else col.idxmin())

    def plot(self, *, figsize: tuple[float, float] | None = None) -> Figure:
        """Plot the comparison: Δ criterion, protected exceedance probabilities, held-out fit.

        The panels show the criterion BMS used (BIC, AIC or iBIC) relative to the best model,
        the protected exceedance probabilities and, with cross-validation, the held-out mean
        likelihood per choice.
        """
        import seaborn as sns

        t = self.table.reset_index()
        crit = {"bic": "bic", "aic": "aic", "laplace": "ibic"}[self.bms_on]
        name = crit.upper() if crit != "ibic" else "iBIC"
        panels = 3 if "cv_mean_likelihood" in t.columns else 2
        fig = Figure(figsize=figsize or (3.6 * panels, 3.6), layout="constrained")
        axes = fig.subplots(1, panels)
        t["delta"] = t[crit] - t[crit].min()
        sns.barplot(data=t, x="model", y="delta", ax=axes[0], color="C0")
        axes[0].set_ylabel(f"Δ{name} (lower is better)")
        axes[0].set_title(f"summed {name}\nminus the best model's")
        sns.barplot(data=t, x="model", y="pxp", ax=axes[1], color="C1")
        axes[1].axhline(1.0 / len(t), color="0.4", linestyle="--", linewidth=1,
                        label=f"chance, 1/{len(t)} models (BMS)")
        axes[1].set_ylim(0, 1)
        axes[1].set_ylabel("protected exceedance probability")
        axes[1].set_title(f"random-effects BMS\n(BOR = {self.bor:.2g})")
        if panels == 3:
            sns.barplot(data=t, x="model", y="cv_mean_likelihood", ax=axes[2], color="C2")
            axes[2].set_ylabel("held-out likelihood per choice")
            axes[2].set_title("cross-validation\n(held-out choices)")
            axes[2].set_ylim(0, 1)
            n_actions = {m.n_actions for m in (f.model for f in self.fits.values())}
            single = all(len(f.model.choice_columns) == 1 for f in self.fits.values())
            if single and len(n_actions) == 1:  # chance level of a one-stage choice
                k = n_actions.pop()
                axes[2].axhline(1.0 / k, color="0.4", linestyle="--", linewidth=1,
                                label=f"chance, 1/{k} actions (held-out)")
        handles, labels = [], []
        for ax in axes:
            ax.tick_params(axis="x", labelrotation=30)
            ax.set_xlabel("model")
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
        if handles:  # below the panels, where it hides no bar
            fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), frameon=False,
                       fontsize="small")
        return fig


def _resolve_models(models: Any) -> dict[str, CognitiveModel]:
    def build(name: str, m: Any) -> CognitiveModel:
        if isinstance(m, str):
            return make_model(m)
        if isinstance(m, CognitiveModel):
            return m
        raise TypeError(
            f"models[{name!r}] must be a CognitiveModel or a registered model name, got {type(m).__name__}"
        )

    if isinstance(models, Mapping):
        out = {str(k): build(str(k), v) for k, v in models.items()}
    elif isinstance(models, Sequence) and not isinstance(models, str):
        out = {}
        for m in models:
            name = m if isinstance(m, str) else getattr(m, "name", repr(m))
            if name in out:
                raise ValueError(
                    f"models holds two models named {name!r}; pass a dict name -> model to tell "
                    "variants apart, e.g. {'sticky': make_model('q_learning'), 'plain': "
                    "make_model('q_learning', stickiness=False)}"
                )
            out[name] = build(name, m)
    else:
        raise TypeError(
            "models must be a dict name -> CognitiveModel or a list of models / registered names, "
            f"got {type(models).__name__}"
        )
    if len(out) < 2:
        raise ValueError(f"models must hold at least 2 models to compare, got {list(out)}")
    return out


def compare_models(
    trials: pd.DataFrame,
    models: Mapping[str, CognitiveModel | str] | Sequence[CognitiveModel | str],
    *,
    method: str = "mle",
    cv_folds: int | str | None = None,
    n_starts: int = 10,
    seed: SeedLike = None,
    bms_on: str = "bic",
    bms_samples: int = 1_000_000,
    ceilings: Mapping[str, Any] | None = None,
    progress: bool = True,
    **estimator_kwargs: Any,
) -> Comparison:
    """Fit every model in ``models`` to ``trials`` and compare them.

    Parameters
    ----------
    trials : pandas.DataFrame
        The trial table.
    models : dict or sequence
        A dict name -> model (or registered name), or a list of models / registered names
        (named by ``model.name``).
    method : {"mle", "map", "em", "nuts", "vi"}
        The estimator (hierarchical EM adds the Laplace evidence and iBIC; the Bayesian fits
        add PSIS-LOO and WAIC, over subjects or trials as their ``pointwise`` argument says).
    cv_folds : int, str or None
        When given, also cross-validate each model with ``folds=cv_folds`` (see
        :func:`cross_validate`).
    n_starts : int, default 10
        Random starts per subject.
    seed : int, SeedSequence, Generator or None
        Model ``j`` is fitted (and cross-validated) with seeds spawned from
        ``SeedSequence(seed)``.
    bms_on : {"bic", "aic", "laplace"}
        The per-subject log evidence for random-effects BMS: ``-BIC/2``, ``-AIC/2`` or the EM
        Laplace evidence (needs ``method="em"``).
    bms_samples : int, default 1_000_000
        Dirichlet draws for the exceedance probabilities of more than two models.
    ceilings : mapping or None
        Name -> a data-driven benchmark with a ``cross_validate(trials, folds=..., n_folds=...,
        seed=...)`` method returning a :class:`CVResult`, e.g.
        :class:`cogmodels.agents.tiny_rnn.TinyRNN` (Ji-An et al. 2025). Needs ``cv_folds``; each
        gets a row with its held-out ``cv_loglik`` and ``cv_mean_likelihood`` (and its
        ``n_params``, the network's weights) beside the cognitive models; the information
        criteria and BMS cover the cognitive models only.
    progress : bool, default True
        Draw a bar of the fits (one per model and per cross-validation fold; on a terminal only).
    **estimator_kwargs
        Passed to every estimator.

    Returns
    -------
    Comparison
        The fitted estimators, the comparison table, BMS and cross-validation results.

    Notes
    -----
    The table is validated once for all the models (:func:`cogmodels.likelihood.prepare_trials`:
    the trial-table schema and each model's columns and actions) before anything is fitted;
    rows out of trial order are sorted, with a warning.
    """
    if not isinstance(trials, pd.DataFrame):
        raise TypeError(f"trials must be a pandas DataFrame (a trial table), got {type(trials).__name__}")
    cls = estimator_class(method)
    progress = check_bool("progress", progress)
    if bms_on not in _BMS_ON:
        raise ValueError(f"bms_on must be one of {list(_BMS_ON)}, got {bms_on!r}")
    if bms_on == "laplace" and method != "em":
        raise ValueError(
            f"bms_on='laplace' needs the hierarchical fit's Laplace evidence: use method='em' "
            f"(got method={method!r}) or bms_on='bic'"
        )
    if cv_folds is not None:
        _check_cross_validated(cls)
    resolved = _resolve_models(models)
    ceilings = dict(ceilings or {})
    if ceilings and cv_folds is None:
        raise ValueError("ceilings are scored by cross-validation: give cv_folds too (e.g. 'block')")
    for name, c in ceilings.items():
        if not callable(getattr(c, "cross_validate", None)):
            raise TypeError(f"ceilings[{name!r}] must have a cross_validate method (e.g. a TinyRNN), "
                            f"got {type(c).__name__}")
        if name in resolved:
            raise ValueError(f"ceilings[{name!r}] has the name of a model; give it another name")
    # validate once, for every model, before any fitting
    checked = prepare_trials(trials, list(resolved.values()))
    arrays = {name: trial_arrays(checked, model) for name, model in resolved.items()}
    fold_row, k = fold_labels(checked.table, cv_folds) if cv_folds is not None else (None, 0)
    *seeds, bms_seed, ceiling_seed = seed_sequence(seed).spawn(len(resolved) + 2)
    fits: dict[str, SubjectFit] = {}
    cvs: dict[str, CVResult] = {}
    frames = []
    bar = progress_bar(progress, total=len(resolved) * (1 + k) + len(ceilings) * k, unit="fit",
                       desc="compare")
    with bar:
        for (name, model), ss in zip(resolved.items(), seeds):
            fit_seed, cv_seed = ss.spawn(2)
            bar.set_postfix_str(f"{name} fit", refresh=False)
            est = cls(model, n_starts=n_starts, seed=int_seed(fit_seed), **estimator_kwargs)
            est.fit(arrays[name], progress=False)
            bar.update()
            fits[name] = est
            frames.append(_model_rows(est, name, method, bms_on))
            if cv_folds is not None:
                cv = _cross_validate(
                    model, checked, arrays[name], fold_row, k, method=method, n_starts=n_starts,
                    seed=int_seed(cv_seed), bar=bar, **estimator_kwargs,
                )
                cvs[name] = cv
                frames[-1]["cv_loglik"] = cv.per_subject["loglik"].reindex(est.params_.index).to_numpy()
        ceiling_cvs = {}
        for (name, c), ss in zip(ceilings.items(), ceiling_seed.spawn(len(ceilings))):
            bar.set_postfix_str(f"{name} cross-validation", refresh=False)
            ceiling_cvs[name] = _ceiling_cv(c, checked, cv_folds, int_seed(ss), progress)
            bar.update(k)
    per_subject = pd.concat(frames, ignore_index=True)

    names = list(resolved)
    wide = per_subject.pivot(index="subject", columns="model", values="log_evidence")
    order = pd.Index(frames[0]["subject"]).append(pd.Index(per_subject["subject"])).unique()
    wide = wide.reindex(index=order, columns=names)
    common = wide.dropna()
    if len(common) < len(wide):
        warnings.warn(
            f"{len(wide) - len(common)} subject(s) were not fitted by every model (see each "
            "estimator's skipped_); BMS uses the subjects fitted by all",
            UserWarning,
            stacklevel=2,
        )
    if common.empty:
        raise ValueError("no subject was fitted by every model, so BMS has nothing to compare")
    result = bms(common, n_samples=bms_samples, seed=int_seed(bms_seed))

    g = per_subject.groupby("model", sort=False)
    table = pd.DataFrame(
        {
            "n_params": g["n_params"].first(),
            "n_subjects": g["subject"].count(),
            "n_trials": g["n_trials"].sum(),
            "loglik": g["loglik"].sum(),
            "aic": g["aic"].sum(),
            "bic": g["bic"].sum(),
        }
    ).reindex(names)
    table["delta_aic"] = table["aic"] - table["aic"].min()
    table["delta_bic"] = table["bic"] - table["bic"].min()
    if method == "em":
        table["log_evidence"] = g["laplace"].sum().reindex(names)
        table["ibic"] = [fits[n].ibic_ for n in names]
        table["n_em_iter"] = [fits[n].n_em_iter_ for n in names]
        table["em_converged"] = [fits[n].em_converged_ for n in names]
    if issubclass(cls, HierarchicalBayes):
        for col, values in _loo_columns(fits, names).items():
            table[col] = values
    if cv_folds is not None:
        table["cv_loglik"] = [cvs[n].loglik for n in names]
        table["cv_mean_likelihood"] = [cvs[n].mean_likelihood for n in names]
    bms_frame = result.to_frame()
    for col in bms_frame.columns:
        table[col] = bms_frame[col].reindex(names).to_numpy()
    table["bor"] = result.bor
    if ceilings:
        for name, c in ceilings.items():
            cv = cvs[name] = ceiling_cvs[name]
            n_weights = c.n_weights() if callable(getattr(c, "n_weights", None)) else np.nan
            table.loc[name, ["n_params", "n_subjects", "n_trials", "cv_loglik", "cv_mean_likelihood"]] = [
                n_weights, len(cv.per_subject), cv.n_trials, cv.loglik, cv.mean_likelihood]
    table.index.name = "model"
    return Comparison(table, per_subject, fits, result, cvs, bms_on)


def _model_rows(est: SubjectFit, name: str, method: str, bms_on: str) -> pd.DataFrame:
    """Return the per-subject rows of one fitted model in :attr:`Comparison.per_subject`."""
    part = pd.DataFrame(
        {
            "subject": est.params_.index.to_numpy(),
            "model": name,
            "n_params": est.model.n_params,
            "n_trials": est.n_trials_.to_numpy(),
            "loglik": est.loglik_.to_numpy(),
            "aic": est.aic_.to_numpy(),
            "bic": est.bic_.to_numpy(),
        }
    )
    if method == "em":
        part["laplace"] = est.laplace_log_evidence_.to_numpy()
    if isinstance(est, HierarchicalBayes) and est.pointwise == "subject":
        part["elpd_loo"] = est.loo().loo_i.to_numpy()
    part["log_evidence"] = part["laplace"] if bms_on == "laplace" else -part[bms_on] / 2
    return part


def _ceiling_cv(ceiling: Any, checked: CheckedTrials, folds: int | str, seed: int, progress: bool) -> CVResult:
    """Cross-validate a ceiling on the validated table; its trialwise rows in the caller's order."""
    kwargs = {"progress": progress} if "progress" in inspect.signature(ceiling.cross_validate).parameters else {}
    cv = ceiling.cross_validate(checked.table, folds=folds, seed=seed, **kwargs)
    if checked.order is not None and isinstance(getattr(cv, "trialwise", None), pd.DataFrame):
        cv = dataclasses.replace(cv, trialwise=cv.trialwise.iloc[np.argsort(checked.order)])
    return cv


def _check_cross_validated(cls: type[SubjectFit]) -> None:
    """Refuse cross-validation of a Bayesian fit: its held-out score is PSIS-LOO, not refits."""
    if issubclass(cls, HierarchicalBayes):
        raise ValueError(
            f"cross-validation refits the model on each fold; method={cls.method!r} scores held-out "
            "data by PSIS-LOO instead (the looic and waic columns of compare_models, or "
            "estimator.loo()): leave cv_folds unset, or cross-validate with method 'mle', 'map' or 'em'"
        )


def _loo_columns(fits: Mapping[str, SubjectFit], names: list[str]) -> dict[str, list[float]]:
    """PSIS-LOO and WAIC of each Bayesian fit, on the deviance scale (hBayesDM's LOOIC)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's Pareto-k and WAIC-variance notes; k is in loo()
        loo = [fits[n].loo() for n in names]
        waic = [fits[n].waic() for n in names]
    looic = [-2 * float(e.elpd_loo) for e in loo]
    return {
        "looic": looic,
        "looic_se": [2 * float(e.se) for e in loo],
        "p_loo": [float(e.p_loo) for e in loo],
        "delta_looic": [v - min(looic) for v in looic],
        "waic": [-2 * float(e.elpd_waic) for e in waic],
        "waic_se": [2 * float(e.se) for e in waic],
        "p_waic": [float(e.p_waic) for e in waic],
    }
