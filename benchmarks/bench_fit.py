#!/usr/bin/env python
"""Fitting speed, accuracy, memory and recovery against the reference baseline.

1. Data: ``../shared/bench/simulate_bandit.py --subjects 100 --trials 200 --seed 0``.
2. Baseline: ``../shared/bench/naive_fit.py --starts 10`` (scipy L-BFGS-B per subject, Python
   likelihood loop); its own printed wall time.
3. cogmodels: ``MaximumLikelihood(q_learning, n_starts=10)`` on the same file, same bounds
   (alpha [0,1], beta [0,20], kappa [-5,5]), wall time of ``fit`` (median of ``--repeats``).
4. Summed log-likelihood of both; the ratio of wall times, and of CPU times (user + system of each
   side's process: on a shared machine the wall times carry the other jobs' load, the CPU times
   much less).
5. Peak memory of a fit of 1,000 subjects × 200 trials, in a fresh process.
6. Parameter recovery (Pearson r) on the 100-subject data for MLE and hierarchical EM.

    python benchmarks/bench_fit.py --repeats 5 --naive-repeats 1
    python benchmarks/bench_fit.py --gradient autograd   # exact gradients, torch path

Pinned to one core, both sides alike (the baseline runs in a child process, which inherits the
affinity): ``OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_fit.py --naive-repeats 3``.
The machine's load averages before and after, and the CPUs used, are printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"

MEMORY_SCRIPT = """
import resource, sys, time, warnings
import pandas as pd
import cogmodels
from cogmodels.fits import MaximumLikelihood
from cogmodels.models import make_model
warnings.simplefilter("ignore")
df = pd.read_csv(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
fit = MaximumLikelihood(make_model("q_learning"), n_starts=int(sys.argv[2]), seed=0).fit(df)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak / 1024, base / 1024, wall, len(fit.params_))
"""


def simulate(path: Path, subjects: int, seed: int) -> None:
    subprocess.run(
        [sys.executable, str(BENCH / "simulate_bandit.py"), "--subjects", str(subjects), "--trials",
         "200", "--seed", str(seed), "--out", str(path)],
        check=True,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def naive(path: Path, out: Path, starts: int) -> tuple[float, float]:
    """Run the baseline; return its own printed wall time and the CPU time of its process."""
    cpu0 = _children_cpu()
    res = subprocess.run(
        [sys.executable, str(BENCH / "naive_fit.py"), str(path), "--starts", str(starts), "--out", str(out)],
        check=True, capture_output=True, text=True,
    )
    return float(re.search(r"wall ([0-9.]+) s", res.stdout).group(1)), _children_cpu() - cpu0


def ours(df: pd.DataFrame, starts: int, gradient: str = "finite_difference"):
    """Fit; return the wall time, the CPU time of this process, and the fit."""
    from cogmodels.fits import MaximumLikelihood
    from cogmodels.models import make_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        fit = MaximumLikelihood(make_model("q_learning"), n_starts=starts, seed=0, gradient=gradient).fit(df)
        return time.perf_counter() - t0, time.process_time() - c0, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--naive-repeats", type=int, default=1)
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--gradient", choices=("finite_difference", "autograd"), default="finite_difference",
                    help="how our fit gets gradients: numpy finite differences or autograd on the torch path")
    args = ap.parse_args()
    if args.gradient == "autograd":
        import torch

        torch.set_num_threads(1)
    import cogmodels  # noqa: F401
    from cogmodels.fits import HierarchicalEM
    from cogmodels.models import make_model

    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp())
    data = tmp / "bandit.csv"
    simulate(data, 100, 0)
    df = pd.read_csv(data)
    truth = pd.read_csv(tmp / "bandit_truth.csv")
    ours_walls, naive_walls, ours_cpu, naive_cpu = [], [], [], []
    fit = None
    for i in range(max(args.repeats, args.naive_repeats)):
        if i < args.naive_repeats:
            wall, cpu = naive(data, tmp / "naive.csv", args.starts)
            naive_walls.append(wall)
            naive_cpu.append(round(cpu, 2))
        if i < args.repeats:
            wall, cpu, fit = ours(df, args.starts, args.gradient)
            ours_walls.append(wall)
            ours_cpu.append(round(cpu, 3))
    naive_fits = pd.read_csv(tmp / "naive.csv")
    result = {
        "naive_wall_s": naive_walls,
        "ours_wall_s": [round(w, 3) for w in ours_walls],
        "speedup_median": round(statistics.median(naive_walls) / statistics.median(ours_walls), 1),
        # CPU time (user + system) of each side's process: robust to other jobs sharing the core
        "naive_cpu_s": naive_cpu,
        "ours_cpu_s": ours_cpu,
        "speedup_median_cpu": round(statistics.median(naive_cpu) / statistics.median(ours_cpu), 1),
        "naive_total_loglik": round(float(naive_fits["loglik"].sum()), 4),
        "ours_total_loglik": round(float(fit.loglik_.sum()), 4),
        "loglik_difference": round(float(fit.loglik_.sum() - naive_fits["loglik"].sum()), 4),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = HierarchicalEM(make_model("q_learning"), seed=0).fit(df)
    for name, est in (("mle", fit), ("em", em)):
        result[f"recovery_pearson_{name}"] = {
            p: round(float(np.corrcoef(est.params_[p].to_numpy(), truth[p])[0, 1]), 3)
            for p in ("alpha", "beta", "kappa")
        }
    if not args.skip_memory:
        big = tmp / "big.csv"
        simulate(big, 1000, 1)
        res = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(big), str(args.starts)],
                             check=True, capture_output=True, text=True)
        peak, base, wall, n = res.stdout.split()
        result["fit_1000_subjects"] = {"peak_rss_mb": round(float(peak)), "rss_before_fit_mb": round(float(base)),
                                       "wall_s": round(float(wall), 2), "subjects": int(n)}
    # the machine's load (1, 5, 15 min averages, as `uptime`) before and after: shared machines
    result["load_average_before_after"] = [list(load_before), [round(x, 2) for x in os.getloadavg()]]
    result["cpu_affinity"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
