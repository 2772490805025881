"""Tests of the cursor-BCI performance metrics: bitrate, Fitts throughput, summaries, plots."""

from __future__ import annotations

import math
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

from cogmodels.envs.bci.env import CursorBCI
from cogmodels.envs.bci.metrics import (
    METRICS,
    bitrate,
    fitts_throughput,
    plot_over_days,
    summarize,
)
from cogmodels.envs.wrappers import record_session

matplotlib.use("Agg")
NAN = float("nan")


def table(success, ttt, trial_time=10.0, ident=2.0, efficiency=0.9, dial=0.0, **extra):
    """A hand-built trial table; scalars are repeated over the trials."""
    n = len(success)
    cols = {"success": success, "time_to_target": ttt, "trial_time": trial_time,
            "index_of_difficulty": ident, "path_efficiency": efficiency, "dial_in_time": dial,
            "state": np.arange(n) % 8, **extra}
    return pd.DataFrame({k: np.broadcast_to(v, n) if np.ndim(v) == 0 else v
                         for k, v in cols.items()})


# --- bitrate -----------------------------------------------------------------------------------

def test_bitrate_formula():
    assert bitrate(3, 1, 40.0, 8) == pytest.approx(math.log2(7) * 2 / 40)
    assert bitrate(10, 0, 60.0, 4) == pytest.approx(math.log2(3) * 10 / 60)
    assert bitrate(1, 3, 40.0, 8) == 0.0  # more failures than successes
    assert bitrate(2, 2, 40.0, 8) == 0.0
    assert bitrate(5, 0, 60.0, 2) == 0.0  # log2(N - 1) = 0 for two targets
    assert bitrate(np.int64(3), np.int64(1), np.float32(40.0), np.int64(8)) == pytest.approx(
        math.log2(7) / 20)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_targets": 1}, "n_targets must be an integer >= 2, got 1"),
        ({"n_targets": 8.0}, "n_targets must be an integer >= 2, got 8.0"),
        ({"seconds": 0.0}, "seconds must be a finite number > 0, got 0.0"),
        ({"seconds": -5}, "seconds must be a finite number > 0, got -5"),
        ({"seconds": NAN}, "seconds must be a finite number > 0, got nan"),
        ({"seconds": "long"}, "seconds must be a finite number > 0, got 'long'"),
        ({"n_success": -1}, "n_success must be an integer >= 0, got -1"),
        ({"n_fail": 1.5}, "n_fail must be an integer >= 0, got 1.5"),
        ({"n_fail": True}, "n_fail must be an integer >= 0, got True"),
    ],
)
def test_bitrate_rejects_bad_arguments(kwargs, message):
    args = {"n_success": 3, "n_fail": 1, "seconds": 40.0, "n_targets": 8, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        bitrate(**args)


# --- Fitts throughput --------------------------------------------------------------------------

def test_fitts_throughput_is_the_mean_of_per_trial_ratios():
    assert fitts_throughput([1.0, 2.0, 3.0], [0.5, 1.0, 1.5]) == pytest.approx(2.0)
    # mean of ratios (2 + 0.5) / 2, not the ratio of means 4 / 5
    assert fitts_throughput(np.array([2.0, 2.0]), pd.Series([1.0, 4.0])) == pytest.approx(1.25)
    assert math.isnan(fitts_throughput([], []))


@pytest.mark.parametrize(
    ("ident", "time", "message"),
    [
        ([1.0, 2.0], [1.0], "1-D of the same length, got shapes (2,) and (1,)"),
        ([1.0], [0.0], "time must be finite numbers > 0"),
        ([1.0], [NAN], "time must be finite numbers > 0"),
        ([-1.0], [1.0], "index_of_difficulty must be finite numbers >= 0"),
    ],
)
def test_fitts_throughput_rejects_bad_arguments(ident, time, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fitts_throughput(ident, time)


# --- summarize ---------------------------------------------------------------------------------

def known_day():
    """3 successes and 1 failure in 40 s; ID / TTT = 2, 1, 1 over the successes."""
    return table([True, True, True, False], [1.0, 2.0, 3.0, NAN], ident=[2.0, 2.0, 3.0, 1.0],
                 efficiency=[0.9, 0.8, 0.7, 0.1], dial=[0.0, 0.2, 0.4, NAN], day=0)


def test_summarize_known_table():
    out = summarize(known_day())
    assert list(out.columns) == ["day", *METRICS]
    row = out.iloc[0]
    assert row["day"] == 0
    assert row["n_trials"] == 4 and row["n_success"] == 3
    assert row["success_rate"] == pytest.approx(0.75)
    assert row["successes_per_min"] == pytest.approx(3 / (40 / 60))
    assert row["time_to_target"] == pytest.approx(2.0)
    assert row["time_to_target_sem"] == pytest.approx(1 / math.sqrt(3))
    assert row["path_efficiency"] == pytest.approx(0.8)
    assert row["dial_in_time"] == pytest.approx(0.2)
    assert row["bitrate"] == pytest.approx(math.log2(7) * 2 / 40)
    assert row["fitts_throughput"] == pytest.approx(4 / 3)


def test_summarize_by_day_with_a_day_without_success():
    day1 = table([False, False], [NAN, NAN], trial_time=5.0, dial=NAN, day=1)
    trials = pd.concat([day1, known_day()])  # out of order, repeated index labels on purpose
    out = summarize(trials, by="day")
    pd.testing.assert_frame_equal(out, summarize(trials, by=["day"]))
    assert out["day"].tolist() == [0, 1]
    assert out["n_trials"].tolist() == [4, 2]
    assert out["bitrate"].tolist() == pytest.approx([math.log2(7) * 2 / 40, 0.0])
    failed = out.iloc[1]
    assert failed["success_rate"] == 0.0 and failed["successes_per_min"] == 0.0
    for col in ("time_to_target", "time_to_target_sem", "path_efficiency", "dial_in_time",
                "fitts_throughput"):
        assert math.isnan(failed[col]), col
    whole = summarize(trials, by=None)
    assert list(whole.columns) == list(METRICS)
    assert whole["n_success"].item() == 3
    assert whole["bitrate"].item() == 0.0  # pooled: 3 successes, 3 failures


def test_summarize_by_subject_and_day():
    parts = []
    for subject, n_hit in (("b", 1), ("a", 2)):
        for day in (1, 0):
            success = [True] * (n_hit + day) + [False]
            ttt = [0.5 * (day + 1)] * (n_hit + day) + [NAN]
            parts.append(table(success, ttt, trial_time=2.0, subject=subject, day=day))
    out = summarize(pd.concat(parts, ignore_index=True), by=["subject", "day"])
    assert list(out.columns[:2]) == ["subject", "day"]
    assert list(zip(out["subject"], out["day"])) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert out["n_success"].tolist() == [2, 3, 1, 2]
    assert out["n_trials"].tolist() == [3, 4, 2, 3]
    assert out["time_to_target"].tolist() == pytest.approx([0.5, 1.0, 0.5, 1.0])
    assert out["fitts_throughput"].tolist() == pytest.approx([4.0, 2.0, 4.0, 2.0])
    expected = [math.log2(7) * (k - 1) / (2.0 * n) for k, n in ((2, 3), (3, 4), (1, 2), (2, 3))]
    assert out["bitrate"].tolist() == pytest.approx(expected)


def test_summarize_n_targets_for_random_targets():
    """Without target indices (state missing, NaN, or -1 as the vector loop writes it on random
    targets) summarize asks for n_targets; 0 (argument or column, as clicks on random targets
    write it) scores no bitrate (NaN) and leaves the other metrics as they are."""
    required = r"n_targets \(an integer >= 2, or 0 for a task without a fixed set of targets"
    trials = known_day().assign(state=NAN)
    for no_index in (trials, trials.drop(columns="state"), trials.assign(state=-1)):
        with pytest.raises(ValueError, match=required):
            summarize(no_index)
    out = summarize(trials, n_targets=4)
    assert out["bitrate"].item() == pytest.approx(math.log2(3) * 2 / 40)
    none = summarize(trials, n_targets=0)
    assert np.isnan(none["bitrate"].item())
    assert none.drop(columns="bitrate").equals(out.drop(columns="bitrate"))
    column = summarize(trials.assign(n_targets=0))
    assert np.isnan(column["bitrate"].item())
    for bad in (1, 8.0, -2, True):
        with pytest.raises(ValueError, match=re.escape(
                f"n_targets must be 0 (a task without a fixed set of targets) or an integer >= 2, "
                f"got {bad!r}")):
            summarize(known_day(), n_targets=bad)
    with pytest.raises(ValueError, match=re.escape("n_targets column must be 0 (a task without")):
        summarize(trials.assign(n_targets=1))
    with pytest.raises(ValueError, match=re.escape("or an integer >= 2, got 8.7")):
        summarize(trials.assign(n_targets=8.7))
    assert np.isnan(summarize(trials, n_targets=np.int64(0))["bitrate"].item())


def test_summarize_finds_n_targets_per_group_and_refuses_mixed_groups():
    """N is the group's own: a centre-out day and a random-target day of one table are each
    scored as themselves when ``by`` separates them, and refused when a group mixes them."""
    centre = known_day()
    random = known_day().assign(day=5, state=-1)
    both = pd.concat([centre, random], ignore_index=True)
    with pytest.raises(ValueError, match=re.escape(
            "state mixes target indices (>= 0) with missing or negative ones (4 of 8 rows)")):
        summarize(both, by=None)
    with pytest.raises(ValueError, match=r"n_targets \(an integer >= 2, or 0"):
        summarize(both)  # the random day has no N
    by_day = summarize(pd.concat([centre, random.assign(n_targets=0)], ignore_index=True))
    assert by_day["bitrate"].iloc[0] == pytest.approx(math.log2(7) * 2 / 40)
    assert np.isnan(by_day["bitrate"].iloc[1])
    grid_and_random = pd.concat([centre.assign(n_targets=36), random.assign(n_targets=0)])
    with pytest.raises(ValueError, match=re.escape(
            "the n_targets column must hold one value in each group, on every row; got [0, 36]")):
        summarize(grid_and_random, by=None)
    partly = pd.concat([centre.assign(n_targets=36), centre.assign(n_targets=np.nan)])
    with pytest.raises(ValueError, match=re.escape("got [36.0] with 4 missing of 8 rows")):
        summarize(partly)


def test_summarize_hold_time_replaces_time_to_target():
    trials = table([True, True, False], [NAN, NAN, NAN], trial_time=[1.5, 2.5, 10.0],
                   ident=[2.0, 4.0, 1.0], day=0).drop(columns="time_to_target")
    out = summarize(trials, hold_time=0.5).iloc[0]
    assert out["time_to_target"] == pytest.approx(1.5)
    assert out["fitts_throughput"] == pytest.approx((2 / 1 + 4 / 2) / 2)
    assert out["bitrate"] == pytest.approx(math.log2(7) * 1 / 14)
    with pytest.raises(ValueError, match=re.escape("hold_time must be a finite number >= 0")):
        summarize(trials, hold_time=-0.5)


def test_summarize_errors():
    trials = known_day()
    missing = trials.drop(columns=["trial_time", "dial_in_time"])
    with pytest.raises(ValueError, match=r"lacks the required columns \['trial_time', "
                                         r"'dial_in_time'\]; present columns: \['success'"):
        summarize(missing)
    with pytest.raises(ValueError, match=r"\['time_to_target'\]"):
        summarize(trials.drop(columns="time_to_target"))
    with pytest.raises(ValueError, match=r"by must name columns of trials, got 'decoder'; "
                                         r"available columns: \['success'"):
        summarize(trials, by=["day", "decoder"])
    with pytest.raises(ValueError, match=r"trials is empty \(0 rows\)"):
        summarize(trials.iloc[:0])
    with pytest.raises(ValueError, match="trials is empty"):
        summarize(pd.DataFrame())
    with pytest.raises(ValueError, match="seconds must be a finite number > 0, got 0.0"):
        summarize(trials.assign(trial_time=0.0))
    with pytest.raises(TypeError, match="trials must be a pandas DataFrame, got dict"):
        summarize(trials.to_dict())


# --- end to end --------------------------------------------------------------------------------

def test_perfect_decoder_session():
    trials = record_session(CursorBCI(n_trials=16), lambda obs, info: np.asarray(
        info["intended_velocity"]), seed=0)
    out = summarize(trials)
    assert len(out) == 1 and out["day"].item() == 0
    row = out.iloc[0]
    assert row["n_trials"] == 16 and row["success_rate"] == 1.0
    assert np.isfinite(row["bitrate"]) and row["bitrate"] > 0
    assert row["bitrate"] == pytest.approx(math.log2(7) * 16 / trials["trial_time"].sum())
    assert 0.5 < row["path_efficiency"] <= 1.0
    assert np.isfinite(row["fitts_throughput"]) and row["fitts_throughput"] > 0
    # the simulator's successes end exactly one hold after the last entry
    assert summarize(trials, hold_time=0.5)["time_to_target"].item() == pytest.approx(
        row["time_to_target"])


def test_zero_decoder_session():
    trials = record_session(CursorBCI(n_trials=16, timeout=1.0), lambda obs, info: np.zeros(2),
                            seed=0)
    row = summarize(trials, by=None).iloc[0]
    assert row["success_rate"] == 0.0 and row["bitrate"] == 0.0
    assert math.isnan(row["time_to_target"]) and math.isnan(row["fitts_throughput"])


# --- plot --------------------------------------------------------------------------------------

def test_plot_over_days():
    from matplotlib.figure import Figure

    summary = pd.concat([summarize(known_day().assign(day=d, decoder=name), by=["decoder", "day"])
                         for d in range(3) for name in ("kf", "rnn")], ignore_index=True)
    fig = plot_over_days(summary, hue="decoder")
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert [a.get_ylabel() for a in fig.axes] == ["successes per minute", "time to target (s)",
                                                  "bitrate (bits/s)"]
    assert fig.axes[-1].get_legend() is not None and fig.axes[0].get_legend() is None
    one = plot_over_days(summary, metrics=["fitts_throughput"])
    assert len(one.axes) == 1
    existing = Figure().subplots(1, 2)
    assert plot_over_days(summary, metrics=("bitrate", "success_rate"), ax=existing) is (
        existing[0].figure)
    with pytest.raises(ValueError, match=r"summary lacks the columns \['speed'\]"):
        plot_over_days(summary, metrics=["speed"])
    with pytest.raises(ValueError, match=r"ax must hold one Axes per metric \(3\), got 2"):
        plot_over_days(summary, ax=existing)
