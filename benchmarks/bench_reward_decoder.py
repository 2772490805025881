#!/usr/bin/env python
"""The reward-only decoder from no decoder at all, then under "typical" drift, by error channel.

For each configuration (error channel x learning rule x features), the same simulated subjects
(environment seed ``--seed``) learn from scratch for ``--minutes`` simulated minutes on day 0
(the learning curve: successes/min per minute, mean over subjects and, in
``reward_decoder_learning_per_subject*.csv``, each subject's), then play one
``--session``-second session on each of ``--days`` (still learning; the metrics of
:func:`cogmodels.envs.bci.metrics.summarize`). Beside them, daily supervised recalibration of a
steady-state Kalman filter on the same subjects and days
(:func:`cogmodels.experiments.drift_study.compare_under_drift`).

Configurations: ``realistic`` / ``idealised`` channel (:mod:`cogmodels.envs.bci.error_signal`),
``outcome_weighted`` / ``actor_critic`` rule, ``running`` (re-estimated, half-life 60 s, the
policy carried through each re-estimate) / ``running_uncarried`` (the same features, the policy
not carried: the decoder before 2026-12-07's thirty-sixth wave, an ablation) / ``frozen``
(day-0) features. The simulator is the plain one unless ``--realism realistic``
(Willett et al.'s user), ``full`` (all of issue 14 §1) or ``full_m1`` (the full realism on a
population with recorded M1's target-demeaned shared variance; :mod:`cogmodels.envs.bci.realism`).

    python benchmarks/bench_reward_decoder.py                 # 4 subjects, 13 min, days 0,7,28
    python benchmarks/bench_reward_decoder.py --quick         # under a minute
    python benchmarks/bench_reward_decoder.py --configs realistic/outcome_weighted/running

Besides the tables (CSV), each run draws ``reward_decoder<tag>.png``: day-0 learning per
configuration and, over more than one day, successes/min by day (``--replot`` draws it again from
the files).

The output files' names carry ``--tag``, a seed other than 0 and a realism other than ``off``
(:func:`output_tag`), so runs of other seeds or levels never write over each other.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from pathlib import Path

import pandas as pd

import cogmodels  # noqa: F401
from cogmodels.agents.decoders.reward import RewardDecoder, per_minute
from cogmodels.envs.bci.metrics import summarize
from cogmodels.envs.bci.realism import REALISM_LEVELS, realism
from cogmodels.envs.bci.vector import CursorBCIVector
from cogmodels.experiments._common import markdown_table
from cogmodels.experiments.clda_study import time_to_proficiency
from cogmodels.experiments.drift_study import compare_under_drift

HERE = Path(__file__).resolve().parent
CONFIGS = ("realistic/outcome_weighted/running", "realistic/outcome_weighted/running_uncarried",
           "realistic/outcome_weighted/frozen",
           "idealised/outcome_weighted/running", "idealised/outcome_weighted/frozen",
           "realistic/actor_critic/frozen", "idealised/actor_critic/frozen")
FEATURES = ("running", "running_uncarried", "frozen")
COLS = ["successes_per_min", "success_rate", "time_to_target", "bitrate"]


def run_config(config: str, args: argparse.Namespace
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, float]:
    """Return (learning curve per minute, the same per subject, metrics per day, wall seconds)."""
    channel, rule, features = config.split("/")
    if features not in FEATURES:
        raise ValueError(f"features must be one of {list(FEATURES)}, got {features!r} "
                         f"(in --configs {config!r})")
    env = CursorBCIVector(num_envs=args.subjects, n_trials=10**6, drift="typical",
                          error_signal=channel, **realism(args.realism))
    env.reset(seed=args.seed, options={"day": 0})  # the subjects of compare_under_drift
    dec = RewardDecoder(env.single_observation_space.shape[0], args.subjects, rule=rule,
                        half_life_s=None if features == "frozen" else 60.0,
                        carry_policy=features == "running",
                        calibration_s=args.calibration, seed=args.seed)
    t0 = time.perf_counter()
    warm = dec.train(env, seconds=60.0 * args.minutes, options={"day": 0})
    curve = per_minute(warm).assign(config=config)
    curve = curve[curve.minute < args.minutes]  # a trial ending at the last bin opens no minute
    each = per_minute(warm, by_subject=True).assign(config=config)
    each = each[each.minute < args.minutes]
    days = []
    for day in args.days:
        h = dec.train(env, seconds=args.session, options={"day": day})
        days.append(h)
    trials = pd.concat(days, ignore_index=True).assign(decoder=config)
    metrics = summarize(trials, by=["decoder", "day"], n_targets=8)
    return curve, each, metrics, time.perf_counter() - t0


def output_tag(args: argparse.Namespace) -> str:
    """Return the output files' suffix: ``_quick``, ``--tag``, ``_seed<S>``, ``_<realism>``.

    The seed is named when it is not 0, unless the tag names it already (the committed runs'
    ``--seed 1 --tag _n16_seed1``); seed 0 with the plain simulator keeps the committed names.
    """
    seed = f"_seed{args.seed}"
    named = args.seed == 0 or re.search(rf"{seed}(?![0-9])", args.tag)
    return (("_quick" if args.quick else "") + args.tag + ("" if named else seed)
            + ("" if args.realism == "off" else f"_{args.realism}"))


def first_minute_above(each: pd.DataFrame, threshold: float = 8.0) -> pd.Series:
    """Return each subject's first minute (1-based) above ``threshold`` successes/min (NaN: never)."""
    return each.groupby("subject", sort=False)["successes_per_min"].apply(
        lambda rate: time_to_proficiency(rate.to_numpy(), threshold, strict=True))



def figure(each: pd.DataFrame, metrics: pd.DataFrame, title: str = ""):
    """Return the figure of a run: day-0 learning per configuration, and successes/min by day.

    Left, each configuration's mean over subjects by minute with the band of the middle 80 % of
    subjects (``each``: the per-subject curves); right, when the run played more than one day,
    each decoder's successes/min by day (``metrics``, the daily supervised reference among them).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_day = metrics["day"].nunique() > 1
    cycle = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4)
    colors: dict[str, str] = {"daily_recalibration": "black"}  # one colour per decoder, both panels

    def colour(name: str) -> str:
        if name not in colors:
            colors[name] = next(cycle)
        return colors[name]

    fig, axes = plt.subplots(1, 2 if by_day else 1, figsize=(11 if by_day else 6, 3.8),
                             squeeze=False)
    ax = axes[0, 0]
    for config, g in each.groupby("config", sort=False):
        rate = g.pivot(index="minute", columns="subject", values="successes_per_min")
        minute = rate.index.to_numpy() + 1
        ax.plot(minute, rate.mean(axis=1), color=colour(config), label=config)
        ax.fill_between(minute, rate.quantile(0.1, axis=1), rate.quantile(0.9, axis=1),
                        color=colour(config), alpha=0.15, linewidth=0)
    ax.axhline(8.0, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="minute of day-0 learning (from no decoder)", ylabel="successes / min",
           title="day 0 (mean; band: 10-90 % of subjects)")
    ax.legend(fontsize=7, frameon=False)
    if by_day:
        ax = axes[0, 1]
        for decoder, g in metrics.groupby("decoder", sort=False):
            ax.plot(g["day"], g["successes_per_min"], marker=".", color=colour(decoder),
                    label=decoder)
        ax.set(xlabel="day", ylabel="successes / min", title="one session a day, still learning")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=13.0, help="day-0 learning from scratch")
    ap.add_argument("--days", default="0,7,28")
    ap.add_argument("--session", type=float, default=120.0, help="seconds per daily session")
    ap.add_argument("--calibration", type=float, default=30.0,
                    help="seconds of spikes for the first feature estimate")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--no-recalibration", action="store_true",
                    help="skip the daily supervised recalibration reference")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true",
                    help="2 subjects, 3 min, days 0 and 7, 30 s sessions, one configuration")
    ap.add_argument("--out", type=Path, default=HERE / "figures")
    ap.add_argument("--tag", default="", help="appended to the output files' names (before the "
                                              "seed unless 0 and the realism level unless "
                                              "'off', see output_tag)")
    ap.add_argument("--realism", choices=REALISM_LEVELS, default="off",
                    help="the simulator's realism (cogmodels.envs.bci.realism): the user, and "
                         "for 'full' and 'full_m1' the encoder and within-session drift")
    ap.add_argument("--replot", action="store_true",
                    help="only draw the figure of the files a run with these arguments wrote")
    args = ap.parse_args()
    if args.quick:
        args.subjects, args.minutes, args.days, args.session, args.calibration = 2, 3.0, "0,7", 30.0, 20.0
        args.configs = CONFIGS[0]
    args.days = [int(d) for d in args.days.split(",")]
    curves, subjects, metrics = [], [], []
    args.out.mkdir(parents=True, exist_ok=True)
    tag = output_tag(args)  # never over another seed's or realism's files
    title = (f"reward decoder, realism {args.realism}, seed {args.seed}, {args.subjects} subjects, "
             f"realistic channel unless named")
    if args.replot:
        figure(pd.read_csv(args.out / f"reward_decoder_learning_per_subject{tag}.csv"),
               pd.read_csv(args.out / f"reward_decoder_days{tag}.csv"), title).savefig(
            args.out / f"reward_decoder{tag}.png", dpi=110, bbox_inches="tight")
        return

    def save() -> None:  # after every configuration: a long run keeps what it finished
        pd.concat(curves, ignore_index=True).to_csv(
            args.out / f"reward_decoder_learning{tag}.csv", index=False)
        pd.concat(subjects, ignore_index=True).to_csv(
            args.out / f"reward_decoder_learning_per_subject{tag}.csv", index=False)
        pd.concat(metrics, ignore_index=True).to_csv(
            args.out / f"reward_decoder_days{tag}.csv", index=False)

    t0 = time.perf_counter()
    if not args.no_recalibration:
        trials = compare_under_drift(["daily_recalibration"], args.days, args.subjects,
                                     args.session, seed=args.seed, drift="typical",
                                     **realism(args.realism))
        metrics.append(summarize(trials, by=["decoder", "day"], n_targets=8))
    for config in args.configs.split(","):
        curve, each, m, wall = run_config(config, args)
        curves.append(curve)
        subjects.append(each)
        metrics.append(m)
        save()
        fast = curve.loc[curve.successes_per_min > 8, "minute"]
        first = first_minute_above(each)
        late = each[each.minute >= args.minutes - 5].groupby("subject").successes_per_min.mean()
        print(f"{config}: {wall:.0f} s wall; first minute > 8 successes/min: "
              f"{'never' if fast.empty else int(fast.iloc[0]) + 1} (mean over subjects); per "
              f"subject {first.tolist()} ({int(first.notna().sum())} of {len(first)} subjects); "
              f"last 5 minutes per subject {late.round(1).tolist()} ({int((late > 8).sum())} "
              f"above 8)", flush=True)
    seconds = time.perf_counter() - t0
    curves, metrics = pd.concat(curves, ignore_index=True), pd.concat(metrics, ignore_index=True)
    figure(pd.concat(subjects, ignore_index=True), metrics, title).savefig(
        args.out / f"reward_decoder{tag}.png", dpi=110, bbox_inches="tight")
    print(f"\nmachine: {platform.machine()} {os.cpu_count()} cpu, python "
          f"{platform.python_version()}; wall {seconds:.0f} s; seed {args.seed}; "
          f"{args.subjects} subjects; {args.minutes:g} min from scratch; "
          f"{args.session:g} s sessions on days {args.days}")
    wide = curves.pivot(index="minute", columns="config", values="successes_per_min")
    print("\nsuccesses/min during day-0 learning (mean over subjects), by minute:")
    print(markdown_table(wide.reset_index().astype(float).round(2), decimals=2))
    print("\nby day (learning on in every session):")
    print(markdown_table(metrics[["decoder", "day", *COLS]].assign(
        day=lambda d: d.day.astype(int)).round(2), decimals=2))


if __name__ == "__main__":
    main()
