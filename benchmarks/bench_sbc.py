#!/usr/bin/env python
r"""Simulation-based calibration (Talts et al. 2018) of the hierarchical posteriors (issue 17 §2).

For a model and its task, ``--replications`` times: draw a group and its subjects from the fit's
prior, simulate ``--subjects`` × ``--trials``, fit by ChEES-HMC (``HierarchicalNUTS(sampler=
"chees")``) or VI, and rank the truth among ``--ranks`` thinned posterior draws (group means,
group SDs, the first subject's parameters). Writes the ranks, the χ² uniformity table and a
rank-histogram figure; ``--misspecified`` fits with a group-mean prior of SD 0.2 while the truth
comes from SD 1.5, which SBC must flag.

    OMP_NUM_THREADS=1 python benchmarks/bench_sbc.py --model q_learning --replications 100 \
        --out benchmarks/figures/sbc_q_learning
    OMP_NUM_THREADS=1 python benchmarks/bench_sbc.py --model two_step_hybrid \
        --env cogmodels/TwoStep-v0 --out benchmarks/figures/sbc_two_step

Each finished replication is kept in ``<out>.checkpoint.json``: a rerun of the same command after an
interruption resumes there (and gives the ranks of an uninterrupted run). CPU seconds
(``time.process_time``, plus the ChEES worker processes' own with ``--jobs`` > 1) are
reported: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from cogmodels.fits import HierarchicalNUTS, HierarchicalVI  # noqa: E402
from cogmodels.fits.bayes import centred_from_text  # noqa: E402
from cogmodels.fits.sbc import simulation_based_calibration  # noqa: E402
from cogmodels.models import make_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="q_learning")
    p.add_argument("--structure", default="", help="model structure, e.g. stickiness=false")
    p.add_argument("--env", default="cogmodels/ReversalLearning-v0")
    p.add_argument("--subjects", type=int, default=10)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--replications", type=int, default=100)
    p.add_argument("--ranks", type=int, default=99)
    p.add_argument("--bins", type=int, default=10)
    p.add_argument("--method", choices=["chees", "vi"], default="chees")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--draws", type=int, default=250)
    p.add_argument("--vi-steps", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=1,
                   help="ChEES: processes each fit's chains are split over (the same draws for any value)")
    p.add_argument("--centred", default="none",
                   help="the fit's centred parameters: 'none' (default: every parameter non-centred, as in the "
                        "recorded runs, which predate the package's 'auto' default), 'auto', 'all' or comma-separated names")
    p.add_argument("--misspecified", action="store_true", help="fit under a group-mean prior SD of 0.2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="path stem: writes <out>.csv, <out>.json and <out>.png")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    structure = {}
    for item in filter(None, args.structure.split(",")):
        key, value = item.split("=")
        structure[key] = {"true": True, "false": False}.get(value.lower(), value)
    model = make_model(args.model, **structure)
    prior_sd = 0.2 if args.misspecified else 1.5
    centred = centred_from_text(args.centred)
    if args.method == "chees":
        est = HierarchicalNUTS(model, sampler="chees", n_chains=args.chains, n_warmup=args.warmup,
                               n_draws=args.draws, mean_prior_sd=prior_sd, n_jobs=args.jobs, centred=centred)
    else:
        est = HierarchicalVI(model, max_steps=args.vi_steps, n_draws=args.draws, mean_prior_sd=prior_sd,
                             centred=centred)
    truth_prior = HierarchicalNUTS(model, mean_prior_sd=1.5, centred=None)  # draws the truths: centring is moot
    w0, c0 = time.perf_counter(), time.process_time()
    res = simulation_based_calibration(est, args.env, n_subjects=args.subjects, n_trials=args.trials,
                                       n_replications=args.replications, n_ranks=args.ranks, n_bins=args.bins,
                                       prior=truth_prior, seed=args.seed, progress=True,
                                       checkpoint=f"{args.out}.checkpoint.json")
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    res.ranks.to_csv(f"{args.out}.csv")
    res.plot(f"{args.out}.png")
    table = res.table.drop(columns="counts")
    print(table.round(4).to_string())
    if args.jobs > 1 and res.sampler_cpu_s is not None:  # the workers' CPU, which process_time misses
        cpu += float(res.sampler_cpu_s.sum())
    summary = {**vars(args), "cpu_s": cpu, "wall_s": wall,
               "sampler_cpu_s_total": None if res.sampler_cpu_s is None else float(res.sampler_cpu_s.sum()), "min_p_value": res.min_p_value,
               "calibrated_bonferroni_0.01": res.calibrated(0.01), "table": table.to_dict(orient="index"),
               "counts": {k: [int(c) for c in v] for k, v in res.table["counts"].items()},
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_average_1min": os.getloadavg()[0]}
    with open(f"{args.out}.json", "w") as f:
        json.dump(summary, f, indent=1, default=float)
    print(f"{args.replications} replications: {cpu:.0f} CPU s ({wall:.0f} s wall); min p {res.min_p_value:.3g}; "
          f"calibrated at 0.01 (Bonferroni): {res.calibrated(0.01)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
