"""Wilson et al. (2023)'s 60-day protocol: PRI-T against daily supervised, their stabiliser, RTI, fixed.

Issue 14's E13 (``benchmarks/RESULTS.md``) as an experiment: one unit per decoding strategy of
:data:`~cogmodels.agents.decoders.wilson_study.STRATEGIES`, each playing
:func:`~cogmodels.agents.decoders.wilson_study.run_wilson_protocol` with their protocol's settings
(:data:`PROTOCOL`: their drift — 0.91 daily tuning similarity, SNR redrawn daily from their
two-mode mixture; their task, random uniform targets of radius 0.075 and a 0.5 s hold; their
simulated user and additive channel noise; their OLS decoder calibrated on their day-0 block of
10,000 bins of white-noise intended velocities, in their units, refit each day after a recalibration session and the daily gain sweep over
``linspace(0.1, 2.5, 10)``; their chained PCA stabiliser on 190 channels). The comparison is
*paired*: every unit draws its subjects, drift and tasks from the experiment's base ``seed``
(not its unit seed), so all strategies meet the same subjects. What each strategy reads:

- ``hmm_wilson`` (PRI-T, unsupervised): its own decoded velocity, the cursor and the click —
  never the target;
- ``supervised_rebuild``: the true target, a fresh decoder each day (the supervised reference);
- ``stabilizer``: spike counts only (Degenhart et al. 2020's alignment, as Wilson et al. ran it);
- ``rti_wilson``: the cursor where trials end (Wilson et al.'s RTI rule);
- ``fixed``: nothing after day 0.

The daily gain sweep reads the true target for every strategy alike, as in Wilson et al.'s
protocol. Results: the metrics per strategy, subject and day, and Wilson et al.'s session
statistics (:func:`~cogmodels.experiments.wilson_stats.session_statistics`) over days 1+,
days 30+ and the last day against the first PRI-T strategy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.day_checkpoint import checkpoint_paths, saved_day
from cogmodels.agents.decoders.wilson_study import STRATEGIES, run_wilson_protocol, wilson_drift
from cogmodels.envs.bci.gain_sweep import WILSON_GAINS
from cogmodels.envs.bci.realism import wilson_task
from cogmodels.envs.bci.user import WILSON_USER
from cogmodels.experiments._common import markdown_table, save, setting_note
from cogmodels.experiments.registry import Config, Experiment, Range
from cogmodels.experiments.runner import unit_checkpoint_dir
from cogmodels.experiments.wilson_stats import (
    FAILED_SESSION_S,
    per_subject_day,
    reference_strategy,
    session_statistics,
    statistics_windows,
)

__all__ = ["DECODER_LABELS", "EXPERIMENT", "PROTOCOL"]

#: the settings of :func:`run_wilson_protocol` that make it Wilson et al.'s protocol (E13's
#: ``bench_wilson.py --task wilson --targets uniform --noise additive --user wilson --refit wilson
#: --day0 white_noise --units wilson --same-day-refit --stabilizer-chained --stabilizer-factors 4
#: --stable-channels 190 --stabilizer-model pca``)
PROTOCOL: dict[str, Any] = {
    "refit": "wilson", "day0": "white_noise", "decoder_units": "wilson", "same_day_refit": True,
    "gains": WILSON_GAINS, "labels": "position",
    "stabilizer": {"stable_fraction": 190 / 192, "read": "all", "n_factors": 4, "chained": True,
                   "model": "pca"},
}

#: legend labels: each strategy with what it learns from
DECODER_LABELS = {
    "hmm_wilson": "PRI-T (unsupervised: decoded velocity, cursor, click)",
    "supervised_rebuild": "daily supervised (true targets)",
    "stabilizer": "stabiliser (spike counts only)",
    "rti_wilson": "RTI (trial-end cursor)",
    "fixed": "fixed (day 0 only)",
}


def _env_kwargs() -> dict[str, Any]:
    """Their task with uniform targets, their additive channel noise and their user (fresh objects)."""
    return {**wilson_task(), "target_draw": "uniform", "noise": "additive", "user": WILSON_USER}


def units(config: Config) -> list[dict]:
    # the environment seed is the base seed for every unit: a paired comparison
    return [{"decoder": s, "env_seed": config.seed} for s in config["strategies"]]


def run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    # each finished day is checkpointed in the runner's folder for this unit: a stopped run
    # resumes at its next day, with the same bits as a run never stopped
    name, save_dir = unit["decoder"], unit_checkpoint_dir()
    if save_dir is not None:
        trials, state = checkpoint_paths(save_dir, name)
        if trials.exists() and not state.exists():  # stopped while day 0 was being saved
            trials.unlink()
        if (day := saved_day(save_dir, name)) is not None:
            print(f"bci_wilson: {name} had played {day} of {config['days']} days when the run "
                  f"stopped; it goes on from its checkpoint in {save_dir}", file=sys.stderr)
    trials = run_wilson_protocol(
        [name], config["days"], config["n_subjects"], config["session_s"],
        sweep_s=config["sweep_s"], seed=unit["env_seed"], drift=wilson_drift(), **PROTOCOL,
        save_dir=save_dir, **_env_kwargs())
    return {"per_subject_day": per_subject_day(trials)}


def combine(config: Config, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    per_day = tables["per_subject_day"]
    strategies = [s for s in config["strategies"] if s in set(per_day["decoder"])]
    rng = np.random.default_rng(config.seed)
    stats = [session_statistics(per_day, strategies, days, reference_strategy(strategies), rng)
             .assign(window=name) for name, days in statistics_windows(config["days"])]
    if not stats:
        return {}
    out = pd.concat(stats, ignore_index=True)
    return {"session_statistics": out[["window", *out.columns[:-1]]]}


def report(config: Config, tables: dict[str, pd.DataFrame], out: Path) -> tuple[str, list[Path]]:
    from cogmodels.envs.bci.metrics import plot_over_days

    per_day = tables["per_subject_day"].assign(
        decoder=lambda d: d["decoder"].map(lambda v: DECODER_LABELS.get(v, v)))
    fig = plot_over_days(per_day, metrics=("trial_time", "successes_per_min", "gain"), hue="decoder")
    fig.suptitle(f"Wilson et al.'s protocol{setting_note(config)}: mean ± s.e.m. over "
                 f"{config['n_subjects']} subjects, {config['session_s']:g} s sessions")
    path = save(fig, out, "metrics_over_days")
    strategies = list(config["strategies"])
    lines = [
        "## Wilson et al. (2023)'s protocol",
        "",
        f"Days 0–{config['days'] - 1}: a session of {config['session_s']:g} s each day, after a "
        f"recalibration session and a gain sweep of {len(WILSON_GAINS)} gains × "
        f"{config['sweep_s']:g} s; {config['n_subjects']} simulated subjects, the same for "
        f"every strategy (environment seed {config.seed}). PRI-T, the stabiliser and RTI never see "
        "a target; the daily supervised decoder does; the gain sweep scores every strategy "
        "against the true targets alike, as in their protocol.",
        "",
        "![metrics over days](figures/metrics_over_days.png)",
    ]
    stats = tables.get("session_statistics")
    if stats is not None and len(stats):
        ref = reference_strategy(strategies)
        lines += [
            "",
            f"Wilson et al.'s session statistics (every subject-day a session; failed: mean trial "
            f"time above {FAILED_SESSION_S:g} s; tests against {ref}: their rank-sum over "
            f"sessions, and per subject the signed-rank test of each subject's mean):",
            "",
            markdown_table(stats.drop(columns=["failed_diff_low", "failed_diff_high"]).round(4)),
        ]
    return "\n".join(lines), [path]


EXPERIMENT = Experiment(
    name="bci_wilson",
    description=(
        "Wilson et al. (2023)'s 60-day protocol: PRI-T (unsupervised HMM recalibration) against "
        "daily supervised recalibration, their stabiliser, RTI and a fixed decoder, on the same "
        "simulated subjects."
    ),
    # days 0-60: the day-0 session and their 60 sessions, each after a day's drift (their
    # statistic is the last, day 60; ``Fig_4a_4b.ipynb`` reads 61 scores per repetition)
    defaults={"strategies": list(DECODER_LABELS), "days": 61, "n_subjects": 16, "session_s": 400.0,
              "sweep_s": 20.0},
    # quick: a smoke run of two strategies (about 10 CPU s); 20 s sessions are too short for
    # PRI-T's daily refit, which needs the protocol's minutes of data
    quick={"strategies": ["hmm_wilson", "fixed"], "days": 2, "n_subjects": 1, "session_s": 20.0,
           "sweep_s": 1.0},
    # every strategy but the stable-channel oracle, which needs a drift with stable channels
    choices={"strategies": [s for s in STRATEGIES if s != "stabilizer_oracle"]},
    units=units,
    run_unit=run_unit,
    combine=combine,
    report=report,
    ranges={"days": (1, None), "n_subjects": (1, None), "session_s": Range(0, None, low_open=True),
            "sweep_s": Range(0, None, low_open=True)},
)
