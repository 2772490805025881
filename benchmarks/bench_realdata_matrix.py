#!/usr/bin/env python
"""Every real dataset through every applicable model with MLE, MAP and hierarchical EM.

The datasets are those the loaders read: the hBayesDM example files that
:func:`cogmodels.io.read_hbayesdm` supports, ``daw/luna_habit.csv``
(:func:`cogmodels.io.read_two_step_csv`) and the WMH ``.mat`` files
(:func:`cogmodels.io.read_rlwm_mat`) from ``../shared/data/raw``, and the datasets shipped in
:mod:`cogmodels.datasets`. Each (dataset, model, method) case must

1. run without an exception;
2. for hierarchical EM, converge with the estimator's defaults (the EM loop stops on its own rule
   before ``max_em_iter``, no ``ConvergenceWarning`` from it);
3. for hierarchical EM, keep every group variance (unconstrained space) at or below
   :data:`GROUP_VAR_CEILING`.

``GROUP_VAR_CEILING = 25`` (a standard deviation of 5 unconstrained units): a group prior that
wide puts a third of its mass beyond ±5 logit units, i.e. within 0.7 % of a bound, so the group
distribution has degenerated onto the bounds and no longer shrinks anything. Measured on all
subjects (2026-12-03), no EM fit came near it: the largest group variance was 10.8
(``actor_critic`` on hBayesDM's ``prl_multipleB``, 3 subjects); the starting variance of
:class:`~cogmodels.fits.HierarchicalEM` is 10.

MAP needs priors; where a parameter's :class:`~cogmodels.parameters.ParamSpec` has none,
:func:`map_priors` supplies a weak one (a Beta(1.2, 1.2) stretched over the bounds). The suite
(``tests/test_realdata_matrix.py``) runs the same cases on the first few subjects of each
dataset; this script runs all subjects and prints the time per dataset::

    OMP_NUM_THREADS=1 python benchmarks/bench_realdata_matrix.py            # everything
    OMP_NUM_THREADS=1 python benchmarks/bench_realdata_matrix.py --subjects 3 --dataset prl
"""

from __future__ import annotations

import argparse
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT.parent / "shared" / "data" / "raw"
#: the largest group variance (unconstrained space) a hierarchical fit may end with
GROUP_VAR_CEILING = 25.0
METHODS = ("mle", "map", "em")


@dataclass(frozen=True)
class Dataset:
    """A real dataset, where it comes from, and the models that apply to it.

    ``source`` is a file under ``../shared/data/raw`` (read by the loader of its kind) or the
    name of a loader of :mod:`cogmodels.datasets`; ``coding`` maps the loaded table to the one the
    models read; ``models`` maps a label to ``make_model`` arguments (``model``: the registered
    name when it differs from the label, then structure options).
    """

    name: str
    source: str
    models: dict[str, dict[str, Any]]
    coding: Callable[[pd.DataFrame], pd.DataFrame] | None = None

    @property
    def shipped(self) -> bool:
        """In :mod:`cogmodels.datasets`: runs without ``../shared``."""
        return self.source.startswith("cogmodels.datasets.")

    def load(self) -> pd.DataFrame:
        import cogmodels.datasets
        from cogmodels.io import (
            read_hbayesdm,
            read_kool_arbitration,
            read_rlwm_mat,
            read_two_step_csv,
        )

        if self.shipped:
            trials = getattr(cogmodels.datasets, self.source.rpartition(".")[2])()
        else:
            path = RAW / self.source
            readers = {"hBayesDM": read_hbayesdm, "WMH": read_rlwm_mat, "daw": read_two_step_csv,
                       "arbitration": read_kool_arbitration}
            trials = readers[self.source.split("/")[0]](path)
        return trials if self.coding is None else self.coding(trials)

    def model(self, label: str):
        from cogmodels.models import make_model

        structure = dict(self.models[label])
        return make_model(structure.pop("model", label), **structure)


def fontanesi_pairs(real: pd.DataFrame) -> pd.DataFrame:
    """Recode Fontanesi et al. (2019) as two alternatives.

    Per pair shown (``state``), choose its better option (1) or its worse (0); points scaled to
    [0, 1] (all positive).
    """
    return real.assign(choice=real["accuracy"].astype(float), reward=real["reward"] / 100.0,
                       set_size=real["state"].nunique())


def without_practice(trials: pd.DataFrame) -> pd.DataFrame:
    """Drop the practice trials (Kool et al. 2017 fit the main task only)."""
    return trials[~trials["practice"]].drop(columns="practice")


def scaled_points(trials: pd.DataFrame) -> pd.DataFrame:
    """Points 0-100 as rewards in [0, 1]."""
    return trials.assign(reward=trials["reward"] / 100.0)


_BANDIT2 = {"random": {}, "wsls": {}, "q_learning": {}, "actor_critic": {}}
_BANDIT4 = {k: {"n_actions": 4} for k in _BANDIT2}
_REVERSAL = {**_BANDIT2, "reversal_hmm": {}}
_TWO_STEP = {"two_step_mf": {}, "two_step_mb": {}, "two_step_hybrid": {}}
_RLWM = {"rl_stimulus": {}, "rlwm": {}}

DATASETS: tuple[Dataset, ...] = (
    Dataset("hbayesdm_bandit2arm", "hBayesDM/bandit2arm_exampleData.txt", _BANDIT2),
    Dataset("hbayesdm_prl", "hBayesDM/prl_exampleData.txt", _REVERSAL),
    Dataset("hbayesdm_prl_multipleB", "hBayesDM/prl_multipleB_exampleData.txt", _REVERSAL),
    Dataset("hbayesdm_bandit4arm", "hBayesDM/bandit4arm_exampleData.txt", _BANDIT4),
    Dataset("hbayesdm_banditNarm", "hBayesDM/banditNarm_exampleData.txt", _BANDIT4),
    # points 1-100, the scale of the Kalman filter's noise (Daw et al. 2006); Q-learning's beta
    # range [0, 20] is for rewards in [0, 1] (on raw points every start gives some choice a
    # probability of exactly 0), so it reads the points / 100
    Dataset("hbayesdm_bandit4arm2", "hBayesDM/bandit4arm2_exampleData.txt",
            {"random": {"n_actions": 4}, "kalman": {}}),
    Dataset("hbayesdm_bandit4arm2_scaled", "hBayesDM/bandit4arm2_exampleData.txt",
            {"wsls": {"n_actions": 4}, "q_learning": {"n_actions": 4}}, coding=scaled_points),
    Dataset("hbayesdm_ts", "hBayesDM/ts_exampleData.txt", _TWO_STEP),
    Dataset("daw_luna_habit", "daw/luna_habit.csv", _TWO_STEP),
    Dataset("kool_2017_exp1", "arbitration/data.mat", {"two_step_stakes": {}}, coding=without_practice),
    Dataset("hbayesdm_gng", "hBayesDM/gng_exampleData.txt", {f"gng_m{i}": {} for i in range(1, 5)}),
    Dataset("hbayesdm_igt", "hBayesDM/igt_exampleData.txt", {"igt_pvl_delta": {}}),
    Dataset("hbayesdm_pst", "hBayesDM/pst_exampleData.txt", {"pst_gainloss_Q": {}}),
    Dataset("hbayesdm_dd", "hBayesDM/dd_exampleData.txt", {"dd_hyperbolic": {}}),
    Dataset("wmh_expe1", "WMH/Expe1.mat", _RLWM),
    Dataset("wmh_expe14", "WMH/Expe14.mat", _RLWM),
    Dataset("collins_frank_2012", "cogmodels.datasets.load_collins_frank_2012", _RLWM),
    Dataset("fontanesi_2019_pairs", "cogmodels.datasets.load_fontanesi_2019",
            {"random": {}, "rl_stimulus": {"n_actions": 2, "free_beta": True}}, coding=fontanesi_pairs),
    # choices and RTs: HDDMrl's model on HDDM's learning phase (three pairs shown as ``state``)
    Dataset("hddm_rlddm", "cogmodels.datasets.load_hddm_rlddm", {"rlddm": {"n_states": 3}}),
)
DATASETS_BY_NAME = {d.name: d for d in DATASETS}


def first_subjects(trials: pd.DataFrame, n: int | None, max_trials: int | None = None) -> pd.DataFrame:
    """Keep the rows of the first ``n`` subjects, each cut to its first ``max_trials`` rows.

    Subjects in order of appearance, rows in trial order; ``None``: all.
    """
    if n is not None:
        keep = trials["subject"].drop_duplicates().iloc[:n]
        trials = trials[trials["subject"].isin(keep)]
    if max_trials is not None:
        order = trials.sort_values(["subject", "trial"], kind="stable")
        trials = order[order.groupby("subject", sort=False).cumcount() < max_trials]
    return trials.reset_index(drop=True)


def map_priors(model) -> dict[str, Any]:
    """Give MAP priors to the parameters whose ParamSpec has none.

    Beta(1.2, 1.2) over a finite range (weak, zero density on the bounds), Normal(default, 10)
    over an open one.
    """
    out = {}
    for s in model.param_specs:
        if s.prior is not None:
            continue
        if np.isfinite(s.low) and np.isfinite(s.high):
            out[s.name] = scipy.stats.beta(1.2, 1.2, loc=s.low, scale=s.high - s.low)
        else:
            out[s.name] = scipy.stats.norm(s.default, 10.0)
    return out


def estimator(method: str, model, *, n_starts: int | None = None, seed: int = 0):
    """Make the estimator of ``method`` with its defaults (``n_starts`` when given; MAP: priors)."""
    from cogmodels.fits import make_estimator

    kwargs: dict[str, Any] = {"seed": seed}
    if n_starts is not None:
        kwargs["n_starts"] = n_starts
    if method == "map":
        kwargs["priors"] = map_priors(model)
    return make_estimator(method, model, **kwargs)


@dataclass
class CaseResult:
    """One (dataset, model, method) fit: its time and what broke the criteria (empty: passed)."""

    dataset: str
    model: str
    method: str
    n_subjects: int
    seconds: float
    cpu_seconds: float = 0.0  # CPU time of this process (user + system): the load inflates wall only
    problems: list[str] = field(default_factory=list)
    n_em_iter: int | None = None
    max_group_var: float | None = None
    uninformed: list[str] = field(default_factory=list)  # parameters no trial informs (reported only)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_fit(fit, caught: list[warnings.WarningMessage]) -> list[str]:
    """List the module docstring's criteria that a fitted estimator and its warnings break."""
    from cogmodels.fits import ConvergenceWarning, HierarchicalEM

    problems = []
    if isinstance(fit, HierarchicalEM):
        em_warnings = [w for w in caught if issubclass(w.category, ConvergenceWarning) and "EM stopped" in str(w.message)]
        if em_warnings or fit.n_em_iter_ >= fit.max_em_iter:
            problems.append(f"EM did not converge in max_em_iter={fit.max_em_iter} iterations")
        var = fit.group_var_
        high = var[~(var <= GROUP_VAR_CEILING)]  # NaN counts as too high
        if len(high):
            problems.append(
                f"group variance above the ceiling {GROUP_VAR_CEILING:g}: "
                + ", ".join(f"{k}={v:.3g}" for k, v in high.items())
            )
    if not np.isfinite(fit.loglik_.to_numpy()).all():
        problems.append("non-finite log-likelihood")
    return problems


def run_case(dataset: Dataset, label: str, method: str, *, trials: pd.DataFrame | None = None,
             n_subjects: int | None = None, max_trials: int | None = None, n_starts: int | None = None,
             seed: int = 0) -> CaseResult:
    """Fit one case and check it; an exception is reported as a problem with its traceback tail."""
    data = first_subjects(dataset.load() if trials is None else trials, n_subjects, max_trials)
    model = dataset.model(label)
    result = CaseResult(dataset.name, label, method, int(data["subject"].nunique()), 0.0)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = estimator(method, model, n_starts=n_starts, seed=seed).fit(data, progress=False)
        except Exception as err:  # noqa: BLE001 - the matrix reports every failure
            tail = traceback.format_exception(err)[-3:]
            result.problems.append(f"{type(err).__name__}: {err} | {''.join(tail).strip()[-300:]}")
            fit = None
    result.seconds, result.cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    if fit is not None:
        result.problems += check_fit(fit, caught)
        flagged = fit.uninformed_.any(axis=0)
        result.uninformed = flagged.index[flagged.to_numpy()].tolist()
        if method == "em":
            result.n_em_iter = int(fit.n_em_iter_)
            result.max_group_var = float(fit.group_var_.max())
    return result


def cases(datasets: tuple[Dataset, ...] = DATASETS) -> list[tuple[str, str, str]]:
    """Every (dataset, model, method) of the matrix."""
    return [(d.name, m, method) for d in datasets for m in d.models for method in METHODS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=None, help="first N subjects of each dataset (default: all)")
    ap.add_argument("--trials", type=int, default=None, help="first N trials of each subject (default: all)")
    ap.add_argument("--method", action="append", choices=METHODS, help="only these methods")
    ap.add_argument("--model", action="append", help="only these model labels")
    ap.add_argument("--starts", type=int, default=None, help="random starts (default: each estimator's)")
    ap.add_argument("--dataset", action="append", choices=sorted(DATASETS_BY_NAME), help="only these datasets")
    args = ap.parse_args()
    import cogmodels  # noqa: F401

    chosen = [DATASETS_BY_NAME[n] for n in args.dataset] if args.dataset else list(DATASETS)
    rows, failed = [], []
    print(f"ceiling on the group variance: {GROUP_VAR_CEILING:g}; subjects: {args.subjects or 'all'}; "
          f"trials: {args.trials or 'all'}; starts: {args.starts or 'defaults'}")
    for d in chosen:
        if not d.shipped and not RAW.is_dir():
            print(f"{d.name}: skipped ({RAW} is absent)")
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        trials = d.load()
        for label in d.models:
            if args.model and label not in args.model:
                continue
            for method in args.method or METHODS:
                r = run_case(d, label, method, trials=trials, n_subjects=args.subjects, max_trials=args.trials,
                             n_starts=args.starts)
                rows.append(r)
                em = f" em_iter={r.n_em_iter} max_var={r.max_group_var:.3g}" if r.n_em_iter is not None else ""
                note = f" uninformed: {r.uninformed}" if r.uninformed else ""
                print(f"  {d.name:24s} {label:16s} {method:4s} {r.seconds:8.1f} s (CPU {r.cpu_seconds:.1f} s)  "
                      f"{'ok' if r.ok else 'FAIL'}{em}{note}", flush=True)
                if not r.ok:
                    failed.append(r)
                    for p in r.problems:
                        print(f"      {p}")
        print(f"{d.name}: {time.perf_counter() - t0:.1f} s, CPU {time.process_time() - c0:.1f} s "
              f"({trials['subject'].nunique()} subjects in the file)", flush=True)
    table = pd.DataFrame([{**{k: getattr(r, k) for k in ("dataset", "model", "method", "n_subjects", "seconds",
                                                          "cpu_seconds", "n_em_iter", "max_group_var")},
                            "ok": r.ok}
                          for r in rows])
    if not table.empty:
        print()
        print(table.groupby("dataset", sort=False)[["seconds", "cpu_seconds"]].sum().round(1).to_string())
        print(f"\n{int(table['ok'].sum())}/{len(table)} cases pass; total {table['seconds'].sum():.1f} s "
              f"(CPU {table['cpu_seconds'].sum():.1f} s)")
    if failed:
        print("failed:", ", ".join(f"{r.dataset}/{r.model}/{r.method}" for r in failed))


if __name__ == "__main__":
    main()
