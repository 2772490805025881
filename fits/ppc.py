"""Posterior predictive checks: simulate fitted models and compare behavioural signatures.

Wilson & Collins (2019), eLife 8:e49547, rule 9 ("analyze the winning model"): a model that
fits best may still fail to reproduce the behaviour. Simulate every subject with its fitted
parameters (:func:`posterior_predictive`), compute the same *signature curves*
(:mod:`cogmodels.fits.signatures`: learning, reversal, two-step stay, set-size and win-stay
curves) on the real and the simulated trial tables, and overlay them (:func:`plot_ppc`,
:func:`check`). Palminteri, Wyart & Koechlin (2017), TICS, "The importance of falsification in
computational cognitive modeling", make the same case.

The simulations play the model in the task environment (``source="env"``) or, for a task
without one, replay each subject's observed trial sequence (``source="replay"``,
:mod:`cogmodels.fits.replay`).

The signature functions are re-exported here, so ``from cogmodels.fits.ppc import
stay_regression`` keeps working; their home is :mod:`cogmodels.fits.signatures`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cogmodels.fits.signatures import (  # re-exported: their import path before the split
    _CATEGORICAL,
    _REWARD_LEVELS,
    CURVES,
    STAY_TERMS,
    _infer_kind,
    _require,
    learning_curve,
    quantile_probability,
    reversal_curve,
    setsize_curves,
    signature_kinds,
    stay_by_reward,
    stay_effects,
    stay_effects_by_subject,
    stay_probabilities,
    stay_regression,
)
from cogmodels.model import CognitiveModel
from cogmodels.parameters import unpack
from cogmodels.simulate import simulate
from cogmodels.trials import validate_trials
from cogmodels.validation import check_bool, check_is_fitted, int_seed

__all__ = [
    "CURVES",
    "STAY_TERMS",
    "check",
    "label_replay",
    "learning_curve",
    "plot_ppc",
    "plot_quantile_probability",
    "posterior_predictive",
    "quantile_probability",
    "reversal_curve",
    "setsize_curves",
    "signature_kinds",
    "stay_by_reward",
    "stay_effects",
    "stay_effects_by_subject",
    "stay_probabilities",
    "stay_regression",
]

_DRAWS = ("point", "laplace", "posterior")


# -- posterior predictive simulation -------------------------------------------------------------
def _check_fit(fit: Any) -> tuple[CognitiveModel, pd.DataFrame]:
    model = getattr(fit, "model", None)
    if not isinstance(model, CognitiveModel) or not hasattr(type(fit), "fit"):
        raise TypeError(
            f"fit must be a fitted estimator from cogmodels.fits (e.g. MaximumLikelihood(model).fit(trials)), "
            f"got {type(fit).__name__}"
        )
    check_is_fitted(fit, "params_")
    return model, fit.params_


def _laplace_draws(fit: Any, n_sims: int, rng: np.random.Generator) -> np.ndarray:
    """``(subjects * n_sims, k)`` unconstrained draws from ``N(z_i, H_i^{-1})``, subject-major."""
    z, hess = np.asarray(fit.z_, float), np.asarray(fit.hessians_, float)
    n, k = z.shape
    out = np.repeat(z, n_sims, axis=0)
    bad = []
    for i in range(n):
        try:
            chol = np.linalg.cholesky(hess[i]) if np.isfinite(hess[i]).all() else None
        except np.linalg.LinAlgError:
            chol = None
        if chol is None:
            bad.append(fit.params_.index[i])
            continue
        eps = rng.standard_normal((k, n_sims))
        # H = L L^T  =>  z + L^{-T} eps ~ N(z, H^{-1})
        out[i * n_sims : (i + 1) * n_sims] += np.linalg.solve(chol.T, eps).T
    if bad:
        warnings.warn(
            f"the Hessian is not positive definite for {len(bad)} subject(s) {bad[:10]}: "
            "their simulations use the point estimate",
            UserWarning,
            stacklevel=3,
        )
    return out


def _posterior_draws(fit: Any, n_sims: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n_sims`` joint posterior draws per subject (natural scale, subject-major) of a Bayesian fit.

    Each simulation takes one (chain, draw) of ``fit.inference_data_`` at random, the same for
    every subject, so the simulated group keeps the posterior's dependence between subjects.
    """
    post = getattr(fit, "inference_data_", None)
    if post is None:
        raise ValueError(
            f"draw='posterior' needs a fit with posterior draws (HierarchicalNUTS or HierarchicalVI, "
            f"method 'nuts' or 'vi'), got {type(fit).__name__}: use draw='point' or 'laplace'"
        )
    params = post.posterior["params"].transpose("chain", "draw", "subject", "parameter").to_numpy()
    flat = params.reshape(-1, *params.shape[2:])  # (chains x draws, subjects, k)
    pick = rng.integers(flat.shape[0], size=n_sims)
    chosen = np.swapaxes(flat[pick], 0, 1).reshape(-1, flat.shape[2])  # subject-major
    names = [str(n) for n in post.posterior["parameter"].to_numpy()]
    return {n: chosen[:, j] for j, n in enumerate(names)}


def posterior_predictive(
    fit: Any,
    env: str | None = None,
    *,
    n_sims: int = 1,
    env_kwargs: Mapping[str, Any] | None = None,
    seed: int | None = None,
    draw: str = "point",
    latents: bool = False,
    progress: bool = True,
    source: str = "env",
    trials: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Simulate every fitted subject ``n_sims`` times in ``env``: the predicted trial table.

    ``source="env"`` (the default) plays the model in the environment ``env``;
    ``source="replay"`` needs no environment: it replays each subject's observed trial sequence
    ``trials`` (:func:`cogmodels.fits.replay.replay`; the outcomes of choices the subject did
    not make come from the table's schedule columns or are estimated from the observed
    outcomes: see that module, the ``reward_source`` column and ``attrs["replay"]``). Only the
    subjects of ``trials`` are replayed.

    ``fit`` is a fitted estimator of :mod:`cogmodels.fits` (MLE, MAP or hierarchical EM).
    ``draw="point"`` plays each subject's estimate ``fit.params_`` (a plug-in predictive);
    ``draw="laplace"`` draws each simulation's parameters from the Laplace posterior
    ``N(z_i, H_i^{-1})`` in the unconstrained space, so parameter uncertainty widens the
    predictions; ``draw="posterior"`` (a fit by ``HierarchicalNUTS`` or ``HierarchicalVI``) plays
    joint draws of the sampled posterior, one (chain, draw) per simulation for every subject
    (the posterior predictive distribution of Gelman et al. 2013, ch. 6). ``env_kwargs`` should
    reproduce the experiment (number of trials, schedule).

    The table has the columns of :func:`cogmodels.simulate.simulate` with ``subject`` the
    fitted subject's id and a ``sim`` column (0 .. n_sims-1). Every (subject, sim) is a
    separate sequence: fit it per (subject, sim), not per subject. ``progress`` draws a bar of
    the trials simulated (on a terminal only).
    """
    model, params = _check_fit(fit)
    progress = check_bool("progress", progress)
    if isinstance(n_sims, bool) or not isinstance(n_sims, int | np.integer) or n_sims < 1:
        raise ValueError(f"n_sims must be an integer >= 1, got {n_sims!r}")
    if draw not in _DRAWS:
        raise ValueError(f"draw must be one of {list(_DRAWS)}, got {draw!r}")
    _check_source(source, env, trials, env_kwargs)
    if params.empty:
        raise ValueError("fit.params_ has no subject to simulate")
    ss_draw, ss_sim = np.random.SeedSequence(seed).spawn(2)
    subjects = params.index.to_numpy()
    lanes = len(subjects) * int(n_sims)
    if draw == "laplace":
        x = unpack(model.param_specs, _laplace_draws(fit, int(n_sims), np.random.default_rng(ss_draw)))
    elif draw == "posterior":
        x = _posterior_draws(fit, int(n_sims), np.random.default_rng(ss_draw))
    else:
        x = {k: np.repeat(params[k].to_numpy(float), n_sims) for k in model.param_names}
    if source == "replay":
        return _replay_fit(model, params, x, trials, int(n_sims), int_seed(ss_sim), latents, progress)
    sim = simulate(model, x, env, n_subjects=lanes, seed=int_seed(ss_sim), env_kwargs=env_kwargs,
                   latents=latents, progress=progress)
    trials = sim.trials
    lane = trials["subject"].to_numpy(dtype=np.int64)
    trials["subject"] = subjects[lane // n_sims]
    trials.insert(1, "sim", lane % n_sims)
    return trials


_SOURCES = ("env", "replay")


def _check_source(source: Any, env: Any, trials: Any, env_kwargs: Any) -> None:
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {list(_SOURCES)}, got {source!r}")
    if source == "env" and env is None:
        raise ValueError("source='env' needs env, a registered environment id; or pass source='replay' "
                         "and trials= to replay the observed trial sequences")
    if source == "replay":
        if env is not None or env_kwargs is not None:
            raise ValueError(f"source='replay' uses no environment: drop env={env!r} and env_kwargs, "
                             "or pass source='env'")
        if trials is None:
            raise ValueError("source='replay' needs trials=, the observed trial table to replay")


def _replay_fit(model: CognitiveModel, params: pd.DataFrame, x: dict[str, np.ndarray], trials: pd.DataFrame,
                n_sims: int, seed: int, latents: bool, progress: bool) -> pd.DataFrame:
    """Replay ``trials`` with the lane parameters ``x`` (fit order, subject-major)."""
    from cogmodels.fits.replay import replay_subjects
    from cogmodels.likelihood import prepare_trials

    checked = prepare_trials(trials, model)
    data_subjects = pd.unique(checked.table["subject"])
    where = pd.Index(params.index).get_indexer(data_subjects)
    if (where < 0).any():
        absent = data_subjects[where < 0]
        raise ValueError(f"trials has {len(absent)} subject(s) that the fit has no parameters for, e.g. "
                         f"{list(absent[:5])}: fit those subjects, or replay only the fitted ones")
    lanes = (where[:, None] * n_sims + np.arange(n_sims)).reshape(-1)
    lane_params = {k: np.asarray(v)[lanes] for k, v in x.items()}
    return replay_subjects(model, lane_params, checked, n_sims=n_sims, seed=seed, latents=latents,
                           progress=progress)


# -- plots -----------------------------------------------------------------------------------------
def plot_ppc(
    data_curve: pd.DataFrame | None,
    sim_curve: pd.DataFrame | None = None,
    kind: str | None = None,
    *,
    labels: tuple[str, str] = ("data", "model"),
    figsize: tuple[float, float] = (5.0, 3.5),
) -> Figure:
    """Overlay a signature curve of the data and of the simulations on one axis.

    The data are points with ±SEM error bars, the simulations a line with a ±SEM band. ``kind``
    is one of :data:`CURVES` (inferred from the columns when omitted); curves with a hue (stay,
    set size) get one colour per level.
    """
    import seaborn as sns

    curves = [c for c in (data_curve, sim_curve) if c is not None]
    if not curves:
        raise ValueError("plot_ppc needs data_curve, sim_curve or both, got neither")
    for c in curves:
        if not isinstance(c, pd.DataFrame):
            raise TypeError(f"curves must be DataFrames from a curve function, got {type(c).__name__}")
    if kind is None:
        kind = _infer_kind(curves[0])
    if kind not in CURVES:
        raise ValueError(f"kind must be one of {list(CURVES)}, got {kind!r}")
    _, x, y, hue, ylabel = CURVES[kind]
    for c in curves:
        _require(c, [x, y, "sem"] + ([hue] if hue else []), f"plot_ppc(kind={kind!r})")
    categorical = kind in _CATEGORICAL
    levels = [None] if hue is None else list(pd.unique(pd.concat([c[hue] for c in curves])))
    if hue is not None and not categorical:
        levels = sorted(levels)
    colors = sns.color_palette("colorblind", max(len(levels), 1))
    xcats = _REWARD_LEVELS if categorical else None
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    entries: list[tuple[Any, str]] = []
    for j, (level, color) in enumerate(zip(levels, colors)):
        if level is None:
            suffix = ""
        else:
            suffix = f" ({level})" if isinstance(level, str) else f" ({hue.replace('_', ' ')} {level})"
        for i, c in enumerate((data_curve, sim_curve)):
            if c is None:
                continue
            part = c if level is None else c[c[hue] == level]
            part = part.sort_values(x, key=(lambda s: s.map(xcats.index)) if categorical else None)
            xs = part[x].map(xcats.index).to_numpy(float) if categorical else part[x].to_numpy(float)
            ys, se = part[y].to_numpy(float), np.nan_to_num(part["sem"].to_numpy(float))
            if i == 0:
                dodge = 0.06 * (j - (len(levels) - 1) / 2) if categorical else 0.0
                handle = ax.errorbar(xs + dodge, ys, yerr=se, fmt="o", ms=4, capsize=2, color=color,
                                     label=labels[0] + suffix)
            else:
                (handle,) = ax.plot(xs, ys, "-", color=color, lw=1.5, label=labels[1] + suffix)
                ax.fill_between(xs, ys - se, ys + se, color=color, alpha=0.25, lw=0)
            entries.append((handle, handle.get_label()))
    if categorical:
        ax.set_xticks(range(len(xcats)), xcats)
        ax.set_xlim(-0.5, len(xcats) - 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if kind == "reversal":
        ax.axvline(-0.5, color="0.5", ls=":", lw=1)
    ax.set_xlabel(_XLABELS.get(x, x.replace("_", " ")))
    ax.set_ylabel(f"{ylabel}, mean ± s.e.m.")
    ax.set_ylim(-0.02, 1.02)
    # outside the axes, where it hides no data; data then model for each level
    ax.legend(*zip(*entries), fontsize="small", frameon=False, loc="upper left",
              bbox_to_anchor=(1.02, 1.0))
    return fig


#: x-axis labels of the curves, with their unit
_XLABELS = {"trial": "trial", "lag": "trials since the reversal",
            "previous_reward": "previous outcome", "iteration": "presentations of the stimulus"}


def check(
    fit: Any,
    trials: pd.DataFrame,
    env: str | None = None,
    kind: str = "learning",
    *,
    n_sims: int = 5,
    env_kwargs: Mapping[str, Any] | None = None,
    seed: int | None = None,
    draw: str = "point",
    progress: bool = True,
    source: str = "env",
    **curve_kwargs: Any,
) -> tuple[pd.DataFrame, pd.DataFrame, Figure]:
    """Run one posterior predictive check: the ``kind`` curve of data and simulations.

    The curve of ``trials`` and of ``n_sims`` simulations per fitted subject
    (:func:`posterior_predictive`), and their overlay.

    ``source="env"`` simulates in ``env``; ``source="replay"`` replays the sequences of
    ``trials`` instead (no environment needed; the figure then says so below the axis).

    ``trials`` is validated first (:func:`cogmodels.trials.validate_trials` with the fitted
    model's ``n_actions``; rows out of trial order are sorted, with a warning).
    ``curve_kwargs`` go to the curve function (e.g. ``window=`` for ``kind="reversal"``).
    ``progress`` draws a bar of the simulated trials (on a terminal only).
    Returns ``(data_curve, sim_curve, figure)``.
    """
    if kind not in CURVES:
        raise ValueError(f"kind must be one of {list(CURVES)}, got {kind!r}")
    model, _ = _check_fit(fit)
    progress = check_bool("progress", progress)
    trials = validate_trials(trials, n_actions=model.n_actions, sort=True)
    curve = CURVES[kind][0]
    data_curve = curve(trials, **curve_kwargs)
    sims = posterior_predictive(fit, env, n_sims=n_sims, env_kwargs=env_kwargs, seed=seed, draw=draw,
                                progress=progress, source=source,
                                trials=trials if source == "replay" else None)
    sim_curve = curve(sims, **curve_kwargs)
    fig = plot_ppc(data_curve, sim_curve, kind)
    if source == "replay":
        label_replay(fig, sims)
    return data_curve, sim_curve, fig


def label_replay(fig: Figure, sims: pd.DataFrame) -> None:
    """Say on a figure, in a footnote, that the model curve is a replay.

    The footnote gives the share of outcomes that were not observed (``reward_source`` of the
    replayed table); ``fig.replay_outcomes`` holds the assumption
    (:data:`cogmodels.fits.replay.REPLAY_OUTCOMES`) for the metadata of a saved file.
    """
    from cogmodels.fits.replay import REPLAY_OUTCOMES

    src = sims["reward_source"].value_counts(normalize=True) if "reward_source" in sims.columns else pd.Series()
    unobserved = 1.0 - float(src.get("observed", 0.0))
    fig.supxlabel(f"model replayed on the data's trial sequences\n{unobserved:.0%} of its outcomes not observed "
                  "(from the schedule or estimated)", fontsize="x-small", color="0.35")
    fig.replay_outcomes = REPLAY_OUTCOMES  # for savefig(metadata={"Description": ...})


def plot_quantile_probability(
    data_qp: pd.DataFrame,
    sim_qp: pd.DataFrame | None = None,
    *,
    labels: tuple[str, str] = ("data", "model"),
    figsize: tuple[float, float] = (5.0, 4.0),
) -> Figure:
    """Draw a quantile-probability plot: RT quantiles against response probability.

    Each condition × response of :func:`~cogmodels.fits.signatures.quantile_probability` is a
    column of points at its response probability, one point per RT quantile (Ratcliff & McKoon
    2008); the model's (``sim_qp``, from simulated tables) are crosses joined across
    responses quantile by quantile.

    Parameters
    ----------
    data_qp : pandas.DataFrame
        :func:`quantile_probability` of the data.
    sim_qp : pandas.DataFrame or None
        :func:`quantile_probability` of simulations of the model.
    labels : tuple of str
        Legend labels of the data and the model.
    figsize : tuple of float
        Figure size, inches.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, one axis.
    """
    tables = [t for t in (data_qp, sim_qp) if t is not None]
    for t in tables:
        _require(t, ["condition", "choice", "p", "quantile", "rt"], "plot_quantile_probability")
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    for t, marker, label in zip(tables, ("o", "x"), labels, strict=False):
        for i, (qv, grp) in enumerate(t.sort_values("p").groupby("quantile", sort=True)):
            ax.plot(grp["p"], grp["rt"], marker=marker, linestyle="-" if marker == "x" else "none",
                    color=f"C{i}", label=f"{label} q={qv:g}")
    ax.set_xlabel("response probability")
    ax.set_ylabel("RT quantile (s)")
    ax.set_xlim(0, 1)
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig
