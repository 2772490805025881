r"""Simulation-based calibration of the hierarchical Bayesian fits (Talts et al. 2018).

If data are simulated from parameters drawn from the prior, :math:`\tilde\theta \sim p(\theta)`,
:math:`\tilde y \sim p(y \mid \tilde\theta)`, and the posterior :math:`p(\theta \mid \tilde y)` is
computed exactly, then :math:`\tilde\theta` is a draw from that posterior, so the rank of
:math:`\tilde\theta` among :math:`L` posterior draws,

.. math:: r = \#\{\ell : \theta^{(\ell)} < \tilde\theta\} \in \{0, \dots, L\},

is uniform on :math:`\{0, \dots, L\}` for every scalar quantity (Talts et al. 2018, Theorem 1).
A sampler that is biased, too narrow (ranks piled at both ends), too wide (a hump in the middle)
or fitted under another prior than the one the truth came from (the "deliberately mis-specified
prior" check) breaks the uniformity. :func:`simulation_based_calibration` repeats the loop
``n_replications`` times for a hierarchical estimator (:class:`~cogmodels.fits.HierarchicalNUTS`
or :class:`~cogmodels.fits.HierarchicalVI`), ranks every group mean and SD and the first
subject's parameters, and tests each histogram of ranks against the uniform by Pearson's
:math:`\chi^2` over ``n_bins`` equal bins (:func:`uniformity_test`). The posterior draws are
thinned evenly to ``n_ranks`` (Talts et al. thin to reduce the autocorrelation of the draws).

Reference
---------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. & Gelman, A. (2018). Validating Bayesian
inference algorithms with simulation-based calibration. arXiv:1804.06788.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cogmodels.atomic import atomic_write_text
from cogmodels.progress import progress_bar
from cogmodels.validation import check_int, check_number, int_seed, seed_sequence

__all__ = ["SBCResult", "rank_statistics", "simulation_based_calibration", "uniformity_test"]


def rank_statistics(truth: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Return the rank of each true value among its posterior draws.

    Parameters
    ----------
    truth : numpy.ndarray
        ``(V,)`` the values the data were simulated from.
    draws : numpy.ndarray
        ``(L, V)`` posterior draws.

    Returns
    -------
    ranks : numpy.ndarray of int
        ``(V,)`` the number of draws below the truth, in ``0 .. L``.
    """
    truth, draws = np.asarray(truth, dtype=float), np.asarray(draws, dtype=float)
    if draws.ndim != 2 or draws.shape[1] != truth.shape[0]:
        raise ValueError(f"draws must have shape (L, {truth.shape[0]}), got {draws.shape}")
    return np.sum(draws < truth[None, :], axis=0)


def uniformity_test(ranks: np.ndarray, n_ranks: int, n_bins: int) -> pd.DataFrame:
    r"""Pearson's :math:`\chi^2` test of each column of ranks against the discrete uniform.

    The ranks ``0 .. n_ranks`` fall in ``n_bins`` equal bins (``n_ranks + 1`` must be a multiple
    of ``n_bins``, so every bin holds the same number of rank values), each expected to hold
    :math:`N / B` of the :math:`N` replications:

    .. math:: \chi^2 = \sum_{b=1}^{B} (O_b - N/B)^2 / (N/B), \qquad B - 1 \text{ degrees of freedom}.

    Parameters
    ----------
    ranks : numpy.ndarray of int
        ``(N, V)`` ranks of ``V`` quantities over ``N`` replications.
    n_ranks : int
        ``L``, the posterior draws each rank was taken among.
    n_bins : int
        ``B``.

    Returns
    -------
    table : pandas.DataFrame
        One row per quantity: ``chi2``, ``dof``, ``p_value`` and ``counts`` (the histogram).
    """
    ranks = np.asarray(ranks)
    n_ranks = check_int("n_ranks", n_ranks, minimum=1)
    n_bins = check_int("n_bins", n_bins, minimum=2)
    if (n_ranks + 1) % n_bins:
        raise ValueError(f"n_bins must divide n_ranks + 1 = {n_ranks + 1} (equal bins), got {n_bins}")
    if ranks.ndim != 2 or ranks.min() < 0 or ranks.max() > n_ranks:
        raise ValueError(f"ranks must be an (N, V) array of integers in 0..{n_ranks}")
    n = ranks.shape[0]
    bins = ranks * n_bins // (n_ranks + 1)
    counts = np.stack([np.bincount(bins[:, v], minlength=n_bins) for v in range(ranks.shape[1])])
    expected = n / n_bins
    chi2 = ((counts - expected) ** 2 / expected).sum(axis=1)
    return pd.DataFrame({"chi2": chi2, "dof": n_bins - 1, "p_value": stats.chi2.sf(chi2, n_bins - 1),
                         "counts": list(counts)})


@dataclass
class SBCResult:
    """The ranks of a simulation-based calibration run and their uniformity tests.

    Attributes
    ----------
    ranks : pandas.DataFrame
        ``(replications, quantities)`` ranks in ``0 .. n_ranks``.
    truth : pandas.DataFrame
        The simulated values, same shape.
    n_ranks : int
        Posterior draws per rank.
    table : pandas.DataFrame
        :func:`uniformity_test` of every quantity, indexed by its name.
    sampler_cpu_s : numpy.ndarray or None
        ``(replications,)`` CPU seconds of each fit's sampling processes, where the estimator
        records them (ChEES: ``process_cpu_s_``, which counts worker processes that
        ``time.process_time`` in the caller does not); None otherwise.
    """

    ranks: pd.DataFrame
    truth: pd.DataFrame
    n_ranks: int
    table: pd.DataFrame
    sampler_cpu_s: np.ndarray | None = None

    @property
    def min_p_value(self) -> float:
        """The smallest p-value over the quantities."""
        return float(self.table["p_value"].min())

    def calibrated(self, alpha: float = 0.01) -> bool:
        """Whether no quantity's uniformity is rejected at level ``alpha`` (Bonferroni over quantities)."""
        alpha = check_number("alpha", alpha, 0.0, 1.0, low_open=True, high_open=True)
        return self.min_p_value * len(self.table) >= alpha

    def plot(self, path: str | None = None) -> Any:
        """Draw one rank histogram per quantity with the 99 % band of a uniform histogram.

        Parameters
        ----------
        path : str, optional
            Save the figure there (PNG).

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(self.table.index)
        cols = min(4, len(names))
        rows = -(-len(names) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
        n = len(self.ranks)
        for ax, name in zip(axes.ravel(), names, strict=False):
            counts = self.table.loc[name, "counts"]
            b = len(counts)
            lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / b)
            ax.axhspan(lo, hi, color="0.85")
            ax.bar(np.arange(b), counts, width=1.0, color="C0", edgecolor="white")
            ax.set_title(f"{name}  p={self.table.loc[name, 'p_value']:.2g}", fontsize=8)
            ax.set_xticks([])
        for ax in axes.ravel()[len(names):]:
            ax.axis("off")
        fig.suptitle(f"SBC ranks: {n} replications, {self.n_ranks} draws each (grey: 99 % band)", fontsize=9)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def simulation_based_calibration(
    estimator: Any,
    env: str,
    *,
    n_subjects: int,
    n_trials: int,
    n_replications: int = 100,
    n_ranks: int = 99,
    n_bins: int = 10,
    prior: Any = None,
    env_kwargs: Mapping[str, Any] | None = None,
    seed: int | None = 0,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
) -> SBCResult:
    """Run simulation-based calibration (Talts et al. 2018) of a hierarchical Bayesian estimator.

    Each replication draws group means, group SDs and subjects' parameters from the prior
    (:meth:`~cogmodels.fits.bayes.HierarchicalBayes.sample_prior`), simulates the subjects in
    ``env``, fits ``estimator`` to the simulated trials and ranks the truth among ``n_ranks``
    evenly thinned posterior draws: ``mu[j]``, ``sigma[j]`` and ``params[0, j]`` (the first
    subject) for every parameter ``j``.

    Parameters
    ----------
    estimator : HierarchicalBayes
        An unfitted :class:`~cogmodels.fits.HierarchicalNUTS` or
        :class:`~cogmodels.fits.HierarchicalVI` (it is refitted each replication with a child
        seed; its draws per chain times chains must be at least ``n_ranks``).
    env : str
        The task environment (a registered id) the subjects are simulated in.
    n_subjects, n_trials : int
        The size of each simulated data set.
    n_replications : int, default 100
        Simulate-and-fit loops.
    n_ranks : int, default 99
        ``L``: the posterior draws each truth is ranked among.
    n_bins : int, default 10
        Bins of the uniformity test (must divide ``n_ranks + 1``).
    prior : HierarchicalBayes, optional
        The estimator whose prior draws the truth (default: ``estimator``'s own). Another prior
        than the fitted one mis-specifies the fit on purpose: SBC must then fail.
    env_kwargs : mapping, optional
        Environment arguments besides ``n_trials``.
    seed : int, optional
        Seeds the truths, simulations and fits (child seeds per replication).
    progress : bool, default True
        Draw a bar of the replications.
    checkpoint : str or os.PathLike, optional
        A JSON file that holds the ranks and truths of every finished replication, rewritten
        atomically after each one. If it exists, the run resumes after its last replication: each
        replication has its own child seed, so the result is the one an uninterrupted run gives.
        A file written with other settings (model, task, sizes, ranks, seed, estimator) is
        refused with ``ValueError``.

    Returns
    -------
    result : SBCResult
        Ranks, truths and the uniformity test of each quantity.
    """
    import warnings

    from cogmodels.fits.mle import ConvergenceWarning
    from cogmodels.simulate import simulate

    n_subjects = check_int("n_subjects", n_subjects, minimum=1)
    n_trials = check_int("n_trials", n_trials, minimum=1)
    n_replications = check_int("n_replications", n_replications, minimum=2)
    n_ranks = check_int("n_ranks", n_ranks, minimum=1)
    if (n_ranks + 1) % check_int("n_bins", n_bins, minimum=2):
        raise ValueError(f"n_bins must divide n_ranks + 1 = {n_ranks + 1} (equal bins), got {n_bins}")
    prior = estimator if prior is None else prior
    model = estimator.model
    names = model.param_names
    quantities = ([f"mu[{n}]" for n in names] + [f"sigma[{n}]" for n in names]
                  + [f"params[0,{n}]" for n in names])
    settings = {"model": model.name, "parameters": list(names), "env": env, "env_kwargs": dict(env_kwargs or {}),
                "n_subjects": n_subjects, "n_trials": n_trials, "n_ranks": n_ranks, "seed": seed,
                "estimator": _describe(estimator), "prior": _describe(prior)}
    ranks, truths, sampler_cpu = _resume(checkpoint, settings)
    children = seed_sequence(seed).spawn(n_replications)
    with progress_bar(progress, total=n_replications, unit="replication", desc=f"sbc {model.name}") as bar:
        bar.update(min(len(ranks), n_replications))
        for child in children[len(ranks):]:
            draw_seed, sim_seed, fit_seed = (int_seed(s) for s in child.spawn(3))
            truth = prior.sample_prior(n_subjects, seed=draw_seed)
            trials = simulate(model, truth["params"], env, n_subjects=n_subjects, seed=sim_seed,
                              env_kwargs={**dict(env_kwargs or {}), "n_trials": n_trials}, latents=False,
                              progress=False).trials
            estimator.seed = fit_seed
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                estimator.fit(trials, progress=False)
            sampler_cpu.append(np.sum(getattr(estimator, "process_cpu_s_", np.nan)))
            post = estimator.inference_data_.posterior
            draws = np.concatenate([
                post["mu"].to_numpy().reshape(-1, len(names)),
                post["sigma"].to_numpy().reshape(-1, len(names)),
                post["params"].to_numpy()[:, :, 0].reshape(-1, len(names)),
            ], axis=1)
            if draws.shape[0] < n_ranks:
                raise ValueError(f"the estimator keeps {draws.shape[0]} posterior draws, fewer than "
                                 f"n_ranks={n_ranks}: raise n_draws")
            keep = np.linspace(0, draws.shape[0] - 1, n_ranks).round().astype(int)
            value = np.concatenate([truth["mu"], truth["sigma"],
                                    np.array([truth["params"][n][0] for n in names])])
            ranks.append(rank_statistics(value, draws[keep]))
            truths.append(value)
            if checkpoint is not None:
                atomic_write_text(checkpoint, json.dumps({
                    "settings": settings, "ranks": np.asarray(ranks).tolist(),
                    "truths": np.asarray(truths).tolist(), "sampler_cpu_s": np.asarray(sampler_cpu).tolist()}))
            bar.update()
    ranks, truths, sampler_cpu = ranks[:n_replications], truths[:n_replications], sampler_cpu[:n_replications]
    ranks_df = pd.DataFrame(ranks, columns=quantities).rename_axis("replication")
    table = uniformity_test(ranks_df.to_numpy(), n_ranks, n_bins)
    table.index = pd.Index(quantities, name="quantity")
    cpu = np.array(sampler_cpu, dtype=float)
    return SBCResult(ranks_df, pd.DataFrame(truths, columns=quantities), n_ranks, table,
                     None if np.isnan(cpu).any() else cpu)


def _resume(checkpoint: str | os.PathLike | None, settings: dict) -> tuple[list, list, list]:
    """Return the ranks, truths and sampler CPU seconds a checkpoint holds (empty lists if none)."""
    if checkpoint is None or not Path(checkpoint).exists():
        return [], [], []
    try:
        saved = json.loads(Path(checkpoint).read_text(encoding="utf-8"))
        stored = saved["settings"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"checkpoint {str(checkpoint)!r} is not a simulation-based calibration "
                         f"checkpoint ({err}); remove it or pass another path") from None
    differ = sorted(k for k in set(stored) | set(settings) if stored.get(k) != settings.get(k))
    if differ:
        raise ValueError(f"checkpoint {str(checkpoint)!r} was written with other settings ({', '.join(differ)}: "
                         f"{[stored.get(k) for k in differ]} there, {[settings.get(k) for k in differ]} now); "
                         "remove it or pass another path")
    ranks = [np.asarray(r, dtype=np.int64) for r in saved["ranks"]]
    truths = [np.asarray(t, dtype=float) for t in saved["truths"]]
    return ranks, truths, [float(c) for c in saved["sampler_cpu_s"]]


def _describe(estimator: Any) -> dict:
    """Return the class and plain settings of an estimator (not its seed, set per replication, nor n_jobs)."""
    plain = (bool, int, float, str, type(None))
    settings = {k: v for k, v in sorted(vars(estimator).items())
                if not k.startswith("_") and not k.endswith("_") and k not in ("seed", "n_jobs") and isinstance(v, plain)}
    centred = getattr(estimator, "centred", ())
    if isinstance(centred, tuple) and centred:  # absent when none is: checkpoints from before the option still resume
        settings["centred"] = list(centred)  # ("auto" is a plain setting, kept above)
    return {"class": type(estimator).__name__, **settings}
