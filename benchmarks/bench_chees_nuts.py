#!/usr/bin/env python
"""ChEES-HMC against Pyro's NUTS on one small hierarchical Q-learning posterior (issue 17 §2).

Correctness check of the ChEES sampler (:mod:`cogmodels.fits.chees`, Hoffman, Radul & Sountsov
2021) against the reference NUTS (Hoffman & Gelman 2014, as Pyro implements it) on the same
posterior: one simulated data set (``--subjects`` × ``--trials`` of ``ReversalLearning-v0``),
Pyro's NUTS with 2 vectorized chains × (200 + 300) and ChEES with 4 chains in 2 processes ×
(300 + 500). The group means' posterior means must agree within 3 combined Monte Carlo standard
errors and their posterior SDs within 20 %; the script exits with status 1 otherwise. The suite
keeps the cheap companions (the ChEES density equals Pyro's potential to 1e-8, and ChEES samples
badly scaled Gaussians correctly); this check costs about 150 CPU s, most of it Pyro's NUTS::

    OMP_NUM_THREADS=1 python benchmarks/bench_chees_nuts.py
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def chees_against_pyro_nuts(n_subjects: int, n_trials: int, nuts: dict, chees: dict):
    """Fit one simulated hierarchical Q-learning data set with Pyro's NUTS and with ChEES (2 processes).

    Returns the two fits and, per group mean, the difference of the posterior means in combined MCSEs
    and the ratio of the posterior SDs (ChEES / NUTS).
    """
    from cogmodels.fits import HierarchicalNUTS
    from cogmodels.models import make_model
    from cogmodels.simulate import simulate

    model = make_model("q_learning")
    rng = np.random.default_rng(11)
    truth = {"alpha": 1 / (1 + np.exp(-rng.normal(-0.5, 0.5, n_subjects))), "beta": rng.uniform(2, 6, n_subjects),
             "kappa": rng.normal(0.3, 0.3, n_subjects)}
    trials = simulate(model, truth, "cogmodels/ReversalLearning-v0", n_subjects=n_subjects, seed=4,
                      env_kwargs={"n_trials": n_trials}, latents=False, progress=False).trials
    reference = HierarchicalNUTS(model, sampler="nuts", seed=1, **nuts).fit(trials)
    fit = HierarchicalNUTS(model, sampler="chees", n_jobs=2, seed=2, **chees).fit(trials)
    rows = [f"mu[{name}]" for name in model.param_names]
    a, b = reference.summary_.loc[rows], fit.summary_.loc[rows]
    z = np.abs(a["mean"] - b["mean"]) / np.sqrt(a["mcse_mean"] ** 2 + b["mcse_mean"] ** 2)
    return reference, fit, z, b["sd"] / a["sd"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--trials", type=int, default=40)
    args = ap.parse_args()
    start = time.process_time()
    reference, fit, z, sd_ratio = chees_against_pyro_nuts(
        args.subjects, args.trials, {"n_chains": 2, "chain_method": "vectorized", "n_warmup": 200, "n_draws": 300},
        {"n_chains": 4, "n_warmup": 300, "n_draws": 500})
    print(f"ChEES vs Pyro NUTS, {args.subjects} subjects x {args.trials} trials "
          f"({time.process_time() - start:.0f} CPU s in the main process)")
    for name in z.index:
        print(f"  {name:12s} |mean difference| {z[name]:.2f} combined MCSE   SD ratio {sd_ratio[name]:.3f}")
    print(f"  divergences: NUTS {reference.n_divergent_}, ChEES {fit.n_divergent_}")
    ok = fit.n_divergent_ == 0 and bool((z < 3).all()) and bool((np.abs(sd_ratio - 1.0) <= 0.2).all())
    print("agree" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
