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
2. ``ddm``, ``rlddm``, ``rlrd``: parameter recovery at ``--trials`` × ``--subjects`` (default
   200 × 40): true parameters drawn uniformly from plausible ranges, data simulated with
   ``simulate_learning_phase`` (the probabilistic selection task's learning phase, pairs
   0.8/0.2, 0.7/0.3, 0.6/0.4; for the DDM one condition) or, for the RL racing diffusion, in a
   2-armed Bernoulli bandit; fitted by ``--method`` (maximum likelihood by default, ``em`` the
   hierarchical EM); Pearson r of true vs estimated per parameter, CPU and wall seconds of the fit.
   ``ddm-diagnose``: why the DDM's threshold recovers less well by maximum likelihood (the
   truth's log-likelihood against the fits' with 5 and ``--starts`` starts, Laplace standard
   errors, a KS test of the RT sampler at every subject's true parameters).
3. ``hddm-bayes``: the same hierarchical RLDDM sampled by ChEES-HMC (``HierarchicalNUTS(sampler=
   "chees")``, 4 chains, one process, ``--warmup`` + ``--draws`` iterations, forward-difference
   gradients): R̂, ESS, divergences, and the group values like-for-like with HDDMrl's (the
   posterior of the natural-scale mean of the group distribution, by Monte Carlo over each
   draw's ``(mu, sigma)``, and of the link of ``mu``), each in HDDMrl posterior SDs. Also the
   CPU ms of one log-density call (median of 7). Writes ``rt_hddm_bayes.csv`` (the table) and
   ``rt_hddm_bayes.json`` (diagnostics, timings, priors).
4. ``qp``: quantile-probability plot of HDDM's data against the RLDDM simulated at the group
   values (the EM's, from ``rt_hddm_em.csv`` when it exists, else HDDMrl's), 28 simulated
   subjects × 200 trials of the same three pairs.

    OMP_NUM_THREADS=1 python benchmarks/bench_rt.py --part all

    OMP_NUM_THREADS=1 python benchmarks/bench_rt.py --part hddm-bayes --warmup 500 --draws 500

Writes ``benchmarks/figures/rt_hddm_em.csv``, ``rt_recovery.csv``, ``rt_ddm_diagnose.csv``,
``rt_hddm_qp.csv`` and ``rt_hddm_qp.png`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")

from cogmodels.datasets import load_hddm_rlddm  # noqa: E402
from cogmodels.fits import make_estimator  # noqa: E402
from cogmodels.fits.bayes import HierarchicalNUTS, centred_from_text  # noqa: E402
from cogmodels.fits.em import HierarchicalEM  # noqa: E402
from cogmodels.fits.mle import MaximumLikelihood, interior_start  # noqa: E402
from cogmodels.likelihood import trial_arrays  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.models.rlddm import simulate_learning_phase  # noqa: E402
from cogmodels.simulate import simulate  # noqa: E402

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
    "rlrd": {"alpha": (0.1, 0.5), "v0": (0.5, 2.0), "w": (1.0, 5.0), "b": (1.0, 2.5), "t0": (0.2, 0.5)},
}
#: the RL racing diffusion's task: a Bernoulli bandit of 2 arms (means redrawn per subject)
RLRD_ARMS = 2


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


#: our parameter -> HDDMrl's, on the scale HDDM reports its group mean (α: logit)
HDDM_NAMES = {"a": "a", "v": "v", "t0": "t0", "alpha": "logit_alpha"}
#: HDDMrl's group priors (hddm ``HDDM._create_stochastic_knodes_info`` with informative priors,
#: and ``HDDMrl._create_stochastic_knodes`` for α), to state next to ours
HDDM_PRIORS = {
    "a": "subject ~ Gamma(mean mu_a, sd sigma_a); mu_a ~ Gamma(mean 1.5, sd 0.75); sigma_a ~ HalfNormal(2)",
    "v": "subject ~ Normal(mu_v, sigma_v); mu_v ~ Normal(2, 3); sigma_v ~ HalfNormal(2)",
    "t0": "subject ~ Gamma(mean mu_t, sd sigma_t); mu_t ~ Gamma(mean 0.4, sd 0.2); sigma_t ~ HalfNormal(1)",
    "alpha": "logit subject ~ Normal(mu_alpha, sigma_alpha); mu_alpha ~ Normal(0.2, 3); sigma_alpha ~ Uniform(1e-10, 10)",
}


def log_density_ms(fit: HierarchicalNUTS, data: pd.DataFrame, repeats: int = 7) -> float:
    """CPU ms of one ChEES log-density call (value and forward-difference gradient), median of ``repeats``."""
    arrays = trial_arrays(data, fit.model)
    log_density, layout = fit._log_density(arrays, [0], n_chains=fit.n_chains)
    rng = np.random.default_rng(0)
    x = fit._finite_starts(arrays, fit._stan_starts(fit.n_chains, arrays, rng), rng)
    times = []
    for _ in range(repeats):
        cpu = time.process_time()
        log_density(x)
        times.append(time.process_time() - cpu)
    return 1000.0 * float(np.median(times))


def group_values(fit: HierarchicalNUTS, seed: int, n_mc: int = 2000) -> pd.DataFrame:
    r"""Posterior of each group value against HDDMrl's, like-for-like.

    Our group distribution is Gaussian in the unconstrained space, :math:`z \sim N(\mu, \sigma^2)`
    with the parameter :math:`g^{-1}(z)`; HDDM's group mean is the mean of a natural-scale group
    distribution (logit scale for α). Per draw: ``link_mu`` :math:`= g^{-1}(\mu)` and
    ``natural_mean`` :math:`= E[g^{-1}(\mu + \sigma \varepsilon)]` (Monte Carlo, ``n_mc`` common
    normal draws); for α both are :math:`\mu` itself (logit). ``z_*`` is (posterior mean − HDDMrl
    mean) / HDDMrl posterior SD.
    """
    post = fit.inference_data_.posterior
    names = list(post["mu"].coords["parameter"].values)
    mu = post["mu"].values.reshape(-1, len(names))
    sigma = post["sigma"].values.reshape(-1, len(names))
    eps = np.random.default_rng(seed).standard_normal(n_mc)
    summary = fit.summary_
    rows = []
    for j, name in enumerate(names):
        if name == "alpha":  # HDDM's α is normal on the logit scale, as ours
            link = natural = mu[:, j]
        else:
            spec = fit.model.spec(name)
            link = spec.from_unconstrained(mu[:, j])
            natural = spec.from_unconstrained(mu[:, j, None] + sigma[:, j, None] * eps[None, :]).mean(axis=1)
        key = HDDM_NAMES[name]
        row = {"parameter": key, "hddmrl": HDDMRL[key], "hddmrl_sd": HDDMRL_SD[key],
               "natural_mean": natural.mean(), "natural_mean_sd": natural.std(ddof=1),
               "link_mu": link.mean(), "link_mu_sd": link.std(ddof=1),
               "sigma": sigma[:, j].mean(),
               "r_hat_mu": summary.loc[f"mu[{name}]", "r_hat"], "ess_bulk_mu": summary.loc[f"mu[{name}]", "ess_bulk"],
               "r_hat_sigma": summary.loc[f"sigma[{name}]", "r_hat"],
               "ess_bulk_sigma": summary.loc[f"sigma[{name}]", "ess_bulk"]}
        row["z_natural_mean"] = (row["natural_mean"] - row["hddmrl"]) / row["hddmrl_sd"]
        row["z_link_mu"] = (row["link_mu"] - row["hddmrl"]) / row["hddmrl_sd"]
        rows.append(row)
    return pd.DataFrame(rows)


def hddm_bayes(n_warmup: int, n_draws: int, seed: int, centred: str | None = None,
               p_outlier: float = 0.0, n_jobs: int = 1, checkpoint: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Sample the hierarchical RLDDM on HDDM's data by ChEES; return the group values and diagnostics.

    ``centred``: ``"all"``, ``"auto"`` or comma-separated parameters sampled centred (``HierarchicalBayes(centred=...)``);
    ``n_jobs``: processes the 4 chains are split over (the same draws for any ``n_jobs``);
    ``checkpoint``: a folder for the sampler's state (a stopped run resumes; the CPU and wall
    seconds recorded are then those of the resumed part only).
    """
    data = load_hddm_rlddm()
    model = make_model("rlddm", n_states=3, p_outlier=p_outlier)
    fit = HierarchicalNUTS(model, sampler="chees", n_chains=4, n_warmup=n_warmup, n_draws=n_draws, n_jobs=n_jobs,
                           seed=seed, centred=centred_from_text(centred), checkpoint=checkpoint)
    ms = log_density_ms(fit, data)
    print(f"one log-density call: {ms:.1f} CPU ms")
    cpu, wall = time.process_time(), time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit.fit(data, progress=True)  # the bar on stderr shows the rate of a long run
    cpu, wall = time.process_time() - cpu + (float(fit.process_cpu_s_.sum()) if n_jobs > 1 else 0.0), time.perf_counter() - wall
    info = {
        "command": f"bench_rt.py --part hddm-bayes --warmup {n_warmup} --draws {n_draws} --seed {seed}"
                   + (f" --jobs {n_jobs}" if n_jobs > 1 else "")
                   + (f" --centred {centred}" if centred else "") + (f" --p-outlier {p_outlier}" if p_outlier else ""),
        "p_outlier": p_outlier,
        "centred": list(fit.centred_),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_average": os.getloadavg(),
        "log_density_ms": ms, "cpu_s": cpu, "wall_s": wall, "n_gradients": fit.n_gradients_,
        "gradients_per_iteration": fit.gradients_per_iteration_, "step_size": fit.step_size_.tolist(),
        "trajectory_length": fit.trajectory_length_.tolist(), "n_divergent": int(fit.n_divergent_),
        "chain_means_mu": {k: v.tolist() for k, v in
                           fit.inference_data_.posterior["mu"].mean(dim="draw").to_pandas().items()},
        "r_hat_max": float(fit.r_hat_max_), "ess_bulk_min": float(fit.ess_bulk_min_),
        "ess_tail_min": float(fit.ess_tail_min_), "warnings": sorted({str(w.message)[:200] for w in caught}),
        "our_priors": {s.name: f"subject z ~ Normal(mu, sigma) unconstrained ({s.kind}), "
                       f"{'centred' if s.name in fit.centred_ else 'non-centred'}; mu ~ Normal("
                       f"{interior_start(s):.3f}, {fit.mean_prior_sd}); sigma ~ HalfNormal({fit.scale_prior_sd})"
                       for s in model.param_specs},
        "hddm_priors": HDDM_PRIORS,
    }
    return group_values(fit, seed), info


def recovery(name: str, n_subjects: int, n_trials: int, n_starts: int, seed: int, method: str = "mle") -> pd.DataFrame:
    """Simulate ``n_subjects`` × ``n_trials`` from known parameters, fit by ``method``, correlate.

    ``minority_0`` counts the subjects with no response at all of their rarer kind (the DDM's
    lower or upper boundary; an option never chosen by the race): with a free starting point
    their threshold is identified only through the distance ``(1 - z) a`` to the boundary they
    hit, a ridge along which maximum likelihood runs to the bound of ``a``.
    """
    rng = np.random.default_rng(seed)
    truth = {k: rng.uniform(lo, hi, n_subjects) for k, (lo, hi) in RANGES[name].items()}
    if name == "rlrd":
        model = make_model("rlrd", n_actions=RLRD_ARMS)
        table = simulate(model, truth, "cogmodels/MultiArmedBandit-v0", seed=rng,
                         env_kwargs={"n_trials": n_trials, "n_actions": RLRD_ARMS}, progress=False).trials
    else:
        model = make_model("rlddm", n_states=3) if name == "rlddm" else make_model("ddm")
        kwargs = {} if name == "rlddm" else {"reward_probabilities": ((0.5, 0.5),)}
        table = simulate_learning_phase(model, truth, n_trials=n_trials, seed=rng, **kwargs).drop(columns="p_choice")
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = {"standard_errors": False} if method in ("mle", "map") else {}
        fit = make_estimator(method, model, n_starts=n_starts, seed=seed, **kwargs).fit(table, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    counts = table.groupby("subject")["choice"].value_counts().unstack(fill_value=0)
    counts = counts.reindex(columns=range(model.n_actions), fill_value=0)
    minority_0 = int((counts.min(axis=1) == 0).sum())
    rows = []
    for k, values in truth.items():
        est = fit.params_[k].to_numpy()
        rows.append({"model": name, "parameter": k, "r": float(np.corrcoef(values, est)[0, 1]),
                     "bias": float(np.mean(est - values)), "n_subjects": n_subjects, "n_trials": n_trials,
                     "n_starts": n_starts, "method": method, "minority_0": minority_0, "fit_wall_s": wall,
                     "fit_cpu_s": cpu})
    return pd.DataFrame(rows)


def ddm_diagnose(n_subjects: int, n_trials: int, n_starts: int, seed: int) -> pd.DataFrame:
    """Why the DDM's threshold recovers less well: the data and truth of :func:`recovery` (``ddm``).

    Per subject: the log-likelihood at the true parameters against the fit's (5 and
    ``n_starts`` starts: a fit that ends below the truth's likelihood is an optimiser failure),
    the fitted threshold and its Laplace standard error (sampling noise: the r it predicts is
    ``sqrt(var(a) / (var(a) + mean se²))``), and a Kolmogorov-Smirnov test of the sampler at the
    true parameters of the subject (2,000 RTs per subject against the Wiener CDF).
    """
    from scipy import stats

    from cogmodels import wiener
    from cogmodels.likelihood import log_likelihood

    model = make_model("ddm")
    rng = np.random.default_rng(seed)
    truth = {k: rng.uniform(lo, hi, n_subjects) for k, (lo, hi) in RANGES["ddm"].items()}
    table = simulate_learning_phase(model, truth, n_trials=n_trials, seed=rng,
                                    reward_probabilities=((0.5, 0.5),)).drop(columns="p_choice")
    out = pd.DataFrame({f"true_{k}": v for k, v in truth.items()})
    out["loglik_true"] = log_likelihood(model, truth, table)
    for starts in sorted({5, n_starts}):
        cpu = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = MaximumLikelihood(model, n_starts=starts, seed=seed, standard_errors=True).fit(table, progress=False)
        print(f"  {starts} starts: {time.process_time() - cpu:.1f} CPU s")
        out[f"loglik_{starts}"] = fit.loglik_.to_numpy()
        for k in truth:
            out[f"{k}_{starts}"] = fit.params_[k].to_numpy()
            out[f"se_{k}_{starts}"] = fit.se_[k].to_numpy()
    ks = []
    for i in range(n_subjects):  # the sampler against the CDF, at each subject's true parameters
        v, a, z, t0 = (truth[k][i] for k in ("v", "a", "z", "t0"))
        p_upper = float(wiener.choice_probabilities(np.array(v), np.array(a), np.array(z))[1])
        c = 1.0 if p_upper >= 0.5 else 0.0
        p_c = p_upper if c else 1.0 - p_upper
        draws = wiener.sample_rt(np.full(2000, c), v, a, z, t0, np.random.default_rng([seed, i]))
        ks.append(stats.kstest(draws, lambda x, c=c, p=p_c, v=v, a=a, z=z, t0=t0:
                               wiener.cdf(np.asarray(x), c, v, a, z, t0) / p).pvalue)
    out["ks_p_sampler"] = ks
    return out


def summarise_diagnosis(diag: pd.DataFrame, n_starts: int) -> None:
    """Print the diagnosis of :func:`ddm_diagnose`."""
    for starts in sorted({5, n_starts}):
        below = diag[f"loglik_{starts}"] < diag["loglik_true"] - 1e-3
        r = {k: np.corrcoef(diag[f"true_{k}"], diag[f"{k}_{starts}"])[0, 1] for k in ("v", "a", "z", "t0")}
        se2 = np.nanmean(diag[f"se_a_{starts}"] ** 2)
        var_a = np.var(diag["true_a"])
        print(f"{starts} starts: r {', '.join(f'{k} {x:.3f}' for k, x in r.items())}; fits below the truth's "
              f"loglik: {below.sum()}; mean se(a)² {se2:.4f}, var(true a) {var_a:.4f}, r predicted by the se "
              f"{np.sqrt(var_a / (var_a + se2)):.3f}; error var {np.var(diag[f'a_{starts}'] - diag['true_a']):.4f}")
    print(f"sampler KS p-values: min {diag['ks_p_sampler'].min():.3f}, below 0.05: "
          f"{(diag['ks_p_sampler'] < 0.05).sum()} of {len(diag)}")


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
    ap.add_argument("--part", choices=["hddm", "hddm-bayes", "ddm", "rlddm", "rlrd", "qp", "ddm-diagnose", "all"],
                    default="all", help="all: every part but hddm-bayes (a long run)")
    ap.add_argument("--warmup", type=int, default=500, help="hddm-bayes: ChEES warm-up iterations per chain")
    ap.add_argument("--draws", type=int, default=500, help="hddm-bayes: kept draws per chain")
    ap.add_argument("--centred", default=None,
                    help="hddm-bayes: parameters sampled centred, comma-separated (a,t0) or 'all' (default: none); "
                         "the results go to rt_hddm_bayes_centred.csv/.json")
    ap.add_argument("--p-outlier", type=float, default=0.0,
                    help="hddm-bayes: the RLDDM's contaminant probability (HDDMrl's default is 0.05); "
                         "the results go to <stem>_outlier.csv/.json")
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="hddm-bayes: processes the 4 chains are split over")
    ap.add_argument("--checkpoint", default=None, metavar="DIR",
                    help="hddm-bayes: keep the sampler's state there every 50 iterations; the same command "
                         "run again after a stop resumes (HierarchicalNUTS(checkpoint=...))")
    ap.add_argument("--method", choices=["mle", "map", "em"], default="mle",
                    help="the estimator of the recovery parts (em: hierarchical EM, Huys et al. 2011)")
    args = ap.parse_args()
    FIGURES.mkdir(exist_ok=True)
    pd.set_option("display.width", 160)
    if args.part in ("hddm", "all"):
        em = hddm_em(args.starts, args.seed)
        em.to_csv(FIGURES / "rt_hddm_em.csv", index=False)
        print(em.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.part == "hddm-bayes":
        table, info = hddm_bayes(args.warmup, args.draws, args.seed, args.centred, args.p_outlier, args.jobs,
                                 args.checkpoint)
        stem = "rt_hddm_bayes_centred" if args.centred else "rt_hddm_bayes"  # the non-centred run's files stay
        stem += "_outlier" if args.p_outlier else ""
        table.to_csv(FIGURES / f"{stem}.csv", index=False)
        (FIGURES / f"{stem}.json").write_text(json.dumps(info, indent=1, default=float) + "\n")
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        print(json.dumps({k: v for k, v in info.items() if "priors" not in k}, indent=1, default=float))
    parts = [p for p in ("ddm", "rlddm", "rlrd") if args.part in (p, "all")]
    if parts:
        rec = pd.concat([recovery(p, args.subjects, args.trials, args.starts, args.seed, args.method) for p in parts])
        path = FIGURES / "rt_recovery.csv"
        if path.exists() and args.part != "all":  # keep the rows of the other models and methods
            old = pd.read_csv(path)
            if "method" not in old:
                old["method"] = "mle"
            rec = pd.concat([old[~(old["model"].isin(parts) & (old["method"] == args.method))], rec])
        rec.to_csv(path, index=False)
        print(rec.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.part == "ddm-diagnose":
        diag = ddm_diagnose(args.subjects, args.trials, args.starts, args.seed)
        diag.to_csv(FIGURES / "rt_ddm_diagnose.csv", index=False)
        summarise_diagnosis(diag, args.starts)
    if args.part in ("qp", "all"):
        qp = hddm_qp(args.seed)
        qp.to_csv(FIGURES / "rt_hddm_qp.csv", index=False)
        print(qp.pivot_table(index=["source", "condition", "choice", "p"], columns="quantile", values="rt")
              .round(3).to_string())


if __name__ == "__main__":
    main()
