#!/usr/bin/env python
"""A fixed decoder over a month on each drift preset: the "stable implant" check (issue 14 §3).

Nuyujukian et al. (2014, J Neural Eng 11:066003) report fixed decoders holding their performance
for a month on stable arrays. The ``"stable_implant"`` drift preset
(:data:`~cogmodels.envs.bci.drift.DRIFT_PRESETS`) was set so that a fixed day-0 Kalman filter
keeps >= 80 % of its day-0 bitrate for 30 days; this script measures how much it keeps, against
the ``"stable"`` and ``"typical"`` presets, on days 0, 10, 20 and 30, per seed and subject:

- ``idealised``: the plain simulated user, the filter calibrated on the idealised block (labels
  = the user's true intended velocity), output gain 1;
- ``realistic``: Willett et al.'s user (:data:`~cogmodels.envs.bci.user.WILLETT_USER`), the
  filter calibrated on an open-loop observation block aligned by the user's 0.2 s delay, at
  output gain 0.5 (the open-loop filter's gain chosen on other subjects in
  ``bench_bci_refit.py``);
- ``full``, ``full_m1`` (``--settings``, not run by default): the same on those levels of
  :mod:`cogmodels.envs.bci.realism` (their population and within-session drift too), gain 0.5
  (the open-loop filter's best on seed 100's subjects on both levels, ``benchmarks/RESULTS.md``).

Bitrate is :func:`~cogmodels.envs.bci.metrics.summarize`'s (centre-out, N = 8 targets), per
subject and day. Writes ``figures/stable_implant{--tag}.csv``.

    python benchmarks/bench_stable_implant.py --subjects 16 --seeds 0,1,2
    python benchmarks/bench_stable_implant.py --settings full,full_m1 --tag _levels
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import pandas as pd

import cogmodels  # noqa: F401
from cogmodels.agents.decoders import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.session import OBSERVATION_BLOCK, calibrate, run_closed_loop
from cogmodels.envs.bci import CursorBCIVector
from cogmodels.envs.bci.metrics import summarize
from cogmodels.envs.bci.realism import realism
from cogmodels.experiments._common import markdown_table
from cogmodels.validation import check_choice

HERE = Path(__file__).resolve().parent
#: setting -> (realism level, or None for the plain simulator; calibration options; output gain)
SETTINGS = {
    "idealised": (None, {}, 1.0),
    "realistic": ("realistic", OBSERVATION_BLOCK, 0.5),
    "full": ("full", OBSERVATION_BLOCK, 0.5),
    "full_m1": ("full_m1", OBSERVATION_BLOCK, 0.5),
}
DEFAULT_SETTINGS = ("idealised", "realistic")


def fixed_decoder_days(preset: str, setting: str, subjects: int, seed: int, days: list[int],
                       session_s: float, calibration_s: float) -> pd.DataFrame:
    """Return per subject and day the metrics of a Kalman filter calibrated on day 0 and kept."""
    level, cal_kw, gain = SETTINGS[check_choice("setting", setting, tuple(SETTINGS))]
    env_kw = {} if level is None else realism(level)  # fresh session-drift objects per run
    env = CursorBCIVector(num_envs=subjects, n_trials=10**6, drift=preset, **env_kw)
    env.reset(seed=seed, options={"day": 0})
    fixed = calibrate(env, SteadyStateKalmanDecoder(), calibration_s, day=0, **cal_kw)
    trials = pd.concat([run_closed_loop(env, fixed, session_s, day=d, gain=gain) for d in days])
    trials["session"] = trials["day"]
    out = summarize(trials, by=["subject", "day"], n_targets=8)
    return out.assign(preset=preset, setting=setting, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=16)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--days", default="0,10,20,30")
    ap.add_argument("--presets", default="stable_implant,stable,typical")
    ap.add_argument("--settings", default=",".join(DEFAULT_SETTINGS),
                    help=f"comma-separated, of {list(SETTINGS)}")
    ap.add_argument("--session", type=float, default=60.0, help="seconds per daily session")
    ap.add_argument("--calibration", type=float, default=60.0, help="seconds of the day-0 block")
    ap.add_argument("--out", type=Path, default=HERE / "figures")
    ap.add_argument("--tag", default="", help="appended to the output file's name")
    args = ap.parse_args()
    days = [int(d) for d in args.days.split(",")]
    t0 = time.perf_counter()
    parts = [fixed_decoder_days(p, s, args.subjects, int(seed), days, args.session, args.calibration)
             for s in args.settings.split(",") for p in args.presets.split(",")
             for seed in args.seeds.split(",")]
    table = pd.concat(parts, ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / f"stable_implant{args.tag}.csv", index=False)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python "
          f"{platform.python_version()}; wall {time.perf_counter() - t0:.0f} s; seeds "
          f"{args.seeds}; {args.subjects} subjects; {args.session:g} s sessions")
    mean = table.groupby(["setting", "preset", "seed", "day"])["bitrate"].mean().unstack("day")
    kept = mean.div(mean[days[0]], axis=0).drop(columns=days[0]).add_prefix("kept, day ")
    first = f"day-{days[0]} bitrate"
    summary = pd.concat([mean[[days[0]]].rename(columns={days[0]: first}), kept], axis=1)
    print(f"\nfixed day-0 decoder: mean bitrate (bits/s) on day {days[0]} and the share of it kept:")
    print(markdown_table(summary.reset_index().round(3), decimals=3))


if __name__ == "__main__":
    main()
