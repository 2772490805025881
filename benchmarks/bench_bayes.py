#!/usr/bin/env python
"""Hierarchical Bayesian fits (issue 17 §2): cost per gradient, NUTS and VI against EM, one run.

1. Data: hierarchical Q-learning (alpha, beta, kappa; ``make_model("q_learning")``) simulated in
   the reversal task for ``--subjects`` × ``--trials``, group means logit(alpha) = -0.5,
   log-ish beta 4, kappa 0.3 and SDs 0.5 in the unconstrained space.
2. Cost per gradient of the log density, in CPU seconds (the machine is shared: wall time would
   measure the other jobs): the model's torch log-likelihood and its backward pass on
   ``subjects`` lanes and on ``chains × subjects`` lanes (one batched call for every chain), the
   NumPy likelihood's forward pass for comparison, and Pyro's NUTS per gradient (its total CPU
   time over the gradients it evaluated, so its own overhead included).
3. Fits of the same data in one run: ``HierarchicalEM``, ``HierarchicalVI`` and
   ``HierarchicalNUTS`` (``--chain-method``), each with its CPU time, wall time, worst R̂, least
   bulk ESS, divergences and group means against the truth. ``--skip-nuts`` leaves the sampler
   out and extrapolates its time from the cost per gradient and ``--leapfrog`` steps per
   iteration.

4. ``--chain-methods``: instead of 1-3, the vectorized chains (all chains as lanes of one Pyro
   run) against Pyro's own independent chains on a small model: the posterior means and SDs of
   the group means, subject parameters' means, and the CPU time and gradients of each.

Threads: torch and BLAS use one thread (``OMP_NUM_THREADS=1``), as in the package's benchmarks.

    OMP_NUM_THREADS=1 python benchmarks/bench_bayes.py --subjects 100 --trials 200 --out /tmp/bayes.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cogmodels.fits import HierarchicalEM, HierarchicalNUTS, HierarchicalVI  # noqa: E402
from cogmodels.fits.autodiff import GRADIENT_BACKENDS, LaneLogLikelihood  # noqa: E402
from cogmodels.likelihood import log_likelihood, trial_arrays  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.parameters import unpack  # noqa: E402
from cogmodels.simulate import simulate  # noqa: E402

ENV = "cogmodels/ReversalLearning-v0"
TRUE_MEAN = {"alpha": -0.5, "beta": None, "kappa": 0.3}
TRUE_SD = 0.5


def simulate_group(n_subjects: int, n_trials: int, seed: int):
    """Hierarchical Q-learning data and its true group means (natural scale) and subject parameters."""
    model = make_model("q_learning")
    rng = np.random.default_rng(seed)
    means = {"alpha": -0.5, "beta": float(model.spec("beta").to_unconstrained(4.0)),
             "kappa": float(model.spec("kappa").to_unconstrained(0.3))}
    params = {s.name: s.from_unconstrained(means[s.name] + TRUE_SD * rng.standard_normal(n_subjects))
              for s in model.param_specs}
    sim = simulate(model, params, ENV, n_subjects=n_subjects, seed=seed, env_kwargs={"n_trials": n_trials},
                   latents=False, progress=False)
    group = {s.name: float(s.from_unconstrained(means[s.name])) for s in model.param_specs}
    return model, sim.trials, group, params


def cpu_seconds(fn, repeats: int) -> float:
    """Median CPU seconds of ``fn()``."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.median(times))


def gradient_costs(model, trials, n_chains: int, repeats: int, backends: list[str],
                   compile_modes: list[str]) -> dict[str, float]:
    """CPU seconds of one log-likelihood gradient on chains × subjects lanes, by every backend.

    Also the eager torch gradient on subjects lanes and the NumPy forward pass, the one-off
    trace and compile CPU seconds, and the largest difference from the eager autograd gradient.
    """
    data = trial_arrays(trials, model)
    n_sub = data.n_subjects
    lanes = np.tile(np.arange(n_sub), n_chains)
    z = 0.3 * np.random.default_rng(0).standard_normal((lanes.size, model.n_params))
    out = {"torch_grad_subjects_s": cpu_seconds(
        lambda: LaneLogLikelihood(model, data, np.arange(n_sub), "autograd")(z[:n_sub]), repeats)}
    out["numpy_forward_chains_x_subjects_s"] = cpu_seconds(
        lambda: log_likelihood(model, unpack(model.param_specs, z), data, lanes), repeats)
    _, ref = LaneLogLikelihood(model, data, lanes, "autograd")(z)
    for backend in backends:
        for mode in (compile_modes if backend == "compiled" else [None]):
            label = backend if mode is None else f"{backend}_{mode}"
            f = LaneLogLikelihood(model, data, lanes, backend, compile_mode=None if mode == "default" else mode)
            w0 = time.perf_counter()
            _, g = f(z)
            out[f"{label}_first_call_wall_s"] = time.perf_counter() - w0
            out[f"{label}_trace_cpu_s"] = f.trace_time_s_
            out[f"{label}_compile_cpu_s"] = f.compile_time_s_
            out[f"{label}_grad_s"] = cpu_seconds(lambda f=f: f(z), repeats)
            out[f"{label}_max_grad_error"] = float(np.abs(g - ref).max())
            print(label, {k: v for k, v in out.items() if k.startswith(label)}, flush=True)
    return out


def fit_row(name: str, estimator, trials, truth: dict[str, float], progress: bool = False) -> dict[str, object]:
    """Fit and report CPU and wall seconds, diagnostics and group means against the truth."""
    w0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(trials, progress=progress)
    cpu = time.process_time() - c0
    workers = getattr(estimator, "process_cpu_s_", None)
    row: dict[str, object] = {"method": name, "wall_s": time.perf_counter() - w0,
                              "load_average_1min": [load0, os.getloadavg()[0]]}
    if workers is not None and getattr(estimator, "n_jobs", 1) > 1:  # the sampling ran in worker processes
        row["cpu_s_main"], row["cpu_s_workers"] = cpu, workers.tolist()
        cpu += float(workers.sum())
    row.update({"cpu_s": cpu,
                              "group_params": estimator.group_params_.to_dict(), "truth": truth,
                              "warnings": sorted({str(w.message).split(":")[0] for w in caught})})
    for attr in ("r_hat_max_", "ess_bulk_min_", "ess_tail_min_", "n_divergent_", "n_gradients_", "sampling_time_s_",
                 "gradients_per_iteration_", "step_size_", "trajectory_length_"):
        if hasattr(estimator, attr):
            value = np.asarray(getattr(estimator, attr), dtype=float)
            row[attr.rstrip("_")] = value.tolist() if value.ndim else float(value)
    if hasattr(estimator, "centred_"):  # which parameters were sampled centred, and "auto"'s numbers
        row["centred"] = list(estimator.centred_)
        if hasattr(estimator, "centring_"):
            row["centring"] = estimator.centring_.reset_index().to_dict(orient="records")
    for attr in ("n_steps_run_", "elbo_converged_"):
        if hasattr(estimator, attr):
            row[attr.rstrip("_")] = getattr(estimator, attr)
    if hasattr(estimator, "elbo_"):  # the ELBO trace: the mean over windows of a tenth of the steps
        elbo = estimator.elbo_.to_numpy()
        w = max(1, len(elbo) // 10)
        row["elbo_by_tenth"] = [float(elbo[i:i + w].mean()) for i in range(0, len(elbo) - w + 1, w)]
    stats = estimator.inference_data_.get("sample_stats") if hasattr(estimator, "inference_data_") else None
    if stats is not None and "n_steps" in stats:
        row["leapfrog_per_draw"] = float(stats["n_steps"].mean())
        row["accept_mean"] = float(stats["acceptance_rate"].mean())
    if hasattr(estimator, "n_gradients_") and estimator.n_gradients_:
        row["cpu_s_per_gradient"] = float(row["cpu_s"]) / estimator.n_gradients_
    print(json.dumps(row, default=float), flush=True)  # as soon as it is known
    return row


def compare_chain_methods(model, trials, args) -> dict[str, object]:
    """Sequential (Pyro's independent chains) against vectorized chains on the same data and seed."""
    out: dict[str, object] = {}
    fits = {}
    for method in ("sequential", "vectorized"):
        est = HierarchicalNUTS(model, n_chains=args.chains, n_warmup=args.warmup, n_draws=args.draws,
                               chain_method=method, seed=args.seed)
        out[method] = fit_row(method, est, trials, {})
        fits[method] = est
    a, b = (fits[m].summary_ for m in ("sequential", "vectorized"))
    group = a.index[~a.index.str.startswith("params[")]
    # the difference of the two posterior means in units of Monte Carlo standard error
    mcse = np.sqrt(a["mcse_mean"] ** 2 + b["mcse_mean"] ** 2)
    z = ((a["mean"] - b["mean"]) / mcse).abs()
    out["group_table"] = {k: {"sequential_mean": a.loc[k, "mean"], "vectorized_mean": b.loc[k, "mean"],
                              "sequential_sd": a.loc[k, "sd"], "vectorized_sd": b.loc[k, "sd"],
                              "abs_diff_in_mcse": z[k]} for k in group}
    out["max_abs_diff_in_mcse_all"] = float(z.max())
    out["sd_ratio_median"] = float((b["sd"] / a["sd"]).median())
    print(json.dumps(out["group_table"], indent=1, default=float), flush=True)
    print(f"max |difference| / MCSE over every variable: {out['max_abs_diff_in_mcse_all']:.2f}; "
          f"median SD ratio vectorized / sequential: {out['sd_ratio_median']:.3f}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subjects", type=int, default=100)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--vi-steps", type=int, default=1000)
    p.add_argument("--vi-particles", type=int, default=4, help="VI: draws per ADVI step")
    p.add_argument("--chain-method", choices=["sequential", "vectorized"], default="vectorized")
    p.add_argument("--jobs", type=int, default=2, help="ChEES: processes the chains are split over")
    p.add_argument("--skip-vi", action="store_true", help="leave VI out (EM and the sampler only)")
    p.add_argument("--skip-nuts", action="store_true", help="extrapolate NUTS from the cost per gradient")
    p.add_argument("--leapfrog", type=float, default=15.0,
                   help="with --skip-nuts: leapfrog steps per iteration assumed (tree depth ~4)")
    p.add_argument("--chain-methods", action="store_true",
                   help="compare vectorized chains with Pyro's sequential chains (step 4) and stop")
    p.add_argument("--sampler", choices=["chees", "nuts"], default="chees",
                   help="ChEES-HMC (all chains in one likelihood call per leapfrog step) or Pyro's NUTS")
    p.add_argument("--gradient", choices=list(GRADIENT_BACKENDS), default="forward_difference",
                   help="the likelihood gradient of the fits")
    p.add_argument("--backends", default=",".join(GRADIENT_BACKENDS),
                   help="gradient backends timed in step 2 (comma-separated)")
    p.add_argument("--compile-modes", default="default,reduce-overhead", help="torch.compile modes timed")
    p.add_argument("--skip-fits", action="store_true", help="time the gradients only")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-accept", type=float, default=None,
                   help="the sampler's target acceptance (default: the estimator's)")
    p.add_argument("--progress", action="store_true", help="draw the sampler's progress bar (on stderr, when it is a terminal)")
    p.add_argument("--out", default=None, help="JSON file for the results")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, trials, truth, _ = simulate_group(args.subjects, args.trials, args.seed)
    if args.chain_methods:
        result = {"subjects": args.subjects, "trials": args.trials, "chains": args.chains, "warmup": args.warmup,
                  "draws": args.draws, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "load_average_1min": os.getloadavg()[0], **compare_chain_methods(model, trials, args)}
        if args.out:
            with open(args.out, "w") as f:
                json.dump(result, f, indent=1, default=float)
        return 0
    result: dict[str, object] = {"subjects": args.subjects, "trials": args.trials, "chains": args.chains,
                                 "warmup": args.warmup, "draws": args.draws, "vi_steps": args.vi_steps,
                                 "torch": torch.__version__, "threads": torch.get_num_threads(),
                                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                 "load_average_1min": os.getloadavg()[0], "cpu_count": os.cpu_count()}
    result["gradient"] = gradient_costs(model, trials, args.chains, args.repeats,
                                        [b for b in args.backends.split(",") if b],
                                        [m for m in args.compile_modes.split(",") if m])
    print(json.dumps(result["gradient"], indent=1), flush=True)
    if args.skip_fits:
        rows = []
    else:
        rows = [fit_row("em", HierarchicalEM(model, n_starts=3, seed=args.seed, n_samples=200), trials, truth)]
    if not (args.skip_fits or args.skip_vi):
        rows.append(fit_row("vi", HierarchicalVI(model, max_steps=args.vi_steps, n_particles=args.vi_particles,
                                                 n_draws=args.draws, seed=args.seed, gradient=args.gradient), trials, truth))
    if args.skip_nuts:
        per = result["gradient"][f"{args.gradient}_grad_s"]
        iterations = args.warmup + args.draws
        result["nuts_extrapolated_cpu_s"] = per * args.leapfrog * iterations
    elif not args.skip_fits:
        name = f"{args.sampler} ({args.gradient})"
        rows.append(fit_row(name, HierarchicalNUTS(model, n_chains=args.chains, n_warmup=args.warmup,
                                                   n_draws=args.draws, chain_method=args.chain_method,
                                                   sampler=args.sampler, gradient=args.gradient, seed=args.seed,
                                                   **({"n_jobs": args.jobs} if args.sampler == "chees" else {}),
                                                   **({} if args.target_accept is None else
                                                      {"target_accept": args.target_accept})),
                            trials, truth, progress=args.progress))
    result["fits"] = rows
    if "nuts_extrapolated_cpu_s" in result:
        print(f"NUTS extrapolated: {result['nuts_extrapolated_cpu_s']:.0f} CPU s", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
