"""Wilson et al.'s session statistics (``cogmodels/experiments/wilson_stats.py``), by hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ranksums, wilcoxon

from cogmodels.experiments.wilson_stats import (
    FAILED_SESSION_S,
    per_subject_day,
    reference_strategy,
    session_statistics,
    statistics_windows,
)

#: mean trial time (s) of subject s on day d: decoder -> [[day 0, 1, 2] per subject]
TIMES = {
    "pri_t": [[1.4, 1.5, 1.3], [1.6, 1.4, 1.5], [1.3, 1.2, 1.4], [1.5, 9.0, 1.6]],
    "other": [[1.6, 1.8, 6.0], [1.5, 1.7, 1.9], [1.4, 1.5, 9.5], [1.7, 1.9, 2.2]],
}


def _per_day() -> pd.DataFrame:
    rows = [{"decoder": dec, "subject": s, "day": d, "trial_time": t}
            for dec, table in TIMES.items() for s, days in enumerate(table) for d, t in enumerate(days)]
    return pd.DataFrame(rows)


def test_session_statistics_are_wilson_et_als_and_the_paired_test_per_subject():
    """Over days 1-2 (8 sessions each): mean, population SD, median and the failed share (> 5 s)
    of the sessions; their rank-sum p over sessions; the failed-share difference; and per
    subject, the mean over the days: "other" is slower in 3 of 4 subjects, the signed-rank p
    that of scipy on those four differences."""
    stats = session_statistics(_per_day(), ["pri_t", "other"], range(1, 3), "pri_t",
                               np.random.default_rng(0), n_boot=500).set_index("decoder")
    ref = np.array([1.5, 1.3, 1.4, 1.5, 1.2, 1.4, 9.0, 1.6])
    other = np.array([1.8, 6.0, 1.7, 1.9, 1.5, 9.5, 1.9, 2.2])
    assert stats.loc["pri_t", "sessions"] == 8 and stats.loc["other", "sessions"] == 8
    assert stats.loc["other", "mean"] == pytest.approx(other.mean())
    assert stats.loc["other", "sd"] == pytest.approx(other.std())
    assert stats.loc["other", "median"] == pytest.approx(1.9)
    assert stats.loc["pri_t", "failed"] == pytest.approx(1 / 8) and stats.loc["other", "failed"] == pytest.approx(2 / 8)
    assert stats.loc["other", "failed_diff"] == pytest.approx(1 / 8)
    assert stats.loc["other", "ranksum_p"] == pytest.approx(ranksums(other, ref).pvalue)
    subject_delta = (np.array(TIMES["other"])[:, 1:].mean(1) - np.array(TIMES["pri_t"])[:, 1:].mean(1))
    assert stats.loc["other", "slower_subjects"] == 3 and stats.loc["other", "paired_subjects"] == 4
    assert (subject_delta > 0).sum() == 3  # subject 3's failed PRI-T day makes PRI-T the slower there
    assert stats.loc["other", "signed_rank_p"] == pytest.approx(wilcoxon(subject_delta).pvalue)
    lo, hi = stats.loc["other", ["failed_diff_low", "failed_diff_high"]]
    assert -0.5 <= lo <= 1 / 8 <= hi <= 0.5
    assert stats.loc["pri_t", ["ranksum_p", "signed_rank_p", "failed_diff"]].isna().all()
    assert FAILED_SESSION_S == 5.0


def test_session_statistics_are_reproducible_from_the_generator_and_check_their_arguments():
    a = session_statistics(_per_day(), ["pri_t", "other"], [2], "pri_t", np.random.default_rng(3), n_boot=200)
    b = session_statistics(_per_day(), ["pri_t", "other"], [2], "pri_t", np.random.default_rng(3), n_boot=200)
    pd.testing.assert_frame_equal(a, b)
    assert a.set_index("decoder").loc["other", "sessions"] == 4
    with pytest.raises(ValueError, match=r"strategies and reference must be among the decoders of per_day "
                                         r"\['other', 'pri_t'\], got 'rti'"):
        session_statistics(_per_day(), ["pri_t", "rti"], [1], "pri_t", np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"reference must be one of strategies \['other'\], got 'pri_t'"):
        session_statistics(_per_day(), ["other"], [1], "pri_t", np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"days must hold sessions of every strategy; 'pri_t' has none on "
                                         r"\[7\] \(its days: \[0, 1, 2\]\)"):
        session_statistics(_per_day(), ["pri_t", "other"], [7], "pri_t", np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"n_boot must be an integer >= 1, got 0"):
        session_statistics(_per_day(), ["pri_t", "other"], [1], "pri_t", np.random.default_rng(0), n_boot=0)
    with pytest.raises(ValueError, match=r"per_day must have the columns .*; missing \['trial_time'\]"):
        session_statistics(_per_day().drop(columns="trial_time"), ["pri_t"], [1], "pri_t",
                           np.random.default_rng(0))


def test_missing_subject_days_count_in_no_share_and_the_paired_test_uses_the_shared_days():
    """A strategy that lacks some subject-days: its failed share (and every bootstrap resample's)
    is over the sessions it has, so a strategy failing all of its sessions has the interval
    [1, 1] against a reference that never fails; each subject's paired means cover only the days
    both played; a strategy with no session on the days, or no subject in common, is refused or
    has NaN tests."""
    rows = [{"decoder": "ref", "subject": s, "day": d, "trial_time": 1.0} for s in range(3) for d in (1, 2)]
    rows += [{"decoder": "bad", "subject": s, "day": d, "trial_time": 9.0} for s in (0, 2) for d in (1, 2)]
    stats = session_statistics(pd.DataFrame(rows), ["ref", "bad"], [1, 2], "ref",
                               np.random.default_rng(0), n_boot=300).set_index("decoder")
    assert stats.loc["bad", ["failed_diff", "failed_diff_low", "failed_diff_high"]].tolist() == [1.0, 1.0, 1.0]
    assert stats.loc["bad", "sessions"] == 4 and stats.loc["bad", "paired_subjects"] == 2
    # "other" played day 1 only (2 s); the reference 1 s on day 1 and 3 s on day 2: slower on the shared day
    rows = [{"decoder": "ref", "subject": s, "day": d, "trial_time": t} for s in range(3) for d, t in ((1, 1.0), (2, 3.0))]
    rows += [{"decoder": "other", "subject": s, "day": 1, "trial_time": 2.0} for s in range(3)]
    stats = session_statistics(pd.DataFrame(rows), ["ref", "other"], [1, 2], "ref",
                               np.random.default_rng(0), n_boot=50).set_index("decoder")
    assert stats.loc["other", "slower_subjects"] == 3 and stats.loc["other", "paired_subjects"] == 3
    # no subject in common: no paired test
    rows = [{"decoder": "ref", "subject": 0, "day": 1, "trial_time": 1.0},
            {"decoder": "other", "subject": 1, "day": 1, "trial_time": 2.0}]
    stats = session_statistics(pd.DataFrame(rows), ["ref", "other"], [1], "ref",
                               np.random.default_rng(0), n_boot=20).set_index("decoder")
    assert np.isnan(stats.loc["other", ["slower_subjects", "paired_subjects", "signed_rank_p"]].astype(float)).all()


def test_the_reference_is_the_first_pri_t_strategy_and_the_windows_those_the_run_has():
    assert reference_strategy(["fixed", "hmm_wilson", "hmm"]) == "hmm_wilson"
    assert reference_strategy(["fixed", "rti"]) == "fixed"
    with pytest.raises(ValueError, match=r"strategies must name at least one strategy, got \[\]"):
        reference_strategy([])
    assert statistics_windows(60) == [("days 1+", range(1, 60)), ("days 30+", range(30, 60)),
                                      ("day 59", range(59, 60))]
    assert statistics_windows(2) == [("days 1+", range(1, 2)), ("day 1", range(1, 2))]
    assert statistics_windows(1) == []


def test_per_subject_day_adds_the_mean_trial_time_and_the_days_gain():
    """Timeouts count at the trial limit in the mean trial time; the gain is the day's."""
    trials = pd.DataFrame({
        "decoder": "pri_t", "subject": 0, "day": [0, 0, 0, 1],
        "success": [True, True, False, True], "state": -1, "timed_out": [False, False, True, False],
        "time_to_target": [1.0, 2.0, np.nan, 1.5], "trial_time": [1.5, 2.5, 10.0, 2.0],
        "time": [1.5, 4.0, 14.0, 2.0], "gain": [1.2, 1.2, 1.2, 0.9], "index_of_difficulty": 2.0,
        "path_efficiency": [0.8, 0.7, 0.2, 0.9], "dial_in_time": [0.5, 0.6, np.nan, 0.5]})
    per_day = per_subject_day(trials).set_index("day")
    assert per_day.loc[0, "trial_time"] == pytest.approx(14.0 / 3)
    assert per_day.loc[0, "n_trials"] == 3 and per_day.loc[0, "n_success"] == 2
    assert per_day.loc[1, "gain"] == 0.9 and per_day.loc[0, "gain"] == 1.2
    # random targets (state -1): no fixed set of targets, so no bitrate; centre-out keeps N = 8
    assert per_day["bitrate"].isna().all() and per_day["fitts_throughput"].notna().all()
    centre = per_subject_day(trials.assign(state=[0, 3, 5, 7])).set_index("day")
    assert centre.loc[0, "bitrate"] == pytest.approx(np.log2(7) * (2 - 1) / 14.0)
    assert centre.loc[1, "bitrate"] == pytest.approx(np.log2(7) / 2.0)
    with pytest.raises(ValueError, match=r"trials must have the columns .*; missing \['gain'\]"):
        per_subject_day(trials.drop(columns="gain"))
