#!/usr/bin/env python
"""Issue 17 §2 validation: hierarchical posteriors of gng_m1-m4 on hBayesDM's go/no-go example data.

hBayesDM's example data (``gng_exampleData.txt``: 10 subjects × 240 trials of the orthogonalised
go/no-go task, Guitart-Masip et al. 2012) fitted by :class:`~cogmodels.fits.HierarchicalNUTS`
(ChEES-HMC) with ``gng_m1`` ... ``gng_m4``, against the numbers hBayesDM publishes for the same
file (Ahn, Haines & Zhang 2017; :data:`HBAYESDM_REFERENCE`):

1. the group means on the natural scale, hBayesDM's ``mu_<name>``: the transform of the group mean
   of the unconstrained parameters, *not* the mean of the subjects (hBayesDM:
   ``mu_xi = Phi_approx(mu_pr[1])``; ``mu_rho = exp(mu_pr[3])`` in gng_m1, ``mu_b = mu_pr[3]`` in
   gng_m2-m4; here
   ``ParamSpec.from_unconstrained(mu)``, logistic or exp). Both are the population median of the
   parameter (a monotone transform keeps the median), so they are the same quantity under
   different link functions and priors. Their difference is reported in units of our posterior
   SD and of hBayesDM's, and over the rounding interval of hBayesDM's two printed decimals;
2. PSIS-LOO leaving one subject out (hBayesDM's ``log_lik[i]`` sums subject ``i``'s trials), as
   ``looic = -2 elpd_loo``, and the ranking of the four models.

CPU seconds (``time.process_time`` of this process plus the worker processes' own), since the
machine is shared. Writes ``<out>.json`` (everything) and ``<out>.csv`` (the group-mean table).

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/bench_gng_posterior.py --warmup 1000 --draws 1000 \
        --jobs 2 --out benchmarks/figures/gng_posterior

The data path: ``--data``, else ``$COGMODELS_HBAYESDM_DIR/gng_exampleData.txt``, else
``../shared/data/raw/hBayesDM/gng_exampleData.txt`` beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

if TYPE_CHECKING:  # the Stan mode runs where only NumPy and PyStan are installed
    import pandas as pd

    from cogmodels.fits import HierarchicalNUTS

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("gng_m1", "gng_m2", "gng_m3", "gng_m4")
#: the columns of :func:`group_table`
BASE_COLUMNS = ("model", "parameter", "mean", "sd", "q2.5", "q97.5", "r_hat", "ess_bulk", "ess_tail")
#: hBayesDM's parameter names (``rhoRew``, ``rhoPun``) for ours
HBAYESDM_NAMES = {"rho_rew": "rhoRew", "rho_pun": "rhoPun"}

#: hBayesDM's published posterior of its gng example data: the "Getting started" vignette of
#: CCS-Lab/hBayesDM (``R/vignettes/getting_started.Rmd`` at commit 9cbe245f, lines 226-229 and
#: 286-291; added in 956452c, 2019-08-30), printed by ``gng_m1(data="example", niter=2000,
#: nwarmup=1000, nchain=4, ncore=4)`` and ``printFit(output1, ..., output4)``. Only gng_m1's group
#: means are printed there (two decimals); the LOOIC of all four. The printed table predates the
#: current priors: its ``sigma[1]`` (mean 0.54, SD 1.02, 97.5 % 1.99) is hBayesDM <= 0.5's
#: ``sigma ~ cauchy(0, 5)`` (``--priors hbayesdm05``), which reproduces it when run here
#: (RESULTS), not today's ``sigma ~ normal(0, 0.2)``; the console log above it is newer (its
#: "Use VB estimates as initial values" appeared in 523c132, 2019-08-09).
HBAYESDM_REFERENCE = {
    "source": "github.com/CCS-Lab/hBayesDM R/vignettes/getting_started.Rmd @ 9cbe245f (lines 226-229, 286-291)",
    "group_means": {  # mean, sd, 2.5 %, 97.5 %, n_eff, Rhat as printed
        "gng_m1": {"xi": (0.03, 0.02, 0.00, 0.08, 2316, 1.00),
                   "ep": (0.15, 0.02, 0.11, 0.19, 4402, 1.00),
                   "rho": (5.97, 0.72, 4.76, 7.61, 3821, 1.00)},
    },
    "decimals": 2,
    "looic": {"gng_m1": 1588.843, "gng_m2": 1571.129, "gng_m3": 1573.872, "gng_m4": 1543.335},
}


#: the cubic of Stan's ``Phi_approx``: ``Phi_approx(x) = logit^-1(PHI_APPROX[0] x^3 + PHI_APPROX[1] x)``
PHI_APPROX = (0.07056, 1.5976)
#: hBayesDM's hyperpriors of gng_m1 besides ``mu_pr ~ normal(0, 1)``: the family and scale of
#: ``sigma``'s half-distribution. ``hbayesdm``: ``sigma ~ normal(0, 0.2)``, hBayesDM >= 0.6 (since
#: 43ca84f, 2018-09-04); ``hbayesdm05``: ``sigma ~ cauchy(0, 5)``, hBayesDM <= 0.5 (``gng_m1.stan``
#: at 9f7d68b, 2018-01-24, and every version before it)
HBAYESDM_PRIORS = {"hbayesdm": ("normal", 0.2), "hbayesdm05": ("cauchy", 5.0)}
#: parameters that hBayesDM links by ``Phi_approx`` (ours: logistic)
PROBIT_PARAMETERS = ("xi", "ep")


def phi_approx(x: np.ndarray) -> np.ndarray:
    r"""Stan's ``Phi_approx``, hBayesDM's link of [0, 1] parameters: ``logit^-1(0.07056 x^3 + 1.5976 x)``.

    Bowling, Khasawneh, Kaewkuekool & Cho (2009), "A logistic approximation to the cumulative
    normal distribution", J Industrial Engineering and Management 2(1), 114-127.
    """
    return 1.0 / (1.0 + np.exp(-probit_to_logit(x, True)[0]))


def probit_to_logit(u: np.ndarray, probit: np.ndarray | bool) -> tuple[np.ndarray, np.ndarray]:
    r"""Map hBayesDM's unconstrained values ``u`` to ours, ``z = h(u)``, and return ``(z, dz/du)``.

    :math:`h(u) = 0.07056 u^3 + 1.5976 u` where ``probit`` (then :math:`\mathrm{logit}^{-1}(h(u)) =`
    ``Phi_approx(u)`` exactly, our logistic link giving hBayesDM's parameter), the identity
    elsewhere (``exp`` and the identity are the same links in both).
    """
    a, b = PHI_APPROX
    u = np.asarray(u, dtype=float)
    return np.where(probit, a * u**3 + b * u, u), np.where(probit, 3.0 * a * u**2 + b, 1.0)


def half_prior(sigma: np.ndarray, family: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Log density (up to a constant) of a group SD's half-normal or half-Cauchy prior, and its derivative in :math:`\log\sigma`.

    ``normal``: :math:`-\tfrac12 (\sigma/s)^2`, derivative :math:`-(\sigma/s)^2`; ``cauchy``:
    :math:`-\log(1 + (\sigma/s)^2)`, derivative :math:`-2\sigma^2 / (s^2 + \sigma^2)`
    (the Jacobian of :math:`\sigma = e^{\log\sigma}` not included).
    """
    r2 = (np.asarray(sigma, dtype=float) / scale) ** 2
    if family == "normal":
        return -0.5 * r2, -r2
    if family == "cauchy":
        return -np.log1p(r2), -2.0 * r2 / (1.0 + r2)
    raise ValueError(f"family must be one of ['cauchy', 'normal'], got {family!r}")


def hbayesdm_log_density(lane_loglik: Any, probit: np.ndarray, n_chains: int, n_subjects: int,
                         family: str, scale: float) -> Any:
    r"""Log density of hBayesDM's gng_m1 posterior over flat ``(mu_pr, log sigma, raw)`` vectors, on our likelihood.

    hBayesDM's model (``gng_m1.stan``): :math:`\mu \sim \mathcal N(0, 1)`, :math:`\sigma` from
    :func:`half_prior`, :math:`\tilde z_{ij} \sim \mathcal N(0, 1)`, :math:`u_{ij} = \mu_j +
    \sigma_j \tilde z_{ij}`; the likelihood is ours (``lane_loglik``,
    :class:`~cogmodels.fits.autodiff.LaneLogLikelihood`) at :math:`z = h(u)`
    (:func:`probit_to_logit`), which gives the same parameters as hBayesDM's links. The gradient
    is the chain rule through :math:`h`; a chain at a non-finite position or with
    :math:`|z| > 700` has density -inf and gradient 0 (as ``HierarchicalNUTS``'s own).
    """
    k = len(probit)

    def log_density(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        mu, log_sigma, raw = x[:, :k], x[:, k:2 * k], x[:, 2 * k:].reshape(n_chains, n_subjects, k)
        with np.errstate(over="ignore", invalid="ignore"):
            sigma = np.exp(log_sigma)
            z, dz = probit_to_logit(mu[:, None, :] + sigma[:, None, :] * raw, probit)
            lost = ~((np.abs(z) <= 700.0).all(axis=(1, 2)) & np.isfinite(x).all(axis=1))
            ll, g = lane_loglik(np.where(lost[:, None, None], 0.0, z).reshape(n_chains * n_subjects, k))
            g = g.reshape(n_chains, n_subjects, k) * dz
            prior, d_prior = half_prior(sigma, family, scale)
            value = (ll.reshape(n_chains, n_subjects).sum(axis=1) - 0.5 * np.sum(mu**2, axis=1)
                     + np.sum(prior + log_sigma, axis=1) - 0.5 * np.sum(raw.reshape(n_chains, -1) ** 2, axis=1))
            grad = np.concatenate([g.sum(axis=1) - mu, sigma * np.sum(g * raw, axis=1) + d_prior + 1.0,
                                   (sigma[:, None, :] * g - raw).reshape(n_chains, -1)], axis=1)
        bad = lost | ~np.isfinite(value)
        return np.where(bad, -np.inf, value), np.where(bad[:, None], 0.0, grad)

    return log_density


def hbayesdm_prior_nuts(model: Any, priors: str, **kwargs: Any) -> HierarchicalNUTS:
    """``HierarchicalNUTS(sampler="chees")`` on hBayesDM's gng_m1 model: its priors and links, our likelihood.

    ``priors``: a key of :data:`HBAYESDM_PRIORS`. The sampler runs on hBayesDM's variables
    (:func:`hbayesdm_log_density`); the draws are mapped to ours (``mu``, the subjects' ``z``:
    :func:`probit_to_logit`), so ``group`` and :func:`group_table` give hBayesDM's ``mu_<name>``
    and the subjects' parameters and log-likelihoods are hBayesDM's; ``sigma`` stays on
    hBayesDM's scale. The estimator's class is local: ``n_jobs`` must be 1.
    """
    from cogmodels.fits import HierarchicalNUTS
    from cogmodels.fits.autodiff import LaneLogLikelihood

    if model.name != "gng_m1":
        raise ValueError(f"hBayesDM's priors are written here for gng_m1 only, got model {model.name!r}")
    if priors not in HBAYESDM_PRIORS:
        raise ValueError(f"priors must be one of {sorted(HBAYESDM_PRIORS)}, got {priors!r}")
    if kwargs.get("n_jobs", 1) != 1:
        raise ValueError(f"--jobs must be 1 with hBayesDM's priors (a local estimator class), got {kwargs['n_jobs']}")
    family, scale = HBAYESDM_PRIORS[priors]
    probit = np.array([name in PROBIT_PARAMETERS for name in model.param_names])

    class HBayesDMPriorNUTS(HierarchicalNUTS):
        def _log_density(self, data: Any, counter: list[int], n_chains: int | None = None) -> tuple[Any, list]:
            n = self.n_chains if n_chains is None else n_chains
            lanes = LaneLogLikelihood(self.model, data, np.tile(np.arange(data.n_subjects), n), self.gradient)
            density = hbayesdm_log_density(lanes, probit, n, data.n_subjects, family, scale)

            def counted(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                counter[0] += 1
                return density(x)

            return counted, self._log_density_layout(data)

        def _draws(self, data: Any, samples: Any) -> dict[str, np.ndarray]:
            out = super()._draws(data, samples)  # mu and z on hBayesDM's scale: map them to ours
            out["mu"], out["z"] = probit_to_logit(out["mu"], probit)[0], probit_to_logit(out["z"], probit)[0]
            return out

    return HBayesDMPriorNUTS(model, sampler="chees", mean_prior_sd=1.0, scale_prior_sd=scale, **kwargs)


def hbayesdm_group_mean(name: str, mu_pr: np.ndarray) -> np.ndarray:
    """Return hBayesDM's ``mu_<name>`` of gng_m1-m4 from its unconstrained group mean ``mu_pr``.

    ``Phi_approx`` for ``xi`` and ``ep``, the identity for ``b`` and ``pi``, ``exp`` for ``rho``,
    ``rho_rew`` and ``rho_pun`` (``commons/stan_files/gng_m*.stan``, generated quantities).
    """
    links = {"xi": phi_approx, "ep": phi_approx, "b": np.asarray, "pi": np.asarray,
             "rho": np.exp, "rho_rew": np.exp, "rho_pun": np.exp}
    if name not in links:
        raise ValueError(f"name must be one of {sorted(links)}, got {name!r}")
    return np.asarray(links[name](np.asarray(mu_pr, dtype=float)), dtype=float)


def data_path(path: str | None) -> Path:
    """Return the example data's path: ``path``, ``$COGMODELS_HBAYESDM_DIR`` or ``../shared``."""
    if path is not None:
        return Path(path)
    folder = os.environ.get("COGMODELS_HBAYESDM_DIR")
    base = Path(folder) if folder else ROOT.parent / "shared" / "data" / "raw" / "hBayesDM"
    return base / "gng_exampleData.txt"


def group_table(estimator: HierarchicalNUTS) -> pd.DataFrame:
    """Posterior of each group mean on the natural scale (hBayesDM's ``mu_<name>``), one row each.

    ``value`` columns from the draws of ``from_unconstrained(mu)``: mean, SD, 2.5 % and 97.5 %
    quantiles; R̂ and bulk/tail ESS from ArviZ (Vehtari et al. 2021).
    """
    import pandas as pd

    model = estimator.model
    post = estimator.inference_data_.posterior
    mu = post["mu"].to_numpy()  # (chains, draws, k), unconstrained
    summary = estimator.summary_
    rows = []
    for j, spec in enumerate(model.param_specs):
        values = np.asarray(spec.from_unconstrained(mu[..., j]), dtype=float)
        label = f"group[{spec.name}]"
        rows.append({"model": model.name, "parameter": spec.name, "mean": float(values.mean()),
                     "sd": float(values.std(ddof=1)), "q2.5": float(np.quantile(values, 0.025)),
                     "q97.5": float(np.quantile(values, 0.975)), "r_hat": float(summary.loc[label, "r_hat"]),
                     "ess_bulk": float(summary.loc[label, "ess_bulk"]),
                     "ess_tail": float(summary.loc[label, "ess_tail"])})
    return pd.DataFrame(rows)


def compare_reference(table: pd.DataFrame, reference: dict[str, dict[str, tuple]], decimals: int) -> pd.DataFrame:
    """Add hBayesDM's printed posterior and the differences in posterior SDs to ``table``.

    ``z_ours = (ours - ref) / sd_ours``, ``z_ref = (ours - ref) / sd_ref``; ``z_ours_rounding`` is the
    smallest ``|z_ours|`` over the interval ``ref ± 0.5 × 10^-decimals`` that the printed value
    stands for (0 when our mean lies inside it). Rows without a reference keep NaN.
    """
    out = table.copy()
    half = 0.5 * 10.0 ** (-decimals)
    for col in ("ref_mean", "ref_sd", "z_ours", "z_ref", "z_ours_rounding"):
        out[col] = np.nan
    for i, row in out.iterrows():
        ref = reference.get(row["model"], {}).get(row["parameter"])
        if ref is None:
            continue
        diff = row["mean"] - ref[0]
        gap = max(abs(diff) - half, 0.0)
        out.loc[i, ["ref_mean", "ref_sd", "z_ours", "z_ref", "z_ours_rounding"]] = [
            ref[0], ref[1], diff / row["sd"], diff / ref[1], gap / row["sd"]]
    return out


def fit_model(name: str, trials: pd.DataFrame, args: argparse.Namespace) -> tuple[HierarchicalNUTS, dict]:
    """Fit one model by ChEES-HMC; return the estimator and its diagnostics, cost and LOO."""
    from cogmodels.fits import HierarchicalNUTS
    from cogmodels.models import make_model

    common = {"n_chains": args.chains, "n_warmup": args.warmup, "n_draws": args.draws, "n_jobs": args.jobs,
              "seed": args.seed, "gradient": args.gradient}
    if args.priors == "package":
        est = HierarchicalNUTS(make_model(name), sampler="chees", mean_prior_sd=args.mean_prior_sd,
                               scale_prior_sd=args.scale_prior_sd, **common)
    else:
        est = hbayesdm_prior_nuts(make_model(name), args.priors, **common)
    w0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(trials, progress=False)
        loo = est.loo()
        waic = est.waic()
    cpu = time.process_time() - c0
    if args.jobs > 1:  # the chains ran in worker processes, which process_time does not count
        cpu += float(np.sum(est.process_cpu_s_))
    row = {"model": name, "priors": args.priors, "cpu_s": cpu, "wall_s": time.perf_counter() - w0,
           "load_average_1min": [load0, os.getloadavg()[0]],
           "r_hat_max": float(est.r_hat_max_), "ess_bulk_min": float(est.ess_bulk_min_),
           "ess_tail_min": float(est.ess_tail_min_), "n_divergent": int(est.n_divergent_),
           "n_gradients": int(est.n_gradients_), "step_size": est.step_size_.tolist(),
           "looic": -2.0 * float(loo.elpd_loo), "looic_se": 2.0 * float(loo.se), "p_loo": float(loo.p_loo),
           "pareto_k_max": float(np.max(loo.pareto_k)), "waic": -2.0 * float(waic.elpd_waic),
           "warnings": sorted({str(w.message).splitlines()[0][:120] for w in caught})}
    print(json.dumps(row), flush=True)
    return est, row


# -- hBayesDM's own Stan models, run by PyStan (a separate environment: numpy + pystan only) -------
_OLD_ARRAY = re.compile(r"^(\s*)(int|real)(<[^>]*>)?\s+(\w+)\[([^\]]+)\];", re.MULTILINE)


def modern_stan(code: str) -> str:
    """Rewrite hBayesDM's Stan code in the syntax of Stan >= 2.33: ``real x[N, T];`` -> ``array[N, T] real x;``.

    Its ``#include /pre/license.stan`` (a comment block) is dropped; nothing else changes.
    """
    code = "\n".join(line for line in code.splitlines() if not line.startswith("#include"))
    return _OLD_ARRAY.sub(r"\1array[\5] \2\3 \4;", code)


def stan_data(path: Path) -> dict[str, Any]:
    """Return hBayesDM's ``gng`` data list (``N``, ``T``, ``Tsubj``, ``cue``, ``pressed``, ``outcome``) from its file.

    As hBayesDM's ``gng_preprocess_func``: subjects in order of first appearance, trials in file
    order, padded with ``cue = 1``, ``pressed = -1``, ``outcome = 0`` past a subject's last trial.
    """
    raw = np.genfromtxt(path, names=True, delimiter="\t", dtype=float)
    names = {n.lower(): n for n in raw.dtype.names}
    subj = raw[names["subjid"]]
    order = list(dict.fromkeys(subj.tolist()))
    t_subj = [int(np.sum(subj == s)) for s in order]
    n, t = len(order), max(t_subj)
    cue, pressed, outcome = np.ones((n, t), int), -np.ones((n, t), int), np.zeros((n, t))
    for i, s in enumerate(order):
        rows = subj == s
        cue[i, : t_subj[i]] = raw[names["cue"]][rows]
        pressed[i, : t_subj[i]] = raw[names["keypressed"]][rows]
        outcome[i, : t_subj[i]] = raw[names["outcome"]][rows]
    return {"N": n, "T": t, "Tsubj": t_subj, "cue": cue.tolist(), "pressed": pressed.tolist(),
            "outcome": outcome.tolist()}


def run_stan(stan_dir: Path, data: dict[str, Any], name: str, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Sample hBayesDM's ``<name>.stan`` with PyStan (Stan's NUTS); return (chains, draws) arrays.

    Keeps every scalar ``mu_<name>`` (not the vector ``mu_pr``, ``mu_p`` before hBayesDM 0.6) and ``sigma``, ``log_lik`` (chains, draws, N),
    ``divergent__``, the CPU seconds of the compilation (the compiler runs as a waited-for child)
    and the wall seconds of the sampling (PyStan samples in server processes that this process
    does not wait for: time the whole command, e.g. ``/usr/bin/time``, for its CPU seconds).
    """
    import stan

    code = modern_stan((stan_dir / f"{name}.stan").read_text())
    c0 = _cpu_with_children()
    posterior = stan.build(code, data=data, random_seed=args.seed)
    c1, w1 = _cpu_with_children(), time.perf_counter()
    fit = posterior.sample(num_chains=args.chains, num_warmup=args.warmup, num_samples=args.draws)
    w2 = time.perf_counter()

    def draws(param: str) -> np.ndarray:  # PyStan: (dims..., draws * chains), the chain index fastest
        x = np.asarray(fit[param])
        if param.endswith("__") or not fit.dims[fit.param_names.index(param)]:
            x = x[0]  # a scalar comes as (1, draws * chains)
        x = x.reshape(*x.shape[:-1], args.draws, args.chains)
        return np.moveaxis(np.moveaxis(x, -1, 0), -1, 1)  # (chains, draws, dims...)

    scalar_mu = [p for p in fit.param_names if p.startswith("mu_") and not fit.dims[fit.param_names.index(p)]]
    keep = [*scalar_mu, *(p for p in fit.param_names if p in ("sigma", "log_lik"))]
    out = {p: draws(p) for p in keep}
    out["divergent__"] = draws("divergent__")
    out["compile_cpu_s"], out["sample_wall_s"] = np.array(c1 - c0), np.array(w2 - w1)
    return out


def _cpu_with_children() -> float:
    """CPU seconds of this process and its waited-for children (user + system)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def stan_main(args: argparse.Namespace) -> None:
    """Run every model by hBayesDM's Stan code (``--stan-dir``); draws to ``<out>_stan_<model>.npz``."""
    data = stan_data(data_path(args.data))
    for name in args.models:
        out = run_stan(Path(args.stan_dir), data, name, args)
        path = Path(f"{args.out}_stan_{name}.npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **out)
        print(name, {k: float(np.mean(v)) for k, v in out.items() if k.startswith("mu_") or k.endswith("_s")},
              "divergent", int(out["divergent__"].sum()), flush=True)


def stan_table(paths: list[str]) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Group means (mean, SD, quantiles, R̂, ESS) and PSIS-LOO of saved Stan runs (``--stan-draws``)."""
    import arviz as az
    import pandas as pd

    rows, fits = [], {}
    inverse = {v: k for k, v in HBAYESDM_NAMES.items()}
    for path in paths:
        npz = np.load(path)
        name = re.search(r"(gng_m\d)", Path(path).name).group(1)
        for key in [k for k in npz.files if k.startswith("mu_") and k != "mu_pr"]:
            x = npz[key].reshape(npz[key].shape[:2])  # (chains, draws)
            rows.append({"model": name, "parameter": inverse.get(key[3:], key[3:]), "mean": float(x.mean()),
                         "sd": float(x.std(ddof=1)), "q2.5": float(np.quantile(x, 0.025)),
                         "q97.5": float(np.quantile(x, 0.975)), "r_hat": float(az.rhat(x)),
                         "ess_bulk": float(az.ess(x, method="bulk")), "ess_tail": float(az.ess(x, method="tail"))})
        idata = az.from_dict(posterior={"mu": npz[sorted(k for k in npz.files if k.startswith("mu_"))[0]]},
                             log_likelihood={"log_lik": npz["log_lik"]})
        loo = az.loo(idata)
        fits[name] = {"looic": -2.0 * float(loo.elpd_loo), "looic_se": 2.0 * float(loo.se),
                      "pareto_k_max": float(np.max(loo.pareto_k)), "n_divergent": int(npz["divergent__"].sum()),
                      "compile_cpu_s": float(npz["compile_cpu_s"]),
                      **({"sample_wall_s": float(npz["sample_wall_s"])} if "sample_wall_s" in npz.files else {})}
    return pd.DataFrame(rows), fits


def ranking(looic: dict[str, float]) -> list[str]:
    """Model names from the lowest (best) LOOIC to the highest."""
    return sorted(looic, key=looic.__getitem__)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="gng_exampleData.txt (default: see the module docstring)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=1, help="processes the ChEES chains are split over")
    p.add_argument("--subjects", type=int, default=None, help="the first N subjects only (default: all)")
    p.add_argument("--gradient", default="forward_difference")
    p.add_argument("--priors", default="package", choices=["package", *HBAYESDM_PRIORS],
                   help="the package's hierarchical priors (--mean-prior-sd, --scale-prior-sd), or hBayesDM's "
                        "gng_m1 model: its priors and links (hbayesdm: sigma ~ normal(0, 0.2); hbayesdm05: "
                        "sigma ~ cauchy(0, 5), hBayesDM <= 0.5)")
    p.add_argument("--mean-prior-sd", type=float, default=1.5)
    p.add_argument("--scale-prior-sd", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "figures" / "gng_posterior"),
                   help="output path without extension (.json and .csv are written)")
    p.add_argument("--stan-dir", default=None,
                   help="hBayesDM's commons/stan_files: run its Stan models by PyStan instead (needs only numpy "
                        "and pystan), draws to <out>_stan_<model>.npz")
    p.add_argument("--stan-draws", nargs="*", default=[],
                   help="npz files of --stan-dir runs to tabulate beside our fits (their group means and LOOIC)")
    p.add_argument("--from-json", nargs="*", default=[],
                   help="previous runs' JSON files: tabulate their fits together (and with --stan-draws) "
                        "instead of fitting")
    args = p.parse_args(argv)
    if args.stan_dir is not None:
        stan_main(args)
        return {}

    import pandas as pd

    if args.from_json:  # re-tabulate saved fits (runs of one model each, Stan runs finished later)
        saved = [json.loads(Path(f).read_text()) for f in args.from_json]
        rows = [row for one in saved for row in one["fits"]]
        base = pd.concat([pd.DataFrame(one["group_means"])[list(BASE_COLUMNS)] for one in saved], ignore_index=True)
        n_subjects, n_trials = saved[0]["n_subjects"], saved[0]["n_trials"]
        fit_args = [a for one in saved for a in (one["args"] if isinstance(one["args"], list) else [one["args"]])]
    else:
        from cogmodels.io import read_hbayesdm

        trials = read_hbayesdm(data_path(args.data), "gng")
        if args.subjects is not None:
            trials = trials[trials["subject"].isin(trials["subject"].unique()[: args.subjects])]
        rows, tables = [], []
        for name in args.models:
            est, row = fit_model(name, trials, args)
            rows.append(row)
            tables.append(group_table(est))
        base, n_subjects, n_trials = pd.concat(tables, ignore_index=True), int(trials["subject"].nunique()), len(trials)
        fit_args = vars(args)
    result = report(base, rows, args.stan_draws)
    result.update({"args": fit_args, "n_subjects": n_subjects, "n_trials": n_trials,
                   "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())})
    table = pd.DataFrame(result["group_means"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".csv"), index=False, float_format="%.6g")
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round(4).to_string(index=False))
    print("LOOIC:", {r["model"]: round(r["looic"], 1) for r in rows}, "ranking", result["ranking"],
          "hBayesDM", result["hbayesdm_ranking"], "Stan", result.get("stan_ranking"),
          "CPU s", round(result["cpu_s_total"], 1))
    return result


def report(base: pd.DataFrame, rows: list[dict], stan_draws: list[str]) -> dict[str, Any]:
    """Compare our group means (``base``) and LOOIC (``rows``) with hBayesDM's published run and Stan runs.

    Returns the JSON-ready result: ``group_means`` (records; NaN as None), ``ranking``,
    ``hbayesdm_ranking``, ``ranking_matches`` and, with ``stan_draws``, the Stan runs' fits,
    ranking and our group means in units of their posterior SDs (``z_ours_stan``, ``z_stan``).
    """
    table = compare_reference(base, HBAYESDM_REFERENCE["group_means"], HBAYESDM_REFERENCE["decimals"])
    looic = {r["model"]: r["looic"] for r in rows}
    ref_looic = {m: v for m, v in HBAYESDM_REFERENCE["looic"].items() if m in looic}
    result: dict[str, Any] = {"fits": rows, "ranking": ranking(looic), "hbayesdm_ranking": ranking(ref_looic),
                              "ranking_matches": ranking(looic) == ranking(ref_looic),
                              "cpu_s_total": float(sum(r["cpu_s"] for r in rows)), "reference": HBAYESDM_REFERENCE}
    if stan_draws:
        stan_rows, stan_fits = stan_table(stan_draws)
        stan_ref = {m: {r.parameter: (r.mean, r.sd) for r in g.itertuples()} for m, g in stan_rows.groupby("model")}
        vs = compare_reference(base, stan_ref, decimals=15)
        table = table.assign(stan_mean=vs["ref_mean"], stan_sd=vs["ref_sd"], z_ours_stan=vs["z_ours"],
                             z_stan=vs["z_ref"])
        stan_looic = {m: f["looic"] for m, f in stan_fits.items() if m in looic}
        result.update({"stan_fits": stan_fits, "stan_group_means": stan_rows.to_dict(orient="records"),
                       "stan_ranking": ranking(stan_looic),
                       "ranking_matches_stan": ranking({m: looic[m] for m in stan_looic}) == ranking(stan_looic)})
    result["group_means"] = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return result


if __name__ == "__main__":
    main()
