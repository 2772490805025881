#!/usr/bin/env python
"""Where the failed sessions of ``bench_wilson.py`` runs come from: the day's gain or the decoder.

Reads per-subject-day CSVs of :mod:`bench_wilson` (``--out``'s ``wilson_per_subject_day.csv``,
or the copies in ``benchmarks/figures``) and prints, over days 1+ and the given decoders:

- the failed fraction (mean trial time > 5 s, Wilson et al.'s "failed session") per swept gain;
- for each failed session, how many grid steps its swept gain lies above the median gain the
  other decoders swept for the same subject on the same day, and whether the other decoders'
  sessions that day failed too (a bad day for the subject fails every decoder; a bad gain
  choice fails one);
- the longest run of failed days per decoder (a lost subject shows as a long run).

    cd benchmarks/figures && python ../wilson_failed_sessions.py \
        wilson400_seed0_additive_per_subject_day.csv \
        wilson400_seed1_additive_per_subject_day.csv+wilson400_seed1_rti_additive_per_subject_day.csv \
        wilson400_seed2_additive_per_subject_day.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from bench_wilson import FAILED_SESSION_S as FAILED_S  # Wilson et al.'s "failed session"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="+",
                    help="per-subject-day CSVs, one per seed ('a.csv+b.csv': two files of one seed)")
    ap.add_argument("--decoders", default="hmm,supervised,rti")
    args = ap.parse_args()
    decoders = args.decoders.split(",")
    d = pd.concat([pd.read_csv(Path(f)).assign(run=i) for i, arg in enumerate(args.csv)
                   for f in arg.split("+")], ignore_index=True)
    d = d[(d["day"] >= 1) & d["decoder"].isin(decoders)]
    d["failed"] = d["trial_time"] > FAILED_S
    gains = np.sort(d["gain"].unique())
    step = np.log(gains[1] / gains[0]) if len(gains) > 1 else 1.0  # a geometric grid's step
    print("failed sessions per swept gain (all decoders):")
    by_gain = d.groupby(d["gain"].round(2))["failed"].agg(["size", "sum", "mean"])
    print(by_gain.rename(columns={"size": "sessions", "sum": "failed", "mean": "fraction"})
          .round(3).to_string())
    wide = d.pivot_table(index=["run", "subject", "day"], columns="decoder",
                         values=["gain", "trial_time"])
    rows = []
    for dec in decoders:
        others = [o for o in decoders if o != dec]
        for _, r in wide[wide[("trial_time", dec)] > FAILED_S].iterrows():
            other_gain = np.median([r[("gain", o)] for o in others])
            rows.append({"decoder": dec, "steps_above": np.log(r[("gain", dec)] / other_gain) / step,
                         "others_failed": sum(r[("trial_time", o)] > FAILED_S for o in others)})
    f = pd.DataFrame(rows)
    print(f"\n{len(f)} failed sessions; the others' sessions that subject-day: none failed in "
          f"{(f['others_failed'] == 0).sum()}, all failed in "
          f"{(f['others_failed'] == len(decoders) - 1).sum()}")
    print(f"swept gain above the other decoders' median that day (grid steps): median "
          f"{f['steps_above'].median():.1f}; >= 1.5 steps in {(f['steps_above'] >= 1.5).sum()}, "
          f"<= 0 in {(f['steps_above'] <= 0).sum()}")
    print("\nper decoder: sessions, failed, longest run of failed days of one subject")
    for dec in decoders:
        g = d[d["decoder"] == dec].sort_values("day")
        longest = 0
        for _, s in g.groupby(["run", "subject"]):
            run = 0
            for x in s["failed"]:
                run = run + 1 if x else 0
                longest = max(longest, run)
        print(f"  {dec}: {len(g)}, {g['failed'].mean():.1%}, {longest}")


if __name__ == "__main__":
    main()
