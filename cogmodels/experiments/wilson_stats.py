"""Wilson et al. (2023)'s session statistics of a 60-day decoder comparison.

One definition for ``benchmarks/bench_wilson.py`` and the ``bci_wilson`` experiment:

- :func:`per_subject_day`: the metrics of each strategy, subject and day
  (:func:`~cogmodels.envs.bci.metrics.summarize`, plus the mean trial time with timeouts counted
  at the trial limit, and the day's swept gain);
- :func:`session_statistics`: every subject-day a session, as in their ``Fig_4a_4b.ipynb``: the
  mean, SD and median of the sessions' mean trial times, the fraction of failed sessions (mean
  trial time above :data:`FAILED_SESSION_S`), Wilcoxon's rank-sum p against a reference strategy
  over the sessions (their test, which treats every session as independent), the difference of
  failed fractions with a 95 % bootstrap interval that resamples subjects (the days of one
  subject are not independent), and the paired test per subject: in how many subjects the
  strategy's mean trial time over the days is above the reference's, and the Wilcoxon
  signed-rank p of those per-subject means.

Reference
---------
Wilson, G. H., Willett, F. R., Stein, E. A., Kamdar, F., Avansino, D. T., Hochberg, L. R.,
Shenoy, K. V., Druckmann, S., & Henderson, J. M. (2023). Long-term unsupervised recalibration of
cursor BCIs. bioRxiv 2023.02.03.527022 (``github.com/guyhwilson/nonstationarities``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cogmodels.envs.bci.metrics import summarize, target_indexed
from cogmodels.validation import check_int

__all__ = ["FAILED_SESSION_S", "per_subject_day", "reference_strategy", "session_statistics",
           "statistics_windows"]

#: Wilson et al.'s "failed session": a session whose mean trial time (timeouts counted at the
#: trial limit) exceeds 5 s (``Fig_4a_4b.ipynb`` of their repository: ``np.mean(ttt > 5)``)
FAILED_SESSION_S = 5.0

_KEYS = ["decoder", "subject", "day"]


def per_subject_day(trials: pd.DataFrame) -> pd.DataFrame:
    """Return the metrics of each decoder, subject and day of a protocol's trial table.

    :func:`~cogmodels.envs.bci.metrics.summarize` by decoder, subject and day, with
    ``trial_time`` (the mean time of every trial, timeouts at the trial limit: Wilson et al.'s
    session measure) and ``gain`` (the day's swept output gain) added. On Wilson et al.'s task
    (random targets: no target indices, ``state`` -1) there is no fixed set of targets, so the
    ``bitrate`` is NaN (``n_targets=0``); on centre-out targets it takes N = 8.
    """
    missing = sorted({*_KEYS, "trial_time", "gain"} - set(trials.columns))
    if missing:
        raise ValueError(f"trials must have the columns {_KEYS + ['trial_time', 'gain']}; "
                         f"missing {missing}")
    per_day = summarize(trials, by=_KEYS, n_targets=None if target_indexed(trials).any() else 0)
    groups = trials.groupby(_KEYS)
    per_day = per_day.merge(groups["trial_time"].mean().reset_index(), on=_KEYS)
    return per_day.merge(groups["gain"].first().reset_index(), on=_KEYS)


def reference_strategy(strategies: Sequence[str]) -> str:
    """Return the strategy the statistics compare against: the first PRI-T one (``hmm...``), else the first."""
    strategies = list(strategies)
    if not strategies:
        raise ValueError("strategies must name at least one strategy, got []")
    return next((s for s in strategies if s.startswith("hmm")), strategies[0])


def statistics_windows(n_days: int) -> list[tuple[str, range]]:
    """Return Wilson et al.'s windows of a ``n_days`` run: days 1+, days 30+ and the last day.

    Only those the run has (day 0, the shared day-0 decoder, is in none).
    """
    out = [("days 1+", range(1, n_days)), ("days 30+", range(30, n_days)),
           (f"day {n_days - 1}", range(n_days - 1, n_days))]
    return [(name, days) for name, days in out if len(days) and days.start >= 1]


def session_statistics(per_day: pd.DataFrame, strategies: Sequence[str], days: Sequence[int],
                       reference: str, rng: np.random.Generator,
                       n_boot: int = 2000) -> pd.DataFrame:
    """Return Wilson et al.'s session statistics over ``days``, one row per strategy.

    Parameters
    ----------
    per_day : pandas.DataFrame
        :func:`per_subject_day`'s table (``decoder``, ``subject``, ``day``, ``trial_time``).
    strategies : sequence of str
        The decoders to report, in order; each must have sessions on ``days``.
    days : sequence of int
        The days pooled (e.g. ``range(1, 60)``, or the last day alone).
    reference : str
        The strategy the tests compare against (one of ``strategies``).
    rng : numpy.random.Generator
        The bootstrap's resampling of subjects.
    n_boot : int
        Bootstrap resamples (>= 1).

    Returns
    -------
    pandas.DataFrame
        ``decoder``, ``sessions``, ``mean``, ``sd`` (population SD, as numpy's), ``median``,
        ``failed`` (fraction), and against the reference (NaN in its own row): ``ranksum_p``,
        ``failed_diff`` with ``failed_diff_low`` / ``failed_diff_high`` (each strategy's failed
        share over its own sessions of the resampled subjects; a resample without sessions of
        one of the two is dropped), ``slower_subjects`` (subjects
        whose mean trial time over the days both strategies played is above the reference's),
        ``paired_subjects`` (subjects with such days; NaN tests when none) and
        ``signed_rank_p``.
    """
    from scipy.stats import ranksums, wilcoxon

    missing = sorted({"decoder", "subject", "day", "trial_time"} - set(per_day.columns))
    if missing:
        raise ValueError(f"per_day must have the columns ['decoder', 'subject', 'day', "
                         f"'trial_time']; missing {missing}")
    n_boot = check_int("n_boot", n_boot, 1)
    strategies = list(strategies)
    known = sorted(set(per_day["decoder"]))
    for name in [*strategies, reference]:
        if name not in known:
            raise ValueError(f"strategies and reference must be among the decoders of per_day "
                             f"{known}, got {name!r}")
    if reference not in strategies:
        raise ValueError(f"reference must be one of strategies {strategies}, got {reference!r}")
    sel = per_day[per_day["day"].isin(list(days)) & per_day["trial_time"].notna()]
    for name in strategies:
        if not (sel["decoder"] == name).any():
            played = sorted(per_day.loc[per_day["decoder"] == name, "day"].unique().tolist())
            raise ValueError(f"days must hold sessions of every strategy; {name!r} has none on "
                             f"{list(days)} (its days: {played})")
    table = sel.pivot_table(index=["subject", "day"], columns="decoder", values="trial_time")
    subjects = table.index.get_level_values("subject").unique().to_numpy()
    failed = (table > FAILED_SESSION_S).astype(float).where(table.notna())
    # per subject: sessions and failed sessions of each strategy (the bootstrap sums them)
    n_sessions = table.notna().groupby(level="subject").sum().loc[subjects]
    n_failed = failed.groupby(level="subject").sum().loc[subjects]
    position = {s: i for i, s in enumerate(subjects)}
    ref = table[reference].dropna().to_numpy()
    rows = []
    for dec in strategies:
        t = table[dec].dropna().to_numpy()
        row = {"decoder": dec, "sessions": len(t), "mean": t.mean(), "sd": t.std(),
               "median": float(np.median(t)), "failed": float(np.mean(t > FAILED_SESSION_S)),
               "ranksum_p": np.nan, "failed_diff": np.nan, "failed_diff_low": np.nan,
               "failed_diff_high": np.nan, "slower_subjects": np.nan, "paired_subjects": np.nan,
               "signed_rank_p": np.nan}
        if dec != reference:
            cols = [dec, reference]
            ns, nf = n_sessions[cols].to_numpy(), n_failed[cols].to_numpy()
            diffs = []
            for _ in range(n_boot):
                pick = [position[s] for s in rng.choice(subjects, len(subjects))]
                n = ns[pick].sum(axis=0)
                # a resample holding no session of one of the two has no difference (dropped)
                diffs.append(nf[pick].sum(axis=0)[0] / n[0] - nf[pick].sum(axis=0)[1] / n[1]
                             if n.all() else np.nan)
            pair = table[cols].dropna()  # the subject-days both played
            means = pair.groupby(level="subject").mean()
            delta = (means[dec] - means[reference]).to_numpy()
            row.update(
                ranksum_p=float(ranksums(t, ref).pvalue),
                failed_diff=row["failed"] - float(np.mean(ref > FAILED_SESSION_S)),
                failed_diff_low=float(np.nanpercentile(diffs, 2.5)),
                failed_diff_high=float(np.nanpercentile(diffs, 97.5)))
            if len(delta):
                row.update(slower_subjects=int((delta > 0).sum()), paired_subjects=len(delta),
                           signed_rank_p=float(wilcoxon(delta).pvalue) if np.any(delta != 0) else 1.0)
        rows.append(row)
    return pd.DataFrame(rows)
