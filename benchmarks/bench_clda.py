#!/usr/bin/env python
"""Closed-loop decoder adaptation from a poor seed: SmoothBatch against RML (successes per minute).

A steady-state Kalman filter is seeded by fitting a 60 s calibration block against the user's
intended velocities rotated by ``--rotation`` degrees (a decoder that points the wrong way), then
drives the cursor for ``--minutes`` with no adaptation, with SmoothBatch (Orsborn et al. 2012)
and with RML (Dangi et al. 2014), both fed ReFIT intention estimates. Prints successes per
minute (per subject) in each minute.

    python benchmarks/bench_clda.py --subjects 8 --minutes 15
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import cogmodels  # noqa: F401
from cogmodels.agents.decoders import RML, SmoothBatch, SteadyStateKalmanDecoder, run_closed_loop
from cogmodels.agents.decoders.session import calibration_block
from cogmodels.envs.bci import CursorBCIVector


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--minutes", type=int, default=15)
    ap.add_argument("--rotation", type=float, default=90.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    env = CursorBCIVector(num_envs=args.subjects, n_trials=10**6)
    env.reset(seed=args.seed)
    counts, labels = calibration_block(env, 60, label_rotation=args.rotation)
    rules = {"none": lambda d: None,
             "smoothbatch": lambda d: SmoothBatch(d, batch_seconds=60, half_life=120),
             "rml": lambda d: RML(d, half_life=60)}
    edges = np.arange(args.minutes + 1) * 60.0
    for name, make in rules.items():
        dec = SteadyStateKalmanDecoder().fit(counts, labels)
        t0 = time.perf_counter()
        trials = run_closed_loop(env, dec, args.minutes * 60, adaptation=make(dec))
        per_min = np.histogram(trials["time"][trials["success"]], bins=edges)[0] / args.subjects
        print(f"{name:12s} {np.round(per_min, 1).tolist()}  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
