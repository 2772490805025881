#!/usr/bin/env python
"""What a stranger's first 2 minutes allow: supervised decoders started from nothing, the block counted.

Issue 15 asks a meta-trained decoder to reach, within 2 simulated minutes of a new subject-day,
80 % of a freshly calibrated Kalman filter's successes/min; the reference's 60 s calibration
block (the user's true intended velocity as labels) is not counted in its 2 minutes. A decoder
meeting a stranger has no block: whatever it learns is learnt inside the 2 minutes. This script
measures two supervised references that start from nothing too and count their labelled time
inside the 2 minutes, on the held-out subject-days of ``bench_meta_decoder.py``
(``subject_days(config, seed, n)``, the realistic channel, 2 components as the map learners):

- ``kalman_block_T``: the fresh Kalman filter calibrated on a T-second block instead of 60 s,
  then closed loop for ``120 - T`` seconds; its share is its successes over the 2 minutes
  (none during the block) over the 60 s-calibrated filter's, and in minute 2 alone (60-120 s of
  the day against the same minute of the reference's closed loop), successes per clock minute;
- ``kalman_block_T_rml_intended``: the same T-second block, then RML adaptation
  (:class:`~cogmodels.agents.decoders.clda.RML`) on the user's true intended velocity every
  bin (an oracle: labels no experiment has, the most a supervised decoder could be told).

Both read labels a reward-only decoder never sees, so they are reference points for the target,
not decoders to compare with: a learner from the error signal alone (one evaluation a second,
75 % hits, 3 % false alarms) gets far less per second than a 2-D label every 50 ms.

    python benchmarks/measure_stranger_bounds.py    # eval seeds 2018-2022, 8 subject-days each
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.clda import RML
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.meta_rnn import (
    MetaDecoderConfig,
    fresh_kalman_sessions,
    subject_days,
)
from cogmodels.agents.decoders.session import calibrate, run_closed_loop
from cogmodels.experiments._common import markdown_table

SESSION_S = 120.0


def successes_per_min(trials: pd.DataFrame, n_lanes: int, start_s: float = 0.0,
                      end_s: float = SESSION_S) -> float:
    """Successes per lane and clock minute of trials that ended in ``(start_s, end_s]`` of the 2 minutes."""
    t = trials["time"]
    return float(trials["success"][(t > start_s) & (t <= end_s)].sum()) / n_lanes / ((end_s - start_s) / 60)


def block_then_closed_loop(config: MetaDecoderConfig, days: list[int], seed: int, block_s: float,
                           oracle_rml: bool) -> pd.DataFrame:
    """Play a Kalman filter calibrated on ``block_s`` of the day, then closed loop for the rest of 2 minutes."""
    if not oracle_rml:
        return fresh_kalman_sessions(config, days, SESSION_S - block_s, seed=seed, calibration_s=block_s)
    env = config.make_env(len(days))
    env.reset(seed=seed, options={"day": np.asarray(days)})
    dec = calibrate(env, SteadyStateKalmanDecoder(dt=env.config.task.dt), block_s, day=np.asarray(days))
    return run_closed_loop(env, dec, SESSION_S - block_s, day=np.asarray(days),
                           adaptation=RML(dec), intention="intended")


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[2018, 2019, 2020, 2021, 2022],
                    help="eval seeds (bench_meta_decoder.py --eval-seed)")
    ap.add_argument("--subjects", type=int, default=8, help="subject-days per seed")
    ap.add_argument("--blocks", type=float, nargs="+", default=[5, 10, 20, 30, 60],
                    help="block lengths (s) for the block-calibrated filter")
    ap.add_argument("--rml-blocks", type=float, nargs="+", default=[3, 5, 10],
                    help="block lengths (s) before the oracle RML")
    ap.add_argument("--config", default='{"n_components": 2}', help="MetaDecoderConfig overrides (JSON)")
    ap.add_argument("--out", default="benchmarks/figures/meta_decoder_stranger_bounds.csv")
    args = ap.parse_args(argv)
    config = MetaDecoderConfig(**json.loads(args.config))
    t0 = time.process_time()
    rows = []
    for seed in args.seeds:
        days = subject_days(config, seed, args.subjects)
        reference = fresh_kalman_sessions(config, days, SESSION_S, seed=seed)
        ref_rate = successes_per_min(reference, len(days))
        runs = [(f"kalman_block_{b:g}", b, False) for b in args.blocks]
        runs += [(f"kalman_block_{b:g}_rml_intended", b, True) for b in args.rml_blocks]
        for name, block, oracle in runs:
            # times from the day's start: the block counted, with no successes in it
            trials = block_then_closed_loop(config, days, seed, block, oracle)
            trials = trials.assign(time=trials["time"] + block)
            rate = successes_per_min(trials, len(days))
            minute_2 = successes_per_min(trials, len(days), 60.0, SESSION_S) / successes_per_min(
                reference, len(days), 60.0, SESSION_S)
            rows.append({"seed": seed, "decoder": name, "block_s": block, "oracle_rml": oracle,
                         "successes_per_min_2min": rate, "fresh_kalman": ref_rate,
                         "share_of_fresh_kalman": rate / ref_rate, "minute_2_share": minute_2})
            print(f"seed {seed} {name}: {rate:.1f}/min over 2 min, share {rate / ref_rate:.2f}", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out, index=False)
    sums = table.groupby("decoder", sort=False)[["successes_per_min_2min", "fresh_kalman"]].sum()
    pooled = pd.DataFrame({"share over 2 min": sums["successes_per_min_2min"] / sums["fresh_kalman"],
                           "share in minute 2 (mean of draws)": table.groupby(
                               "decoder", sort=False)["minute_2_share"].mean()}).reset_index()
    print(f"\npooled over seeds {args.seeds} ({args.subjects} subject-days each; "
          f"{time.process_time() - t0:.0f} CPU s):")
    print(markdown_table(pooled.round(2), decimals=2))
    return table


if __name__ == "__main__":
    main()
