#!/usr/bin/env python
"""Choices and reaction times (issue 17 §3): the RLDDM on HDDM's data, and parameter recovery.

1. ``hddm``: the hierarchical RLDDM (HDDMrl: ``RLDDM(n_states=3)``, ``z = 0.5``) fitted to
   HDDM's learning-phase data (``cogmodels.datasets.load_hddm_rlddm``) by the package's
   hierarchical EM (``HierarchicalEM``, Laplace, diagonal group covariance, at most 40
   EM iterations). Group values
   (the group mean mapped to the natural scale; ``alpha`` also in logit, HDDM's scale) against
   HDDMrl's tutorial posterior means (a ≈ 1.75, v ≈ 4.16, t ≈ 0.435, logit α ≈ -2.48) in units
   of their posterior SDs. HDDM's group means are means of natural-scale group distributions
   (logit scale for α); the EM's group prior is Gaussian in the unconstrained space, so the table
   also gives the mean of the EM's group distribution on the natural scale
   (``group_mean_natural``, by Monte Carlo), the like-for-like number.
2. ``ddm``, ``rlddm``: parameter recovery at ``--trials`` × ``--subjects`` (default 200 × 40):
   true parameters drawn uniformly from plausible ranges, data simulated with
   ``simulate_learning_phase`` (the probabilistic selection task's learning phase, pairs
   0.8/0.2, 0.7/0.3, 0.6/0.4; for the DDM one condition), fitted by maximum likelihood;
   Pearson r of true vs estimated per parameter.
3. ``qp``: quantile-probability plot of HDDM's data against the RLDDM simulated at the group
   values (the EM's, from ``rt_hddm_em.csv`` when it exists, else HDDMrl's), 28 simulated
   subjects × 200 trials of the same three pairs.

    OMP_NUM_THREADS=1 python benchmarks/bench_rt.py --part all

Writes ``benchmarks/figures/rt_hddm_em.csv``, ``rt_recovery.csv``, ``rt_hddm_qp.csv`` and
``rt_hddm_qp.png`` and prints the tables.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")

from cogmodels.datasets import load_hddm_rlddm  # noqa: E402
from cogmodels.fits.em import HierarchicalEM  # noqa: E402
from cogmodels.fits.mle import MaximumLikelihood  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.models.rlddm import simulate_learning_phase  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"
#: HDDMrl tutorial (hddm docs, "Tutorial for analyzing instrumental learning data with the
#: HDDMrl module"), group posterior means on this data set
HDDMRL = {"a": 1.75, "v": 4.16, "t0": 0.435, "logit_alpha": -2.48}
#: and their posterior SDs (the tutorial's print_stats: 0.0837, 0.7999, 0.0449, 0.3873)
HDDMRL_SD = {"a": 0.084, "v": 0.800, "t0": 0.045, "logit_alpha": 0.387}
#: ranges of the true parameters in the recovery
RANGES = {
    "ddm": {"v": (-2.0, 2.0), "a": (0.8, 2.5), "z": (0.35, 0.65), "t0": (0.2, 0.5)},
    "rlddm": {"alpha": (0.05, 0.5), "v": (1.0, 8.0), "a": (1.0, 2.5), "t0": (0.2, 0.5)},
}


def hddm_em(n_starts: int, seed: int) -> pd.DataFrame:
    """Fit the hierarchical RLDDM to HDDM's data by EM; return group values vs HDDMrl's."""
    data = load_hddm_rlddm()
    model = make_model("rlddm", n_states=3)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = HierarchicalEM(model, n_starts=n_starts, seed=seed, max_em_iter=40).fit(data, progress=False)
    wall = time.perf_counter() - start
    group = em.group_params_
    sd = np.sqrt(em.group_var_)
    rows = [
        {"parameter": "a", "em": group["a"], "hddmrl": HDDMRL["a"]},
        {"parameter": "v", "em": group["v"], "hddmrl": HDDMRL["v"]},
        {"parameter": "t0", "em": group["t0"], "hddmrl": HDDMRL["t0"]},
        {"parameter": "logit_alpha", "em": em.group_mean_["alpha"], "hddmrl": HDDMRL["logit_alpha"]},
    ]
    out = pd.DataFrame(rows)
    out["difference"] = out["em"] - out["hddmrl"]
    out["group_sd_unconstrained"] = [sd["a"], sd["v"], sd["t0"], sd["alpha"]]
    out["subject_mean"] = [em.params_["a"].mean(), em.params_["v"].mean(), em.params_["t0"].mean(),
                           float(np.mean(np.log(em.params_["alpha"] / (1 - em.params_["alpha"]))))]
    out["em_converged"] = em.em_converged_
    out["wall_s"] = wall
    return compare_with_hddmrl(out, model, seed)


def compare_with_hddmrl(table: pd.DataFrame, model, seed: int) -> pd.DataFrame:
    """Add the EM group distribution's natural-scale mean and the differences in HDDMrl SDs."""
    z = np.random.default_rng(seed).standard_normal(200_000)
    natural = []
    for _, row in table.iterrows():
        if row["parameter"] == "logit_alpha":  # HDDM's α is normal on the logit scale, as the EM's
            natural.append(row["em"])
            continue
        spec = model.spec(row["parameter"])
        mu = float(spec.to_unconstrained(row["em"]))
        natural.append(float(np.mean(spec.from_unconstrained(mu + row["group_sd_unconstrained"] * z))))
    table = table.copy()
    table["group_mean_natural"] = natural
    table["hddmrl_sd"] = table["parameter"].map(HDDMRL_SD)
    table["difference_in_sd"] = (table["group_mean_natural"] - table["hddmrl"]) / table["hddmrl_sd"]
    return table


def recovery(name: str, n_subjects: int, n_trials: int, n_starts: int, seed: int) -> pd.DataFrame:
    """Simulate ``n_subjects`` × ``n_trials`` from known parameters, fit by MLE, correlate."""
    model = make_model("rlddm", n_states=3) if name == "rlddm" else make_model("ddm")
    rng = np.random.default_rng(seed)
    truth = {k: rng.uniform(lo, hi, n_subjects) for k, (lo, hi) in RANGES[name].items()}
    pairs = None if name == "rlddm" else ((0.5, 0.5),)
    kwargs = {} if pairs is None else {"reward_probabilities": pairs}
    table = simulate_learning_phase(model, truth, n_trials=n_trials, seed=rng, **kwargs)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MaximumLikelihood(model, n_starts=n_starts, seed=seed, standard_errors=False).fit(
            table.drop(columns="p_choice"), progress=False)
    wall = time.perf_counter() - start
    rows = []
    for k, values in truth.items():
        est = fit.params_[k].to_numpy()
        rows.append({"model": name, "parameter": k, "r": float(np.corrcoef(values, est)[0, 1]),
                     "bias": float(np.mean(est - values)), "n_subjects": n_subjects, "n_trials": n_trials,
                     "fit_wall_s": wall})
    return pd.DataFrame(rows)


def hddm_qp(seed: int) -> pd.DataFrame:
    """QP table of HDDM's data and of the RLDDM simulated at the group values; draws the figure."""
    from cogmodels.fits.ppc import plot_quantile_probability, quantile_probability

    em_path = FIGURES / "rt_hddm_em.csv"
    if em_path.exists():
        em = pd.read_csv(em_path).set_index("parameter")["em"]
        values, source = {"a": em["a"], "v": em["v"], "t0": em["t0"], "alpha": em["logit_alpha"]}, "EM"
    else:
        values, source = {**HDDMRL, "alpha": HDDMRL["logit_alpha"]}, "HDDMrl"
    params = {"alpha": 1 / (1 + np.exp(-values["alpha"])), "v": values["v"], "a": values["a"],
              "t0": values["t0"]}
    model = make_model("rlddm", n_states=3)
    sim = simulate_learning_phase(model, {k: np.full(28, v) for k, v in params.items()}, n_trials=200, seed=seed)
    data_qp = quantile_probability(load_hddm_rlddm())
    sim_qp = quantile_probability(sim)
    fig = plot_quantile_probability(data_qp, sim_qp, labels=("HDDM data", f"RLDDM at {source} group values"))
    fig.savefig(FIGURES / "rt_hddm_qp.png", dpi=120, bbox_inches="tight")
    out = pd.concat([data_qp.assign(source="data"), sim_qp.assign(source=f"rlddm_{source}")])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["hddm", "ddm", "rlddm", "qp", "all"], default="all")
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    FIGURES.mkdir(exist_ok=True)
    pd.set_option("display.width", 160)
    if args.part in ("hddm", "all"):
        em = hddm_em(args.starts, args.seed)
        em.to_csv(FIGURES / "rt_hddm_em.csv", index=False)
        print(em.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    parts = [p for p in ("ddm", "rlddm") if args.part in (p, "all")]
    if parts:
        rec = pd.concat([recovery(p, args.subjects, args.trials, args.starts, args.seed) for p in parts])
        path = FIGURES / "rt_recovery.csv"
        if path.exists() and args.part != "all":  # keep the other model's rows
            old = pd.read_csv(path)
            rec = pd.concat([old[~old["model"].isin(parts)], rec])
        rec.to_csv(path, index=False)
        print(rec.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.part in ("qp", "all"):
        qp = hddm_qp(args.seed)
        qp.to_csv(FIGURES / "rt_hddm_qp.csv", index=False)
        print(qp.pivot_table(index=["source", "condition", "choice", "p"], columns="quantile", values="rt")
              .round(3).to_string())


if __name__ == "__main__":
    main()
