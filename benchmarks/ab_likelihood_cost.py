#!/usr/bin/env python
"""CPU seconds per call of the hierarchical log density, two code trees A/B in one process.

Loads ``cogmodels`` twice in one interpreter — from ``--base`` (e.g. ``git archive <commit>
cogmodels fits agents envs | tar -x -C /tmp/base``) and from this worktree — by pointing the
editable install's finder at each tree in turn, builds :class:`HierarchicalNUTS`'s log density
(hierarchical Q-learning, ``--chains`` × ``--subjects`` × ``--trials``, the forward-difference
gradient: ``chains × subjects × 4`` lanes) in each, checks that both return the same bytes, then
times them interleaved (A, B, A, B ...) with ``time.process_time``. ``--fit`` times instead the
``ours`` step of ``bench_fit.py`` (``MaximumLikelihood(q_learning, n_starts=10, seed=0).fit`` on
``../shared/bench/simulate_bandit.py``'s 100 × 200 data) and checks equal log-likelihoods::

    OMP_NUM_THREADS=1 python benchmarks/ab_likelihood_cost.py --base /tmp/base --repeats 7
    OMP_NUM_THREADS=1 python benchmarks/ab_likelihood_cost.py --base /tmp/base --repeats 5 --fit
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load(tree: Path, args: argparse.Namespace):
    """Import cogmodels from ``tree`` and return its log density (the modules stay referenced)."""
    finder = next(m for name, m in sys.modules.items() if name.startswith("__editable___cogmodels"))
    finder.MAPPING.update({"cogmodels": str(tree / "cogmodels"), "cogmodels.agents": str(tree / "agents"),
                           "cogmodels.envs": str(tree / "envs"), "cogmodels.fits": str(tree / "fits")})
    for name in [n for n in sys.modules if n == "cogmodels" or n.startswith("cogmodels.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    bayes = importlib.import_module("cogmodels.fits.bayes")
    simulate = importlib.import_module("cogmodels.simulate").simulate
    models = importlib.import_module("cogmodels.models")
    trial_arrays = importlib.import_module("cogmodels.likelihood").trial_arrays
    model = models.make_model("q_learning")
    if args.fit:  # bench_fit.py's step
        fits = importlib.import_module("cogmodels.fits")

        def fit():
            return fits.MaximumLikelihood(model, n_starts=10, seed=0).fit(args.table).loglik_.to_numpy()
        return fit, None, fits.__file__
    rng = np.random.default_rng(0)
    params = {"alpha": rng.uniform(0.2, 0.6, args.subjects), "beta": rng.uniform(2, 6, args.subjects),
              "kappa": rng.uniform(-0.2, 0.6, args.subjects)}
    sim = simulate(model, params, "cogmodels/MultiArmedBandit-v0", seed=1,
                   env_kwargs={"n_trials": args.trials})
    data = trial_arrays(sim.trials, model)
    est = bayes.HierarchicalNUTS(model, n_chains=args.chains, gradient="forward_difference", seed=0)
    density, layout = est._log_density(data, [0])
    dim = sum(int(np.prod(s)) for _, s in layout)
    return density, dim, bayes.__file__


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, required=True, help="the tree to compare with (A)")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--subjects", type=int, default=100)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--fit", action="store_true", help="time bench_fit.py's MaximumLikelihood fit instead")
    args = ap.parse_args()
    import cogmodels  # noqa: F401  (installs the editable finder)

    warnings.simplefilter("ignore")  # the fits' warnings on bounds, the same in A and B

    if args.fit:
        import subprocess
        import tempfile

        import pandas as pd

        path = Path(tempfile.mkdtemp()) / "bandit.csv"
        subprocess.run([sys.executable, str(ROOT.parent / "shared" / "bench" / "simulate_bandit.py"), "--subjects",
                        "100", "--trials", "200", "--seed", "0", "--out", str(path)], check=True)
        args.table = pd.read_csv(path)
    a, dim, file_a = _load(args.base, args)
    b, _, file_b = _load(ROOT, args)
    if args.fit:
        same = a().tobytes() == b().tobytes()
        x = ()
    else:
        x = (np.random.default_rng(1).normal(0, 0.5, (args.chains, dim)),)
        (la, ga), (lb, gb) = a(*x), b(*x)
        same = la.tobytes() == lb.tobytes() and ga.tobytes() == gb.tobytes()
    times: dict[str, list[float]] = {"A": [], "B": []}
    for _ in range(args.repeats):
        for name, f in (("A", a), ("B", b)):
            t0 = time.process_time()
            f(*x)
            times[name].append(time.process_time() - t0)
    print(f"A = {file_a}\nB = {file_b}\nidentical {'fitted log-likelihoods' if args.fit else 'log density and gradient'}: "
          f"{same}")
    for name, ts in times.items():
        print(f"{name}: median {statistics.median(ts):.4f} min {min(ts):.4f} CPU s per call ({len(ts)} calls)")
    ratio = statistics.median(times["A"]) / statistics.median(times["B"])
    print(f"A / B (medians): {ratio:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
