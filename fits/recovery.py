"""Parameter recovery and model recovery by simulation.

Wilson & Collins (2019), eLife 8:e49547, "Ten simple rules for the computational modeling of
behavioral data": before trusting fitted parameters or a model comparison, simulate the
experiment with known parameters and models, fit the simulated data exactly as the real data,
and check that the truth comes back.

- :func:`parameter_recovery` (rule 6): simulate one model with parameters drawn over a range,
  refit it, and compare true and fitted values per parameter (Pearson ``r``, Spearman ``rho``,
  bias, RMSE, slope) and the correlations between fitted parameters, which reveal trade-offs
  (e.g. learning rate against inverse temperature).
- :func:`model_recovery` (rule 7): simulate each candidate model, fit every candidate to every
  simulated subject, pick the best per subject by AIC or BIC, and tabulate the *confusion
  matrix* ``p(fit model | simulated model)`` and the *inversion matrix*
  ``p(simulated model | fit model)`` (their Fig. 5; Bayes' rule with a uniform prior over the
  simulated models).

Every simulation, sampling and fit gets its own child seed from
``np.random.SeedSequence(seed).spawn``, so a seed reproduces the whole study.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cogmodels.fits.mle import SubjectFit
from cogmodels.likelihood import CheckedTrials, prepare_trials
from cogmodels.model import CognitiveModel
from cogmodels.parameters import ParamSpec
from cogmodels.progress import progress_bar
from cogmodels.simulate import simulate
from cogmodels.validation import (
    SeedLike,
    as_generator,
    check_bool,
    check_int,
    int_seed,
    seed_sequence,
)

__all__ = [
    "ModelRecoveryResult",
    "RecoveryResult",
    "model_recovery",
    "parameter_recovery",
    "recovery_stats",
    "sample_parameters",
    "task_condition_levels",
]

_HOWS = ("uniform", "prior", "grid")
_CRITERIA = ("aic", "bic")
#: fraction of a finite range left out at each end when sampling uniformly
_INNER = 0.1
#: most steps :func:`task_condition_levels` plays in its one session
_PROBE_STEPS = 100_000


# -- sampling true parameters -------------------------------------------------------------------
def _inner_range(spec: ParamSpec) -> tuple[float, float]:
    """Return the default sampling range of a parameter on the natural scale.

    Finite bounds: the middle 80 % of ``[low, high]``. Open ranges: the unconstrained value
    within ±1 of the default's (0 where the default sits on the bound), mapped back.
    """
    if spec.kind == "logit":
        w = spec.high - spec.low
        return spec.low + _INNER * w, spec.high - _INNER * w
    z0 = float(spec.to_unconstrained(spec.default))
    if not np.isfinite(z0):
        z0 = 0.0
    lo, hi = spec.from_unconstrained(np.array([z0 - 1.0, z0 + 1.0]))
    return float(min(lo, hi)), float(max(lo, hi))


def _check_model(model: Any, name: str = "model") -> CognitiveModel:
    if not isinstance(model, CognitiveModel):
        raise TypeError(f"{name} must be a CognitiveModel (e.g. make_model('q_learning')), got {type(model).__name__}")
    if model.n_params == 0:
        raise ValueError(f"{name} {model.name!r} has no free parameters to recover")
    return model


def _check_ranges(model: CognitiveModel, ranges: Mapping[str, Any] | None, *, strict: bool = True) -> dict:
    """Validate ``{name: (lo, hi)}`` against the model's bounds; return the ranges it uses."""
    if ranges is None:
        return {}
    if not isinstance(ranges, Mapping):
        raise TypeError(f"ranges must be a mapping {{parameter: (low, high)}}, got {type(ranges).__name__}")
    unknown = set(ranges) - set(model.param_names)
    if unknown and strict:
        raise ValueError(
            f"ranges names unknown parameters {sorted(unknown)}; {model.name} has {list(model.param_names)}"
        )
    out = {}
    for name in model.param_names:
        if name not in ranges:
            continue
        r = ranges[name]
        try:
            lo, hi = (float(v) for v in r)
        except (TypeError, ValueError):
            raise ValueError(f"ranges[{name!r}] must be a pair (low, high) of numbers, got {r!r}") from None
        s = model.spec(name)
        if not (s.low <= lo <= hi <= s.high):
            raise ValueError(
                f"ranges[{name!r}] must satisfy {s.low} <= low <= high <= {s.high} (the bounds of "
                f"{name}), got ({lo}, {hi})"
            )
        out[name] = (lo, hi)
    return out


def sample_parameters(
    model: CognitiveModel,
    n: int,
    *,
    how: str = "uniform",
    seed: SeedLike = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Draw true parameter values for a recovery study: one row per simulated subject.

    - ``how="uniform"``: independent uniform draws over each parameter's ``ranges[name]`` or,
      by default, its inner range (the middle 80 % of finite bounds, so that the truth is not
      on a bound where estimates pile up; open ranges: the unconstrained default ±1);
    - ``how="prior"``: draws from each :class:`ParamSpec` prior (``prior.rvs``), redrawn until
      inside the bounds; parameters without a prior fall back to the uniform rule;
    - ``how="grid"``: the full grid of ``n`` evenly spaced values per parameter over the same
      ranges, so ``n ** n_params`` rows (no randomness).

    Returns a DataFrame with one column per parameter in the model's order.
    """
    model = _check_model(model)
    n = check_int("n", n, minimum=1)
    if how not in _HOWS:
        raise ValueError(f"how must be one of {list(_HOWS)}, got {how!r}")
    user = _check_ranges(model, ranges)
    lims = {s.name: user.get(s.name, _inner_range(s)) for s in model.param_specs}
    if how == "grid":
        axes = [np.linspace(*lims[s.name], n) for s in model.param_specs]
        rows = np.array(list(product(*axes)), dtype=np.float64).reshape(-1, model.n_params)
        return pd.DataFrame(rows, columns=list(model.param_names))
    rng = as_generator(seed)
    out = {}
    for s in model.param_specs:
        if how == "prior" and s.prior is not None and s.name not in user:
            out[s.name] = _draw_prior(s, n, rng)
        else:
            out[s.name] = rng.uniform(*lims[s.name], n)
    return pd.DataFrame(out, columns=list(model.param_names))


def _draw_prior(spec: ParamSpec, n: int, rng: np.random.Generator, max_rounds: int = 100) -> np.ndarray:
    """``n`` draws from ``spec.prior`` inside the bounds (rejection sampling)."""
    if not hasattr(spec.prior, "rvs"):
        raise TypeError(f"the prior of {spec.name!r} has no rvs method to sample from: {spec.prior!r}")
    out = np.empty(0)
    for _ in range(max_rounds):
        x = np.asarray(spec.prior.rvs(size=n, random_state=rng), dtype=np.float64).reshape(-1)
        out = np.concatenate([out, x[(x >= spec.low) & (x <= spec.high)]])
        if out.size >= n:
            return out[:n]
    raise ValueError(
        f"the prior of {spec.name!r} puts almost no mass inside its bounds [{spec.low}, {spec.high}]; "
        "give ranges= or use how='uniform'"
    )


def _true_params(
    model: CognitiveModel,
    params: pd.DataFrame | Mapping[str, Any] | None,
    n: int,
    *,
    how: str,
    ranges: Mapping[str, Any] | None,
    seed: np.random.SeedSequence,
    name: str = "params",
) -> pd.DataFrame:
    if params is None:
        return sample_parameters(model, n, how=how, seed=seed, ranges=ranges)
    if not isinstance(params, pd.DataFrame | Mapping):
        raise TypeError(f"{name} must be a DataFrame or a mapping of parameter arrays, got {type(params).__name__}")
    df = pd.DataFrame({k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in dict(params).items()}
                      if isinstance(params, Mapping) else params)
    df = df.drop(columns=["subject"], errors="ignore").reset_index(drop=True)
    try:
        checked = model.check_params({c: df[c].to_numpy() for c in df.columns}, n_lanes=len(df))
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    return pd.DataFrame(checked, columns=list(model.param_names))


# -- statistics ---------------------------------------------------------------------------------
def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    return float(np.corrcoef(x, y)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank(method="average").to_numpy()


def recovery_stats(table: pd.DataFrame) -> pd.DataFrame:
    """Per-parameter agreement of true and fitted values from a long recovery table.

    ``table`` has columns ``param``, ``true``, ``fitted``; rows with a missing fit are left
    out. Returns, indexed by parameter: ``n``, Pearson ``r``, Spearman ``rho``,
    ``bias = mean(fitted - true)``, ``rmse = sqrt(mean((fitted - true)^2))`` and the
    least-squares ``slope`` and ``intercept`` of fitted on true (1 and 0 when unbiased).
    """
    rows = {}
    for name, g in table.groupby("param", sort=False):
        g = g.dropna(subset=["true", "fitted"])
        t, f = g["true"].to_numpy(float), g["fitted"].to_numpy(float)
        err = f - t
        if t.size >= 2 and np.ptp(t) > 0:
            slope, intercept = np.polyfit(t, f, 1)
        else:
            slope = intercept = np.nan
        rows[name] = {
            "n": int(t.size),
            "r": _pearson(t, f),
            "rho": _pearson(_ranks(t), _ranks(f)),
            "bias": float(err.mean()) if t.size else np.nan,
            "rmse": float(np.sqrt((err**2).mean())) if t.size else np.nan,
            "slope": float(slope),
            "intercept": float(intercept),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "param"
    return out


# -- parameter recovery -------------------------------------------------------------------------
@dataclass
class RecoveryResult:
    """The outcome of :func:`parameter_recovery`.

    ``table``: long table, one row per subject and parameter (``subject``, ``param``, ``true``,
    ``fitted``, ``se``, ``on_bound``, ``converged``). ``stats``: :func:`recovery_stats`.
    ``correlation``: Pearson correlations between the fitted parameters across subjects (large
    off-diagonal values flag trade-offs). ``cross_correlation``: true (rows) against fitted
    (columns); a good design is close to diagonal. ``true_params`` / ``fitted_params``: wide
    tables indexed by subject; ``trials``: the simulated data; ``fit``: the fitted estimator.
    """

    model: CognitiveModel
    table: pd.DataFrame
    stats: pd.DataFrame
    correlation: pd.DataFrame
    cross_correlation: pd.DataFrame
    true_params: pd.DataFrame
    fitted_params: pd.DataFrame
    trials: pd.DataFrame = field(repr=False)
    fit: SubjectFit = field(repr=False)

    def plot(self, *, figsize: tuple[float, float] | None = None) -> Figure:
        """Plot true (x) against fitted (y) for every parameter, with the identity line and ``r``.

        One axis per parameter, in the model's order; estimates on a bound are drawn as crosses.
        One legend, right of the last axis, names the markers and the line.
        """
        names = list(self.true_params.columns)
        k = len(names)
        fig = Figure(figsize=figsize or (3.2 * k + 1.6, 3.3), layout="constrained")
        axes = fig.subplots(1, k, squeeze=False)[0]
        handles: dict[str, Any] = {}
        for ax, name in zip(axes, names):
            g = self.table[self.table["param"] == name].dropna(subset=["fitted"])
            bound = g["on_bound"].astype(bool).to_numpy() if "on_bound" in g else np.zeros(len(g), bool)
            for mask, marker, label in ((~bound, "o", "estimate"), (bound, "X", "estimate on a bound")):
                if mask.any():
                    handles[label] = ax.scatter(g["true"][mask], g["fitted"][mask], s=18, marker=marker,
                                                color="C0", label=label)
            vals = np.concatenate([g["true"].to_numpy(float), g["fitted"].to_numpy(float)])
            lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
            (handles["identity (fitted = true)"],) = ax.plot(
                [lo, hi], [lo, hi], color="0.4", ls="--", lw=1, label="identity (fitted = true)")
            ax.set_title(f"{name}: r = {self.stats.loc[name, 'r']:.2f}")
            ax.set_xlabel(f"true {name}")
            ax.set_ylabel(f"fitted {name}")
        order = [lab for lab in ("estimate", "estimate on a bound", "identity (fitted = true)") if lab in handles]
        axes[-1].legend([handles[lab] for lab in order], order, loc="upper left",
                        bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize="small")
        return fig


def _estimator(method: str, model: CognitiveModel, n_starts: int, seed: int, fit_kwargs: Mapping | None):
    from cogmodels.fits import make_estimator  # here: cogmodels.fits may import this module

    kw = dict(fit_kwargs or {})
    clash = {"n_starts", "seed"} & set(kw)
    if clash:
        raise ValueError(f"fit_kwargs must not set {sorted(clash)}: pass them as arguments of the recovery")
    return make_estimator(method, model, n_starts=n_starts, seed=seed, **kw)


def _check_env(env: Any) -> str:
    if not isinstance(env, str) or env not in gym.registry:
        raise ValueError(
            f"env must be a registered environment id such as 'cogmodels/ReversalLearning-v0', got {env!r}"
        )
    return env


def task_condition_levels(
    env: str,
    columns: Sequence[str],
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    seed: SeedLike = 0,
) -> dict[str, tuple[float, ...]]:
    """Return the levels each condition column takes in one session of a task played at random.

    A model whose parameter is split by a condition column (``constrain(..., by={"w":
    "stakes"})``) is simulated with each trial's level, read from the task's
    :meth:`~cogmodels.envs.core.TaskEnv.trial_context` before the choice (as the likelihood reads
    it from the trial table). This plays one session of ``env`` with uniformly random actions and
    collects the values of ``columns`` over its trials.

    Parameters
    ----------
    env : str
        A registered environment id, e.g. ``"cogmodels/TwoStepStakes-v0"``.
    columns : sequence of str
        The condition columns.
    env_kwargs : mapping, optional
        Arguments of the environment (``n_trials``, ``p_high`` ...).
    seed : int, SeedSequence or Generator, optional
        Seeds the session and the random actions.

    Returns
    -------
    levels : dict of str to tuple of float
        Column -> the distinct finite values it took, in increasing order.

    Raises
    ------
    ValueError
        ``env`` is not registered, or the task does not give a column before its trials (the
        message names the column and the columns the task gives): a split model simulated there
        would never see the condition.
    """
    env = _check_env(env)
    columns = list(columns)
    rng = as_generator(seed)
    task = gym.make(env, **dict(env_kwargs or {})).unwrapped
    task.action_space.seed(int_seed(rng))
    task.reset(seed=int_seed(rng))
    context = getattr(task, "trial_context", dict)
    missing = [c for c in columns if c not in context()]
    if missing:
        task.close()
        raise ValueError(
            f"env {env!r} gives no {', '.join(map(repr, missing))} before a trial (its trials give "
            f"{sorted(context())}): a parameter split by {', '.join(map(repr, missing))} cannot "
            f"take each trial's level there; simulate in a task whose trials give the column (e.g. "
            f"'cogmodels/TwoStepStakes-v0' for 'stakes'), or simulate each condition as its own "
            f"session and add the column to the table"
        )
    seen: dict[str, set[float]] = {c: set() for c in columns}
    for _ in range(_PROBE_STEPS):
        ctx = context()
        for c in columns:
            seen[c].add(float(ctx[c]))
        _, _, terminated, truncated, _ = task.step(task.action_space.sample())
        if terminated or truncated:
            break
    task.close()
    return {c: tuple(sorted(v for v in seen[c] if np.isfinite(v))) for c in columns}


def _check_conditions(model: CognitiveModel, env: str, env_kwargs: Mapping[str, Any] | None,
                      name: str = "model") -> None:
    """Refuse a split model in a task that does not give its condition column before each trial."""
    levels = dict(getattr(model, "observation_levels", None) or {})
    if not levels:
        return
    try:
        task_condition_levels(env, list(levels), env_kwargs=env_kwargs)
    except ValueError as err:
        raise ValueError(f"{name} {model.name!r} splits parameters by {list(levels)}, but {err}") from None


def _check_levels_simulated(model: CognitiveModel, trials: pd.DataFrame, env: str, name: str = "model") -> None:
    """Refuse a simulation in which a level of a split parameter never occurred.

    No simulated trial would inform that level's parameter, so its recovery means nothing.
    """
    for column, levels in (getattr(model, "observation_levels", None) or {}).items():
        values = trials[column].to_numpy(dtype=np.float64)
        absent = [lv for lv in levels if not np.isin(lv, values)]
        if absent:
            raise ValueError(
                f"{name} {model.name!r}: {column} = {', '.join(f'{lv:g}' for lv in absent)} never occurred in "
                f"the trials simulated in {env!r} (levels seen: "
                f"{sorted(set(values[np.isfinite(values)].tolist()))}), so the parameters "
                f"of that level cannot be recovered; use the task's levels or more trials"
            )


def _fit_quietly(est: SubjectFit, trials: CheckedTrials, progress: bool = False) -> SubjectFit:
    """Fit, silencing the per-fit bound/convergence warnings (reported as table columns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(trials, progress=progress)


def parameter_recovery(
    model: CognitiveModel,
    env: str,
    *,
    n_subjects: int = 50,
    env_kwargs: Mapping[str, Any] | None = None,
    method: str = "mle",
    n_starts: int = 5,
    seed: SeedLike = None,
    params: pd.DataFrame | Mapping[str, Any] | None = None,
    how: str = "uniform",
    ranges: Mapping[str, tuple[float, float]] | None = None,
    fit_kwargs: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> RecoveryResult:
    """Simulate ``model`` with known parameters in ``env``, refit it, compare (Wilson & Collins 2019).

    True parameters come from ``params`` (a DataFrame or mapping of arrays, one row per
    subject; it sets the number of subjects) or are drawn by :func:`sample_parameters` with
    ``how`` and ``ranges`` (``how="grid"`` simulates ``n_subjects ** n_params`` subjects, a grid
    of ``n_subjects`` values per parameter). The data come from
    :func:`cogmodels.simulate.simulate` with ``env_kwargs`` and are fitted by
    ``make_estimator(method, model, n_starts=n_starts, **fit_kwargs)``. The estimator's bound
    and convergence warnings are silenced and reported in ``table`` (``on_bound``,
    ``converged``). ``progress`` draws the fit's bar of subjects (on a terminal only).

    Examples
    --------
    >>> from cogmodels.fits import parameter_recovery
    >>> from cogmodels.models import make_model
    >>> res = parameter_recovery(make_model("q_learning", stickiness=False),
    ...                          "cogmodels/ReversalLearning-v0", n_subjects=20, n_starts=2,
    ...                          env_kwargs={"n_trials": 200}, seed=0)
    >>> res.stats.round(2)
            n     r   rho  bias  rmse  slope  intercept
    param
    alpha  20  0.97  0.97  0.02  0.07   1.00       0.02
    beta   20  0.65  0.65  1.29  3.32   0.73       3.91
    >>> fig = res.plot()     # true against fitted, one panel per parameter
    """
    model = _check_model(model)
    env = _check_env(env)
    _check_conditions(model, env, env_kwargs)
    n_subjects = check_int("n_subjects", n_subjects, minimum=2 if params is None else 1)
    n_starts = check_int("n_starts", n_starts, minimum=1)
    progress = check_bool("progress", progress)
    ss_sample, ss_sim, ss_fit = seed_sequence(seed).spawn(3)
    est = _estimator(method, model, n_starts, int_seed(ss_fit), fit_kwargs)
    truth = _true_params(model, params, n_subjects, how=how, ranges=ranges, seed=ss_sample)
    if len(truth) < 2:
        raise ValueError(f"parameter recovery needs at least 2 subjects, got {len(truth)} rows of params")
    sim = simulate(model, {c: truth[c].to_numpy() for c in truth.columns}, env, n_subjects=len(truth),
                   seed=int_seed(ss_sim), env_kwargs=env_kwargs, latents=False, progress=False)
    _check_levels_simulated(model, sim.trials, env)
    _fit_quietly(est, prepare_trials(sim.trials, model, validated=True), progress)
    truth.index = pd.Index(np.arange(len(truth)), name="subject")
    fitted = est.params_.reindex(truth.index)
    se = est.se_.reindex(truth.index)
    bound = est.on_bound_.reindex(truth.index)
    conv = est.converged_.reindex(truth.index)
    names = list(model.param_names)
    table = pd.concat(
        [
            pd.DataFrame({
                "subject": truth.index.to_numpy(),
                "param": name,
                "true": truth[name].to_numpy(),
                "fitted": fitted[name].to_numpy(),
                "se": se[name].to_numpy(),
                "on_bound": bound[name].fillna(False).to_numpy(dtype=bool),
                "converged": conv.fillna(False).to_numpy(dtype=bool),
            })
            for name in names
        ],
        ignore_index=True,
    )
    ok = fitted.dropna()
    cross = pd.DataFrame(
        [[_pearson(truth.loc[ok.index, a].to_numpy(), ok[b].to_numpy()) for b in names] for a in names],
        index=pd.Index(names, name="true"), columns=pd.Index(names, name="fitted"),
    )
    corr = pd.DataFrame(
        [[_pearson(ok[a].to_numpy(), ok[b].to_numpy()) for b in names] for a in names],
        index=pd.Index(names), columns=pd.Index(names),
    )
    return RecoveryResult(model, table, recovery_stats(table), corr, cross, truth, fitted, sim.trials, est)


# -- model recovery -----------------------------------------------------------------------------
def _labelled(models: Mapping[str, CognitiveModel] | Sequence[CognitiveModel]) -> dict[str, CognitiveModel]:
    """Models keyed by label; a sequence is labelled by model name, then by its parameters."""
    if isinstance(models, Mapping):
        out = {str(k): _check_model(m, f"models[{k!r}]") for k, m in models.items()}
    elif isinstance(models, Sequence) and not isinstance(models, str):
        ms = [_check_model(m, f"models[{i}]") for i, m in enumerate(models)]
        labels = [m.name for m in ms]
        if len(set(labels)) < len(labels):
            labels = [f"{m.name}({', '.join(m.param_names)})" for m in ms]
        if len(set(labels)) < len(labels):
            raise ValueError(
                "models has several models with the same name and parameters; pass a dict "
                "{label: model} to tell them apart"
            )
        out = dict(zip(labels, ms))
    else:
        raise TypeError(f"models must be a dict {{label: model}} or a list of models, got {type(models).__name__}")
    if len(out) < 2:
        raise ValueError(f"model recovery needs at least 2 models, got {len(out)}")
    return out


@dataclass
class ModelRecoveryResult:
    """The outcome of :func:`model_recovery`.

    ``counts``: subjects simulated by each model (rows) best fitted by each model (columns).
    ``confusion``: ``p(fit model | simulated model)``, rows sum to 1. ``inversion``:
    ``p(simulated model | fit model)`` by Bayes' rule with a uniform prior over simulated models
    (the confusion matrix normalised over each column; NaN for a model never chosen). Both are
    laid out simulated (rows) × fit (columns), as in Wilson & Collins (2019), Fig. 5.
    ``scores``: long table (``simulated``, ``subject``, ``fitted``, ``criterion``, ``delta`` = the
    criterion minus the subject's best, ``best``). ``true_params``: the generating parameters of
    each simulated model.
    """

    criterion: str
    counts: pd.DataFrame
    confusion: pd.DataFrame
    inversion: pd.DataFrame
    scores: pd.DataFrame
    true_params: dict[str, pd.DataFrame] = field(repr=False)

    def plot(self, *, figsize: tuple[float, float] | None = None, cmap: str = "viridis") -> Figure:
        """Heatmaps of the confusion (left) and inversion (right) matrices, values annotated."""
        import seaborn as sns

        k = len(self.counts)
        fig = Figure(figsize=figsize or (2 * (2.0 + 0.9 * k), 1.6 + 0.9 * k), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax, mat, title in zip(
            axes,
            (self.confusion, self.inversion),
            ("confusion: p(fit | simulated)", "inversion: p(simulated | fit)"),
        ):
            sns.heatmap(mat.astype(float), vmin=0, vmax=1, cmap=cmap, annot=True, fmt=".2f",
                        cbar=False, square=True, ax=ax)
            ax.set_title(f"{title}, {self.criterion.upper()}")
            ax.set_xlabel("fitted model")
            ax.set_ylabel("simulated model")
        return fig


def model_recovery(
    models: Mapping[str, CognitiveModel] | Sequence[CognitiveModel],
    env: str,
    *,
    n_subjects: int = 30,
    env_kwargs: Mapping[str, Any] | None = None,
    method: str = "mle",
    criterion: str = "bic",
    n_starts: int = 5,
    seed: SeedLike = None,
    params: Mapping[str, pd.DataFrame | Mapping[str, Any]] | None = None,
    how: str = "uniform",
    ranges: Mapping[str, tuple[float, float]] | None = None,
    fit_kwargs: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> ModelRecoveryResult:
    """Confusion and inversion matrices of a model comparison (Wilson & Collins 2019, Fig. 5).

    For each generating model, ``n_subjects`` subjects are simulated in ``env`` with parameters
    from ``params[label]`` (a DataFrame or mapping of arrays; its length overrides
    ``n_subjects``) or drawn by :func:`sample_parameters` (``how``; ``ranges`` applies to every
    model with a parameter of that name). Every model is then fitted to every simulated
    dataset by ``method`` and each subject is assigned to the model with the lowest
    ``criterion`` (``"bic"`` or ``"aic"``, the estimator's ``bic_``/``aic_``).

    ``models`` is a dict ``{label: model}`` or a list (labelled by model name, or by name and
    parameters when names repeat, e.g. ``q_learning(alpha, beta, kappa)``). ``progress`` draws
    a bar of the (simulated, fitted) model pairs (on a terminal only).
    """
    labelled = _labelled(models)
    env = _check_env(env)
    n_subjects = check_int("n_subjects", n_subjects, minimum=1)
    n_starts = check_int("n_starts", n_starts, minimum=1)
    progress = check_bool("progress", progress)
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {list(_CRITERIA)}, got {criterion!r}")
    if how not in _HOWS:
        raise ValueError(f"how must be one of {list(_HOWS)}, got {how!r}")
    params = dict(params or {})
    unknown = set(params) - set(labelled)
    if unknown:
        raise ValueError(f"params has unknown model labels {sorted(unknown)}; labels: {list(labelled)}")
    if ranges is not None:
        if not isinstance(ranges, Mapping):
            raise TypeError(f"ranges must be a mapping {{parameter: (low, high)}}, got {type(ranges).__name__}")
        names = set().union(*(m.param_names for m in labelled.values()))
        if set(ranges) - names:
            raise ValueError(f"ranges names unknown parameters {sorted(set(ranges) - names)}; "
                             f"the models have {sorted(names)}")
        for m in labelled.values():
            _check_ranges(m, ranges, strict=False)
    for label, m in labelled.items():  # fail on a bad method or fit_kwargs before simulating anything
        _estimator(method, m, n_starts, 0, fit_kwargs)
        _check_conditions(m, env, env_kwargs, name=f"models[{label!r}]")

    labels = list(labelled)
    children = seed_sequence(seed).spawn(len(labels))
    truths: dict[str, pd.DataFrame] = {}
    score_rows = []
    with progress_bar(progress, total=len(labels) ** 2, unit="fit", desc="model recovery") as bar:
        for gen, ss in zip(labels, children):
            gmodel = labelled[gen]
            ss_sample, ss_sim, *ss_fits = ss.spawn(2 + len(labels))
            gr = {k: v for k, v in (ranges or {}).items() if k in gmodel.param_names}
            truth = _true_params(gmodel, params.get(gen), n_subjects, how=how, ranges=gr, seed=ss_sample,
                                 name=f"params[{gen!r}]")
            truths[gen] = truth
            sim = simulate(gmodel, {c: truth[c].to_numpy() for c in truth.columns}, env, n_subjects=len(truth),
                           seed=int_seed(ss_sim), env_kwargs=env_kwargs, latents=False, progress=False)
            _check_levels_simulated(gmodel, sim.trials, env, name=f"models[{gen!r}]")
            checked = prepare_trials(sim.trials, list(labelled.values()), validated=True)
            crit = {}
            for fit_label, ssf in zip(labels, ss_fits):
                bar.set_postfix_str(f"{gen} -> {fit_label}", refresh=False)
                est = _fit_quietly(_estimator(method, labelled[fit_label], n_starts, int_seed(ssf), fit_kwargs), checked)
                bar.update()
                crit[fit_label] = getattr(est, f"{criterion}_").reindex(np.arange(len(truth)))
            crit = pd.DataFrame(crit)
            crit.index.name = "subject"
            crit = crit.dropna()  # a subject skipped by any fit cannot be assigned
            winner = crit.idxmin(axis=1)
            delta = crit.sub(crit.min(axis=1), axis=0)
            long = crit.stack().rename("criterion").reset_index().rename(columns={"level_1": "fitted"})
            long["delta"] = delta.stack().to_numpy()
            long["best"] = long["fitted"].to_numpy() == winner.reindex(long["subject"]).to_numpy()
            long.insert(0, "simulated", gen)
            score_rows.append(long)
    scores = pd.concat(score_rows, ignore_index=True)
    best = scores[scores["best"]]
    counts = (
        pd.crosstab(pd.Categorical(best["simulated"], categories=labels),
                    pd.Categorical(best["fitted"], categories=labels), dropna=False)
        .reindex(index=labels, columns=labels, fill_value=0)
        .astype(int)
    )
    counts.index.name, counts.columns.name = "simulated", "fitted"
    with np.errstate(invalid="ignore", divide="ignore"):
        confusion = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)
        inversion = confusion.div(confusion.sum(axis=0).replace(0, np.nan), axis=1)
    return ModelRecoveryResult(criterion, counts, confusion, inversion, scores, truths)
