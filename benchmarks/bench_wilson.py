#!/usr/bin/env python
"""Wilson et al. (2023)'s 60-day protocol: fixed, daily supervised, PRI-T HMM, stabiliser, RTI.

Every strategy meets the same simulated subjects, drift (0.91 daily tuning similarity, SNR
redrawn daily from Wilson et al.'s two-mode mixture) and gain re-sweep each day, plays one
scored session a day and rebuilds its decoder from that session for the next day (see
``cogmodels.agents.decoders.wilson_study``). Writes the per-subject, per-day summary (CSV), a
figure, and prints the markdown table: mean trial time and successes per minute over days 1 to
the last and over the last ten days, and per 10-day block, with 95 % bootstrap intervals over
subjects, and the run's CPU seconds. With a PRI-T strategy (``hmm``, ``hmm_wilson``...) and
another it also prints Wilson et al.'s own session statistics (their ``Fig_4a_4b.ipynb``), every
subject-day a session, over days 1+, days 30+ and the last day: mean, SD and median trial time,
the fraction of failed sessions (mean trial time > 5 s), the rank-sum p against the first PRI-T
strategy named, the difference of failed fractions with a bootstrap interval over subjects, and
the paired test per subject (in how many subjects the strategy is slower than PRI-T over the
days, and the Wilcoxon signed-rank p; ``cogmodels.experiments.wilson_stats``).

The defaults are the configuration that reproduced Wilson et al.'s result in this simulator
(PRI-T at daily supervised recalibration over 60 days; ``benchmarks/RESULTS.md``): their
labels, the position error ``g - p`` toward the (inferred) target, and 120 s sessions with a
2 s block per gain of the daily sweep. Wilson et al.'s sessions are 400 s (``--session 400``,
about 3.3 times the CPU; not run over 60 days here). The earlier variant — ReFIT labels, 30 s
sessions — is ``--labels refit --session 30``: with it PRI-T, RTI and the stabiliser fall far
behind daily supervised recalibration.

Degenhart et al. (2020)'s setting for the stabiliser, some channels stable, is ``--n-stable``
(Wilson et al.'s stabiliser example: 60 of 192 units); the stabiliser keeps ``--stable-channels``
B channels chosen from each session's counts (default: ``--n-stable``) and reads its factors
from all channels through the aligned model (``--stabilizer-read all``, as Wilson et al.'s
simulator does). ``stabilizer_oracle`` aligns on the hidden stable set (an ablation).

    python benchmarks/bench_wilson.py --subjects 4 --strategies hmm,supervised  # the headline
    python benchmarks/bench_wilson.py --n-stable 60 --strategies hmm,rti,stabilizer,supervised
    python benchmarks/bench_wilson.py --labels refit --session 30   # the 30 s / ReFIT variant
    python benchmarks/bench_wilson.py --quick             # a smoke run (< 1 min)

``--strategies rti_wilson`` is Wilson et al.'s own RTI rule (every trial end, timeouts too, a
click; their 6.4–0.6 s window, distance and approach filter) beside ``rti`` (successful trials,
every bin); ``--same-day-refit`` plays their order of a day: a recalibration session with the
previous decoder and gain, the refit, the gain sweep, then the scored session (twice the
session CPU; the default scores each day with the decoder refit on the day before).

``--refit wilson`` replaces the Kalman filter (refit on the encoding, renormalised in
Frobenius norm to day 0) by Wilson et al.'s simulated decoder and refit
(:class:`~cogmodels.agents.decoders.wilson_study.WilsonLinearDecoder`): a smoothed OLS readout,
each day refit by OLS and renormalised per output column to the previous decoder.
``--day0 white_noise`` calibrates day 0 as their simulator does: 10,000 bins of white-noise
intended velocities ``N(0, I)`` fired with the closed-loop code, and with ``--refit wilson`` the
two output columns given one norm.

``--strategies supervised_rebuild`` is Wilson et al.'s daily supervised reference: each day a
fresh decoder fit on the day's calibration block (``--day0``'s paradigm) drives a closed-loop
block, and its refit on that block is the day's decoder; only the readout norm carries over.
The chained ``supervised`` (each day refit from the last session of the previous decoder)
collapses for good in a quarter of the sessions with ``--refit wilson --task wilson``; the
rebuild does not (``benchmarks/RESULTS.md``, E10).

``--task wilson`` plays Wilson et al.'s own task instead of centre-out
(:func:`~cogmodels.envs.bci.realism.wilson_task`: random targets of radius 0.075, no
re-centring, no walls, no speed limit), where a cursor that runs off after a timeout starts the
next trial wherever it went. Its targets keep inside the workspace and 0.05 from the last;
``--targets uniform`` draws them as their simulator does (centres uniform in the whole square,
no gap to the last target).

``--user '{"forward_tau": 0.323, "adaptation_time": 2.0}'`` sets the simulated user
(:class:`~cogmodels.envs.bci.user.UserSpec` fields; default the plain feedback user, whose
forward model assumes the cursor moves as intended). That one approximates Wilson et al.'s
user: it predicts the cursor with the decoder's own smoothing (``alpha = 0.94`` per 20 ms is
``tau = 0.323 s``) and gain, here learnt from what it sees. ``--user wilson`` is their user
itself (:data:`~cogmodels.envs.bci.user.WILSON_USER`, their ``getBCIFittsKF`` and
``simulateFitts_Numba``): a steady-state Kalman estimate of the cursor from 200 ms-delayed
feedback and its own commands, told the day's gain, and their piecewise push.

``--noise additive`` replaces the Poisson counts by Wilson et al.'s channel model (the expected
count plus Gaussian noise of a fixed SD, ``--noise-sd``, by default at their signal-to-noise
scale; :class:`~cogmodels.envs.bci.encoder.PopulationSpec`).

CPU on the 2-core VM (one thread): about 4.5 CPU-s per strategy-day with 4 subjects and 120 s
sessions (PRI-T's emission model alone: 0.7 CPU-s per subject-day), about 10 for supervised at
400 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import cogmodels  # noqa: E402,F401
from cogmodels.agents.decoders.day_checkpoint import saved_day  # noqa: E402
from cogmodels.agents.decoders.wilson_study import (  # noqa: E402
    DAY0,
    DECODER_UNITS,
    DEFAULT_STRATEGIES,
    REFITS,
    STRATEGIES,
    run_wilson_protocol,
    wilson_drift,
)
from cogmodels.envs.bci.drift import DRIFT_PRESETS, SNRMixture  # noqa: E402
from cogmodels.envs.bci.encoder import NOISE_MODELS, PopulationSpec  # noqa: E402
from cogmodels.envs.bci.gain_sweep import WILSON_GAINS  # noqa: E402
from cogmodels.envs.bci.metrics import plot_over_days  # noqa: E402
from cogmodels.envs.bci.realism import wilson_task  # noqa: E402
from cogmodels.envs.bci.task import TARGET_DRAWS  # noqa: E402
from cogmodels.envs.bci.user import WILSON_USER, UserSpec  # noqa: E402
from cogmodels.experiments.wilson_stats import (  # noqa: E402
    FAILED_SESSION_S,
    per_subject_day,
    reference_strategy,
    session_statistics,
    statistics_windows,
)

HERE = Path(__file__).resolve().parent
#: the benchmark's gain grid: 10 gains from 0.5 to 4, geometric (see RESULTS: Wilson et al.'s
#: linspace(0.1, 2.5, 10) is in their decoder's units; ours decode widths/s)
GAINS = tuple(float(g) for g in np.geomspace(0.5, 4.0, 10))


def subject_means(per_day: pd.DataFrame, days: range) -> pd.DataFrame:
    """Return each decoder's per-subject mean of the daily metrics over ``days``."""
    sel = per_day[per_day["day"].isin(list(days))]
    return sel.groupby(["decoder", "subject"])[["trial_time", "successes_per_min"]].mean()


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator, n: int = 2000) -> tuple[float, float]:
    """95 % percentile interval of the mean of ``values`` resampled ``n`` times."""
    idx = rng.integers(len(values), size=(n, len(values)))
    means = values[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def block_table(per_day: pd.DataFrame, strategies: list[str], n_days: int,
                rng: np.random.Generator, block: int = 10) -> list[str]:
    """Return markdown rows: each strategy's mean trial time per ``block``-day window.

    Each cell is the mean over subjects of the subjects' mean daily trial time in the window,
    with a 95 % bootstrap interval over subjects (:func:`bootstrap_ci`).
    """
    starts = range(0, n_days, block)
    head = ["decoder", "days played"] + [f"days {a}–{min(a + block, n_days) - 1}" for a in starts]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for dec in strategies:
        mine = per_day[per_day["decoder"] == dec]
        cells = [dec, str(int(mine["day"].max()) + 1)]
        for a in starts:
            m = subject_means(mine, range(a, min(a + block, n_days)))["trial_time"].to_numpy()
            lo, hi = bootstrap_ci(m, rng)
            cells.append(f"{m.mean():.2f} [{lo:.2f}, {hi:.2f}]")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def failure_table(per_day: pd.DataFrame, strategies: list[str], days: range, reference: str,
                  rng: np.random.Generator, n_boot: int = 2000) -> list[str]:
    """Return markdown rows of Wilson et al.'s session statistics over ``days``, subject-days pooled.

    :func:`~cogmodels.experiments.wilson_stats.session_statistics`, one row per strategy:
    the mean and SD of the daily mean trial time over subject-days, the median, the fraction of
    failed sessions (:data:`FAILED_SESSION_S`), and against ``reference`` the rank-sum p (Wilson
    et al.'s test), the difference of failure fractions with a 95 % bootstrap interval over
    subjects, and the paired test per subject (slower subjects, signed-rank p).
    """
    stats = session_statistics(per_day, strategies, days, reference, rng, n_boot)
    head = ["decoder", "sessions", "mean ± SD (s)", "median (s)", f"failed (> {FAILED_SESSION_S:g} s)",
            f"rank-sum p vs {reference}", f"failed − {reference}'s [95 % CI over subjects]",
            f"slower than {reference} (subjects; signed-rank p)"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in stats.itertuples():
        cells = [r.decoder, str(r.sessions), f"{r.mean:.2f} ± {r.sd:.2f}", f"{r.median:.2f}",
                 f"{r.failed:.3f}"]
        if r.decoder == reference:
            cells += ["—", "—", "—"]
        else:
            cells += [f"{r.ranksum_p:.3g}",
                      f"{r.failed_diff:+.3f} [{r.failed_diff_low:+.3f}, {r.failed_diff_high:+.3f}]",
                      f"{r.slower_subjects:.0f} / {r.paired_subjects:.0f}; {r.signed_rank_p:.2g}"]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def make_drift_arg(name: str, n_stable: int, low_snr: bool,
                   day0_snr: float | None = None) -> object:
    """Return the environment's drift for the drift flags (``--day0-snr``: day 0's SNR)."""
    if name != "wilson":
        if n_stable or low_snr or day0_snr is not None:
            raise SystemExit("--n-stable, --low-snr and --day0-snr apply to --drift wilson only")
        return DRIFT_PRESETS[name]
    snr = None
    if low_snr or day0_snr is not None:
        try:
            snr = SNRMixture(**({"weights": (1.0, 0.0)} if low_snr else {}), day0=day0_snr)
        except ValueError as err:
            raise SystemExit(f"--day0-snr: {err}") from None
    return wilson_drift(n_stable, snr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--session", type=float, default=120.0,
                    help="seconds per scored session (Wilson et al.: 400)")
    ap.add_argument("--sweep", type=float, default=2.0, help="seconds per gain of the sweep")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="processes: strategies in parallel; with one strategy, its PRI-T inference over subjects")
    ap.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES),
                    help="comma-separated, of: " + ", ".join(STRATEGIES) + " (default: "
                         + ", ".join(DEFAULT_STRATEGIES) + ")")
    ap.add_argument("--labels", default="position", choices=("refit", "position"),
                    help="labels of every refit: ReFIT's or Wilson et al.'s position error")
    ap.add_argument("--no-renormalize", action="store_true",
                    help="fresh refits as they come (no renormalisation of the readout norm)")
    ap.add_argument("--posterior-weights", action="store_true",
                    help="weight PRI-T's bins by the squared posterior of their target")
    ap.add_argument("--same-day-refit", action="store_true",
                    help="Wilson et al.'s order: each day from day 1 plays a recalibration "
                         "session with yesterday's decoder and gain, refits, re-sweeps, then "
                         "scores a fresh session (twice the session CPU)")
    ap.add_argument("--refit", default="kalman", choices=REFITS,
                    help="the decoder and its daily refit: a Kalman filter renormalised in "
                         "Frobenius norm to day 0 (default), or Wilson et al.'s OLS decoder "
                         "renormalised per column to the previous decoder")
    ap.add_argument("--day0", default="block", choices=DAY0,
                    help="day 0's calibration: the supervised block (default) or Wilson et "
                         "al.'s 10,000 bins of white-noise intended velocities")
    ap.add_argument("--drift", default="wilson", choices=("wilson", *DRIFT_PRESETS),
                    help="Wilson et al.'s drift (0.91 tuning similarity a day, SNR redrawn "
                         "from their mixture) or one of the package's presets")
    ap.add_argument("--n-stable", type=int, default=0,
                    help="channels whose tuning the daily rotation leaves alone (Wilson et "
                         "al.'s stabiliser example: 60 of 192)")
    ap.add_argument("--low-snr", action="store_true",
                    help="every day's SNR from the low mode of Wilson et al.'s mixture only")
    ap.add_argument("--day0-snr", type=float, default=None,
                    help="day 0's SNR, fixed (Wilson et al.'s simulator: 0.5, their base SNR); "
                         "default: drawn from their mixture like every other day")
    ap.add_argument("--stable-channels", type=int, default=None,
                    help="the stabiliser's B, channels it keeps as stable (default: "
                         "--n-stable if given, else half the channels)")
    ap.add_argument("--stabilizer-read", default="all", choices=("stable", "all"),
                    help="read the realigned factors from the stable channels or from all")
    ap.add_argument("--stabilizer-factors", type=int, default=10,
                    help="the stabiliser's factors (Degenhart et al.: 10; Wilson et al.'s "
                         "simulator: 4 principal components)")
    ap.add_argument("--stabilizer-model", default="fa", choices=("fa", "pca"),
                    help="the stabiliser's latent model (Wilson et al.'s simulator: PCA)")
    ap.add_argument("--stabilizer-chained", action="store_true",
                    help="align each day to the last aligned day, as Wilson et al.'s simulator "
                         "does (chained: True), instead of to day 0")
    ap.add_argument("--task", default="center_out", choices=("center_out", "wilson"),
                    help="centre-out (re-centred each trial, walls, v_max 1) or Wilson et al.'s "
                         "task: random targets, never re-centred, no walls, no speed limit")
    ap.add_argument("--units", default="ours", choices=DECODER_UNITS,
                    help="the day-0 decoder's units and the gain grid: ours (the fit's own output, "
                         "gains geomspace(0.5, 4, 10)) or Wilson et al.'s (their unit column norm in "
                         "their channel units, gains linspace(0.1, 2.5, 10)); wilson needs --refit "
                         "wilson --day0 white_noise --noise additive")
    ap.add_argument("--targets", default="spaced", choices=TARGET_DRAWS,
                    help="with --task wilson: each target inside the workspace and 0.05 from the "
                         "last, or Wilson et al.'s draw (centres uniform in the whole square, no gap)")
    ap.add_argument("--user", type=lambda text: text if text == "wilson" else json.loads(text),
                    default=None,
                    help="JSON object of UserSpec fields for the simulated user, or 'wilson' "
                         "for Wilson et al.'s (default: the plain feedback user)")
    ap.add_argument("--noise", default="poisson", choices=NOISE_MODELS,
                    help="the channels' noise: Poisson counts (default), Gaussian with the "
                         "Poisson variance, or Wilson et al.'s additive Gaussian of a fixed SD")
    ap.add_argument("--noise-sd", type=float, default=None,
                    help="with --noise additive: the SD in counts per 20 ms bin (default: "
                         "Wilson et al.'s signal-to-noise scale, wilson_noise_sd: 0.60, 0.76 with "
                         "--user wilson; E11 and E12 ran 0.60 with their user: --noise-sd 0.6047)")
    ap.add_argument("--quick", action="store_true", help="2 days, 2 subjects, 20 s sessions")
    ap.add_argument("--out", type=Path, default=HERE / "figures")
    ap.add_argument("--save-dir", type=Path, default=None,
                    help="write each strategy's trials day by day to <dir>/<strategy>.csv, "
                         "each day's state checkpointed beside them: the same command again "
                         "resumes where a stopped run left off (the same trials; --days may grow)")
    ap.add_argument("--from-dir", type=Path, default=None,
                    help="summarise the trials a (possibly unfinished) --save-dir run wrote: "
                         "the figure and CSV keep every day played, the table the days all "
                         "strategies played")
    args = ap.parse_args()
    if args.noise_sd is not None and args.noise != "additive":
        raise SystemExit("--noise-sd applies to --noise additive only")
    noise = {} if args.noise == "poisson" else {"noise": args.noise}
    if args.noise_sd is not None:
        noise["noise_sd"] = args.noise_sd
    gains = WILSON_GAINS if args.units == "wilson" else GAINS
    if args.targets != "spaced" and args.task != "wilson":
        raise SystemExit("--targets applies to --task wilson only")
    env_kwargs = {**noise, **(wilson_task() if args.task == "wilson" else {})}
    if args.targets != "spaced":
        env_kwargs["target_draw"] = args.targets
    if args.user == "wilson":
        env_kwargs["user"] = WILSON_USER
    elif args.user is not None:
        if not isinstance(args.user, dict):
            raise SystemExit(f"--user must be a JSON object of UserSpec fields, got {args.user!r}")
        try:
            env_kwargs["user"] = UserSpec(**args.user)
        except (TypeError, ValueError) as err:
            raise SystemExit(f"--user: {err}") from None
    if args.quick:
        args.days, args.subjects, args.session, args.sweep = 2, 2, 20.0, 2.0
    t0, c0 = time.perf_counter(), cpu_seconds()
    n_units = PopulationSpec().n_units
    b = args.stable_channels if args.stable_channels else (args.n_stable or n_units // 2)
    stabilizer = {"stable_fraction": b / n_units, "read": args.stabilizer_read,
                  "n_factors": args.stabilizer_factors, "chained": args.stabilizer_chained,
                  "model": args.stabilizer_model}
    if args.from_dir is not None:
        found = [n for n in args.strategies.split(",") if (args.from_dir / f"{n}.csv").exists()]
        trials = pd.concat([pd.read_csv(args.from_dir / f"{n}.csv") for n in found],
                           ignore_index=True)
        args.strategies = ",".join(found)
        days_played = trials.groupby("decoder")["day"].max() + 1
        print("days played per strategy:", days_played.to_dict())
        args.days = int(days_played.min())  # the table compares the days all have played
    else:
        resumed = {} if args.save_dir is None else {
            n: saved_day(args.save_dir, n) for n in args.strategies.split(",")}
        resumed = {n: d for n, d in resumed.items() if d is not None}
        if resumed:
            print(f"resuming from the checkpoints in {args.save_dir} (first day to play): "
                  f"{resumed}; the wall and cpu times below count this call only", flush=True)
        trials = run_wilson_protocol(args.strategies.split(","), args.days, args.subjects,
                                     args.session,
                                     calibration_s=30.0 if args.quick else 60.0,
                                     sweep_s=args.sweep, gains=gains, seed=args.seed,
                                     n_jobs=args.jobs, save_dir=args.save_dir, progress=True,
                                     renormalize=not args.no_renormalize, labels=args.labels,
                                     posterior_weights=args.posterior_weights,
                                     same_day_refit=args.same_day_refit, refit=args.refit,
                                     day0=args.day0, decoder_units=args.units,
                                     drift=make_drift_arg(args.drift, args.n_stable,
                                                          args.low_snr, args.day0_snr),
                                     stabilizer=stabilizer, **env_kwargs)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    per_day = per_subject_day(trials)
    stem = "wilson_quick" if args.quick else "wilson"
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        per_day.to_csv(args.out / f"{stem}_per_subject_day.csv", index=False)
        fig = plot_over_days(per_day, metrics=("trial_time", "successes_per_min", "gain"),
                             hue="decoder")
        fig.savefig(args.out / f"{stem}.png", dpi=120, bbox_inches="tight")
    if args.from_dir is not None:
        print(f"summary of the trials in {args.from_dir} (the run's own settings are in its "
              f"log, not here)")
    else:
        print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python "
              f"{platform.python_version()}; wall {seconds:.0f} s; cpu {cpu:.0f} s; load "
              f"average {os.getloadavg()[0]:.1f}; seed {args.seed}; {args.subjects} subjects; "
              f"{args.days} days; {args.session:.0f} s sessions; sweep {len(gains)} gains x "
              f"{args.sweep:g} s; labels {args.labels}; drift {args.drift}, n_stable "
              f"{args.n_stable}{', low SNR' if args.low_snr else ''}"
              f"{'' if args.day0_snr is None else f', day-0 SNR {args.day0_snr:g}'}; "
              f"stabiliser B {b}, reads "
              f"{args.stabilizer_read}, {args.stabilizer_factors} {args.stabilizer_model} factors"
              f"{', chained' if args.stabilizer_chained else ''}; noise {args.noise}"
              f"{'' if args.noise_sd is None else f' sd {args.noise_sd:g}'}"
              f"{'; same-day refit' if args.same_day_refit else ''}"
              f"{'; task wilson' if args.task == 'wilson' else ''}"
              f"{'' if args.targets == 'spaced' else f', targets {args.targets}'}"
              f"{'; their decoder units and gains' if args.units == 'wilson' else ''}"
              f"{'' if args.user is None else f'; user {args.user}'}"
              f"{'; refit wilson' if args.refit == 'wilson' else ''}"
              f"{'; day 0 white noise' if args.day0 == 'white_noise' else ''}")
    per_day = per_day[per_day["day"] < args.days]
    rng = np.random.default_rng(args.seed)
    last = range(max(1, args.days - 10), args.days)
    rows = []
    for window, days in (("days 1+", range(1, args.days)), ("last 10", last)):
        if not len(days):
            continue
        means = subject_means(per_day, days)
        for dec in args.strategies.split(","):
            m = means.loc[dec]
            lo, hi = bootstrap_ci(m["trial_time"].to_numpy(), rng)
            slo, shi = bootstrap_ci(m["successes_per_min"].to_numpy(), rng)
            rows.append([window, dec, f"{m['trial_time'].mean():.2f} [{lo:.2f}, {hi:.2f}]",
                         f"{m['successes_per_min'].mean():.1f} [{slo:.1f}, {shi:.1f}]"])
    print("| window | decoder | mean trial time (s) [95% CI] | successes/min [95% CI] |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print("\nmean trial time (s) per 10-day block, mean of subjects [95 % bootstrap CI]:")
    print("\n".join(block_table(per_day, args.strategies.split(","), args.days, rng)))
    strategies = args.strategies.split(",")
    if any(s.startswith("hmm") for s in strategies) and len(strategies) > 1:
        for window, days in statistics_windows(args.days):
            print(f"\nWilson et al.'s session statistics, {window} (every subject-day a session):")
            print("\n".join(failure_table(per_day, strategies, days,
                                           reference_strategy(strategies), rng)))


if __name__ == "__main__":
    main()
