#!/usr/bin/env python
"""How far a hierarchical EM fit moves when the CPU's kernels change (RESULTS: "EM across CPU kernels").

Fit rlwm ``HierarchicalEM`` (the real-data matrix's estimator) on WMH ``Expe1.mat``'s first N
subjects and write the kernels (:func:`cogmodels.cpu_kernels.cpu_kernels`), EM iterations, CPU
seconds, group means and variances and the subject estimates to a JSON file; run it twice, once
with the CPU's own kernels and once with others forced, then compare::

    OMP_NUM_THREADS=1 python benchmarks/em_across_kernels.py --subjects 20 --out native.json
    OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=1 python benchmarks/em_across_kernels.py --subjects 20 --out haswell.json
    python benchmarks/em_across_kernels.py --compare native.json haswell.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def fit(n_subjects: int, out: str, tol: float | None = None) -> None:
    import bench_realdata_matrix as matrix

    from cogmodels.cpu_kernels import cpu_kernels

    dataset = matrix.DATASETS_BY_NAME["wmh_expe1"]
    data = matrix.first_subjects(dataset.load(), n_subjects)
    c0 = time.process_time()
    from cogmodels.fits import make_estimator

    tighter = {} if tol is None else {"tol": tol, "max_em_iter": 400}
    em = make_estimator("em", dataset.model("rlwm"), seed=0, **tighter).fit(data, progress=False)
    result = {"kernels": cpu_kernels(), "tol": em.tol, "cpu_s": time.process_time() - c0, "n_em_iter": int(em.n_em_iter_),
              "group_mean": np.asarray(em.group_mean_).tolist(), "group_var": np.asarray(em.group_var_).tolist(),
              "params": em.params_.to_dict(orient="list")}
    Path(out).write_text(json.dumps(result))
    print(f"{out}: {result['kernels']}, {result['n_em_iter']} EM iterations, {result['cpu_s']:.0f} CPU s")


def compare(first: str, second: str) -> None:
    a, b = (json.loads(Path(p).read_text()) for p in (first, second))
    print(f"kernels {a.get('kernels')} / {b.get('kernels')}; EM iterations {a['n_em_iter']} / {b['n_em_iter']}")
    print("parameter  max|diff|  median|diff|  SD across subjects  correlation  group mean (unconstrained)")
    for i, name in enumerate(a["params"]):
        x, y = np.asarray(a["params"][name], float), np.asarray(b["params"][name], float)
        d = np.abs(x - y)
        print(f"{name:10s} {d.max():9.3g} {np.median(d):13.3g} {x.std():19.3g} {np.corrcoef(x, y)[0, 1]:12.5f}"
              f"  {a['group_mean'][i]:.3f} / {b['group_mean'][i]:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=20, help="first N subjects of Expe1 (default 20)")
    ap.add_argument("--out", help="the JSON file to write")
    ap.add_argument("--tol", type=float, default=None, help="EM's stopping tolerance (default: the estimator's, 1e-2)")
    ap.add_argument("--compare", nargs=2, metavar="JSON", help="compare two runs' files instead of fitting")
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
    elif args.out:
        fit(args.subjects, args.out, args.tol)
    else:
        ap.error("give --out FILE (fit) or --compare A B")


if __name__ == "__main__":
    main()
