#!/usr/bin/env python
r"""Power, coverage and bias of a group difference: EM with a group regressor vs MLE + t-test.

Design (issue 12 §3). Each simulated study has two groups of ``n`` subjects who play the
reversal-learning task (``cogmodels/ReversalLearning-v0``, ``--trials`` trials) with Q-learning
without stickiness (``alpha``, ``beta``). In the unconstrained space of the fits,

.. math::

    \operatorname{logit}\alpha_s \sim \mathcal N(\mu_\alpha + \Delta\,g_s, \sigma_\alpha^2), \qquad
    \operatorname{logit}(\beta_s / 20) \sim \mathcal N(\mu_\beta, \sigma_\beta^2),

with ``g_s`` = 1 in the second group. The effect size is **d = Δ / σ_α**: the difference of the
group means in the unconstrained space divided by the population SD there (``--d 0.5``,
``σ_α = 1``, so Δ = 0.5; μ_α = logit 0.3, μ_β = logit(4/20), σ_β = 0.5).

Estimators, each giving an estimate of Δ, a 95 % interval and a two-sided test at 5 %:

- ``em_regressor``: :class:`~cogmodels.fits.HierarchicalEM` with ``regressors={"alpha":
  ["group"]}`` (Huys et al. 2011; emfit.m's ``reg``): the group coefficient, its standard error
  from the observed information of the marginal likelihood (Louis 1982), Wald z test;
- ``mle_ttest``: per-subject maximum likelihood (10 starts), two-sample t-test on
  ``logit α̂`` (same units as Δ); ``mle_ttest_natural``: the same test on ``α̂`` itself (the
  common practice; its power only, as its difference is not in units of Δ);
- ``oracle_ttest``: the t-test on the true ``logit α`` — the ceiling any estimator can reach at
  this design; its theoretical power is the noncentral-t power ``P(|T| > t_{0.975, 2n-2})``,
  ``T ~ t_{2n-2}(d \sqrt{n/2})`` (0.60 at d = 0.5, n = 40; 0.80 at n = 64).

Reported per design and estimator: power (share of p < 0.05), coverage of Δ by the 95 %
interval, bias and RMSE of the estimate of Δ, each with its Monte-Carlo standard error, and the
mean standard error beside the SD of the estimates over the studies (calibration; for the
t-tests the half-width of the interval over 1.96, slightly above their standard error).

    OMP_NUM_THREADS=1 python benchmarks/bench_group_power.py --studies 200 --n 40 64 --workers 2
    python benchmarks/bench_group_power.py --quick   # 4 studies of 2 x 10 subjects, seconds
    python benchmarks/bench_group_power.py --theory --n 40 64 --em-se 40:0.237 64:0.188  # no simulation
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

ENV = "cogmodels/ReversalLearning-v0"
SIGMA_ALPHA, MU_ALPHA_NATURAL, BETA_NATURAL, SIGMA_BETA = 1.0, 0.3, 4.0, 0.5


def oracle_power(d: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided two-sample t-test on the true values: noncentral t, ``2n - 2`` df."""
    df = 2 * n - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = d * np.sqrt(n / 2)
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


def n_for_power(d: float, target: float = 0.8, alpha: float = 0.05) -> int:
    """Smallest n per group at which :func:`oracle_power` reaches ``target``."""
    n = 2
    while oracle_power(d, n, alpha) < target:
        n += 1
    return n


def projected_n(se: float, n0: int, delta: float, target: float = 0.8, alpha: float = 0.05) -> int:
    """Smallest n per group at which a Wald test of an unbiased estimate of ``delta`` reaches ``target``.

    The standard error measured at ``n0`` per group is scaled as ``se * sqrt(n0 / n)``; the
    power of the two-sided Wald test is ``Φ(delta / se_n - z_{1-alpha/2}) + Φ(-delta / se_n -
    z_{1-alpha/2})`` (normal approximation).
    """
    z = stats.norm.ppf(1 - alpha / 2)
    n = 2
    while True:
        ratio = delta / (se * np.sqrt(n0 / n))
        if stats.norm.cdf(ratio - z) + stats.norm.cdf(-ratio - z) >= target:
            return n
        n += 1


def theory(d: float, ns: list[int], em_se: list[str]) -> dict:
    """Return the design's theoretical power (no simulation): oracle t-test, EM projected from its SEs."""
    out = {"d": d, "oracle_power": {n: round(oracle_power(d, n), 4) for n in ns},
           "oracle_n_for_80_percent": n_for_power(d)}
    for item in em_se:
        n0, se = item.split(":")
        out[f"em_projected_n_for_80_percent_from_se_{se}_at_n_{n0}"] = projected_n(float(se), int(n0), d * SIGMA_ALPHA)
    return out


def _ttest(x: np.ndarray, g: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Pooled two-sample t: difference (group 1 - group 0), CI low, CI high, p."""
    a, b = x[g == 1], x[g == 0]
    diff = a.mean() - b.mean()
    df = a.size + b.size - 2
    sp2 = ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / df
    se = np.sqrt(sp2 * (1 / a.size + 1 / b.size))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    p = 2 * stats.t.sf(abs(diff / se), df)
    return float(diff), float(diff - half), float(diff + half), float(p)


def one_study(seed: int, n: int, d: float, trials: int, starts: int) -> list[dict]:
    """Simulate one 2 x ``n`` study and return one row per estimator."""
    import cogmodels  # noqa: F401  (registers the environments in the worker)
    from cogmodels.fits import HierarchicalEM, MaximumLikelihood
    from cogmodels.models import make_model
    from cogmodels.simulate import simulate

    model = make_model("q_learning", stickiness=False)
    sa, sb = model.spec("alpha"), model.spec("beta")
    rng = np.random.default_rng(seed)
    g = np.repeat([0, 1], n)
    delta = d * SIGMA_ALPHA
    z_alpha = sa.to_unconstrained(MU_ALPHA_NATURAL) + delta * g + SIGMA_ALPHA * rng.standard_normal(2 * n)
    z_beta = sb.to_unconstrained(BETA_NATURAL) + SIGMA_BETA * rng.standard_normal(2 * n)
    params = {"alpha": sa.from_unconstrained(z_alpha), "beta": sb.from_unconstrained(z_beta)}
    sim = simulate(model, params, ENV, n_subjects=2 * n, seed=seed, env_kwargs={"n_trials": trials},
                   latents=False, progress=False)
    subjects = sim.params["subject"].to_numpy()
    table = pd.DataFrame({"subject": subjects, "group": np.where(g == 1, "b", "a")})
    rows = []

    def add(name: str, est: float, lo: float, hi: float, p: float, seconds: float = np.nan) -> None:
        rows.append({"seed": seed, "n": n, "estimator": name, "estimate": est, "ci_low": lo, "ci_high": hi,
                     "p_value": p, "covered": lo <= delta <= hi, "seconds": seconds})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        em = HierarchicalEM(model, covariates=table, regressors={"alpha": ["group"]}, n_starts=3, seed=seed,
                            n_samples=100).fit(sim.trials, progress=False)
        t_em = time.perf_counter() - t0
        coef = em.coefficients_.set_index(["parameter", "covariate"]).loc[("alpha", "group[b]")]
        add("em_regressor", coef.estimate, coef.ci_low, coef.ci_high, coef.p_value, t_em)
        t0 = time.perf_counter()
        mle = MaximumLikelihood(model, n_starts=starts, seed=seed, standard_errors=False).fit(
            sim.trials, progress=False)
        t_mle = time.perf_counter() - t0
    order = pd.Index(subjects).get_indexer(mle.params_.index)
    add("mle_ttest", *_ttest(mle.z_[:, 0], g[order]), t_mle)
    est, _, _, p = _ttest(mle.params_["alpha"].to_numpy(), g[order])
    rows.append({"seed": seed, "n": n, "estimator": "mle_ttest_natural", "estimate": np.nan,
                 "ci_low": np.nan, "ci_high": np.nan, "p_value": p, "covered": np.nan, "seconds": np.nan})
    add("oracle_ttest", *_ttest(z_alpha, g))
    return rows


def summarise(rows: pd.DataFrame, d: float) -> pd.DataFrame:
    """Power, coverage, bias and RMSE per design and estimator, with Monte-Carlo SEs."""
    delta = d * SIGMA_ALPHA
    out = []
    for (n, name), part in rows.groupby(["n", "estimator"], sort=False):
        k = len(part)
        power = float((part["p_value"] < 0.05).mean())
        err = part["estimate"] - delta
        cov = part["covered"].astype(float)
        out.append({
            "n_per_group": n, "estimator": name, "studies": k,
            "power": power, "power_se": np.sqrt(power * (1 - power) / k),
            "coverage": cov.mean(), "coverage_se": np.sqrt(cov.mean() * (1 - cov.mean()) / k),
            "bias": err.mean(), "bias_se": err.std(ddof=1) / np.sqrt(k),
            "rmse": float(np.sqrt((err ** 2).mean())),
            # calibration: the mean standard error against the spread of the estimates
            "mean_se": float(((part["ci_high"] - part["ci_low"]) / (2 * stats.norm.ppf(0.975))).mean()),
            "sd_estimate": part["estimate"].std(ddof=1),
            "theory_power": oracle_power(d, n) if name == "oracle_ttest" else np.nan,
            "seconds_per_fit": part["seconds"].mean(),
        })
    return pd.DataFrame(out)


def main() -> None:
    from cogmodels.progress import progress_bar

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=200, help="simulated studies per design (default 200)")
    ap.add_argument("--n", type=int, nargs="+", default=[40, 64], help="subjects per group (default 40 64)")
    ap.add_argument("--d", type=float, default=0.5, help="effect size on logit alpha (default 0.5)")
    ap.add_argument("--trials", type=int, default=100, help="trials per subject (default 100)")
    ap.add_argument("--starts", type=int, default=10, help="MLE random starts (default 10)")
    ap.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the per-study rows here (CSV)")
    ap.add_argument("--quick", action="store_true", help="4 studies of 2 x 10 subjects, 60 trials")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--summarise", default=None, metavar="ROWS_CSV",
                    help="only print the summary of the per-study rows of an earlier (or partial) --out")
    ap.add_argument("--theory", action="store_true",
                    help="only print the oracle t-test's power at each --n, the n per group for 80 %% power, "
                         "and the n projected for EM from --em-se (no simulation)")
    ap.add_argument("--em-se", nargs="*", default=[], metavar="N:SE",
                    help="with --theory: EM's mean standard error of the group coefficient measured at N per "
                         "group, e.g. 64:0.188")
    args = ap.parse_args()
    if args.theory:
        print(json.dumps(theory(args.d, args.n, args.em_se), indent=2))
        return
    if args.summarise:
        print(summarise(pd.read_csv(args.summarise), args.d).round(3).to_string(index=False))
        return
    if args.quick:
        args.studies, args.n, args.trials, args.starts = 4, [10], 60, 3
    seeds = np.random.SeedSequence(args.seed).generate_state(args.studies).tolist()
    jobs = [(int(s), n) for s in seeds for n in args.n]  # designs interleaved: a partial run covers each
    t0 = time.perf_counter()
    rows: list[dict] = []
    with ProcessPoolExecutor(args.workers) as pool, \
            progress_bar(not args.quiet, total=len(jobs), unit="study", desc="group power") as bar:
        futures = [pool.submit(one_study, s, n, args.d, args.trials, args.starts) for s, n in jobs]
        for f in as_completed(futures):
            rows.extend(f.result())
            bar.update()
            if args.out:  # the rows so far, so an interrupted run still has its finished studies
                pd.DataFrame(rows).to_csv(args.out, index=False)
    wall = time.perf_counter() - t0
    table = summarise(pd.DataFrame(rows), args.d)
    print(table.round(3).to_string(index=False))
    print(json.dumps({
        "studies": args.studies, "n_per_group": args.n, "d": args.d, "trials": args.trials, "seed": args.seed,
        "wall_s": round(wall, 1), "workers": args.workers, "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "python": platform.python_version(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }))
    if args.out:
        print(f"wrote {Path(args.out)}")


if __name__ == "__main__":
    main()
