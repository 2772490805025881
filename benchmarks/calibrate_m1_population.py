#!/usr/bin/env python
"""Where the ``"full_m1"`` realism level's population comes from: a grid against recorded M1.

The full realism's units are many and weakly tuned (192 channels, 2-10 Hz per width/s) with a
small fast latent drive (3 Hz, 0.1 s): they share about 1 % of their count variance in 45 ms
bins, recorded monkey M1 during BCI control 29-41 % (20-24 % with each target's mean removed;
``measure_shared_variance.py`` says where those figures come from). This script draws the full
population on one Utah array's 96 channels (the recorded sessions had 85-94 units) with a slow
latent drive (``latent_tau`` 1 s: shared fluctuations are slow, Averbeck & Lee 2003) and sweeps
each neuron's tuning depth and the drive's size. Each point is scored on

- the % shared variance, raw and with each shown target's mean removed, and the estimator's
  shuffled floor (:func:`measure_shared_variance.measure`: 8 subjects, a fresh Kalman filter,
  240 s of closed loop, 45 ms bins, 10 factors; the full level's within-session drift on);
- Gilja et al. (2012)'s effect, which a population calibrated to recorded cortex must keep
  (:mod:`bench_bci_refit`'s realistic condition: Willett et al.'s user, an observation block,
  the open-loop KF against ReFIT-KF, each at its own tuned gain; 8 subjects of seed 0, gains
  tuned on seed 100; the population alone, no within-session drift): the ratio ReFIT / KF of the
  time to target, "about half" in the paper.

The ``chosen`` column marks :data:`~cogmodels.envs.bci.realism.M1_POPULATION`'s row, picked by
the rule: of the points whose Gilja ratio stays at or below 0.6, the one with the demeaned share
inside the recorded 20-24 % (on this grid and seed, one point). With 8 subjects the ratio moves
by up to 0.1 between neighbouring points, so the rule marks a region rather than a point (a finer
grid has more such points; on seed 1 none passes 0.6): ``benchmarks/RESULTS.md``. The raw share
stays below 29 % there: with a drive its target-locked part (raw minus demeaned) is 3-5 points
where the recorded one is about 10.

    python benchmarks/calibrate_m1_population.py        # 12 points, ~6 CPU-min
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_bci_refit import paired_ratio, run_condition, tune_gains
from measure_shared_variance import RECORDED, measure

from cogmodels.agents.decoders.session import OBSERVATION_BLOCK
from cogmodels.envs.bci.encoder import PopulationSpec
from cogmodels.envs.bci.realism import FULL_POPULATION, M1_POPULATION
from cogmodels.envs.bci.user import WILLETT_USER
from cogmodels.experiments._common import markdown_table

HERE = Path(__file__).resolve().parent
GILJA_SECONDS = (60.0, 60.0, 120.0)  # calibration block, ReFIT block, scored session
BLOCK = (OBSERVATION_BLOCK["paradigm"], OBSERVATION_BLOCK["lag"])  # observation, lag-aligned


def gilja_ratio(population: PopulationSpec, subjects: int, seed: int, tune_seed: int = 100) -> dict:
    """ReFIT-KF / open-loop KF time to target (95 % CI over subjects) on ``population``.

    Willett et al.'s user and the population only (no within-session drift): the realistic
    condition of ``bench_bci_refit.py`` with another population.
    """
    overrides = {"user": WILLETT_USER, "population": population}
    gains = tune_gains(overrides, *BLOCK, subjects, tune_seed, GILJA_SECONDS)
    table = run_condition(overrides, *BLOCK, subjects, seed, GILJA_SECONDS, gains=gains)
    kf, refit = (table[table.decoder == name].sort_values("subject")
                 for name in ("KF (open-loop block)", "ReFIT-KF"))
    ratio, lo, hi = paired_ratio(kf.time_to_target.to_numpy(), refit.time_to_target.to_numpy(),
                                 np.random.default_rng(seed))
    return {"gilja_ratio": ratio, "gilja_lo": lo, "gilja_hi": hi,
            "kf_time_to_target": float(kf.time_to_target.mean()),
            "refit_time_to_target": float(refit.time_to_target.mean())}


def score(depth: tuple[float, float], latent_sd: float, args: argparse.Namespace) -> dict:
    """One grid point: shared variance and the Gilja ratio of the full population so drawn."""
    fields = {"n_units": args.units, "depth": depth, "latent_tau": args.latent_tau}
    row = measure("full", 0.045, latent_sd, args.subjects, args.seconds, args.seed, **fields)
    population = dataclasses.replace(FULL_POPULATION, latent_sd=latent_sd, **fields)
    row.update(depth_low=depth[0], depth_high=depth[1],
               chosen=population == M1_POPULATION,
               **gilja_ratio(population, args.subjects, args.seed))
    return row


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--depth-low", type=float, nargs="+", default=[10.0, 15.0, 20.0, 25.0],
                    help="lower ends of the depth ranges (Hz per width/s); each range is 1x-3x")
    ap.add_argument("--latent-sd", type=float, nargs="+", default=[10.0, 15.0, 20.0])
    ap.add_argument("--latent-tau", type=float, default=1.0)
    ap.add_argument("--units", type=int, default=96)
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=240.0, help="closed loop scored for the %%sv")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "figures" / "m1_population_grid.csv")
    args = ap.parse_args(argv)
    t0 = time.process_time()
    rows = []
    for low in args.depth_low:
        for sd in args.latent_sd:
            rows.append(score((low, 3.0 * low), sd, args))
            print(f"depth {low:g}-{3 * low:g} Hz, drive {sd:g} Hz: %sv {rows[-1]['sv_raw']:.3f} "
                  f"raw / {rows[-1]['sv_condition_demeaned']:.3f} demeaned, Gilja ratio "
                  f"{rows[-1]['gilja_ratio']:.2f}", flush=True)
    table = pd.DataFrame(rows)[["depth_low", "depth_high", "latent_sd", "successes_per_min",
                                "sv_raw", "sv_condition_demeaned", "sv_floor_shuffled",
                                "gilja_ratio", "gilja_lo", "gilja_hi", "kf_time_to_target",
                                "refit_time_to_target", "chosen"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(markdown_table(table.round(3), decimals=3))
    print(f"\nrecorded M1 (45 ms bins): raw {RECORDED['raw']}, condition-demeaned "
          f"{RECORDED['condition_demeaned']}; Gilja et al. 2012: about 0.5; "
          f"{time.process_time() - t0:.0f} CPU s")
    return table


if __name__ == "__main__":
    main()
