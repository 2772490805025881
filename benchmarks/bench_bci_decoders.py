#!/usr/bin/env python
"""Compare BCI decoders under 0.91/day tuning drift, on the same subjects, drifts and seeds.

Fixed, recalibrated, adapted (supervised and unsupervised) and reward-only decoders.

Each strategy starts from a steady-state Kalman filter calibrated on day 0 and plays one
closed-loop session on each listed day ("typical" drift preset: consecutive-day tuning-subspace
similarity about 0.91, plus baseline and gain walks, dropout and turnover; see
``cogmodels.envs.bci.drift``). The metrics per decoder and day (success rate, successes per
minute, time to target, path efficiency, achieved bitrate, Fitts throughput) go to a CSV and a
figure, and the table for the chosen days is printed as markdown.

    python benchmarks/bench_bci_decoders.py --subjects 8 --days 0,1,3,7,14,28,42,56
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import cogmodels  # noqa: E402,F401
from cogmodels.envs.bci.error_signal import ERROR_SIGNAL_PRESETS  # noqa: E402
from cogmodels.envs.bci.metrics import plot_over_days, summarize  # noqa: E402
from cogmodels.experiments._common import markdown_table  # noqa: E402
from cogmodels.experiments.drift_study import (  # noqa: E402
    STRATEGIES,
    compare_under_drift,
    summarize_by_phase,
)

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--days", default="0,1,3,7,14,28,42,56")
    ap.add_argument("--session", type=float, default=120.0, help="seconds per daily session")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--reward-warmup", type=float, default=600.0,
                    help="seconds the reward-only decoder learns on day 0 before its first session")
    ap.add_argument("--error-signal", default="realistic", choices=list(ERROR_SIGNAL_PRESETS),
                    help="the reward-only decoder's error channel (cogmodels.envs.bci.error_signal)")
    ap.add_argument("--out", type=Path, default=HERE / "figures")
    args = ap.parse_args()
    days = [int(d) for d in args.days.split(",")]
    t0 = time.perf_counter()
    trials = compare_under_drift(args.strategies.split(","), days, args.subjects, args.session,
                                 seed=args.seed, reward_warmup_s=args.reward_warmup,
                                 error_signal=args.error_signal, progress=True)
    seconds = time.perf_counter() - t0
    summary = summarize(trials, by=["decoder", "day"])
    args.out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(args.out / "bci_drift_summary.csv", index=False)
    fig = plot_over_days(summary, hue="decoder")
    fig.savefig(args.out / "bci_drift.png", dpi=120, bbox_inches="tight")
    print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python "
          f"{platform.python_version()}; wall {seconds:.0f} s; seed {args.seed}; "
          f"{args.subjects} subjects; {args.session:.0f} s sessions; error signal "
          f"'{args.error_signal}'")
    cols = ["decoder", "day", "success_rate", "successes_per_min", "time_to_target",
            "path_efficiency", "bitrate", "fitts_throughput"]
    print(markdown_table(summary[cols], decimals=2))
    phases = summarize_by_phase(trials)
    phases.to_csv(args.out / "bci_drift_phases.csv", index=False)
    print("\nfirst minute of each session (transient) and the rest (steady state):")
    print(markdown_table(phases[["decoder", "day", "phase", "successes_per_min", "time_to_target",
                           "bitrate"]], decimals=2))



if __name__ == "__main__":
    main()
