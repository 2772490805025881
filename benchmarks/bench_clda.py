#!/usr/bin/env python
"""CLDA from four seed decoders (Orsborn et al. 2012; Dangi et al. 2014): SmoothBatch vs RML.

A steady-state Kalman filter (physical kinematic prior) is seeded from one 60 s calibration block
per subject in four ways (:mod:`cogmodels.experiments.clda_study`: rotated 90° and 180°,
shuffled labels, arbitrary weights; plus the calibrated decoder as the reference) and drives the
cursor for ``--minutes`` under SmoothBatch (60 s batches, half-life 120 s) and RML (half-life
60 s, re-solved every 0.5 s), both fed ReFIT directions at the CursorGoal speed.

Per seed and rule it reports, as means over subjects with 95 % bootstrap CIs: the minute in which
the rate first reaches 8 successes/min (Orsborn et al.: 13.1 ± 5.5 minutes from every seed), the
rate over the last 3 minutes as a fraction of the calibrated decoder's (without adaptation, all
minutes), and the checks: proficiency within 13.1 + 5.5 minutes, ≥ 80 % of the calibrated rate,
RML at least as fast as SmoothBatch. Writes ``figures/clda_seeds{--tag}.csv`` and ``.png``.

Two settings:

- the default, **idealised**: the plain simulated user, and a calibration block whose labels are
  the user's true intended velocity (``paradigm="intention"``: labels no experiment has), the
  CursorGoal speed :data:`~cogmodels.agents.decoders.clda.INTENTION_SPEED` (measured on such a
  block); the seeds and the reference are built from those labels;
- ``--realistic``: Willett et al.'s user (:data:`~cogmodels.envs.bci.user.WILLETT_USER`), an
  open-loop observation block labelled with the cued cursor's velocity and aligned by the
  user's 0.2 s delay (the "realistic" condition of ``bench_bci_refit.py``), the CursorGoal speed
  the cued cursor's mean speed (:func:`~cogmodels.experiments.clda_study.cued_speed`);
  ``--realism LEVEL`` is that setting on another level of :mod:`cogmodels.envs.bci.realism`
  (``full``, ``full_m1``: its population and within-session drift too; ``--realistic`` is
  ``--realism realistic``).

The reference is the calibrated decoder without adaptation at the best of ``--reference-gains``
on the same subjects (the strongest reference those gains give: an open-loop-calibrated Kalman
filter over-drives at gain 1 with Willett et al.'s user).

    python benchmarks/bench_clda.py --subjects 8 --minutes 20
    python benchmarks/bench_clda.py --subjects 8 --minutes 15 --realistic --reference-gains 0.5,0.7,1,1.4,2
    python benchmarks/bench_clda.py --subjects 8 --minutes 15 --realism full_m1 --reference-gains 0.5,0.7,1,1.4,2
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import cogmodels  # noqa: E402,F401
from cogmodels.agents.decoders.session import OBSERVATION_BLOCK  # noqa: E402
from cogmodels.envs.bci.realism import REALISM_LEVELS, realism  # noqa: E402
from cogmodels.experiments.clda_study import acquisition, time_to_proficiency  # noqa: E402

HERE = Path(__file__).resolve().parent
SEEDS = ("rotated90", "rotated180", "shuffled", "arbitrary")
#: Orsborn et al. (2012): minutes to 8 successes/min, mean ± sd over seeds and sessions
ORSBORN_MINUTES = (13.1, 5.5)


def bootstrap_ci(x: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Return the 95 % percentile-bootstrap interval of the mean of ``x`` (NaNs dropped)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    means = np.random.default_rng(seed).choice(x, (n_boot, x.size)).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--minutes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default=",".join(SEEDS))
    ap.add_argument("--out", type=Path, default=HERE / "figures")
    level = ap.add_mutually_exclusive_group()
    level.add_argument("--realistic", action="store_true",
                       help="Willett et al.'s user and an open-loop observation block (docstring)")
    level.add_argument("--realism", choices=[name for name in REALISM_LEVELS if name != "off"],
                       default=None, help="the realistic setting on this level (docstring)")
    ap.add_argument("--reference-gains", default="1",
                    help="output gains of the unadapted reference; the best on these subjects")
    ap.add_argument("--tag", default=None,
                    help="appended to the output files' names (default: _LEVEL with --realistic "
                         "or --realism LEVEL)")
    args = ap.parse_args()
    if args.realistic:
        args.realism = "realistic"
    if args.tag is None:
        args.tag = f"_{args.realism}" if args.realism else ""
    seeds = args.seeds.split(",")
    setting = ({**OBSERVATION_BLOCK, "intention_speed": None, **realism(args.realism)}
               if args.realism else {})
    t0 = time.perf_counter()
    refs = {float(g): acquisition(["calibrated"], ["none"], args.subjects, args.minutes,
                                  seed=args.seed, gain=float(g), **setting)
            for g in args.reference_gains.split(",")}
    means = {g: r.groupby("subject")["successes"].mean().mean() for g, r in refs.items()}
    best = max(means, key=means.get)
    ref = refs[best]
    runs = acquisition(seeds, ["smoothbatch", "rml"], args.subjects, args.minutes, seed=args.seed,
                       **setting)
    wall = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    both = pd.concat([*(r.assign(gain=g) for g, r in refs.items()), runs.assign(gain=1.0)],
                     ignore_index=True)  # every reference gain: the choice can be checked
    both.to_csv(args.out / f"clda_seeds{args.tag}.csv", index=False)
    calibrated = ref.groupby("subject")["successes"].mean().to_numpy()
    lo, hi = bootstrap_ci(calibrated)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python "
          f"{platform.python_version()}; wall {wall:.0f} s; seed {args.seed}; "
          f"{args.subjects} subjects; {args.minutes} minutes; "
          f"{args.realism or 'idealised'} setting")
    print("reference, successes/min by gain: "
          + ", ".join(f"{g:g}: {m:.1f}" for g, m in means.items()))
    print(f"calibrated decoder, no adaptation, gain {best:g}: {calibrated.mean():.1f} successes/min "
          f"[{lo:.1f}, {hi:.1f}]")
    limit = sum(ORSBORN_MINUTES)
    print("| seed | rule | minutes to 8/min [95% CI] | subjects there | last 3 min (/min) "
          "| fraction of calibrated [95% CI] | within 18.6 min | ≥ 80 % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    first: dict[tuple[str, str], float] = {}
    fig, axes = plt.subplots(1, len(seeds), figsize=(3.2 * len(seeds), 3), sharey=True)
    for ax, kind in zip(np.atleast_1d(axes), seeds, strict=True):
        for rule in ("smoothbatch", "rml"):
            d = runs[(runs["seed_decoder"] == kind) & (runs["rule"] == rule)]
            curves = d.pivot(index="subject", columns="minute", values="successes").to_numpy()
            t8 = np.array([time_to_proficiency(c) for c in curves])
            last = curves[:, -3:].mean(axis=1)
            frac = last / calibrated
            first[kind, rule] = float(np.nanmean(t8)) if np.isfinite(t8).any() else np.inf
            (t_lo, t_hi), (f_lo, f_hi) = bootstrap_ci(t8), bootstrap_ci(frac)
            ok_t = np.isfinite(t8).all() and first[kind, rule] <= limit
            print(f"| {kind} | {rule} | {np.nanmean(t8):.1f} [{t_lo:.1f}, {t_hi:.1f}] | "
                  f"{np.isfinite(t8).sum()}/{len(t8)} | {last.mean():.1f} | {frac.mean():.2f} "
                  f"[{f_lo:.2f}, {f_hi:.2f}] | {'yes' if ok_t else 'no'} | "
                  f"{'yes' if frac.mean() >= 0.8 else 'no'} |")
            m = curves.mean(axis=0)
            minutes = np.arange(1, curves.shape[1] + 1)
            boot = [bootstrap_ci(curves[:, j]) for j in range(curves.shape[1])]
            ax.plot(minutes, m, label=rule)
            ax.fill_between(minutes, [b[0] for b in boot], [b[1] for b in boot], alpha=0.2)
        ax.axhline(8, color="k", lw=0.8, ls=":")
        ax.axhline(0.8 * calibrated.mean(), color="grey", lw=0.8, ls="--")
        ax.axvspan(ORSBORN_MINUTES[0] - ORSBORN_MINUTES[1], limit, color="orange", alpha=0.1)
        ax.set_title(f"seed: {kind}")
        ax.set_xlabel("minute of closed-loop CLDA")
    np.atleast_1d(axes)[0].set_ylabel("successes per minute")
    np.atleast_1d(axes)[0].legend(frameon=False)
    fig.tight_layout()
    fig.savefig(args.out / f"clda_seeds{args.tag}.png", dpi=120)
    faster = all(first[k, "rml"] <= first[k, "smoothbatch"] for k in seeds)
    print(f"RML at least as fast as SmoothBatch for every seed: {'yes' if faster else 'no'}")


if __name__ == "__main__":
    main()
